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
use crate::CoreError;
use sluice_outbound::webhooks::Notifier;

pub(crate) use grants::GrantBook;
pub use review::{AccessOutcome, AccessRequest, GrantAsk, Reviewer, ReviewerVerdict, ANY_SCOPE};
pub use stats::{GrantChurn, IdentityChurn, LatencySummary, ReviewStats};
pub(crate) use view::{grant_state, one_line, AccessAsked, ReviewDetail};
pub use view::{review_page, GrantView, ReviewView};

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

    /// Wakes every held session, to read its review again (notifications may have been lost).
    pub(crate) fn wake_all(&self) {
        for n in crate::sync::lock(&self.waiters).values() {
            n.notify_one();
        }
    }

    pub(crate) fn wake(&self, id: i64) {
        if let Some(n) = crate::sync::lock(&self.waiters).get(&id) {
            // `notify_one` keeps the wakeup if the waiter is between two waits.
            n.notify_one();
        }
    }
}

/// `r-42` for review 42, `g-7` for grant 7: short enough to type in a terminal.
pub fn review_id(id: i64) -> String {
    format!("r-{id}")
}

pub fn grant_id(id: i64) -> String {
    format!("g-{id}")
}

/// What an id names, which decides its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Review,
    Grant,
}

/// Reads `r-42` or `42` (`g-7` or `7` for a grant), ignoring surrounding blanks. The admin API
/// reads ids from its URLs with this and the CLI checks what it is given with it, so the two
/// accept the same ids. Only digits follow the prefix, so an id put into a URL path cannot
/// change the path.
pub fn parse_id(kind: IdKind, text: &str) -> Result<i64, CoreError> {
    let (prefix, noun) = match kind {
        IdKind::Review => ("r-", "review"),
        IdKind::Grant => ("g-", "grant"),
    };
    let text = text.trim();
    let digits = text.strip_prefix(prefix).unwrap_or(text);
    Some(digits)
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            CoreError::refused(
                RefusalKind::Invalid,
                format!("{text:?} is not a {noun} id (expected like {prefix}42 or 42)"),
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
        assert_eq!(parse_id(IdKind::Review, "r-42").unwrap(), 42);
        assert_eq!(parse_id(IdKind::Review, "42").unwrap(), 42);
        assert_eq!(parse_id(IdKind::Review, " r-42 ").unwrap(), 42);
        assert_eq!(parse_id(IdKind::Grant, "g-7").unwrap(), 7);
        assert_eq!(parse_id(IdKind::Grant, "7").unwrap(), 7);
        assert_eq!(review_id(7), "r-7");
        assert_eq!(grant_id(7), "g-7");
    }

    /// Of the other kind, not positive, or able to change the URL path the id goes into.
    #[test]
    fn ids_that_are_not_ids_of_the_kind_are_refused() {
        for bad in [
            "",
            "r-",
            "g-42",
            "r-0",
            "r-x",
            "+42",
            "r-+42",
            "../admin",
            "42/approve",
            "4%32",
            "42?x=1",
            "a b",
        ] {
            assert!(parse_id(IdKind::Review, bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_id(IdKind::Grant, "r-42").is_err());
        let message = parse_id(IdKind::Review, "g-7").unwrap_err().to_string();
        assert_eq!(
            message,
            "\"g-7\" is not a review id (expected like r-42 or 42)"
        );
    }
}
