//! Network-resident agents (docs/agent-connection.md): a target in a private network that
//! accepts no inbound connection is reached through an agent inside it that dials out to the
//! gateway.
//!
//! One TLS connection per agent carries HTTP/2, with the roles turned around once TLS is up:
//! the agent, which dialled, is the HTTP/2 server, and the gateway opens a stream (one
//! request) through it for every upstream connection of any protocol. A stream carries the
//! same bytes a TCP connection to the target would, so policy, masking, recording and audit
//! stay in the gateway. HTTP/2 gives each stream its own flow-control window (a slow stream
//! cannot stall the others), PING for the heartbeat, and stream resets for clear errors.
//!
//! An agent first enrolls with a one-time token that names it and pins the gateway's
//! certificate; it presents a certificate of its own new key, which the gateway registers by
//! hash. From then on it connects with that key alone (mutual TLS) until revoked.
//!
//! # Layout
//! - [`enrollment`]: the token's format, issuing one, reading one.
//! - `hello`: the one exchange on a new connection before HTTP/2 (enroll or connect).
//! - `stream`: an HTTP/2 stream as a byte stream.
//! - [`hub`]: the gateway's side: the listener, each agent's link, the `Tunnels` it serves.
//! - [`agent`]: the agent's side: its state directory, the connection kept up with backoff,
//!   and the streams it opens to targets.

pub mod agent;
pub mod enrollment;
mod error;
mod hello;
pub mod hub;
mod stream;

pub use error::AgentError;

/// ALPN of the link, so a TLS endpoint of something else is refused at the handshake.
const ALPN: &[u8] = b"sluice-agent/1";

/// Request headers of a stream: the target's name and where the agent connects.
const TARGET_HEADER: &str = "sluice-target";
const ADDRESS_HEADER: &str = "sluice-address";
/// A refused stream's reason, in words for the client.
const ERROR_HEADER: &str = "sluice-error";

/// Resolves once `stop` turns true (or its sender is gone), holding no borrow of it.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Windows of the link. Per stream: what one stream may leave unread (1 MiB, 20 MB/s per
/// stream at 50 ms of round trip). Per connection: HTTP/2's largest, so that however many
/// streams have stalled with full windows, the others never wait on the connection's; memory
/// is bounded by the stream window times the streams that stall.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = (1 << 31) - 1;
