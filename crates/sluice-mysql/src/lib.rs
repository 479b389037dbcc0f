//! The MySQL and MariaDB data path: a listener that speaks the MySQL client/server protocol to
//! clients, authenticates them with gateway-issued tokens, logs in to the target with the
//! credential only sluice holds, and relays every command, auditing each statement before it
//! is forwarded. The crate exports only [`MysqlServer`]; see docs/mysql-connection.md for the
//! life of a connection.
//!
//! # Layout
//! - `server`: the listener (sluice-net's accept loop) with MySQL's refusal.
//! - `connection`: MySQL's part of the enforcement sequence: identify, refuse, connect,
//!   greet, relay.
//! - `handshake`: the greeting, the switch to TLS, the client's handshake response.
//! - `client_auth`: caching_sha2_password (fast and full paths), clear and native passwords.
//! - `rsa_key`: the key caching_sha2_password uses without TLS.
//! - `scramble`: the plugins' password scrambles, both ways.
//! - `upstream`: the gateway's own login to the target.
//! - `packets`: packets read from and written to streams.
//! - `kill`: connection ids, and KILL limited to the killer's own connections.
//! - `relay`: the command loop; answers read, masked, recorded and audited.
//! - `error`: every failure and what the client is told about it.

mod client_auth;
mod connection;
mod error;
mod handshake;
mod kill;
mod packets;
mod relay;
mod rsa_key;
mod scramble;
mod server;
mod upstream;

pub use error::MyError;
pub use server::MysqlServer;
