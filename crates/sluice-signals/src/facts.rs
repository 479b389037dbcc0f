//! What the caller reads outside the audit trail and hands to [`crate::compute`]: the store's
//! reviews, grants and tokens, the policy repository, recordings checked, sinks, the last
//! verify. Plain data in the crate's own types, so this crate depends on no store or I/O.

use serde::Serialize;

/// Everything besides the audit trail (which the [`crate::Observer`] has read).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Now, in Unix milliseconds: the end of the window.
    pub now_ms: i64,
    /// The policy repository's state, when the policy directory is in one.
    pub repository: Option<RepositoryFacts>,
    /// The rules the policy in force declares (see [`crate::declared_rules`]).
    pub declared_rules: Vec<String>,
    /// Gateways that share the store and are alive now, by name, with the policy version each
    /// enforced at its last heartbeat. Empty with a store of one's own: every gateway in the
    /// trails then counts until it stopped.
    pub live_gateways: Vec<(String, Option<String>)>,
    pub reviews: Vec<ReviewFact>,
    pub grants: Vec<GrantFact>,
    pub tokens: Vec<TokenFact>,
    /// Whether sessions are recorded: without it, a session without a seal is no finding.
    pub recording_enabled: bool,
    /// How often checkpoints are written; `None` when they are off.
    pub checkpoint_interval_ms: Option<i64>,
    pub sinks: Vec<SinkLag>,
    pub last_verify: Option<VerifyOutcome>,
}

/// The git repository the policy directory is checked out from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepositoryFacts {
    pub commit: String,
    pub branch: Option<String>,
    /// The policy's bundle digest as committed at HEAD.
    pub head_digest: Option<String>,
    /// The policy's bundle digest as the directory is now.
    pub worktree_digest: String,
}

/// One review, from the store (every gateway's).
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewFact {
    pub id: String,
    /// `statement`, `access`, ...
    pub kind: String,
    pub requester: String,
    pub target: String,
    /// The groups whose members may approve it (`1 of dba` names `dba`).
    pub groups: Vec<String>,
    /// What the access request asked for (its scope), to spot repeated requests.
    pub scope: Option<String>,
    pub created_ms: i64,
    pub decided_ms: Option<i64>,
    /// `pending`, `approved`, `denied`, `expired`, `cancelled`.
    pub state: String,
    /// Each reviewer's approve (true) or deny.
    pub decisions: Vec<(String, bool)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GrantFact {
    pub id: String,
    pub identity: String,
    pub target: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub revoked_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenFact {
    pub id: String,
    pub identity: String,
    /// `operator`, `login`, `exchange`, `task`.
    pub purpose: String,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
}

/// A session's recording read back and compared with its seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingCheck {
    Intact,
    Missing,
    /// Its SHA-256 or length differs from the seal in the session's end record.
    Altered,
}

/// How far one audit sink is behind the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SinkLag {
    pub sink: String,
    /// Records written to the trail and not yet delivered.
    pub records: u64,
}

/// The last `audit verify` run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyOutcome {
    /// RFC 3339.
    pub at: String,
    pub ok: bool,
    /// Its one-line summary (records, checkpoints, problems found).
    pub summary: String,
}
