//! What the approval API speaks: a reviewer's verdict, a grant asked with an approval, a
//! request for access and its outcome. The API itself is the gateway's (gateway/reviews.rs).

use std::time::Duration;

use super::view::GrantView;
use super::ReviewView;

/// Who reviews, decides or revokes: their name and the groups that count against a review's
/// requirements (a signed-in person's come from their credential, which the configuration
/// may not know).
#[derive(Debug, Clone)]
pub struct Reviewer {
    pub name: String,
    pub groups: Vec<String>,
}

/// A reviewer's say on a review.
#[derive(Debug, Clone, Default)]
pub struct ReviewerVerdict {
    pub approve: bool,
    pub comment: Option<String>,
    /// With an approval of a statement: also grant the requester a window on the target, so
    /// the statements after it need no review of their own (as far as the policy says so).
    pub grant: Option<GrantAsk>,
}

#[derive(Debug, Clone)]
pub struct GrantAsk {
    pub duration: Duration,
    pub scope: String,
}

/// `sluice access request`.
#[derive(Debug, Clone)]
pub struct AccessRequest {
    pub target: String,
    pub duration: Duration,
    pub scope: String,
    pub reason: String,
}

/// What became of a request for access.
#[derive(Debug, Clone)]
pub enum AccessOutcome {
    /// The policy granted it without review.
    Granted(Box<GrantView>),
    /// Waiting for reviewers.
    Pending(Box<ReviewView>),
}

/// The grant scope when none is asked for: the policy decides what a grant covers.
pub const ANY_SCOPE: &str = "*";
