//! Targets reached through a network-resident agent (`[[targets]] via = "agent"`).
//!
//! The gateway opens one stream through an agent for each upstream connection; what travels
//! in it is the same bytes a direct TCP connection would carry, so every step of the
//! enforcement sequence stays in the gateway and no protocol knows whether its target is near
//! or behind an agent. Core only names the seam: the agent hub (sluice-agent) implements
//! [`Tunnels`], the binary installs it with [`crate::Gateway::set_tunnels`], and sluice-net's
//! dialer asks it for a stream.

use std::future::Future;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::TargetConfig;

/// A byte stream to a target, carried by an agent.
pub trait TunnelStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> TunnelStream for T {}

/// What opening a stream yields: the stream, or why no agent could carry it, in words fit for
/// the client.
pub type Opened<'a> =
    Pin<Box<dyn Future<Output = Result<Box<dyn TunnelStream>, String>> + Send + 'a>>;

/// The agents connected to this gateway.
pub trait Tunnels: Send + Sync {
    /// A stream to `address` of `target` through one healthy agent among `target.via`, for
    /// `gateway` (passed rather than kept: the gateway holds the tunnels).
    fn open<'a>(
        &'a self,
        gateway: &'a crate::Gateway,
        target: &'a TargetConfig,
        address: (&'a str, u16),
    ) -> Opened<'a>;
}

/// Why a stream through an agent failed when its link went down (the agent killed, revoked,
/// the network cut): carried inside the `io::Error` a protocol's relay sees, so that the
/// client is told the link was lost rather than a bare connection failure.
#[derive(Debug)]
pub struct LinkLost {
    /// `agent NAME`, or on the agent's side `the gateway`.
    pub peer: String,
}

impl std::fmt::Display for LinkLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the link to {} was lost", self.peer)
    }
}

impl std::error::Error for LinkLost {}

impl LinkLost {
    /// The lost link behind `e`, if that is what it is.
    pub fn behind(e: &std::io::Error) -> Option<&LinkLost> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<LinkLost>())
    }
}
