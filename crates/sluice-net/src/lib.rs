//! What every protocol's listener shares below its wire format: the accept loop with its
//! connection limit and graceful drain, TLS on both legs (the certificate clients see, how
//! targets are checked), and streams that are plain or TLS.
//!
//! # Layout
//! - [`dial`]: the connection towards a target, direct or through an agent.
//! - [`listener`]: accept under a limit, hand each connection to a session worker, drain.
//! - [`pinned`]: TLS between the gateway and its agents, each known by its certificate's hash.
//! - [`tls`]: the client-facing certificate (configured or generated) and target TLS modes.
//! - [`stream`]: a connection that is plain TCP or TLS, chosen during a handshake.

pub mod dial;
pub mod listener;
pub mod pinned;
pub mod stream;
pub mod tls;

/// Where the gateway is in a graceful shutdown; sessions watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownPhase {
    Running,
    /// Stop at the next point between requests.
    Draining,
    /// The grace period is over: stop now.
    Forced,
}

/// A failure below the protocol.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
