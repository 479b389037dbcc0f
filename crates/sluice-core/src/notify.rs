//! Outgoing webhooks for approval events (reviews and grants), so a team hears about a pending
//! review in chat or in its own tooling without polling the admin API.
//!
//! Delivery is deliberately decoupled from the caller: [`Notifier::notify`] only puts the event
//! on a bounded queue per webhook, because an approval must never wait on, or fail because of, a
//! slow or broken receiver. One task per webhook delivers its queue in order, retrying
//! connection errors, timeouts, `429` and `5xx` with capped exponential backoff and jitter, so a
//! receiver that was down briefly still gets every event, in order, without a retry storm.
//! Other `4xx` answers are not retried: the receiver has said the request itself is wrong.
//!
//! # What a receiver gets
//!
//! A `POST` with `Content-Type: application/json`, `User-Agent: sluice/<version>` and:
//! - `X-Sluice-Event`: the event name, e.g. `review.created`;
//! - `X-Sluice-Delivery`: a random id, the same on every retry of one delivery, so a receiver
//!   can drop duplicates (a retry after a lost answer is one);
//! - `X-Sluice-Timestamp`: unix seconds when this attempt was sent;
//! - `X-Sluice-Signature: sha256=<hex>` when the webhook has a `secret_file`: the lowercase hex
//!   HMAC-SHA256, keyed with the file's contents, of `<X-Sluice-Timestamp>.<body bytes>`.
//!
//! The timestamp is inside the signed string so that a captured request cannot be replayed
//! later: a receiver recomputes the HMAC over the header's timestamp, a dot and the raw body,
//! compares in constant time, and rejects timestamps older than a few minutes. Each attempt is
//! signed afresh with its own timestamp (the body is identical), so a late retry still passes
//! that freshness check.
//!
//! The `json` format's body is
//! `{"event", "delivery", "time" (RFC 3339 UTC, when the event happened), "summary", "url", "data"}`;
//! the `slack` format's is a Slack incoming-webhook message, `{"text": "<summary> <url|open>"}`
//! (the summary escaped for Slack).
//!
//! Webhook URLs are treated as secrets (a Slack webhook's path is its credential): logs and
//! metrics name a webhook by its index in the configuration and, in logs, by its host only.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST, RETRY_AFTER, USER_AGENT};
use hyper::{StatusCode, Uri};
use rand::Rng;
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use crate::CoreError;

/// The events sluice sends. `events` filters are checked against this list at start, because a
/// misspelled filter would otherwise silently mute a webhook.
pub const EVENTS: &[&str] = &[
    "review.created",
    "review.decided",
    "grant.created",
    "grant.expired",
    "grant.revoked",
];

/// Per webhook. Large enough to ride out a receiver's outage of minutes at approval-event rates,
/// small enough that a dead receiver cannot grow memory without bound.
const QUEUE_CAPACITY: usize = 1024;

#[cfg(not(test))]
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Tests exercise retries; real backoff would make them slow.
#[cfg(test)]
const BACKOFF_BASE: Duration = Duration::from_millis(10);
const BACKOFF_CAP: Duration = Duration::from_secs(30);

const AGENT: &str = concat!("sluice/", env!("CARGO_PKG_VERSION"));

/// One configured webhook (TOML: `[[webhooks]]` tables; deserialized by the config module).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// http:// or https:// URL. Exactly one of url / url_file. Slack URLs are secrets, so
    /// url_file lets it live in a 0600 file.
    pub url: Option<String>,
    pub url_file: Option<PathBuf>,
    #[serde(default)]
    pub format: WebhookFormat,
    /// File holding the HMAC-SHA256 key (trimmed of trailing newline). Optional; without it no
    /// signature header.
    pub secret_file: Option<PathBuf>,
    /// Event names to send; empty = all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Per-attempt timeout, humantime string like "5s" (default 5s).
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::config::duration"
    )]
    pub timeout: Duration,
    /// Attempts per event including the first (default 5).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_max_attempts() -> u32 {
    5
}

#[derive(Debug, Clone, Copy, Default, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    #[default]
    Json,
    Slack,
}

/// An approval event, as the rest of the gateway describes it; each webhook renders it in its
/// own format.
#[derive(Debug, Clone)]
pub struct Notification {
    /// "review.created", "review.decided", "grant.created", "grant.expired", "grant.revoked"
    pub event: &'static str,
    /// One line for humans (the Slack message text).
    pub summary: String,
    /// Where a human can look at it (admin URL of the review), if any.
    pub url: Option<String>,
    /// The review or grant as JSON.
    pub data: serde_json::Value,
}

