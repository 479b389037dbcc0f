//! The MCP headers of one POST, from the message and what the server said so far. The bearer,
//! content type and accept headers are the transport's: they are the same on every request.

use serde_json::Value;

pub const SESSION_ID: &str = "mcp-session-id";
pub const PROTOCOL_VERSION: &str = "mcp-protocol-version";
pub const METHOD: &str = "mcp-method";
pub const NAME: &str = "mcp-name";
/// Where a stateless (2026-07-28 and later) client puts the protocol version of each message.
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// What the server told the bridge: the session it assigned at `initialize` and the protocol
/// version it chose there (the legacy, stateful era).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Option<String>,
    pub protocol_version: Option<String>,
}

/// A value HTTP cannot carry, named by header.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsendable(pub &'static str);

/// The MCP headers for `message`, in the order they are sent.
pub fn mcp_headers(
    message: &Value,
    session: &Session,
) -> Result<Vec<(&'static str, String)>, Unsendable> {
    let mut headers = Vec::new();
    let method = message.get("method").and_then(Value::as_str);
    let stateless_version = message
        .get("params")
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_VERSION))
        .and_then(Value::as_str);
    // `initialize` opens a session, so carrying the old one would ask the server to reuse it;
    // a stateless message belongs to no session.
    if method != Some("initialize") && stateless_version.is_none() {
        if let Some(id) = &session.id {
            headers.push((SESSION_ID, id.clone()));
        }
    }
    match stateless_version {
        Some(version) => {
            headers.push((PROTOCOL_VERSION, version.to_owned()));
            if let Some(method) = method {
                headers.push((METHOD, method.to_owned()));
                let name_field = match method {
                    "tools/call" | "prompts/get" => Some("name"),
                    "resources/read" => Some("uri"),
                    _ => None,
                };
                let name = name_field.and_then(|field| {
                    message
                        .get("params")
                        .and_then(|p| p.get(field))
                        .and_then(Value::as_str)
                });
                if let Some(name) = name {
                    headers.push((NAME, name.to_owned()));
                }
            }
        }
        None if method != Some("initialize") => {
            if let Some(version) = &session.protocol_version {
                headers.push((PROTOCOL_VERSION, version.clone()));
            }
        }
        None => {}
    }
    for (name, value) in &headers {
        if !sendable(value) {
            return Err(Unsendable(name));
        }
    }
    Ok(headers)
}

/// Visible ASCII and spaces only: what every HTTP stack accepts in a header value, so that the
/// server reads the same text the message holds.
fn sendable(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
}
