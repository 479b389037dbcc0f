use sluice_audit::AuditError;
use sluice_outbound::OutboundError;
use sluice_store::StoreError;

/// Errors of the core. The protocol crates map each to what the client sees, in one place each.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("audit trail unavailable: {0}")]
    Audit(#[from] AuditError),
    #[error("gateway store unavailable: {0}")]
    Store(#[from] StoreError),
    #[error("policy: {0}")]
    Policy(String),
    /// The git repository a policy directory lives in could not be read.
    #[error("policy repository: {0}")]
    Git(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A webhook that cannot work as configured, found at start.
    #[error("{0}")]
    Outbound(#[from] OutboundError),
    /// The recording store failed: the session cannot go on recorded.
    #[error("session recording failed: {0}")]
    Recording(String),
    /// A recording cap was reached and `recording.on_cap` ends the session.
    #[error("{0}")]
    RecordingCap(String),
    /// A request to the approval API that cannot be granted as asked; the message is for the
    /// person who asked.
    #[error("{message}")]
    Refused { kind: RefusalKind, message: String },
    /// Too many failed authentications lately from the client's address or for the identity.
    #[error("too many failed authentications {by}; try again in {retry_after_secs} s")]
    Throttled {
        /// `from this address` or `for this identity`.
        by: &'static str,
        retry_after_secs: u64,
    },
}

/// Why an approval API request was refused, so the admin API can answer with the right status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    NotFound,
    /// Not allowed for this caller: their own request, or not in a required group.
    Forbidden,
    /// Already decided, expired or revoked.
    Conflict,
    /// Malformed: a bad duration, an unknown target.
    Invalid,
}

impl CoreError {
    pub(crate) fn refused(kind: RefusalKind, message: impl Into<String>) -> CoreError {
        CoreError::Refused {
            kind,
            message: message.into(),
        }
    }
}
