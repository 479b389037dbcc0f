//! `[[audit_sinks]]`: what each kind of sink is configured with, validated when the
//! configuration file is loaded.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::syslog::header_field;
use crate::http::Endpoint;

/// Records per batch unless a sink says otherwise: one request, one write, one cursor update.
const DEFAULT_BATCH: usize = 500;

/// One `[[audit_sinks]]` table; `kind` picks the destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AuditSinkConfig {
    File(FileSinkConfig),
    Http(HttpSinkConfig),
    Syslog(SyslogSinkConfig),
}

/// Appends the records to a file that the SIEM's log shipper picks up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    pub name: String,
    pub path: PathBuf,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
}

/// POSTs batches of records as NDJSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkConfig {
    pub name: String,
    /// http:// or https://.
    pub url: String,
    /// A file holding a bearer token (surrounding whitespace ignored).
    pub token_file: Option<PathBuf>,
    /// Per attempt: connecting, TLS, sending, and the answer's status.
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::duration::duration"
    )]
    pub timeout: Duration,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
}

/// RFC 5424 messages, one per record, to a syslog receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSinkConfig {
    pub name: String,
    /// `host:port` (`[v6]:port`).
    pub address: String,
    #[serde(default)]
    pub transport: SyslogTransport,
    /// An RFC 5424 facility keyword: `kern` ... `audit` ... `local7`.
    #[serde(default = "default_facility")]
    pub facility: String,
    /// The HOSTNAME field; defaults to the machine's host name.
    pub hostname: Option<String>,
    /// Per attempt: connecting and sending a batch.
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::duration::duration"
    )]
    pub timeout: Duration,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogTransport {
    /// RFC 6587 octet counting over one kept-open connection.
    #[default]
    Tcp,
    /// One datagram per record, RFC 5426; no acknowledgement, so no delivery guarantee.
    Udp,
}

/// RFC 5424's facility keywords in code order (the code is the index).
const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

fn default_batch() -> usize {
    DEFAULT_BATCH
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_facility() -> String {
    "local0".into()
}

impl AuditSinkConfig {
    pub fn name(&self) -> &str {
        match self {
            AuditSinkConfig::File(c) => &c.name,
            AuditSinkConfig::Http(c) => &c.name,
            AuditSinkConfig::Syslog(c) => &c.name,
        }
    }

    pub(super) fn batch_size(&self) -> usize {
        match self {
            AuditSinkConfig::File(c) => c.batch_size,
            AuditSinkConfig::Http(c) => c.batch_size,
            AuditSinkConfig::Syslog(c) => c.batch_size,
        }
    }

    /// The file paths among the settings, for the configuration to resolve relative ones
    /// against the configuration file's directory.
    pub fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        match self {
            AuditSinkConfig::File(c) => vec![&mut c.path],
            AuditSinkConfig::Http(c) => c.token_file.iter_mut().collect(),
            AuditSinkConfig::Syslog(_) => Vec::new(),
        }
    }
}

/// `deserialize_with` for the configuration's `audit_sinks`: a sink that cannot work as written fails the
/// load, like every other setting, rather than the first delivery hours later.
pub fn deserialize_sinks<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<AuditSinkConfig>, D::Error> {
    let sinks = Vec::<AuditSinkConfig>::deserialize(d)?;
    validate(&sinks).map_err(serde::de::Error::custom)?;
    Ok(sinks)
}

/// Error messages never repeat a URL, whose path or query may be a credential.
fn validate(sinks: &[AuditSinkConfig]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for sink in sinks {
        let name = sink.name();
        if !valid_name(name) {
            return Err(format!(
                "audit_sinks: name {name:?} must be 1 to 64 letters, digits, '-' or '_' (it names the sink's cursor file)"
            ));
        }
        if !seen.insert(name) {
            return Err(format!(
                "audit_sinks: name {name:?} is repeated (each sink keeps its own cursor)"
            ));
        }
        validate_kind(sink).map_err(|why| format!("audit_sinks {name:?}: {why}"))?;
    }
    Ok(())
}

fn validate_kind(sink: &AuditSinkConfig) -> Result<(), String> {
    if sink.batch_size() == 0 {
        return Err("batch_size must be at least 1".into());
    }
    match sink {
        AuditSinkConfig::File(c) if c.path.as_os_str().is_empty() => Err("path is empty".into()),
        AuditSinkConfig::File(_) => Ok(()),
        AuditSinkConfig::Http(c) => {
            Endpoint::parse(c.url.trim()).map_err(|e| e.to_string())?;
            positive(c.timeout)
        }
        AuditSinkConfig::Syslog(c) => {
            check_address(&c.address)?;
            facility_code(&c.facility)?;
            if let Some(host) = &c.hostname {
                if header_field(host, 255) != host {
                    return Err(
                        "hostname must be 1 to 255 printable ASCII characters, no spaces".into(),
                    );
                }
            }
            positive(c.timeout)
        }
    }
}

