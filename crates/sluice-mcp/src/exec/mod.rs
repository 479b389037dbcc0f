//! A tool call made as a client of the gateway's own listener for the target's protocol, with
//! the caller's per-task credential: the statement, command or request goes through the same
//! relay as any other client's, so it is decided, held, masked, recorded and audited there and
//! nothing about it is special to MCP. These are the clients.

pub(crate) mod http;
pub(crate) mod mysql;
pub(crate) mod postgres;
pub(crate) mod ssh;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde_json::Value;
use sluice_core::Gateway;

use crate::McpError;

/// The address the gateway's `protocol` listener takes connections on, as a client on this
/// host reaches it: its own address, or loopback when it listens on every address.
pub(crate) fn listener(
    gateway: &Gateway,
    protocol: &'static str,
    configured: Option<SocketAddr>,
) -> Result<SocketAddr, McpError> {
    let port = gateway.listeners().get(protocol).copied().ok_or_else(|| {
        McpError::Listener(format!(
            "this gateway has no {protocol} listener, so its {protocol} targets cannot be reached"
        ))
    })?;
    let ip = match configured.map(|a| a.ip()) {
        Some(IpAddr::V4(ip)) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(IpAddr::V6(ip)) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        Some(ip) => ip,
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    Ok(SocketAddr::new(ip, port))
}

/// What a running call tells the client before its result: a hold's notice, above all.
pub(crate) trait Progress: Send {
    fn say(&mut self, message: &str);
}

/// Caps a text at `max` bytes on a character boundary; whether it was cut.
pub(crate) fn cap_text(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

/// One SQL statement's answer, from either SQL leg.
#[derive(Debug, Default)]
pub(crate) struct ResultSet {
    pub columns: Vec<(String, u32)>,
    pub rows: Vec<Vec<Value>>,
    /// Rows the statement returned in all, counted past the cap too.
    pub row_count: u64,
    pub truncated: bool,
    pub tag: Option<String>,
}

/// The server's error, as a client shows it.
#[derive(Debug)]
pub(crate) struct ServerError {
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub results: Vec<ResultSet>,
    pub error: Option<ServerError>,
    pub notices: Vec<String>,
}
