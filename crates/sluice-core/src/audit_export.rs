//! Getting the audit trail out of the gateway: sinks that stream every record to a file, an
//! HTTP endpoint or a syslog receiver, and the reader that `sluice audit export` shares with
//! them.
//!
//! A sink only reads the audit file, as a separate reader, never through the gateway's audit
//! log: a slow or dead receiver can therefore never delay a statement or fill memory; its
//! records simply wait in the file. Each sink keeps a cursor, the seq of the last record its
//! destination accepted, in `<data_dir>/audit-sinks/<name>.cursor`. A batch is delivered first
//! and the cursor moved after, so a crash in between sends that batch again after the restart:
//! delivery is at least once and never loses a record, and a receiver drops duplicates by `seq`.
//! Records go out as the exact bytes of their lines, so a receiver can still check the chain.
//!
//! # Layout
//! - configuration: [`AuditSinkConfig`] and its kinds, validated when the file is loaded;
//! - [`AuditTail`]: reading whole records after a seq, through growth, a torn last line, and
//!   the file being absent, replaced or cut;
//! - [`Cursor`]: the crash-safe cursor file;
//! - the run loop shared by every kind ([`AuditSinks`]), then one small destination per kind.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use serde::{Deserialize, Deserializer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::notify::{self, Endpoint, Tls};
use crate::CoreError;

/// Records per batch unless a sink says otherwise: one request, one write, one cursor update.
const DEFAULT_BATCH: usize = 500;
/// A batch also stops growing at this many bytes, so one request or write stays bounded
/// however long the statements in it are.
const BATCH_BYTES: usize = 1024 * 1024;
/// How often a sink that has caught up looks at the file again.
const POLL: Duration = Duration::from_millis(200);
/// The largest UDP payload over IPv4; a longer syslog message cannot be sent whole.
const MAX_DATAGRAM: usize = 65_507;
const AGENT: &str = concat!("sluice/", env!("CARGO_PKG_VERSION"));

// ---- Configuration ----

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
        deserialize_with = "crate::config::duration"
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
        deserialize_with = "crate::config::duration"
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

/// RFC 5424 severity "informational": every record is a fact, none an alarm.
const SEVERITY_INFO: u8 = 6;

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

    fn batch_size(&self) -> usize {
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

/// `deserialize_with` for `Config::audit_sinks`: a sink that cannot work as written fails the
/// load, like every other setting, rather than the first delivery hours later.
pub(crate) fn deserialize_sinks<'de, D: Deserializer<'de>>(
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
            Endpoint::parse(c.url.trim())?;
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

fn facility_code(name: &str) -> Result<u8, String> {
    FACILITIES
        .iter()
        .position(|f| *f == name)
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| format!("facility {name:?} is not one of {}", FACILITIES.join(", ")))
}

// ---- Reading the audit file ----

/// One record as it lies in the audit file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailRecord {
    pub seq: u64,
    /// RFC 3339 UTC, as written.
    pub time: String,
    /// The event's `type`, e.g. `statement`.
    pub event_type: String,
    /// The line's exact bytes without its `\n`: what the hash chain covers.
    pub line: Vec<u8>,
}

/// The fields a sink needs. Deserializing into it still checks the whole line is JSON, and it
/// accepts event types newer than this binary.
#[derive(Deserialize)]
struct Head<'a> {
    seq: u64,
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow, rename = "type")]
    event_type: Cow<'a, str>,
}

/// Reads whole records from the audit file, in file order, skipping those at or below a seq.
///
/// It follows the file as it grows. A line without its `\n` yet (being written, or torn by a
/// crash, which the gateway cuts when it reopens the log) is read again from its start next
/// time. When the path comes to name another file, or the file gets shorter than what was
/// read, it starts again from the top of the new content, still skipping what it has returned.
pub struct AuditTail {
    path: PathBuf,
    file: Option<OpenFile>,
    /// The seq of the last record returned (or the cursor it started from).
    after: u64,
    buf: Vec<u8>,
}

struct OpenFile {
    reader: BufReader<File>,
    /// Just after the last whole record read.
    pos: u64,
    /// Device and inode, to notice the path naming another file.
    id: (u64, u64),
}

