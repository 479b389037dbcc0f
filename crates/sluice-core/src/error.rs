use sluice_audit::AuditError;
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
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
