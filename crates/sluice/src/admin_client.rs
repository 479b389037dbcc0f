//! The client side of a gateway's admin REST API, shared by `sluice review`, `sluice access`
//! and `sluice policy status`: their calls through the shared HTTP client, the wire types of reviews and
//! grants (read leniently, so a newer gateway's extra fields do not break an older CLI), and the
//! presentation both commands use (ages, durations, tables).

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sluice_core::approvals::{self, IdKind};
use sluice_core::secret::Secret;
use sluice_outbound::http::{Bearer, Client, Endpoint, Method, Request, StatusCode};

use crate::cli::ServerArg;
use crate::login::credentials::{CredentialFile, Credentials};
use sluice_outbound::OutboundError;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A gateway that accepts the connection but never answers should not hang a terminal forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable holding the caller's gateway token; without it, the credential
/// `sluice login` stored is used. There is deliberately no flag: a token typed on a command
/// line lands in shell history and in `ps` output.
pub const TOKEN_ENV: &str = "SLUICE_TOKEN";

// ---------------------------------------------------------------------------------------------
// HTTP

/// Where the admin API listens: http:// on loopback or a private network, https:// when the
/// admin listener has TLS (with `--ca` for a private CA).
#[derive(Debug)]
pub struct Gateway {
    /// As given, for messages and as the credential file's key.
    server: String,
    /// One request per connection: the CLI makes a handful of calls, so pooling buys nothing.
    client: Client,
}

/// An answer of any status, for the calls whose non-2xx answers mean something (a device
/// login still pending, a credential the gateway no longer accepts).
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    /// The body as `T`; a parse error names the path but never quotes the body, which may
    /// carry a token.
    pub fn json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            anyhow!(
                "the gateway's answer to {path} is not what this version of sluice expects \
                 ({:?} at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            )
        })
    }

    /// `T` for a 2xx answer, else the API's error.
    pub fn success<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        if !self.status.is_success() {
            return Err(self.error());
        }
        self.json(path)
    }

    pub fn error(&self) -> anyhow::Error {
        api_error(self.status, &self.body)
    }
}

impl Gateway {
    pub fn connect(server: &str, ca: Option<&Path>) -> Result<Self> {
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            bail!("--server must be an http:// or https:// URL");
        }
        let endpoint = Endpoint::parse(server).map_err(|e| anyhow!("--server: {e}"))?;
        let client = match ca {
            Some(ca) => Client::with_ca(endpoint, REQUEST_TIMEOUT, ca)?,
            None => Client::new(endpoint, REQUEST_TIMEOUT)?,
        };
        Ok(Gateway {
            server: server.to_owned(),
            client,
        })
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.server
    }

    /// The host of the URL, without IPv6 brackets: where the data listeners are too.
    pub fn host(&self) -> &str {
        self.client.endpoint().host()
    }

    /// One request; `json` is sent as an application/json body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&Secret>,
        json: Option<Vec<u8>>,
    ) -> Result<Reply> {
        let mut request = Request::new(method)
            .path(path)
            .header("accept", "application/json");
        if let Some(token) = token {
            request = request.bearer(&bearer(token)?);
        }
        if let Some(json) = json {
            request = request
                .header("content-type", "application/json")
                .body(json);
        }
        exchange(self, request).await
    }

    /// A GET needing no credential; any non-2xx status is an error.
    pub async fn get_public<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(Method::GET, path, None, None)
            .await?
            .success(path)
    }

    /// A POST needing no credential, answered with any status.
    pub async fn post_public(&self, path: &str, body: &impl Serialize) -> Result<Reply> {
        self.send(Method::POST, path, None, Some(serde_json::to_vec(body)?))
            .await
    }

    /// Whether the request never reached the gateway (no connection, no answer in time, no
    /// trusted TLS), as opposed to the gateway refusing it.
    pub fn is_unreachable(error: &anyhow::Error) -> bool {
        error.downcast_ref::<Unreachable>().is_some()
    }
}

