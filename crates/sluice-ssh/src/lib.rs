//! The SSH data path: a listener that speaks SSH to stock OpenSSH clients, authenticates them
//! with a public key registered to their identity or a token typed as the password, logs in to
//! the target with the credential only sluice holds (its host key pinned or trusted on first
//! use), and decides every channel, command, shell and file operation before it reaches the
//! target. The crate exports only [`SshServer`] and [`SshError`]; docs/ssh-connection.md is the
//! life of a connection.
//!
//! # Layout
//! - `server`: the listener (sluice-net's accept loop) and the russh configuration.
//! - `host_key`: the gateway's Ed25519 host key, made at first start.
//! - `connection`: SSH's part of the enforcement sequence: identify, refuse, connect, greet,
//!   relay.
//! - `frontend`: the russh handler of the client side: logins, channel opens, forwards.
//! - `upstream`: the gateway's own login to the target.
//! - `decide`: one request decided, held, sealed.
//! - `command`: a command line to the policy's facts.
//! - `relay`: channels relayed, recorded and masked; SFTP per operation; forwards by size.
//! - `error`: every failure and what the client is told about it.

mod command;
mod connection;
mod decide;
mod error;
mod frontend;
mod host_key;
mod relay;
mod server;
mod upstream;

pub use error::SshError;
pub use server::SshServer;
