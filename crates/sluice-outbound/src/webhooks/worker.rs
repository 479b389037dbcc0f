//! The delivering side of one webhook: one task per webhook, delivering its queue in order
//! and retrying what a receiver may still accept.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use hmac::Hmac;
use sha2::Sha256;
use tokio::sync::mpsc;

use super::config::{WebhookConfig, WebhookFormat};
use super::delivery::{read_trimmed, signature, signer, Delivery};
use super::{Counts, Event, EVENTS};
use crate::http::{Client, Endpoint, Method, Request, Response, StatusCode};
use crate::retry::{backoff, BACKOFF_CAP};
use crate::{OutboundError, AGENT};

/// The delivering side of one webhook, owned by its task.
pub(super) struct Worker {
    pub(super) index: usize,
    /// Carries the per-attempt timeout.
    client: Client,
    format: WebhookFormat,
    /// Keyed once at start; cloned per signature.
    signer: Option<Hmac<Sha256>>,
    max_attempts: u32,
    pub(super) counts: Arc<Counts>,
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

impl Worker {
    /// Error messages name the webhook by index and never repeat the URL or the secret.
    pub(super) fn new(index: usize, config: &WebhookConfig) -> Result<Worker, OutboundError> {
        let bad = |why: String| OutboundError::Config(format!("webhooks[{index}]: {why}"));
        let url = match (&config.url, &config.url_file) {
            (Some(url), None) => url.trim().to_owned(),
            (None, Some(path)) => read_trimmed(path).map_err(bad)?,
            _ => return Err(bad("set exactly one of url and url_file".into())),
        };
        let endpoint = Endpoint::parse(&url).map_err(|e| bad(e.to_string()))?;
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
        Ok(Worker {
            index,
            client: Client::new(endpoint, config.timeout).map_err(|e| bad(e.to_string()))?,
            format: config.format,
            signer,
            max_attempts: config.max_attempts,
            counts: Arc::new(Counts::default()),
        })
    }

    /// In order, one at a time: receivers see events in the order they happened.
    pub(super) async fn run(self, mut pending: mpsc::Receiver<Arc<Event>>) {
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
            let verdict = judge(self.client.send(self.request(delivery)).await);
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
            host = %self.client.endpoint().host(),
            event = delivery.event,
            delivery = %delivery.id,
            attempts,
            error,
            "webhook delivery failed; event not delivered"
        );
    }

    /// Stamped and signed per attempt, so the timestamp a receiver checks for freshness is
    /// when this attempt was sent. Each attempt goes on a fresh connection.
    fn request(&self, delivery: &Delivery) -> Request {
        let timestamp = chrono::Utc::now().timestamp();
        let mut request = Request::new(Method::POST)
            .header("content-type", "application/json")
            .header("user-agent", AGENT)
            .header("x-sluice-event", delivery.event)
            .header("x-sluice-delivery", &delivery.id)
            .header("x-sluice-timestamp", timestamp);
        if let Some(signer) = &self.signer {
            request = request.header(
                "x-sluice-signature",
                signature(signer.clone(), timestamp, &delivery.body),
            );
        }
        request.body(delivery.body.clone())
    }
}

/// Connection failures, 429 and 5xx are the receiver's passing trouble and worth retrying;
/// any other non-2xx is a verdict on the request, which a retry would only repeat.
fn judge(answer: Result<Response, OutboundError>) -> Verdict {
    let answer = match answer {
        Err(error) => {
            return Verdict::Retry {
                error: error.to_string(),
                after: None,
            }
        }
        Ok(answer) => answer,
    };
    let status = answer.status();
    if status.is_success() {
        Verdict::Delivered
    } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Verdict::Retry {
            error: format!("answered {status}"),
            after: answer.retry_after().map(|d| d.min(BACKOFF_CAP)),
        }
    } else {
        Verdict::GiveUp(format!("answered {status} (not retried)"))
    }
}
