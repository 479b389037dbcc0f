//! Every way an SSH connection can fail, and what the client is told.

/// Why an SSH connection or one of its channels ended.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("{0}")]
    Core(#[from] sluice_core::CoreError),
    #[error("ssh: {0}")]
    Protocol(#[from] russh::Error),
    #[error("ssh key: {0}")]
    Key(#[from] russh::keys::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Net(#[from] sluice_net::NetError),
    /// The client closed the connection, or never finished logging in.
    #[error("the client went away: {0}")]
    ClientGone(String),
    /// The target refused, could not be reached, or is not who it was.
    #[error("{0}")]
    Target(String),
    /// The gateway refused the session; the text is what the client is shown.
    #[error("{0}")]
    Refused(String),
    /// The host key could not be read or made.
    #[error("the gateway's SSH host key: {0}")]
    HostKey(String),
}
