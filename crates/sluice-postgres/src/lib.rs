//! The PostgreSQL data path: a listener that speaks the PostgreSQL wire protocol to clients,
//! authenticates them with gateway-issued tokens, logs in to the target with the credential
//! only sluice holds, and relays every message, auditing each statement before it is
//! forwarded. The crate exports only [`PgServer`]; see docs/postgres-connection.md for the life
//! of a connection.
//!
//! # Layout
//! - `server`: the listener (sluice-net's accept loop) with PostgreSQL's TLS and refusal.
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
mod upstream;

pub use error::PgError;
pub use server::PgServer;

pub use sluice_net::ShutdownPhase;