impl AuditTail {
    /// Reads `path` from its start, returning only records whose seq is above `after`.
    pub fn new(path: impl Into<PathBuf>, after: u64) -> AuditTail {
        AuditTail {
            path: path.into(),
            file: None,
            after,
            buf: Vec::with_capacity(4096),
        }
    }

    /// The next record, or `None` when there is none yet: the end of the file, a line still
    /// being written, or no file. A complete line that is not a record is an error, every time
    /// it is reached: skipping it could skip a real record, so the reader stops there until an
    /// operator looks (`sluice audit verify` names the line).
    pub fn next_record(&mut self) -> io::Result<Option<TailRecord>> {
        // Bounded: a reopened file is read from its top, and it is reopened again only if it
        // changed meanwhile.
        for _ in 0..8 {
            if self.file.is_none() {
                self.file = open(&self.path)?;
            }
            let Some(file) = self.file.as_mut() else {
                return Ok(None);
            };
            loop {
                match read_record(file, &mut self.buf)? {
                    Some(record) if record.seq <= self.after => continue,
                    Some(record) => {
                        self.after = record.seq;
                        return Ok(Some(record));
                    }
                    None => break,
                }
            }
            if !self.replaced()? {
                return Ok(None);
            }
            self.file = None;
        }
        Ok(None)
    }