/// The handle the gateway keeps. Cloning shares the queues; the delivery tasks end once every
/// clone is gone and they have drained what was already queued.
#[derive(Clone)]
pub struct Notifier {
    hooks: Arc<[Hook]>,
}

impl std::fmt::Debug for Notifier {
    /// Only the count: the URLs are secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("webhooks", &self.hooks.len())
            .finish()
    }
}

/// The caller's side of one webhook.
struct Hook {
    index: usize,
    events: Vec<String>,
    queue: mpsc::Sender<Arc<Event>>,
    counts: Arc<Counts>,
}

/// A notification stamped with the moment it happened, shared by every webhook's queue so one
/// event costs one allocation however many webhooks want it.
struct Event {
    notification: Notification,
    time: chrono::DateTime<chrono::Utc>,
}

/// Shared between a hook and its delivery task, read by `render_metrics`.
#[derive(Default)]
struct Counts {
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    attempts: AtomicU64,
}

impl Notifier {
    /// Reads url_file/secret_file, validates (scheme, exactly one url source, max_attempts >= 1),
    /// spawns one delivery task per webhook on the current tokio runtime.
    ///
    /// Everything that can be wrong with a webhook is found here, at start, rather than at the
    /// first approval hours later.
    pub fn start(configs: &[WebhookConfig]) -> Result<Notifier, CoreError> {
        if configs.is_empty() {
            return Ok(Notifier::disabled());
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| CoreError::Config("webhooks need a running tokio runtime".into()))?;
        let workers = configs
            .iter()
            .enumerate()
            .map(|(index, config)| Worker::new(index, config))
            .collect::<Result<Vec<_>, _>>()?;
        let hooks = workers
            .into_iter()
            .zip(configs)
            .map(|(worker, config)| {
                let (queue, pending) = mpsc::channel(QUEUE_CAPACITY);
                let hook = Hook {
                    index: worker.index,
                    events: config.events.clone(),
                    queue,
                    counts: Arc::clone(&worker.counts),
                };
                runtime.spawn(worker.run(pending));
                hook
            })
            .collect();
        Ok(Notifier { hooks })
    }

    /// No webhooks.
    pub fn disabled() -> Notifier {
        Notifier {
            hooks: Arc::from(Vec::new()),
        }
    }

    /// Never blocks, never fails, never delays the caller: enqueue on each matching webhook's
    /// bounded queue (1024); when full, drop and count.
    pub fn notify(&self, notification: Notification) {
        if !self.hooks.iter().any(|h| h.wants(notification.event)) {
            return;
        }
        let event = Arc::new(Event {
            notification,
            time: chrono::Utc::now(),
        });
        for hook in self.hooks.iter() {
            if hook.wants(event.notification.event) {
                hook.offer(Arc::clone(&event));
            }
        }
    }

