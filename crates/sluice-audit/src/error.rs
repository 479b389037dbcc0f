//! The crate's single error type.

use thiserror::Error;

/// Everything that can go wrong while writing, reading or checking the audit trail.
///
/// Callers on the statement path must treat every variant as "not audited" and
/// fail closed.
#[derive(Debug, Error)]
pub enum AuditError {
    #[error("audit log I/O error: {0}")]
    Io(#[from] std::io::Error),

    #[error("audit log is locked by another process (is a second gateway using the same data directory?)")]
    Locked,

    #[error("audit record was not written: {0}")]
    WriteFailed(String),

    #[error("audit log is corrupt at line {line}: {reason}")]
    Corrupt { line: u64, reason: String },

    #[error("audit record JSON error: {0}")]
    Json(#[from] serde_json::Error),

    #[error("audit log is closed")]
    Closed,

    /// The trail's newest record was written by another gateway: each gateway keeps its own
    /// chain, and two writing one would interleave two histories in it.
    #[error("audit trail {path} belongs to gateway {owner}, not {opener}")]
    OtherGateway {
        path: String,
        owner: String,
        opener: String,
    },

    #[error("invalid gateway name {0:?}: it must be non-empty and have no control characters")]
    InvalidGatewayName(String),
}