/// Marks the failures [`Gateway::is_unreachable`] recognizes; shows only its message.
#[derive(Debug)]
struct Unreachable(String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

async fn exchange(server: &Gateway, request: Request) -> Result<Reply> {
    let failed = |e: OutboundError| match e {
        OutboundError::Timeout(limit) => anyhow::Error::new(Unreachable(format!(
            "the gateway's admin API at {} did not answer within {}s",
            server.server,
            limit.as_secs()
        ))),
        OutboundError::Connect(e) => anyhow::Error::new(e).context(Unreachable(format!(
            "connecting to the gateway's admin API at {}",
            server.server
        ))),
        OutboundError::Tls(e) => anyhow::Error::new(Unreachable(format!(
            "TLS with the gateway's admin API at {}: {e}",
            server.server
        ))),
        OutboundError::Http(e) => anyhow::Error::new(e),
        other => anyhow::Error::new(other),
    };
    let response = server.client.send(request).await.map_err(failed)?;
    let status = response.status();
    let body = response.body().await.map_err(failed)?;
    Ok(Reply { status, body })
}

/// Kept out of output: the shared client marks it sensitive and never prints it.
fn bearer(token: &Secret) -> Result<Bearer> {
    // The error carries no part of the value, so it cannot leak the token.
    Bearer::new(token.expose())
        .map_err(|_| anyhow!("the token holds characters an HTTP header cannot carry"))
}

/// The admin API as one caller: a server and that caller's token.
#[derive(Debug)]
pub struct AdminClient {
    server: Gateway,
    token: Secret,
}

impl AdminClient {
    /// The server from `--server`/`SLUICE_SERVER` (else the credential file's default), the
    /// token from [`TOKEN_ENV`] (else the credential stored for that server by `sluice login`).
    pub fn connect(connection: &ServerArg) -> Result<Self> {
        let token = match std::env::var(TOKEN_ENV) {
            Ok(t) => Some(t),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => bail!("{TOKEN_ENV} is not valid UTF-8"),
        };
        Self::new(
            connection.server.clone(),
            connection.ca.as_deref(),
            token,
            || CredentialFile::locate()?.load(),
        )
    }

    /// `stored` is read only when the environment does not settle both server and token, so
    /// that SLUICE_SERVER + SLUICE_TOKEN work without (and despite) a credential file.
    fn new(
        server: Option<String>,
        ca: Option<&Path>,
        token: Option<String>,
        stored: impl FnOnce() -> Result<Credentials>,
    ) -> Result<Self> {
        let server = server.filter(|s| !s.trim().is_empty());
        let token = token.filter(|t| !t.trim().is_empty());
        let (server, token) = match (server, token) {
            (Some(server), Some(token)) => (server, Secret::new(token.trim().to_owned())),
            (server, token) => {
                let stored = stored()?;
                let server = match server.or_else(|| stored.default.clone()) {
                    Some(server) => server,
                    None => bail!(
                        "no gateway given: pass --server URL, set SLUICE_SERVER, or sign in \
                         with `sluice login --server URL`"
                    ),
                };
                let token = match token {
                    Some(token) => Secret::new(token.trim().to_owned()),
                    None => stored.usable(&server)?.token.clone(),
                };
                (server, token)
            }
        };
        Ok(AdminClient {
            server: Gateway::connect(&server, ca)?,
            token,
        })
    }

    pub fn gateway(&self) -> &Gateway {
        &self.server
    }

    /// The caller's token, for requests whose non-2xx answers the caller reads itself.
    pub fn token(&self) -> &Secret {
        &self.token
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        self.call(Method::POST, path, Some(serde_json::to_vec(body)?))
            .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T> {
        self.server
            .send(method, path, Some(&self.token), body)
            .await?
            .success(path)
    }
}

/// `message (HTTP status)` from the API's `{"error": "message"}`; anything else (a proxy's HTML
/// page, say) is quoted briefly.
fn api_error(status: StatusCode, body: &[u8]) -> anyhow::Error {
    #[derive(Deserialize)]
    struct ApiError {
        error: String,
    }
    match serde_json::from_slice::<ApiError>(body) {
        Ok(e) => anyhow!("{} (HTTP {})", one_line(&e.error, 500), status.as_u16()),
        Err(_) => anyhow!(
            "the gateway answered HTTP {}: {}",
            status.as_u16(),
            one_line(&String::from_utf8_lossy(body), 200)
        ),
    }
}

/// Takes one field out of an answer object, keeping its JSON as the server sent it (for
/// `--json`, which prints what the gateway said rather than what this CLI understood).
pub fn take_field(mut answer: serde_json::Value, name: &str) -> Result<serde_json::Value> {
    answer
        .get_mut(name)
        .map(serde_json::Value::take)
        .with_context(|| {
            format!(
                "the gateway's answer has no {name:?} field; is it a different version of sluice?"
            )
        })
}

/// Prints JSON the way every `--json` of these commands does: pretty, keys in a stable order.
pub fn print_json(value: &serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Request parts

/// `r-42` from `r-42` or `42`, read as the admin API reads it, so a typo fails before any
/// request is made.
pub fn review_id(input: &str) -> Result<String> {
    Ok(approvals::review_id(approvals::parse_id(
        IdKind::Review,
        input,
    )?))
}

/// `g-7` from `g-7` or `7`.
pub fn grant_id(input: &str) -> Result<String> {
    Ok(approvals::grant_id(approvals::parse_id(
        IdKind::Grant,
        input,
    )?))
}

/// A positive humantime duration (`1h`, `30m`), checked here so that a typo fails before any
/// request is made.
pub fn parse_duration(text: &str, flag: &str) -> Result<Duration> {
    let d = humantime::parse_duration(text.trim())
        .with_context(|| format!("{flag} {text:?} is not a duration like 30m or 1h"))?;
    if d.is_zero() {
        bail!("{flag} must be longer than zero");
    }
    Ok(d)
}

/// `--since` (RFC 3339, or a duration meaning that long ago) as the UTC RFC 3339 time the
/// stats endpoints take.
/// `GET {path}?since=...` for the stats endpoints: the answer as JSON, printed as is with
/// `--json`, else turned into `T` for the command to describe.
pub async fn stats<T: DeserializeOwned>(
    client: &AdminClient,
    path: &str,
    since: Option<&str>,
    json: bool,
) -> Result<Option<T>> {
    let since = since.map(since_param).transpose()?;
    let path = format!("{path}{}", query(&[("since", since.as_deref())]));
    let answer: serde_json::Value = client.get(&path).await?;
    if json {
        print_json(&answer)?;
        return Ok(None);
    }
    Ok(Some(serde_json::from_value(answer)?))
}

/// What a stats answer covers, in words.
pub fn stats_window(since: Option<&str>) -> String {
    match since {
        Some(since) => format!("since {}", printable(since, false)),
        None => "all time".to_owned(),
    }
}

pub fn since_param(since: &str) -> Result<String> {
    let t = crate::audit_cmd::parse_time(since.trim())?;
    Ok(t.to_offset(time::UtcOffset::UTC).format(&Rfc3339)?)
}

/// `?a=1&b=2` from the pairs whose value is present, percent-encoded; empty when none is.
pub fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", percent_encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Everything but RFC 3986's unreserved characters: `+` in an offset would otherwise read as a
/// space, `&` in a name would split the query.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Wire types

#[derive(Deserialize, Debug, Clone)]
pub struct Review {
    pub id: String,
    pub state: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub requester: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub database: Option<String>,
    #[serde(default)]
    pub session: Option<String>,
    #[serde(default)]
    pub statement: Option<String>,
    #[serde(default)]
    pub parameters: Option<Vec<Option<String>>>,
    #[serde(default)]
    pub access: Option<AccessAsked>,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub rule: String,
    #[serde(default)]
    pub policy: String,
    #[serde(default)]
    pub requirements: Vec<Requirement>,
    #[serde(default)]
    pub decisions: Vec<Decision>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub expires_at: String,
    #[serde(default)]
    pub decided_at: Option<String>,
    #[serde(default)]
    pub grant: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

impl Review {
    pub fn approvals_recorded(&self) -> usize {
        self.decisions
            .iter()
            .filter(|d| d.verdict == "approve")
            .count()
    }

    /// The client cannot know reviewers' groups, so this is the plain sum of what each
    /// requirement asks for.
    pub fn approvals_required(&self) -> u64 {
        self.requirements.iter().map(|r| r.approvals).sum()
    }

    pub fn reviewers(&self, verdict: &str) -> Vec<&str> {
        self.decisions
            .iter()
            .filter(|d| d.verdict == verdict)
            .map(|d| d.reviewer.as_str())
            .collect()
    }
}

/// What an access review asks for.
#[derive(Deserialize, Debug, Clone, Default)]
pub struct AccessAsked {
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub duration_seconds: u64,
    #[serde(default)]
    pub reason: String,
}

#[derive(Deserialize, Debug, Clone, Default)]
pub struct Requirement {
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub approvals: u64,
}

impl Requirement {
    /// `1 approval from dba`, `2 approvals from sec or sre`.
    pub fn describe(&self) -> String {
        let plural = if self.approvals == 1 { "" } else { "s" };
        let from = if self.groups.is_empty() {
            "any reviewer".to_owned()
        } else {
            printable(&self.groups.join(" or "), false)
        };
        format!("{} approval{plural} from {from}", self.approvals)
    }
}

#[derive(Deserialize, Debug, Clone, Default)]
pub struct Decision {
    #[serde(default)]
    pub reviewer: String,
    #[serde(default)]
    pub verdict: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub at: String,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Grant {
    pub id: String,
    pub state: String,
    #[serde(default)]
    pub identity: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub approvers: Vec<String>,
    #[serde(default)]
    pub review: Option<String>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub expires_at: String,
    #[serde(default)]
    pub revoked_at: Option<String>,
    #[serde(default)]
    pub revoked_by: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Presentation

/// Requester-written text made safe to print, shared with the review summaries core stores.
pub use sluice_core::text::{one_line, printable};

pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// A span in its largest whole unit (`45s`, `12m`, `3h`, `2d`): enough for an AGE column.
pub fn coarse(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// How long ago `at` was; the raw text when it is not RFC 3339.
pub fn age(at: &str, now: OffsetDateTime) -> String {
    match parse_rfc3339(at) {
        Some(t) => coarse(seconds_between(t, now)),
        None => printable(at, false),
    }
}

/// `in 12m` or `3h ago`; the raw text when it is not RFC 3339.
pub fn relative(at: &str, now: OffsetDateTime) -> String {
    match parse_rfc3339(at) {
        Some(t) if t >= now => format!("in {}", coarse(seconds_between(now, t))),
        Some(t) => format!("{} ago", coarse(seconds_between(t, now))),
        None => printable(at, false),
    }
}

/// `2024-05-01T10:00:00Z (3h ago)`, for the blocks that show full times.
pub fn when(at: &str, now: OffsetDateTime) -> String {
    match parse_rfc3339(at) {
        Some(_) => format!("{} ({})", printable(at, false), relative(at, now)),
        None => printable(at, false),
    }
}

fn seconds_between(earlier: OffsetDateTime, later: OffsetDateTime) -> u64 {
    u64::try_from((later - earlier).whole_seconds()).unwrap_or(0)
}

/// An exact duration as humantime writes it, without spaces: `1h`, `1h30m`.
pub fn exact(seconds: u64) -> String {
    humantime::format_duration(Duration::from_secs(seconds))
        .to_string()
        .replace(' ', "")
}

/// Latency in a unit a person reads at a glance: `12.3s`, `4m05s`, `2h10m`.
pub fn human_seconds(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return format!("{seconds}");
    }
    if seconds < 60.0 {
        return format!("{seconds:.1}s");
    }
    // Rounded to whole seconds above a minute; the fraction is noise at that scale.
    let whole = seconds.round() as u64;
    if whole < 3600 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h{:02}m", whole / 3600, (whole % 3600) / 60)
    }
}

/// Left-aligned columns two spaces apart, each as wide as its widest cell; the last column is
/// not padded, so lines carry no trailing blanks. Cells are made [`printable`] on one line.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.iter().map(|c| printable(c, false)).collect());
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count();
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad + 2));
                } else {
                    line.push_str(cell);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn ids_are_normalized_to_their_prefix() {
        assert_eq!(review_id("42").unwrap(), "r-42");
        assert_eq!(review_id("r-42").unwrap(), "r-42");
        assert_eq!(review_id(" r-42 ").unwrap(), "r-42");
        assert_eq!(grant_id("7").unwrap(), "g-7");
        assert_eq!(grant_id("g-7").unwrap(), "g-7");
    }

    #[test]
    fn ids_of_the_other_kind_are_refused() {
        assert!(grant_id("r-42").is_err());
        let message = review_id("g-7").unwrap_err().to_string();
        assert!(message.contains("not a review id"), "{message}");
    }

    #[test]
    fn since_accepts_rfc3339_in_any_offset_and_sends_utc() {
        assert_eq!(
            since_param("2024-05-01T12:00:00+02:00").unwrap(),
            "2024-05-01T10:00:00Z"
        );
        assert_eq!(
            since_param("2024-05-01T10:00:00Z").unwrap(),
            "2024-05-01T10:00:00Z"
        );
    }

    #[test]
    fn since_accepts_a_duration_meaning_that_long_ago() {
        let sent = parse_rfc3339(&since_param("24h").unwrap()).unwrap();
        let expected = OffsetDateTime::now_utc() - time::Duration::hours(24);
        assert!((sent - expected).whole_seconds().abs() <= 5);
        assert!(since_param("yesterday-ish").is_err());
    }

    #[test]
    fn durations_are_checked_before_sending() {
        assert_eq!(parse_duration("1h", "--duration").unwrap().as_secs(), 3600);
        assert_eq!(parse_duration("30m", "--duration").unwrap().as_secs(), 1800);
        assert!(parse_duration("0s", "--duration").is_err());
        let message = parse_duration("1 hour-ish", "--grant")
            .unwrap_err()
            .to_string();
        assert!(message.contains("--grant"), "{message}");
    }

    #[test]
    fn query_values_are_percent_encoded_and_absent_ones_left_out() {
        assert_eq!(query(&[("a", None)]), "");
        assert_eq!(
            query(&[
                ("state", Some("all")),
                ("identity", None),
                ("target", Some("a&b c+d"))
            ]),
            "?state=all&target=a%26b%20c%2Bd"
        );
        assert_eq!(
            query(&[("since", Some("2024-05-01T10:00:00Z"))]),
            "?since=2024-05-01T10%3A00%3A00Z"
        );
    }

    fn no_file() -> Result<Credentials> {
        Ok(Credentials::default())
    }

    #[test]
    fn missing_server_or_token_is_a_clear_error_that_never_shows_the_token() {
        let e = AdminClient::new(None, None, Some("tok".into()), no_file).unwrap_err();
        assert!(e.to_string().contains("--server"), "{e}");
        let e =
            AdminClient::new(Some("http://127.0.0.1:1".into()), None, None, no_file).unwrap_err();
        assert!(e.to_string().contains(TOKEN_ENV), "{e}");
        assert!(
            e.to_string()
                .contains("sluice login --server http://127.0.0.1:1"),
            "{e}"
        );
        let e = AdminClient::new(Some("ftp://x".into()), None, Some("s3cret".into()), no_file)
            .unwrap_err();
        assert!(e.to_string().contains("http://"), "{e}");
        let client = AdminClient::new(
            Some("http://127.0.0.1:1/".into()),
            None,
            Some("s3cret".into()),
            no_file,
        )
        .unwrap();
        assert!(!format!("{client:?}").contains("s3cret"));
        assert_eq!(client.server.client.endpoint().describe(), "127.0.0.1:1");
        let client = AdminClient::new(
            Some("https://gw:9090".into()),
            None,
            Some("t".into()),
            no_file,
        )
        .unwrap();
        assert!(client.server.client.endpoint().is_https());
    }

    #[test]
    fn the_stored_credential_fills_in_what_the_environment_leaves_out() {
        let stored = || {
            let mut c = Credentials::default();
            c.insert(
                "https://gw:9090/",
                crate::login::credentials::tests::credential("a"),
            );
            Ok(c)
        };
        let client = AdminClient::new(None, None, None, stored).unwrap();
        assert_eq!(client.gateway().url(), "https://gw:9090");
        assert_eq!(client.token().expose(), "slc_a");
        let client = AdminClient::new(Some("https://gw:9090".into()), None, None, stored).unwrap();
        assert_eq!(client.token().expose(), "slc_a");
        let client = AdminClient::new(None, None, Some("env".into()), stored).unwrap();
        assert_eq!(client.token().expose(), "env");
        let e = AdminClient::new(Some("http://other:1".into()), None, None, stored).unwrap_err();
        assert!(
            e.to_string().contains("not signed in to http://other:1"),
            "{e}"
        );
        let unreadable = || -> Result<Credentials> { bail!("unreadable file") };
        assert!(AdminClient::new(
            Some("http://h:1".into()),
            None,
            Some("t".into()),
            unreadable
        )
        .is_ok());
    }

    #[test]
    fn a_bad_token_header_error_does_not_echo_the_token() {
        let e = bearer(&Secret::new("s3cret\nx".into())).unwrap_err();
        assert!(!format!("{e:?}").contains("s3cret"));
        let token = bearer(&Secret::new("s3cret".into())).unwrap();
        assert!(!format!("{token:?}").contains("s3cret"));
    }

    #[test]
    fn api_errors_read_the_message_and_status() {
        let e = api_error(
            StatusCode::CONFLICT,
            br#"{"error":"review r-4 is not pending"}"#,
        );
        assert_eq!(e.to_string(), "review r-4 is not pending (HTTP 409)");
        let e = api_error(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(
            e.to_string(),
            "the gateway answered HTTP 502: <html>bad gateway</html>"
        );
    }

    #[test]
    fn terminal_escapes_and_bidi_overrides_are_shown_not_obeyed() {
        assert_eq!(
            printable("DROP\u{1b}[2K TABLE", false),
            "DROP\\u{1b}[2K TABLE"
        );
        assert_eq!(printable("a\u{202e}b", true), "a\\u{202e}b");
        assert_eq!(printable("a\nb", true), "a\nb");
        assert_eq!(printable("a\nb", false), "a\\u{a}b");
    }

    #[test]
    fn one_line_folds_and_truncates() {
        assert_eq!(
            one_line("DELETE  FROM\n  t\tWHERE x", 60),
            "DELETE FROM t WHERE x"
        );
        let long = "x".repeat(100);
        let cut = one_line(&long, 60);
        assert_eq!(cut.chars().count(), 60);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn ages_and_durations_read_at_a_glance() {
        let now = datetime!(2024-05-01 12:00:00 UTC);
        assert_eq!(age("2024-05-01T11:59:15Z", now), "45s");
        assert_eq!(age("2024-05-01T11:48:00Z", now), "12m");
        assert_eq!(age("2024-04-29T12:00:00Z", now), "2d");
        assert_eq!(age("not a time", now), "not a time");
        assert_eq!(relative("2024-05-01T13:00:00Z", now), "in 1h");
        assert_eq!(relative("2024-05-01T09:00:00Z", now), "3h ago");
        assert_eq!(exact(3600), "1h");
        assert_eq!(exact(5400), "1h30m");
        assert_eq!(human_seconds(12.34), "12.3s");
        assert_eq!(human_seconds(245.0), "4m05s");
        assert_eq!(human_seconds(7800.0), "2h10m");
    }

    #[test]
    fn tables_align_columns_without_trailing_blanks() {
        let mut t = Table::new(&["ID", "STATE", "WHAT"]);
        t.row(vec!["r-1".into(), "pending".into(), "DELETE FROM t".into()]);
        t.row(vec!["r-100".into(), "approved".into(), String::new()]);
        assert_eq!(
            t.render(),
            "ID     STATE     WHAT\n\
             r-1    pending   DELETE FROM t\n\
             r-100  approved\n"
        );
    }
}