    /// Prometheus text lines appended to `out` (with # HELP/# TYPE). Webhooks are labelled by
    /// index, never by URL, because URLs can be secrets.
    pub fn render_metrics(&self, out: &mut String) {
        if self.hooks.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "# HELP sluice_webhook_deliveries_total Webhook events by outcome: delivered, failed after the last attempt, or dropped because the queue was full.\n\
             # TYPE sluice_webhook_deliveries_total counter"
        );
        for hook in self.hooks.iter() {
            let c = &hook.counts;
            for (result, n) in [
                ("delivered", &c.delivered),
                ("failed", &c.failed),
                ("dropped", &c.dropped),
            ] {
                let _ = writeln!(
                    out,
                    "sluice_webhook_deliveries_total{{webhook=\"{}\",result=\"{result}\"}} {}",
                    hook.index,
                    n.load(Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP sluice_webhook_attempts_total HTTP requests sent to the webhook, retries included.\n\
             # TYPE sluice_webhook_attempts_total counter"
        );
        for hook in self.hooks.iter() {
            let _ = writeln!(
                out,
                "sluice_webhook_attempts_total{{webhook=\"{}\"}} {}",
                hook.index,
                hook.counts.attempts.load(Relaxed)
            );
        }
    }
}

impl Hook {
    fn wants(&self, event: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == event)
    }

    /// Drops rather than waits when the queue is full: a stuck receiver must cost events, not
    /// approvals. Only the first drop is logged, so an outage does not flood the log.
    fn offer(&self, event: Arc<Event>) {
        if self.queue.try_send(event).is_err() {
            let before = self.counts.dropped.fetch_add(1, Relaxed);
            if before == 0 {
                tracing::warn!(
                    webhook = self.index,
                    "webhook queue full or closed: dropping events (see sluice_webhook_deliveries_total)"
                );
            }
        }
    }
}

/// Where a webhook's requests go, split once at start so a delivery cannot fail on a URL.
/// Shared with the audit sinks (audit_export.rs).
pub(crate) struct Endpoint {
    /// For connecting, for TLS and for logs; without IPv6 brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The `Host` header: host and port as written.
    pub(crate) authority: HeaderValue,
    /// Path and query only, as HTTP/1 request targets are. Secret for Slack.
    pub(crate) target: Uri,
    pub(crate) https: bool,
}

impl Endpoint {
    /// Error messages never repeat the URL, which may be a secret.
    pub(crate) fn parse(url: &str) -> Result<Endpoint, String> {
        let uri: Uri = url
            .parse()
            .map_err(|_| "url is not a valid URL".to_owned())?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("url must start with http:// or https://".into()),
        };
        let authority = uri.authority().ok_or("url has no host")?;
        if authority.as_str().contains('@') {
            return Err("url must not contain credentials; use secret_file to sign".into());
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err("url has no host".into());
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let target = Uri::builder()
            .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
            .build()
            .map_err(|_| "url has an invalid path".to_owned())?;
        Ok(Endpoint {
            authority: HeaderValue::from_str(authority.as_str())
                .map_err(|_| "url has an invalid host")?,
            host,
            port,
            target,
            https,
        })
    }
}

/// The delivering side of one webhook, owned by its task.
struct Worker {
    index: usize,
    endpoint: Endpoint,
    format: WebhookFormat,
    /// Keyed once at start; cloned per signature.
    signer: Option<Hmac<Sha256>>,
    timeout: Duration,
    max_attempts: u32,
    /// `Some` exactly for https, so a request can never fall back to plain TCP.
    tls: Option<Tls>,
    counts: Arc<Counts>,
}

pub(crate) struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl Tls {
    /// `Some` exactly for an https endpoint, so a request can never fall back to plain TCP.
    pub(crate) fn for_endpoint(endpoint: &Endpoint) -> Result<Option<Tls>, String> {
        if !endpoint.https {
            return Ok(None);
        }
        Ok(Some(Tls {
            connector: tls_connector()?,
            name: ServerName::try_from(endpoint.host.clone())
                .map_err(|_| "url has an invalid host".to_owned())?,
        }))
    }
}

/// One event rendered for one webhook: fixed across retries so a receiver can deduplicate.
struct Delivery {
    event: &'static str,
    id: String,
    body: Bytes,
}

/// What one attempt came to.
enum Verdict {
    Delivered,
    Retry {
        error: String,
        /// The receiver's `Retry-After`, honoured up to the backoff cap.
        after: Option<Duration>,
    },
    GiveUp(String),
}

/// The part of an answer that decides what happens next.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) retry_after: Option<Duration>,
}

