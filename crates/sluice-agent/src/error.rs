use thiserror::Error;

#[derive(Debug, Error)]
pub enum AgentError {
    #[error("agent link: {0}")]
    Link(String),
    #[error("enrollment: {0}")]
    Enrollment(String),
    #[error("agent state in {path}: {reason}")]
    State { path: String, reason: String },
    #[error(transparent)]
    Net(#[from] sluice_net::NetError),
    #[error("store: {0}")]
    Store(#[from] sluice_store::StoreError),
    #[error("audit: {0}")]
    Audit(#[from] sluice_audit::AuditError),
    #[error("HTTP/2: {0}")]
    H2(#[from] h2::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
