//! Human approval (docs/approvals.md): statements the policy holds until reviewers approve
//! them, requests for time-bound access grants, and the grants that approvals issue.
//!
//! The store is the one record of every review and grant, so several gateways on one store
//! agree on them; what lives only here is how a held session is woken (a `Notify` per review,
//! with a short poll of the store for decisions made through another gateway).
//!
//! # Layout
//! - `review`: deciding reviews (reviewers' approvals and denials, expiry, cancellation) and
//!   requests for access.
//! - `grants`: the live grants the policy sees, refreshed from the store, and their expiry.
//! - `view`: reviews and grants as the API and the CLI show them.
//! - `stats`: approval latency and grant churn, computed from the store.

mod grants;
mod review;
mod stats;
mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::error::RefusalKind;
use crate::notify::Notifier;
use crate::CoreError;

pub(crate) use grants::GrantBook;
pub use review::{AccessOutcome, AccessRequest, GrantAsk, ReviewerVerdict, ANY_SCOPE};
pub use stats::{GrantChurn, IdentityChurn, LatencySummary, ReviewStats};
pub(crate) use view::{one_line, ReviewDetail};
pub use view::{GrantView, ReviewView};

/// Review states as stored.
pub(crate) const PENDING: &str = "pending";
pub(crate) const APPROVED: &str = "approved";
pub(crate) const DENIED: &str = "denied";
pub(crate) const EXPIRED: &str = "expired";
pub(crate) const CANCELLED: &str = "cancelled";

pub(crate) const KIND_STATEMENT: &str = "statement";
pub(crate) const KIND_ACCESS: &str = "access";

/// The rule named when a held statement is refused because of its review.
pub const RULE_REVIEW: &str = "sluice.review";

/// The gateway's part of approvals that is not in the store.
pub(crate) struct ApprovalState {
    /// Held sessions on this gateway, woken when a review they wait for is settled here.
    waiters: Mutex<HashMap<i64, Arc<Notify>>>,
    pub(crate) grants: GrantBook,
    pub(crate) notifier: Notifier,
}

impl ApprovalState {
    pub(crate) fn new(notifier: Notifier) -> ApprovalState {
        ApprovalState {
            waiters: Mutex::new(HashMap::new()),
            grants: GrantBook::default(),
            notifier,
        }
    }

    pub(crate) fn register(&self, id: i64) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        crate::sync::lock(&self.waiters).insert(id, notify.clone());
        notify
    }

    pub(crate) fn unregister(&self, id: i64) {
        crate::sync::lock(&self.waiters).remove(&id);
    }

    fn wake(&self, id: i64) {
        if let Some(n) = crate::sync::lock(&self.waiters).get(&id) {
            // `notify_one` keeps the wakeup if the waiter is between two waits.
            n.notify_one();
        }
    }
}

/// `r-42` for review 42, `g-7` for grant 7: short enough to type in a terminal.
pub(crate) fn review_id(id: i64) -> String {
    format!("r-{id}")
}

pub(crate) fn grant_id(id: i64) -> String {
    format!("g-{id}")
}

/// Reads `r-42` or `42` (and `g-7` or `7` with prefix `g`).
pub(crate) fn parse_id(prefix: char, text: &str) -> Result<i64, CoreError> {
    let digits = text
        .strip_prefix(prefix)
        .and_then(|t| t.strip_prefix('-'))
        .unwrap_or(text);
    digits
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            CoreError::refused(
                RefusalKind::Invalid,
                format!("{text:?} is not a valid id (expected {prefix}-N)"),
            )
        })
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_with_or_without_prefix() {
        assert_eq!(parse_id('r', "r-42").unwrap(), 42);
        assert_eq!(parse_id('r', "42").unwrap(), 42);
        assert!(parse_id('r', "g-42").is_err());
        assert!(parse_id('r', "r-0").is_err());
        assert!(parse_id('r', "r-x").is_err());
        assert_eq!(review_id(7), "r-7");
        assert_eq!(grant_id(7), "g-7");
    }
}
