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
//!
//! # Layout
//! - this module: the [`Notifier`] the gateway keeps, its queues and its metrics;
//! - `config`: [`WebhookConfig`], one `[[webhooks]]` table;
//! - `worker`: one task per webhook, delivering in order with retries;
//! - `delivery`: an event rendered in a webhook's format, signed, and the secrets' files.

mod config;
mod delivery;
mod worker;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tokio::sync::mpsc;

pub use config::{WebhookConfig, WebhookFormat};

use crate::OutboundError;
use worker::Worker;

/// The events sluice sends. `events` filters are checked against this list at start, because a
/// misspelled filter would otherwise silently mute a webhook.
pub const EVENTS: &[&str] = &[
    "review.created",
    "review.decided",
    "grant.created",
    "grant.expired",
    "grant.revoked",
    "signal.firing",
    "signal.resolved",
];

/// Per webhook. Large enough to ride out a receiver's outage of minutes at approval-event rates,
/// small enough that a dead receiver cannot grow memory without bound.
const QUEUE_CAPACITY: usize = 1024;

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
    pub fn start(configs: &[WebhookConfig]) -> Result<Notifier, OutboundError> {
        if configs.is_empty() {
            return Ok(Notifier::disabled());
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| OutboundError::Config("webhooks need a running tokio runtime".into()))?;
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

#[cfg(test)]
mod tests;