impl Worker {
    /// Error messages name the webhook by index and never repeat the URL or the secret.
    fn new(index: usize, config: &WebhookConfig) -> Result<Worker, CoreError> {
        let bad = |why: String| CoreError::Config(format!("webhooks[{index}]: {why}"));
        let url = match (&config.url, &config.url_file) {
            (Some(url), None) => url.trim().to_owned(),
            (None, Some(path)) => read_trimmed(path).map_err(bad)?,
            _ => return Err(bad("set exactly one of url and url_file".into())),
        };
        let endpoint = Endpoint::parse(&url).map_err(bad)?;
        if config.max_attempts == 0 {
            return Err(bad("max_attempts must be at least 1".into()));
        }
        if config.timeout.is_zero() {
            return Err(bad("timeout must be > 0".into()));
        }
        if let Some(unknown) = config.events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
            return Err(bad(format!(
                "unknown event {unknown:?} in events (known: {})",
                EVENTS.join(", ")
            )));
        }
        let signer = match &config.secret_file {
            Some(path) => Some(signer(path).map_err(bad)?),
            None => None,
        };
        let tls = Tls::for_endpoint(&endpoint).map_err(bad)?;
        Ok(Worker {
            index,
            endpoint,
            format: config.format,
            signer,
            timeout: config.timeout,
            max_attempts: config.max_attempts,
            tls,
            counts: Arc::new(Counts::default()),
        })
    }

    /// In order, one at a time: receivers see events in the order they happened.
    async fn run(self, mut pending: mpsc::Receiver<Arc<Event>>) {
        while let Some(event) = pending.recv().await {
            let delivery = Delivery::render(&event, self.format);
            self.deliver(&delivery).await;
        }
    }

    async fn deliver(&self, delivery: &Delivery) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.counts.attempts.fetch_add(1, Relaxed);
            let verdict = match tokio::time::timeout(self.timeout, self.post(delivery)).await {
                Ok(answer) => judge(answer),
                Err(_) => Verdict::Retry {
                    error: format!(
                        "no answer within {}",
                        humantime::format_duration(self.timeout)
                    ),
                    after: None,
                },
            };
            match verdict {
                Verdict::Delivered => {
                    self.counts.delivered.fetch_add(1, Relaxed);
                    return;
                }
                Verdict::Retry { after, .. } if attempt < self.max_attempts => {
                    tokio::time::sleep(backoff(attempt).max(after.unwrap_or_default())).await;
                }
                Verdict::Retry { error, .. } | Verdict::GiveUp(error) => {
                    self.give_up(delivery, attempt, &error);
                    return;
                }
            }
        }
    }

    /// Host only: a Slack webhook's path is its credential.
    fn give_up(&self, delivery: &Delivery, attempts: u32, error: &str) {
        self.counts.failed.fetch_add(1, Relaxed);
        tracing::warn!(
            webhook = self.index,
            host = %self.endpoint.host,
            event = delivery.event,
            delivery = %delivery.id,
            attempts,
            error,
            "webhook delivery failed; event not delivered"
        );
    }

    /// One attempt on a fresh connection: approval events are rare, and a fresh connection
    /// cannot inherit a half-dead one's failure.
    async fn post(&self, delivery: &Delivery) -> Result<Answer, String> {
        send(&self.endpoint, self.tls.as_ref(), self.request(delivery)?).await
    }

    /// Stamped and signed per attempt, so the timestamp a receiver checks for freshness is
    /// when this attempt was sent.
    fn request(&self, delivery: &Delivery) -> Result<hyper::Request<Full<Bytes>>, String> {
        let timestamp = chrono::Utc::now().timestamp();
        let mut builder = hyper::Request::post(self.endpoint.target.clone())
            .header(HOST, self.endpoint.authority.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, AGENT)
            .header("x-sluice-event", delivery.event)
            .header("x-sluice-delivery", delivery.id.as_str())
            .header("x-sluice-timestamp", timestamp);
        if let Some(signer) = &self.signer {
            builder = builder.header(
                "x-sluice-signature",
                signature(signer.clone(), timestamp, &delivery.body),
            );
        }
        builder
            .body(Full::new(delivery.body.clone()))
            .map_err(|e| format!("building the request: {e}"))
    }
}

/// Sends one request on a fresh connection to `endpoint`, over TLS when `tls` is given, and
/// reads the answer's status. Shared with the audit sinks (audit_export.rs).
pub(crate) async fn send(
    endpoint: &Endpoint,
    tls: Option<&Tls>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<Answer, String> {
    let tcp = tokio::net::TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    match tls {
        Some(tls) => {
            let stream = tls
                .connector
                .connect(tls.name.clone(), tcp)
                .await
                .map_err(|e| format!("tls: {e}"))?;
            exchange(stream, request).await
        }
        None => exchange(tcp, request).await,
    }
}

/// Generic over the stream so plain TCP and TLS share one code path.
async fn exchange<S>(stream: S, request: hyper::Request<Full<Bytes>>) -> Result<Answer, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("http: {e}"))?;
    // Aborted when this attempt ends or times out, so a receiver that never closes its side
    // cannot keep a connection task alive.
    let _connection = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("http: {e}"))?;
    Ok(Answer {
        status: response.status(),
        retry_after: response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|secs| Duration::from_secs(secs).min(BACKOFF_CAP)),
    })
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connection failures, 429 and 5xx are the receiver's passing trouble and worth retrying;
/// any other non-2xx is a verdict on the request, which a retry would only repeat.
fn judge(answer: Result<Answer, String>) -> Verdict {
    match answer {
        Err(error) => Verdict::Retry { error, after: None },
        Ok(a) if a.status.is_success() => Verdict::Delivered,
        Ok(a) if a.status == StatusCode::TOO_MANY_REQUESTS || a.status.is_server_error() => {
            Verdict::Retry {
                error: format!("answered {}", a.status),
                after: a.retry_after,
            }
        }
        Ok(a) => Verdict::GiveUp(format!("answered {} (not retried)", a.status)),
    }
}

/// Doubling from the base, capped; the jitter (the upper half of the interval) keeps many
/// sluice instances that lost the same receiver from retrying in lockstep.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    let ceiling = BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_CAP);
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::thread_rng().gen_range(ceiling_ms / 2..=ceiling_ms))
}