    /// Up to `max` records, fewer once they reach [`BATCH_BYTES`]; empty when nothing is new.
    /// An error after some records is left for the next call (it recurs there), so the records
    /// already read go out first.
    pub fn read_batch(&mut self, max: usize) -> io::Result<Vec<TailRecord>> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while batch.len() < max && bytes < BATCH_BYTES {
            match self.next_record() {
                Ok(Some(record)) => {
                    bytes += record.line.len();
                    batch.push(record);
                }
                Ok(None) => break,
                Err(e) if batch.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(batch)
    }

    /// Whether the path now names another file, or a file shorter than what was read.
    fn replaced(&self) -> io::Result<bool> {
        let Some(file) = &self.file else {
            return Ok(false);
        };
        match std::fs::metadata(&self.path) {
            Ok(meta) => Ok(file_id(&meta) != file.id || meta.len() < file.pos),
            // Moved away and not recreated yet: the old file is still the trail's newest part.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// `None` when there is no file yet: a sink may start before the gateway's first record.
fn open(path: &Path) -> io::Result<Option<OpenFile>> {
    match File::open(path) {
        Ok(file) => Ok(Some(OpenFile {
            id: file_id(&file.metadata()?),
            reader: BufReader::with_capacity(256 * 1024, file),
            pos: 0,
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_record(file: &mut OpenFile, buf: &mut Vec<u8>) -> io::Result<Option<TailRecord>> {
    buf.clear();
    let n = file.reader.read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    let Some(line) = buf.strip_suffix(b"\n") else {
        // Not whole yet: read it again from its start next time.
        file.reader.seek(SeekFrom::Start(file.pos))?;
        return Ok(None);
    };
    match serde_json::from_slice::<Head>(line) {
        Ok(head) => {
            let record = TailRecord {
                seq: head.seq,
                time: head.time.into_owned(),
                event_type: head.event_type.into_owned(),
                line: line.to_vec(),
            };
            file.pos += n as u64;
            Ok(Some(record))
        }
        Err(e) => {
            let at = file.pos;
            file.reader.seek(SeekFrom::Start(at))?;
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the line at byte {at} is not an audit record ({e})"),
            ))
        }
    }
}

// ---- The cursor ----

/// The seq of the last record a sink's destination accepted, in one small file.
#[derive(Debug, Clone)]
pub struct Cursor {
    dir: PathBuf,
    path: PathBuf,
}

impl Cursor {
    /// `<data_dir>/audit-sinks/<sink>.cursor`.
    pub fn new(data_dir: &Path, sink: &str) -> Cursor {
        let dir = data_dir.join("audit-sinks");
        Cursor {
            path: dir.join(format!("{sink}.cursor")),
            dir,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 0 when the sink has never delivered anything: it starts from the first record.
    pub fn load(&self) -> io::Result<u64> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => text.trim().parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} does not hold a seq (write the seq of the last record the destination has, or delete the file to send everything again)",
                        self.path.display()
                    ),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Replaces the file so that a crash at any point leaves the old value or the new one,
    /// never a torn one: the value goes to a temporary file, synced, renamed over the cursor,
    /// and the directory is synced so the rename itself survives a power failure.
    pub fn store(&self, seq: u64) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.path.with_extension("cursor.tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(format!("{seq}\n").as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        File::open(&self.dir)?.sync_all()
    }
}

// ---- Running the sinks ----

/// A batch, shared with the blocking file writes.
type Batch = Arc<Vec<TailRecord>>;

/// Sinks built from the configuration and ready to run. Everything that can be wrong with one
/// (a token file that cannot be read, a cursor that holds no seq, a file sink writing into the
/// audit file itself) is found here, at start.
pub struct AuditSinks {
    sinks: Vec<(Sink, AuditTail)>,
}

/// The running sinks; dropping this stops them (what they have not delivered is sent after the
/// next start, from their cursors).
#[derive(Default)]
pub struct AuditSinkTasks(Vec<JoinHandle<()>>);

impl AuditSinkTasks {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn abort(&mut self) {
        for task in self.0.drain(..) {
            task.abort();
        }
    }
}

impl Drop for AuditSinkTasks {
    fn drop(&mut self) {
        self.abort();
    }
}

/// Builds the configured sinks and spawns one task per sink on the current tokio runtime.
pub fn spawn_sinks(config: &Config) -> Result<AuditSinkTasks, CoreError> {
    Ok(AuditSinks::prepare(config)?.spawn())
}

impl AuditSinks {
    pub fn prepare(config: &Config) -> Result<AuditSinks, CoreError> {
        let audit_path = config.audit_path();
        let sinks = config
            .audit_sinks
            .iter()
            .map(|c| {
                let bad =
                    |why: String| CoreError::Config(format!("audit_sinks {:?}: {why}", c.name()));
                let cursor = Cursor::new(&config.gateway.data_dir, c.name());
                let after = cursor.load().map_err(|e| bad(e.to_string()))?;
                std::fs::create_dir_all(&cursor.dir)
                    .map_err(|e| bad(format!("creating {}: {e}", cursor.dir.display())))?;
                let sink = Sink {
                    name: c.name().to_owned(),
                    batch_size: c.batch_size(),
                    cursor,
                    destination: Destination::new(c, &audit_path).map_err(bad)?,
                };
                Ok((sink, AuditTail::new(&audit_path, after)))
            })
            .collect::<Result<Vec<_>, CoreError>>()?;
        Ok(AuditSinks { sinks })
    }

    pub fn spawn(self) -> AuditSinkTasks {
        AuditSinkTasks(
            self.sinks
                .into_iter()
                .map(|(sink, tail)| tokio::spawn(sink.run(tail)))
                .collect(),
        )
    }
}

struct Sink {
    name: String,
    batch_size: usize,
    cursor: Cursor,
    destination: Destination,
}

impl Sink {
    async fn run(mut self, mut tail: AuditTail) {
        tracing::info!(sink = %self.name, to = %self.destination.describe(), after_seq = tail.after, "audit sink started");
        let mut read_error = None;
        loop {
            let batch_size = self.batch_size;
            // File reads block; off the async workers.
            let read = tokio::task::spawn_blocking(move || {
                let batch = tail.read_batch(batch_size);
                (tail, batch)
            })
            .await;
            let batch = match read {
                Ok((back, batch)) => {
                    tail = back;
                    batch
                }
                Err(e) => {
                    tracing::error!(sink = %self.name, error = %e, "audit sink stopped");
                    return;
                }
            };
            match batch {
                Ok(batch) if !batch.is_empty() => {
                    read_error = None;
                    let batch = Arc::new(batch);
                    self.deliver(&batch).await;
                    self.advance(&batch).await;
                }
                Ok(_) => tokio::time::sleep(POLL).await,
                Err(e) => {
                    self.read_failed(&mut read_error, e);
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    /// Logged when the problem changes, not on every poll.
    fn read_failed(&self, last: &mut Option<String>, error: io::Error) {
        let error = error.to_string();
        if last.as_deref() != Some(error.as_str()) {
            tracing::error!(sink = %self.name, error = %error, "audit sink cannot read the audit file; waiting");
            *last = Some(error);
        }
    }

    /// Until the destination accepts the batch: a record is never skipped. The backoff keeps a
    /// dead receiver from costing more than an attempt now and then.
    async fn deliver(&mut self, batch: &Batch) {
        let mut attempt: u32 = 0;
        loop {
            attempt = attempt.saturating_add(1);
            match self.attempt(batch).await {
                Ok(()) if attempt > 1 => {
                    tracing::info!(sink = %self.name, attempts = attempt, "audit sink delivering again");
                    return;
                }
                Ok(()) => return,
                Err(error) => {
                    // The first failure and every tenth after: an outage of hours logs a few lines.
                    if attempt % 10 == 1 {
                        tracing::warn!(sink = %self.name, to = %self.destination.describe(), attempt, error = %error, "audit sink cannot deliver; retrying (the records wait in the audit file)");
                    }
                    tokio::time::sleep(notify::backoff(attempt)).await;
                }
            }
        }
    }

    async fn attempt(&mut self, batch: &Batch) -> Result<(), String> {
        match self.destination.timeout() {
            Some(limit) => tokio::time::timeout(limit, self.destination.deliver(batch))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "not done within {}",
                        humantime::format_duration(limit)
                    ))
                }),
            None => self.destination.deliver(batch).await,
        }
    }

    /// After delivery, never before. A cursor that cannot be saved only means re-sending after
    /// a restart, so the sink carries on.
    async fn advance(&self, batch: &Batch) {
        let Some(seq) = batch.last().map(|r| r.seq) else {
            return;
        };
        let cursor = self.cursor.clone();
        let stored = tokio::task::spawn_blocking(move || cursor.store(seq)).await;
        let error = match stored {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(sink = %self.name, seq, error = %error, "audit sink cannot save its cursor; after a restart it sends again from the last one saved");
    }
}

/// Where a sink's records go: one small type per kind behind the shared loop above.
enum Destination {
    File(FileDestination),
    Http(HttpDestination),
    Syslog(SyslogDestination),
}

impl Destination {
    fn new(config: &AuditSinkConfig, audit_path: &Path) -> Result<Destination, String> {
        Ok(match config {
            AuditSinkConfig::File(c) => Destination::File(FileDestination::new(c, audit_path)?),
            AuditSinkConfig::Http(c) => Destination::Http(HttpDestination::new(c)?),
            AuditSinkConfig::Syslog(c) => Destination::Syslog(SyslogDestination::new(c)?),
        })
    }

    /// For logs: never a URL's path or a token.
    fn describe(&self) -> String {
        match self {
            Destination::File(d) => d.path.display().to_string(),
            Destination::Http(d) => format!("{}:{}", d.endpoint.host, d.endpoint.port),
            Destination::Syslog(d) => format!("{} ({:?})", d.address, d.transport),
        }
    }

    /// A local file has no timeout: a write that hangs is the disk's problem, and a timed-out
    /// write would still finish later.
    fn timeout(&self) -> Option<Duration> {
        match self {
            Destination::File(_) => None,
            Destination::Http(d) => Some(d.timeout),
            Destination::Syslog(d) => Some(d.timeout),
        }
    }

    async fn deliver(&mut self, batch: &Batch) -> Result<(), String> {
        match self {
            Destination::File(d) => d.deliver(batch).await,
            Destination::Http(d) => d.deliver(batch).await,
            Destination::Syslog(d) => d.deliver(batch).await,
        }
    }
}

/// The records' lines, each with its `\n`.
fn ndjson(batch: &[TailRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(batch.iter().map(|r| r.line.len() + 1).sum());
    for record in batch {
        out.extend_from_slice(&record.line);
        out.push(b'\n');
    }
    out
}

// ---- kind = "file" ----

struct FileDestination {
    path: PathBuf,
}

impl FileDestination {
    fn new(config: &FileSinkConfig, audit_path: &Path) -> Result<FileDestination, String> {
        if same_file(&config.path, audit_path) {
            return Err("path is the audit file itself".into());
        }
        Ok(FileDestination {
            path: config.path.clone(),
        })
    }

    async fn deliver(&self, batch: &Batch) -> Result<(), String> {
        let path = self.path.clone();
        let batch = Arc::clone(batch);
        tokio::task::spawn_blocking(move || append(&path, &batch))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// Opened per batch, so a shipper that rotates the file by renaming it gets a new one. Synced
/// before the cursor moves, so the cursor is never ahead of what is on disk; a failed write is
/// cut back so the retry does not leave half a line in the file.
fn append(path: &Path, batch: &[TailRecord]) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let before = file.metadata()?.len();
    let written = file
        .write_all(&ndjson(batch))
        .and_then(|()| file.sync_data());
    if written.is_err() {
        let _ = file.set_len(before);
    }
    written
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

// ---- kind = "http" ----

struct HttpDestination {
    endpoint: Endpoint,
    tls: Option<Tls>,
    /// `Bearer <token>`, marked sensitive; never logged.
    authorization: Option<HeaderValue>,
    timeout: Duration,
}

impl HttpDestination {
    fn new(config: &HttpSinkConfig) -> Result<HttpDestination, String> {
        let endpoint = Endpoint::parse(config.url.trim())?;
        Ok(HttpDestination {
            tls: Tls::for_endpoint(&endpoint)?,
            endpoint,
            authorization: config.token_file.as_deref().map(bearer).transpose()?,
            timeout: config.timeout,
        })
    }

    /// 2xx is delivered; anything else, or no answer, is retried: giving up would lose records.
    async fn deliver(&self, batch: &Batch) -> Result<(), String> {
        let answer = notify::send(&self.endpoint, self.tls.as_ref(), self.request(batch)?).await?;
        match answer.status.is_success() {
            true => Ok(()),
            false => Err(format!("answered {}", answer.status)),
        }
    }

    /// The seq headers let a receiver log or dedupe a batch without parsing it.
    fn request(&self, batch: &[TailRecord]) -> Result<hyper::Request<Full<Bytes>>, String> {
        let (first, last) = match (batch.first(), batch.last()) {
            (Some(f), Some(l)) => (f.seq, l.seq),
            _ => (0, 0),
        };
        let mut builder = hyper::Request::post(self.endpoint.target.clone())
            .header(HOST, self.endpoint.authority.clone())
            .header(CONTENT_TYPE, "application/x-ndjson")
            .header(USER_AGENT, AGENT)
            .header("x-sluice-first-seq", first)
            .header("x-sluice-last-seq", last);
        if let Some(auth) = &self.authorization {
            builder = builder.header(AUTHORIZATION, auth.clone());
        }
        builder
            .body(Full::new(Bytes::from(ndjson(batch))))
            .map_err(|e| format!("building the request: {e}"))
    }
}

/// Errors name the file, never its contents.
fn bearer(path: &Path) -> Result<HeaderValue, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading token_file {}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("token_file {} is empty", path.display()));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        format!(
            "token_file {} holds characters a header cannot carry",
            path.display()
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

// ---- kind = "syslog" ----

struct SyslogDestination {
    address: String,
    transport: SyslogTransport,
    /// facility * 8 + severity.
    pri: u8,
    hostname: String,
    procid: String,
    timeout: Duration,
    tcp: Option<TcpStream>,
    udp: Option<UdpSocket>,
}

impl SyslogDestination {
    fn new(config: &SyslogSinkConfig) -> Result<SyslogDestination, String> {
        let hostname = match &config.hostname {
            Some(h) => h.clone(),
            None => local_hostname(),
        };
        Ok(SyslogDestination {
            address: config.address.clone(),
            transport: config.transport,
            pri: facility_code(&config.facility)? * 8 + SEVERITY_INFO,
            hostname: header_field(&hostname, 255).to_owned(),
            procid: std::process::id().to_string(),
            timeout: config.timeout,
            tcp: None,
            udp: None,
        })
    }

    async fn deliver(&mut self, batch: &Batch) -> Result<(), String> {
        match self.transport {
            SyslogTransport::Tcp => self.deliver_tcp(batch).await,
            SyslogTransport::Udp => self.deliver_udp(batch).await,
        }
    }

    fn message(&self, record: &TailRecord) -> Vec<u8> {
        rfc5424(self.pri, &self.hostname, &self.procid, record)
    }

    /// The connection is taken out and put back only once a whole batch went out: a write cut
    /// short (an error, or the timeout dropping this future) leaves half a frame behind, after
    /// which the connection must not carry another.
    async fn deliver_tcp(&mut self, batch: &Batch) -> Result<(), String> {
        let mut stream = match self.tcp.take() {
            Some(s) if peer_open(&s) => s,
            _ => TcpStream::connect(self.address.as_str())
                .await
                .map_err(|e| format!("connect: {e}"))?,
        };
        let mut out = Vec::new();
        for record in batch.iter() {
            octet_frame(&mut out, &self.message(record));
        }
        stream
            .write_all(&out)
            .await
            .map_err(|e| format!("send: {e}"))?;
        self.tcp = Some(stream);
        Ok(())
    }

    /// UDP has no acknowledgement: a datagram that was sent counts as delivered.
    async fn deliver_udp(&mut self, batch: &Batch) -> Result<(), String> {
        let socket = match self.udp.take() {
            Some(s) => s,
            None => udp_socket(&self.address).await?,
        };
        for record in batch.iter() {
            let mut message = self.message(record);
            if message.len() > MAX_DATAGRAM {
                tracing::warn!(seq = record.seq, bytes = message.len(), "audit record longer than a UDP datagram; sent truncated (transport = \"tcp\" sends it whole)");
                message.truncate(MAX_DATAGRAM);
            }
            socket
                .send(&message)
                .await
                .map_err(|e| format!("send: {e}"))?;
        }
        self.udp = Some(socket);
        Ok(())
    }
}

/// A syslog receiver never sends, so a readable connection that yields 0 bytes was closed by
/// the peer; writing to it would "succeed" into the kernel buffer and lose the batch.
fn peer_open(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    match stream.try_read(&mut probe) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
    }
}

async fn udp_socket(address: &str) -> Result<UdpSocket, String> {
    let target = tokio::net::lookup_host(address)
        .await
        .map_err(|e| format!("resolving: {e}"))?
        .next()
        .ok_or("the address resolves to nothing")?;
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("bind: {e}"))?;
    socket
        .connect(target)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    Ok(socket)
}

/// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`: the record's own time, the event
/// type as MSGID, no structured data, and the JSON line as MSG (without a BOM, which many
/// receivers would keep as part of the JSON).
pub(crate) fn rfc5424(pri: u8, hostname: &str, procid: &str, record: &TailRecord) -> Vec<u8> {
    let mut out = format!(
        "<{pri}>1 {} {} sluice {} {} - ",
        header_field(&record.time, 64),
        header_field(hostname, 255),
        header_field(procid, 128),
        header_field(&record.event_type, 32),
    )
    .into_bytes();
    out.extend_from_slice(&record.line);
    out
}

/// RFC 6587 octet counting: `MSG-LEN SP SYSLOG-MSG`, so a message may hold any byte.
pub(crate) fn octet_frame(out: &mut Vec<u8>, message: &[u8]) {
    out.extend_from_slice(format!("{} ", message.len()).as_bytes());
    out.extend_from_slice(message);
}

/// RFC 5424 header fields are 1 to `max` printable ASCII characters without spaces, or `-`
/// for "no value".
fn header_field(value: &str, max: usize) -> &str {
    let ok =
        !value.is_empty() && value.len() <= max && value.bytes().all(|b| (33..=126).contains(&b));
    if ok {
        value
    } else {
        "-"
    }
}

/// The kernel's host name, without a libc call.
fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "-".into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    fn line(seq: u64, kind: &str) -> String {
        format!(
            r#"{{"seq":{seq},"time":"2025-01-02T03:04:05.00000{}Z","prev":"00","type":"{kind}","n":"x"}}"#,
            seq % 10
        )
    }

    fn write_lines(path: &Path, seqs: std::ops::RangeInclusive<u64>) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for seq in seqs {
            writeln!(f, "{}", line(seq, "statement")).unwrap();
        }
    }

    fn seqs(records: &[TailRecord]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn audit_export_cursor_round_trips_and_starts_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let cursor = Cursor::new(dir.path(), "siem");
        assert_eq!(cursor.load().unwrap(), 0);
        cursor.store(41).unwrap();
        cursor.store(42).unwrap();
        assert_eq!(cursor.load().unwrap(), 42);
        assert_eq!(
            cursor.path(),
            dir.path().join("audit-sinks").join("siem.cursor")
        );
        assert_eq!(std::fs::read_to_string(cursor.path()).unwrap(), "42\n");
    }

    /// A crash while writing leaves a torn temporary file beside an intact cursor; the cursor
    /// still reads, and the next store replaces the leftover.
    #[test]
    fn audit_export_cursor_survives_a_crash_mid_write() {
        let dir = tempfile::tempdir().unwrap();
        let cursor = Cursor::new(dir.path(), "siem");
        cursor.store(7).unwrap();
        let tmp = cursor.path().with_extension("cursor.tmp");
        std::fs::write(&tmp, "12").unwrap();
        assert_eq!(cursor.load().unwrap(), 7);
        cursor.store(9).unwrap();
        assert_eq!(cursor.load().unwrap(), 9);
        assert!(!tmp.exists());
        let names: Vec<_> = std::fs::read_dir(dir.path().join("audit-sinks"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("siem.cursor")]);
    }

    #[test]
    fn audit_export_cursor_that_holds_no_seq_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let cursor = Cursor::new(dir.path(), "siem");
        std::fs::create_dir_all(cursor.path().parent().unwrap()).unwrap();
        std::fs::write(cursor.path(), "forty-two").unwrap();
        let err = cursor.load().unwrap_err().to_string();
        assert!(err.contains("does not hold a seq"), "{err}");
    }

    #[test]
    fn audit_export_tail_resumes_after_the_cursor_and_follows_growth() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut tail = AuditTail::new(&path, 3);
        assert!(tail.read_batch(10).unwrap().is_empty(), "no file yet");

        write_lines(&path, 1..=5);
        let batch = tail.read_batch(10).unwrap();
        assert_eq!(seqs(&batch), vec![4, 5]);
        assert_eq!(batch[0].line, line(4, "statement").into_bytes());
        assert_eq!(batch[0].event_type, "statement");
        assert_eq!(batch[0].time, "2025-01-02T03:04:05.000004Z");

        // A line still being written is left for later, then read whole.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        let six = line(6, "statement");
        f.write_all(&six.as_bytes()[..10]).unwrap();
        assert!(tail.read_batch(10).unwrap().is_empty());
        writeln!(f, "{}", &six[10..]).unwrap();
        write_lines(&path, 7..=9);
        assert_eq!(seqs(&tail.read_batch(2).unwrap()), vec![6, 7]);
        assert_eq!(seqs(&tail.read_batch(10).unwrap()), vec![8, 9]);
    }

    #[test]
    fn audit_export_tail_rereads_a_replaced_file_without_repeating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_lines(&path, 1..=4);
        let mut tail = AuditTail::new(&path, 0);
        assert_eq!(seqs(&tail.read_batch(10).unwrap()), vec![1, 2, 3, 4]);
        // Rotated: the old file moves away, a new one continues the chain.
        std::fs::rename(&path, dir.path().join("audit.1.jsonl")).unwrap();
        assert!(tail.read_batch(10).unwrap().is_empty());
        write_lines(&path, 3..=6);
        assert_eq!(seqs(&tail.read_batch(10).unwrap()), vec![5, 6]);
    }

    #[test]
    fn audit_export_tail_stops_at_a_line_that_is_not_a_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_lines(&path, 1..=2);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"garbage\n")
            .unwrap();
        write_lines(&path, 3..=3);
        let mut tail = AuditTail::new(&path, 0);
        assert_eq!(seqs(&tail.read_batch(10).unwrap()), vec![1, 2]);
        for _ in 0..2 {
            let err = tail.read_batch(10).unwrap_err().to_string();
            assert!(err.contains("not an audit record"), "{err}");
        }
    }

    fn record(seq: u64, kind: &str) -> TailRecord {
        let line = line(seq, kind);
        TailRecord {
            seq,
            time: format!("2025-01-02T03:04:05.00000{}Z", seq % 10),
            event_type: kind.into(),
            line: line.into_bytes(),
        }
    }

    #[test]
    fn audit_export_syslog_message_and_octet_framing() {
        let r = record(7, "statement");
        let message = rfc5424(16 * 8 + 6, "gw-1", "4242", &r);
        let expected = format!(
            "<134>1 2025-01-02T03:04:05.000007Z gw-1 sluice 4242 statement - {}",
            line(7, "statement")
        );
        assert_eq!(String::from_utf8(message.clone()).unwrap(), expected);

        let mut framed = Vec::new();
        octet_frame(&mut framed, &message);
        octet_frame(&mut framed, b"x y");
        assert_eq!(
            framed,
            format!("{} {expected}3 x y", expected.len()).into_bytes()
        );
        // Fields a header cannot carry become "-".
        let odd = rfc5424(110, "host name", "1", &record(1, ""));
        assert!(odd.starts_with(b"<110>1 2025-01-02T03:04:05.000001Z - sluice 1 - - {"));
    }

    #[test]
    fn audit_export_facilities_have_their_rfc_codes() {
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
    fn audit_export_config_from_toml() {
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
    fn audit_export_config_errors() {
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

    fn config_with(data_dir: &Path, sinks: &str) -> Config {
        let text = format!(
            "[gateway]\ndata_dir = \"{}\"\n[policy]\nbuiltin = \"allow-all\"\n{sinks}",
            data_dir.display()
        );
        Config::parse(&text).unwrap()
    }

    #[test]
    fn audit_export_prepare_refuses_what_cannot_work() {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.jsonl");
        let into_itself = format!(
            "[[audit_sinks]]\nname = \"loop\"\nkind = \"file\"\npath = \"{}\"\n",
            audit.display()
        );
        let err = AuditSinks::prepare(&config_with(dir.path(), &into_itself))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("audit file itself"), "{err}");

        let token = dir.path().join("token");
        std::fs::write(&token, "\n").unwrap();
        let empty_token = format!(
            "[[audit_sinks]]\nname = \"h\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9/\"\ntoken_file = \"{}\"\n",
            token.display()
        );
        let err = AuditSinks::prepare(&config_with(dir.path(), &empty_token))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("is empty"), "{err}");
    }

    /// The whole loop against a TCP syslog receiver: every record arrives, framed, and the
    /// cursor ends at the last one.
    #[tokio::test]
    async fn audit_export_syslog_tcp_sink_delivers_and_moves_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        write_lines(&dir.path().join("audit.jsonl"), 1..=3);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sinks = format!(
            "[[audit_sinks]]\nname = \"sl\"\nkind = \"syslog\"\naddress = \"{}\"\nhostname = \"gw\"\n",
            listener.local_addr().unwrap()
        );
        let config = config_with(dir.path(), &sinks);
        let tasks = spawn_sinks(&config).unwrap();
        assert_eq!(tasks.len(), 1);

        let mut expected = Vec::new();
        for seq in 1..=3 {
            let r = record(seq, "statement");
            let procid = std::process::id().to_string();
            octet_frame(&mut expected, &rfc5424(16 * 8 + 6, "gw", &procid, &r));
        }
        let (mut stream, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
            .await
            .unwrap()
            .unwrap();
        let mut received = vec![0u8; expected.len()];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut received))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&received),
            String::from_utf8_lossy(&expected)
        );
        let cursor = Cursor::new(dir.path(), "sl");
        for _ in 0..250 {
            if cursor.load().unwrap() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(cursor.load().unwrap(), 3);
        drop(tasks);
    }

    /// UDP: one datagram per record, the message unframed.
    #[tokio::test]
    async fn audit_export_syslog_udp_sink_sends_one_datagram_per_record() {
        let dir = tempfile::tempdir().unwrap();
        write_lines(&dir.path().join("audit.jsonl"), 1..=2);
        let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sinks = format!(
            "[[audit_sinks]]\nname = \"u\"\nkind = \"syslog\"\ntransport = \"udp\"\nfacility = \"audit\"\naddress = \"{}\"\nhostname = \"gw\"\n",
            receiver.local_addr().unwrap()
        );
        let _tasks = spawn_sinks(&config_with(dir.path(), &sinks)).unwrap();
        let procid = std::process::id().to_string();
        for seq in 1..=2 {
            let mut datagram = vec![0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(5), receiver.recv(&mut datagram))
                .await
                .unwrap()
                .unwrap();
            let expected = rfc5424(13 * 8 + 6, "gw", &procid, &record(seq, "statement"));
            assert_eq!(
                String::from_utf8_lossy(&datagram[..n]),
                String::from_utf8_lossy(&expected)
            );
        }
    }
}
