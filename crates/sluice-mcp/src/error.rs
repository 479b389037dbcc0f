/// Why the MCP endpoint could not start, or a tool call could not reach its target through the
/// gateway. A policy's denial is not an error here: it is the tool's result.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The gateway has no listener for the target's protocol, or it cannot be used.
    #[error("{0}")]
    Listener(String),
    /// Talking to the gateway's own listener failed (connection, protocol, login).
    #[error("{0}")]
    Client(String),
    /// No credential could be had for the call.
    #[error("{0}")]
    Credential(String),
    #[error("{0}")]
    Tls(String),
}
