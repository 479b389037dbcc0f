//! Reviews (requests for human approval) and time-bound access grants, as persisted.
//!
//! The store keeps what must survive a restart and be shared by gateways on one store: who
//! asked, who decided, and which grants exist. What a review is about (the statement text as
//! reviewers see it, the policy's requirements) is the caller's JSON in `detail`; the store
//! filters only on the columns it names. Times are unix milliseconds so approval latency can
//! be measured from stored rows.

/// A request for approval. `id` is assigned by the store on insert; `decisions` are ignored
/// on insert and filled in on reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRecord {
    pub id: i64,
    /// `statement` (a held statement) or `access` (a request for a grant).
    pub kind: String,
    /// `pending`, then exactly one of `approved`, `denied`, `expired`, `cancelled`.
    pub state: String,
    pub requester: String,
    pub target: String,
    /// The caller's JSON document describing the request.
    pub detail: String,
    pub created_at_ms: i64,
    /// When a pending review lapses.
    pub expires_at_ms: i64,
    /// When it left `pending`.
    pub decided_at_ms: Option<i64>,
    /// Reviewers' decisions, in the order they were recorded.
    pub decisions: Vec<ReviewerDecision>,
}

/// One reviewer's say on a review. A reviewer decides a review at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewerDecision {
    pub reviewer: String,
    pub approve: bool,
    pub comment: Option<String>,
    pub at_ms: i64,
    /// The reviewer's groups when deciding (their credential's, for people an identity
    /// provider signed in); `None` for decisions stored before groups were kept.
    pub groups: Option<Vec<String>>,
}

/// Which reviews to list; every field narrows, `None` does not.
#[derive(Debug, Clone, Default)]
pub struct ReviewFilter {
    pub state: Option<String>,
    pub requester: Option<String>,
    /// Created at or after.
    pub since_ms: Option<i64>,
    /// Created before.
    pub until_ms: Option<i64>,
}

/// A time-bound access grant. `id` is assigned by the store on insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub id: i64,
    pub identity: String,
    pub target: String,
    pub scope: String,
    pub reason: String,
    pub approvers: Vec<String>,
    /// The review that led to it, if any (a policy may grant without one).
    pub review_id: Option<i64>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    pub revoked_by: Option<String>,
    /// When the gateway noticed the expiry and announced it (audit, webhooks); set once.
    pub expiry_noted_at_ms: Option<i64>,
}

/// Which grants to list; every field narrows, `None` does not.
#[derive(Debug, Clone, Default)]
pub struct GrantFilter {
    pub identity: Option<String>,
    pub target: Option<String>,
    /// Only grants live at this time: not revoked and `expires_at_ms` after it.
    pub live_at_ms: Option<i64>,
    /// Only grants whose expiry is at or before this time, not revoked, and not yet noted.
    pub unnoted_expiry_by_ms: Option<i64>,
    /// Created at or after.
    pub since_ms: Option<i64>,
    /// Issued by the approval of this review.
    pub review_id: Option<i64>,
}
