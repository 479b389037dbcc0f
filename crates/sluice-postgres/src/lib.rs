//! The PostgreSQL data path: a listener that speaks the PostgreSQL wire protocol to clients,
//! authenticates them with gateway-issued tokens, logs in to the target with the credential
//! only sluice holds, and relays every message, auditing each statement before it is
//! forwarded. The crate exports only [`PgServer`]; see docs/postgres-connection.md for the life
//! of a connection.
//!
//! # Layout
//! - `server`: accept loop, connection limit, graceful shutdown.
//! - `connection`: one connection from accept to end, in order: handshake → authenticate →
//!   open session → connect upstream → relay.
//! - `handshake`: TLS negotiation, GSSENC refusal, cancel requests, version negotiation.
//! - `startup_options`: the server settings a client asks for at startup (`options` included).
//! - `client_auth`: SCRAM-SHA-256 (and cleartext inside TLS) against token verifiers.
//! - `upstream`: the gateway's own login to the target (SCRAM-SHA-256, MD5, cleartext).
//! - `relay`: the two halves of an open session, the queue of expected responses, and the
//!   masking of what the target sends.
//! - `catalog`: naming result columns' source tables and columns for column masking rules,
//!   and the functions FunctionCall messages name by OID.
//! - `cancel`: cancel keys (the target's process id, a gateway-minted secret) mapped to the
//!   target's.
//! - `tls`, `stream`: TLS configuration and plain-or-TLS streams.
//! - `error`: every failure and what the client is told about it.

mod cancel;
mod catalog;
mod client_auth;
mod connection;
mod error;
mod handshake;
mod relay;
mod server;
mod startup_options;
mod stream;
mod tls;
mod upstream;

pub use error::PgError;
pub use server::PgServer;

/// Where the gateway is in a graceful shutdown; sessions watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownPhase {
    Running,
    /// Stop at the next point between requests.
    Draining,
    /// The grace period is over: stop now.
    Forced,
}
