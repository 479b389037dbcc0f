//! The gateway's connection towards a target: TCP from here, or a stream through one of the
//! agents the target names in `via`. Every protocol dials through [`connect`], so policy,
//! masking, recording and audit never depend on how the target is reached.

use std::io;

use tokio::net::TcpStream;

use sluice_core::config::TargetConfig;
use sluice_core::tunnel::TunnelStream;
use sluice_core::Gateway;

/// A plain connection to a target: a TCP stream, or a stream through an agent. One boxed
/// type for both, so that every protocol's reads and writes go through tokio's own forwarding
/// for `Box<dyn AsyncRead + AsyncWrite>` rather than an enum of ours that repeats it.
pub type Transport = Box<dyn TunnelStream>;

/// TCP to the target's `host:port` (with `TCP_NODELAY`: requests are written whole), or a
/// stream through an agent when the target has `via`. The error names the target.
pub async fn connect(gateway: &Gateway, target: &TargetConfig) -> io::Result<Transport> {
    connect_to(gateway, target, (target.host.as_str(), target.port)).await
}

/// [`connect`] to another address of the same target (an HTTP target's URL names its own).
pub async fn connect_to(
    gateway: &Gateway,
    target: &TargetConfig,
    address: (&str, u16),
) -> io::Result<Transport> {
    if target.via.is_empty() {
        let tcp = TcpStream::connect(address).await?;
        tcp.set_nodelay(true)?;
        return Ok(Box::new(tcp));
    }
    let Some(tunnels) = gateway.tunnels() else {
        return Err(io::Error::new(
            io::ErrorKind::NotConnected,
            format!(
                "target {} is reached through an agent, and none is serving",
                target.name
            ),
        ));
    };
    tunnels
        .open(gateway, target, address)
        .await
        .map_err(|reason| io::Error::new(io::ErrorKind::ConnectionRefused, reason))
}