impl Delivery {
    fn render(event: &Event, format: WebhookFormat) -> Delivery {
        let id = hex::encode(rand::random::<[u8; 16]>());
        let n = &event.notification;
        let body = match format {
            WebhookFormat::Json => serde_json::json!({
                "event": n.event,
                "delivery": id,
                "time": event.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "summary": n.summary,
                "url": n.url,
                "data": n.data,
            }),
            WebhookFormat::Slack => serde_json::json!({ "text": slack_text(n) }),
        };
        Delivery {
            event: n.event,
            id,
            body: Bytes::from(body.to_string()),
        }
    }
}

/// Slack reads `&`, `<` and `>` as markup, so a summary quoting SQL (`a < b`) must be escaped
/// to show as written; the URL goes in Slack's `<url|label>` link syntax, whose delimiters it
/// must not contain.
fn slack_text(n: &Notification) -> String {
    let summary = n
        .summary
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    match &n.url {
        Some(url) => {
            let url = url
                .replace('<', "%3C")
                .replace('>', "%3E")
                .replace('|', "%7C");
            format!("{summary} <{url}|open>")
        }
        None => summary,
    }
}

/// `sha256=` and the lowercase hex HMAC of `<timestamp>.<body>`: the timestamp is signed so a
/// captured request cannot be replayed later with a fresh one.
fn signature(mut mac: Hmac<Sha256>, timestamp: i64, body: &[u8]) -> String {
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The key file's bytes less a trailing newline, which editors add and which would otherwise
/// make sluice's key differ from the receiver's.
fn signer(path: &Path) -> Result<Hmac<Sha256>, String> {
    let key =
        std::fs::read(path).map_err(|e| format!("reading secret_file {}: {e}", path.display()))?;
    let key = trim_newline(&key);
    if key.is_empty() {
        return Err(format!("secret_file {} is empty", path.display()));
    }
    Hmac::<Sha256>::new_from_slice(key).map_err(|e| format!("secret_file: {e}"))
}

fn trim_newline(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// A URL kept in a file is read whole and trimmed, so a trailing newline is not part of it.
fn read_trimmed(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("reading url_file {}: {e}", path.display()))
}

/// Public receivers (Slack, chat services, ticketing) have certificates from public CAs; the
/// bundled Mozilla roots make that work the same on every host, whatever its CA store.
fn tls_connector() -> Result<TlsConnector, String> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// What the test receiver saw of one request.
    #[derive(Debug)]
    struct Received {
        target: String,
        headers: HashMap<String, String>,
        body: Vec<u8>,
    }

    impl Received {
        fn header(&self, name: &str) -> &str {
            self.headers.get(name).map_or("", String::as_str)
        }

        fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).expect("body is JSON")
        }
    }

    /// Answer to hold a connection open without answering, to exercise the timeout.
    const HANG: u16 = 0;

    /// A plain-tokio HTTP/1 receiver on 127.0.0.1:0 answering the n-th request with
    /// `statuses[n]` (200 once they run out). Returns its base URL and the requests it saw.
    async fn receiver(statuses: Vec<u16>) -> (String, mpsc::UnboundedReceiver<Received>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (seen, requests) = mpsc::unbounded_channel();
        let served = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let n = served.fetch_add(1, Relaxed);
                let status = statuses.get(n).copied().unwrap_or(200);
                tokio::spawn(serve_one(stream, status, seen.clone()));
            }
        });
        (base, requests)
    }

    async fn serve_one(mut stream: TcpStream, status: u16, seen: mpsc::UnboundedSender<Received>) {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "connection closed inside the request head");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).expect("utf-8 head");
        let mut lines = head.split("\r\n");
        let request_line = lines.next().expect("request line");
        let target = request_line.split(' ').nth(1).expect("target").to_owned();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .get("content-length")
            .map_or(0, |v| v.parse().expect("content-length"));
        let mut body = buf[head_end..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read body");
            assert!(n > 0, "connection closed inside the body");
            body.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(request_line.split(' ').next(), Some("POST"));
        let _ = seen.send(Received {
            target,
            headers,
            body,
        });
        if status == HANG {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        let answer =
            format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    fn hook(url: &str) -> WebhookConfig {
        WebhookConfig {
            url: Some(url.to_owned()),
            url_file: None,
            format: WebhookFormat::Json,
            secret_file: None,
            events: Vec::new(),
            timeout: Duration::from_secs(2),
            max_attempts: 3,
        }
    }

    fn review_created() -> Notification {
        Notification {
            event: "review.created",
            summary: "alice asks to run DELETE on app".into(),
            url: Some("https://sluice.example/admin/reviews/7".into()),
            data: serde_json::json!({"id": 7, "identity": "alice"}),
        }
    }

    fn grant_created() -> Notification {
        Notification {
            event: "grant.created",
            summary: "bob granted alice 1h on app".into(),
            url: None,
            data: serde_json::json!({"id": 3}),
        }
    }

    async fn next(requests: &mut mpsc::UnboundedReceiver<Received>) -> Received {
        tokio::time::timeout(Duration::from_secs(5), requests.recv())
            .await
            .expect("a request within 5s")
            .expect("receiver running")
    }

    fn metrics(n: &Notifier) -> String {
        let mut out = String::new();
        n.render_metrics(&mut out);
        out
    }

    /// Waits until the rendered metrics contain `line`: counters move after the answer is read.
    async fn until_metric(n: &Notifier, line: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !metrics(n).contains(line) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never saw {line:?} in\n{}",
                metrics(n)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn secret_file(contents: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("tempfile");
        std::io::Write::write_all(&mut f, contents.as_bytes()).expect("write");
        f
    }

    #[tokio::test]
    async fn notify_signed_json_delivery() {
        let (base, mut requests) = receiver(vec![]).await;
        let key = secret_file("s3cr3t-key\n");
        let mut config = hook(&format!("{base}/hooks/sluice?team=db"));
        config.secret_file = Some(key.path().to_owned());
        let notifier = Notifier::start(&[config]).expect("start");
        notifier.notify(review_created());

        let r = next(&mut requests).await;
        assert_eq!(r.target, "/hooks/sluice?team=db");
        assert_eq!(r.header("content-type"), "application/json");
        assert_eq!(
            r.header("user-agent"),
            format!("sluice/{}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(r.header("x-sluice-event"), "review.created");
        assert_eq!(r.header("host"), base.trim_start_matches("http://"));
        let timestamp: i64 = r
            .header("x-sluice-timestamp")
            .parse()
            .expect("unix seconds");
        assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);

        // What a receiver does: HMAC over "<timestamp>.<body>" with the key, newline trimmed.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cr3t-key").expect("key");
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(&r.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(r.header("x-sluice-signature"), expected);

        let body = r.json();
        assert_eq!(body["event"], "review.created");
        assert_eq!(body["delivery"], r.header("x-sluice-delivery"));
        assert_eq!(body["delivery"].as_str().map(str::len), Some(32));
        assert_eq!(body["summary"], "alice asks to run DELETE on app");
        assert_eq!(body["url"], "https://sluice.example/admin/reviews/7");
        assert_eq!(
            body["data"],
            serde_json::json!({"id": 7, "identity": "alice"})
        );
        let time = body["time"].as_str().expect("time");
        assert!(time.ends_with('Z'), "{time}");
        chrono::DateTime::parse_from_rfc3339(time).expect("RFC 3339");
        until_metric(&notifier, "{webhook=\"0\",result=\"delivered\"} 1").await;
    }

    #[tokio::test]
    async fn notify_slack_body_from_url_file() {
        let (base, mut requests) = receiver(vec![]).await;
        let url_file = secret_file(&format!("{base}/services/T0/B0/XYZ\n"));
        let mut config = hook("unused");
        config.url = None;
        config.url_file = Some(url_file.path().to_owned());
        config.format = WebhookFormat::Slack;
        let notifier = Notifier::start(&[config]).expect("start");
        let mut n = review_created();
        n.summary = "alice asks: DELETE FROM t WHERE a < 3 & b > 1".into();
        notifier.notify(n);
        notifier.notify(grant_created());

        let r = next(&mut requests).await;
        assert_eq!(r.target, "/services/T0/B0/XYZ");
        assert_eq!(r.header("x-sluice-signature"), "");
        assert_eq!(
            r.json(),
            serde_json::json!({"text": "alice asks: DELETE FROM t WHERE a &lt; 3 &amp; b &gt; 1 <https://sluice.example/admin/reviews/7|open>"})
        );
        let r = next(&mut requests).await;
        assert_eq!(
            r.json(),
            serde_json::json!({"text": "bob granted alice 1h on app"})
        );
    }

    #[tokio::test]
    async fn notify_retries_after_500_with_same_delivery() {
        let (base, mut requests) = receiver(vec![500, 200]).await;
        let notifier = Notifier::start(&[hook(&base)]).expect("start");
        notifier.notify(review_created());

        let first = next(&mut requests).await;
        let second = next(&mut requests).await;
        assert_eq!(
            first.header("x-sluice-delivery"),
            second.header("x-sluice-delivery")
        );
        assert_eq!(first.body, second.body);
        until_metric(&notifier, "{webhook=\"0\",result=\"delivered\"} 1").await;
        assert!(metrics(&notifier).contains("sluice_webhook_attempts_total{webhook=\"0\"} 2"));
    }

    #[tokio::test]
    async fn notify_does_not_retry_400() {
        let (base, mut requests) = receiver(vec![400, 200]).await;
        let notifier = Notifier::start(&[hook(&base)]).expect("start");
        notifier.notify(review_created());

        next(&mut requests).await;
        until_metric(&notifier, "{webhook=\"0\",result=\"failed\"} 1").await;
        assert!(requests.try_recv().is_err(), "a 400 was retried");
        assert!(metrics(&notifier).contains("sluice_webhook_attempts_total{webhook=\"0\"} 1"));
    }

    #[tokio::test]
    async fn notify_gives_up_after_max_attempts_of_timeouts() {
        let (base, mut requests) = receiver(vec![HANG, HANG]).await;
        let mut config = hook(&base);
        config.timeout = Duration::from_millis(50);
        config.max_attempts = 2;
        let notifier = Notifier::start(&[config]).expect("start");
        notifier.notify(review_created());

        next(&mut requests).await;
        next(&mut requests).await;
        until_metric(&notifier, "{webhook=\"0\",result=\"failed\"} 1").await;
        assert!(metrics(&notifier).contains("sluice_webhook_attempts_total{webhook=\"0\"} 2"));
    }

    #[tokio::test]
    async fn notify_event_filter() {
        let (base, mut requests) = receiver(vec![]).await;
        let mut config = hook(&base);
        config.events = vec!["grant.created".into()];
        let notifier = Notifier::start(&[config]).expect("start");
        notifier.notify(review_created());
        notifier.notify(grant_created());

        let r = next(&mut requests).await;
        assert_eq!(r.header("x-sluice-event"), "grant.created");
        until_metric(&notifier, "{webhook=\"0\",result=\"delivered\"} 1").await;
        assert!(requests.try_recv().is_err());
    }

    #[tokio::test]
    async fn notify_metrics_text() {
        let (base, mut requests) = receiver(vec![]).await;
        let secret_url = format!("{base}/services/SECRET");
        let mut filtered = hook(&secret_url);
        filtered.events = vec!["grant.revoked".into()];
        let notifier = Notifier::start(&[hook(&secret_url), filtered]).expect("start");
        notifier.notify(review_created());
        next(&mut requests).await;
        until_metric(&notifier, "{webhook=\"0\",result=\"delivered\"} 1").await;

        let text = metrics(&notifier);
        assert_eq!(
            text,
            "# HELP sluice_webhook_deliveries_total Webhook events by outcome: delivered, failed after the last attempt, or dropped because the queue was full.\n\
             # TYPE sluice_webhook_deliveries_total counter\n\
             sluice_webhook_deliveries_total{webhook=\"0\",result=\"delivered\"} 1\n\
             sluice_webhook_deliveries_total{webhook=\"0\",result=\"failed\"} 0\n\
             sluice_webhook_deliveries_total{webhook=\"0\",result=\"dropped\"} 0\n\
             sluice_webhook_deliveries_total{webhook=\"1\",result=\"delivered\"} 0\n\
             sluice_webhook_deliveries_total{webhook=\"1\",result=\"failed\"} 0\n\
             sluice_webhook_deliveries_total{webhook=\"1\",result=\"dropped\"} 0\n\
             # HELP sluice_webhook_attempts_total HTTP requests sent to the webhook, retries included.\n\
             # TYPE sluice_webhook_attempts_total counter\n\
             sluice_webhook_attempts_total{webhook=\"0\"} 1\n\
             sluice_webhook_attempts_total{webhook=\"1\"} 0\n"
        );
        assert!(!text.contains("SECRET") && !text.contains("127.0.0.1"));
        assert_eq!(metrics(&Notifier::disabled()), "");
    }

    /// The current-thread runtime cannot run the delivery task while this test holds it, so
    /// exactly the queue's capacity is kept and the rest is dropped and counted.
    #[tokio::test(flavor = "current_thread")]
    async fn notify_drops_and_counts_when_full() {
        let notifier = Notifier::start(&[hook("http://127.0.0.1:9/")]).expect("start");
        for _ in 0..QUEUE_CAPACITY + 5 {
            notifier.notify(review_created());
        }
        assert!(metrics(&notifier)
            .contains("sluice_webhook_deliveries_total{webhook=\"0\",result=\"dropped\"} 5"));
    }

    #[tokio::test]
    async fn notify_disabled_accepts_and_ignores() {
        let notifier = Notifier::disabled();
        notifier.clone().notify(review_created());
        assert_eq!(format!("{notifier:?}"), "Notifier { webhooks: 0 }");
        assert!(Notifier::start(&[]).is_ok());
    }

    #[tokio::test]
    async fn notify_start_rejects_bad_config_without_echoing_the_url() {
        let secret = "https://hooks.slack.com/services/T000/B000/TOKEN";
        let cases: Vec<(WebhookConfig, &str)> = vec![
            (
                WebhookConfig {
                    url_file: Some("/nonexistent".into()),
                    ..hook(secret)
                },
                "exactly one of url and url_file",
            ),
            (
                WebhookConfig {
                    url: None,
                    ..hook(secret)
                },
                "exactly one of url and url_file",
            ),
            (hook("ftp://example.com/TOKEN"), "http:// or https://"),
            (hook("TOKEN"), "http:// or https://"),
            (hook("https://user:TOKEN@example.com/"), "credentials"),
            (
                WebhookConfig {
                    max_attempts: 0,
                    ..hook(secret)
                },
                "max_attempts",
            ),
            (
                WebhookConfig {
                    timeout: Duration::ZERO,
                    ..hook(secret)
                },
                "timeout",
            ),
            (
                WebhookConfig {
                    events: vec!["review.create".into()],
                    ..hook(secret)
                },
                "unknown event \"review.create\"",
            ),
            (
                WebhookConfig {
                    secret_file: Some("/nonexistent/key".into()),
                    ..hook(secret)
                },
                "secret_file /nonexistent/key",
            ),
        ];
        for (config, wanted) in cases {
            let ok = hook("http://127.0.0.1:9/");
            let err = Notifier::start(&[ok, config])
                .expect_err(wanted)
                .to_string();
            assert!(err.contains("webhooks[1]"), "{err}");
            assert!(err.contains(wanted), "{err} lacks {wanted}");
            assert!(!err.contains("TOKEN"), "{err} leaks the URL");
        }
        let empty = secret_file("\n");
        let err = Notifier::start(&[WebhookConfig {
            secret_file: Some(empty.path().to_owned()),
            ..hook(secret)
        }])
        .expect_err("empty key")
        .to_string();
        assert!(err.contains("is empty"), "{err}");
    }

    #[tokio::test]
    async fn notify_https_and_ipv6_urls_are_accepted() {
        Notifier::start(&[hook("https://hooks.slack.com/services/T000/B000/TOKEN")])
            .expect("https");
        let e = Endpoint::parse("http://[::1]:8080").expect("ipv6");
        assert_eq!((e.host.as_str(), e.port), ("::1", 8080));
        assert_eq!(e.authority, "[::1]:8080");
        assert_eq!(e.target, "/");
        let e = Endpoint::parse("https://example.com/a?b=c").expect("https");
        assert_eq!((e.host.as_str(), e.port), ("example.com", 443));
        assert!(e.https);
    }

    #[test]
    fn notify_config_from_toml() {
        #[derive(serde::Deserialize)]
        struct File {
            webhooks: Vec<WebhookConfig>,
        }
        let file: File = toml::from_str(
            r#"
            [[webhooks]]
            url = "https://example.com/hook"

            [[webhooks]]
            url_file = "/etc/sluice/slack-url"
            format = "slack"
            secret_file = "/etc/sluice/hook.key"
            events = ["review.created"]
            timeout = "250ms"
            max_attempts = 2
            "#,
        )
        .expect("parses");
        let [a, b] = &file.webhooks[..] else {
            panic!("two webhooks")
        };
        assert_eq!(a.format, WebhookFormat::Json);
        assert_eq!(a.timeout, Duration::from_secs(5));
        assert_eq!(a.max_attempts, 5);
        assert!(a.events.is_empty() && a.secret_file.is_none());
        assert_eq!(b.format, WebhookFormat::Slack);
        assert_eq!(b.timeout, Duration::from_millis(250));
        assert_eq!(b.max_attempts, 2);
        assert!(toml::from_str::<File>("[[webhooks]]\nurl = \"x\"\nretries = 3\n").is_err());
    }

    #[test]
    fn notify_backoff_doubles_with_jitter_up_to_the_cap() {
        for attempt in 1..=40 {
            let ceiling = BACKOFF_BASE
                .saturating_mul(1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX))
                .min(BACKOFF_CAP);
            let d = backoff(attempt);
            assert!(d <= ceiling && d >= ceiling / 2, "{attempt}: {d:?}");
        }
        assert!(backoff(u32::MAX) <= BACKOFF_CAP);
    }

    #[test]
    fn notify_trims_only_the_trailing_newline_of_a_key() {
        assert_eq!(trim_newline(b"key\n"), b"key");
        assert_eq!(trim_newline(b"key\r\n"), b"key");
        assert_eq!(trim_newline(b" key \n\n"), b" key \n");
    }
}