fn positive(timeout: Duration) -> Result<(), String> {
    match timeout.is_zero() {
        true => Err("timeout must be > 0".into()),
        false => Ok(()),
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `host:port`, checked without resolving the host (it may not resolve until later).
fn check_address(address: &str) -> Result<(), String> {
    let bad = || format!("address {address:?} is not host:port");
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 && !host.is_empty() => Ok(()),
        _ => Err(bad()),
    }
}

pub(super) fn facility_code(name: &str) -> Result<u8, String> {
    FACILITIES
        .iter()
        .position(|f| *f == name)
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| format!("facility {name:?} is not one of {}", FACILITIES.join(", ")))
}
#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn facilities_have_their_rfc_codes() {
        assert_eq!(facility_code("kern"), Ok(0));
        assert_eq!(facility_code("audit"), Ok(13));
        assert_eq!(facility_code("local0"), Ok(16));
        assert_eq!(facility_code("local7"), Ok(23));
        assert!(facility_code("security").is_err());
    }

    #[derive(Deserialize)]
    struct Doc {
        #[serde(deserialize_with = "deserialize_sinks")]
        audit_sinks: Vec<AuditSinkConfig>,
    }

    fn parse(text: &str) -> Result<Vec<AuditSinkConfig>, String> {
        toml::from_str::<Doc>(text)
            .map(|f| f.audit_sinks)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn config_from_toml() {
        let sinks = parse(
            r#"
            [[audit_sinks]]
            name = "shipper"
            kind = "file"
            path = "export.jsonl"

            [[audit_sinks]]
            name = "siem"
            kind = "http"
            url = "https://siem.example/ingest?k=SECRET"
            token_file = "siem.token"
            timeout = "3s"
            batch_size = 100

            [[audit_sinks]]
            name = "syslog"
            kind = "syslog"
            address = "[::1]:6514"
            transport = "udp"
            facility = "audit"
            "#,
        )
        .unwrap();
        let [AuditSinkConfig::File(f), AuditSinkConfig::Http(h), AuditSinkConfig::Syslog(s)] =
            &sinks[..]
        else {
            panic!("three sinks of three kinds: {sinks:?}")
        };
        assert_eq!((f.name.as_str(), f.batch_size), ("shipper", DEFAULT_BATCH));
        assert_eq!(h.timeout, Duration::from_secs(3));
        assert_eq!(h.batch_size, 100);
        assert_eq!(h.token_file.as_deref(), Some(Path::new("siem.token")));
        assert_eq!(s.transport, SyslogTransport::Udp);
        assert_eq!(s.timeout, Duration::from_secs(10));
    }

    #[test]
    fn config_errors() {
        let file = |name: &str, extra: &str| {
            format!("[[audit_sinks]]\nname = \"{name}\"\nkind = \"file\"\npath = \"x\"\n{extra}\n")
        };
        let cases = [
            (file("a", "") + &file("a", ""), "repeated"),
            (file("a/b", ""), "must be 1 to 64"),
            (file("", ""), "must be 1 to 64"),
            (file("a", "colour = \"red\""), "unknown field"),
            (file("a", "batch_size = 0"), "batch_size"),
            (
                "[[audit_sinks]]\nname = \"a\"\nkind = \"kafka\"\n".into(),
                "unknown variant",
            ),
            (
                "[[audit_sinks]]\nname = \"h\"\nkind = \"http\"\nurl = \"ftp://x/SECRET\"\n".into(),
                "http:// or https://",
            ),
            (
                "[[audit_sinks]]\nname = \"s\"\nkind = \"syslog\"\naddress = \"nohost\"\n".into(),
                "host:port",
            ),
            (
                "[[audit_sinks]]\nname = \"s\"\nkind = \"syslog\"\naddress = \"h:514\"\nfacility = \"nope\"\n".into(),
                "facility",
            ),
        ];
        for (text, wanted) in cases {
            let err = parse(&text).expect_err(wanted);
            assert!(err.contains(wanted), "{err} lacks {wanted}");
            assert!(!err.contains("SECRET"), "{err} repeats the URL");
        }
    }
}
