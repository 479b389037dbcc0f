//! The two eras of MCP over streamable HTTP. Up to 2025-11-25 a client opens a session with
//! `initialize` and sends its `Mcp-Session-Id` with every later request; from 2026-07-28 each
//! request stands alone and carries its protocol version and capabilities in `params._meta`,
//! repeated in routing headers that must agree with the body. sluice speaks both, so SDKs of
//! either generation (and the probing ones, which try `server/discover` first) connect.

use serde_json::{json, Map, Value};

use crate::jsonrpc::{HEADER_MISMATCH, INVALID_REQUEST, UNSUPPORTED_PROTOCOL_VERSION};

/// Reached through `initialize`, oldest first.
pub(crate) const HANDSHAKE_VERSIONS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];
/// Stateless, per-request envelope.
pub(crate) const MODERN_VERSIONS: [&str; 1] = ["2026-07-28"];

const VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
const CAPABILITIES_KEY: &str = "io.modelcontextprotocol/clientCapabilities";
const CLIENT_INFO_KEY: &str = "io.modelcontextprotocol/clientInfo";

/// Which era a request is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Era {
    /// A session's request; the version its `initialize` settled.
    Handshake(String),
    Modern,
}

/// The routing headers a modern request carries.
#[derive(Debug, Default)]
pub(crate) struct Headers {
    pub version: Option<String>,
    pub method: Option<String>,
    pub name: Option<String>,
}

/// A request's failure to fit its era, answered as a JSON-RPC error with an HTTP status.
#[derive(Debug)]
pub(crate) struct Misfit {
    pub status: u16,
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

/// The modern envelope, when the request carries one: `Ok(Some(client name))` for a request
/// whose envelope checks out, `Ok(None)` for one without (a handshake-era request).
pub(crate) fn modern_envelope(
    method: &str,
    params: &Map<String, Value>,
    headers: &Headers,
) -> Result<Option<Option<String>>, Misfit> {
    let meta = params.get("_meta").and_then(Value::as_object);
    let Some(version) = meta.and_then(|m| m.get(VERSION_KEY)) else {
        return Ok(None);
    };
    let Some(version) = version.as_str() else {
        return Err(misfit(
            400,
            INVALID_REQUEST,
            "the protocol version must be a string",
        ));
    };
    if !MODERN_VERSIONS.contains(&version) {
        let supported: Vec<&str> = MODERN_VERSIONS
            .iter()
            .chain(HANDSHAKE_VERSIONS.iter().rev())
            .copied()
            .collect();
        return Err(Misfit {
            status: 400,
            code: UNSUPPORTED_PROTOCOL_VERSION,
            message: format!("protocol version {version:?} is not supported"),
            data: Some(json!({"supported": supported, "requested": version})),
        });
    }
    if !meta.is_some_and(|m| m.contains_key(CAPABILITIES_KEY)) {
        return Err(misfit(
            400,
            INVALID_REQUEST,
            "a 2026-07-28 request carries its client capabilities in _meta",
        ));
    }
    if headers.version.as_deref().is_some_and(|h| h != version) {
        return Err(misfit(
            400,
            HEADER_MISMATCH,
            "MCP-Protocol-Version does not match the request's protocol version",
        ));
    }
    if headers.method.as_deref().is_some_and(|h| h != method) {
        return Err(misfit(
            400,
            HEADER_MISMATCH,
            "Mcp-Method does not match the method",
        ));
    }
    if method == "tools/call" {
        let name = params.get("name").and_then(Value::as_str);
        if headers.name.is_some() && headers.name.as_deref() != name {
            return Err(misfit(
                400,
                HEADER_MISMATCH,
                "Mcp-Name does not match the tool's name",
            ));
        }
    }
    let client = meta
        .and_then(|m| m.get(CLIENT_INFO_KEY))
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Some(client))
}

fn misfit(status: u16, code: i64, message: &str) -> Misfit {
    Misfit {
        status,
        code,
        message: message.to_owned(),
        data: None,
    }
}

/// The version `initialize` settles on: the client's when this server speaks it, else the
/// newest this server speaks (the client then decides whether to go on).
pub(crate) fn negotiate(requested: Option<&str>) -> &'static str {
    HANDSHAKE_VERSIONS
        .iter()
        .find(|v| Some(**v) == requested)
        .copied()
        .unwrap_or(HANDSHAKE_VERSIONS[HANDSHAKE_VERSIONS.len() - 1])
}

fn server_info() -> Value {
    json!({"name": "sluice", "title": "sluice access gateway", "version": env!("CARGO_PKG_VERSION")})
}

const INSTRUCTIONS: &str = "Tools reach databases, hosts and services through the sluice gateway \
    under its policy: every statement, command and request is decided on what it does, may be \
    held until a person approves it, and is masked, recorded and audited. A refusal names the \
    policy rule; do not retry a refused call unchanged. A held call waits for a reviewer.";

fn capabilities() -> Value {
    json!({"tools": {"listChanged": false}})
}

pub(crate) fn initialize_result(version: &str) -> Value {
    json!({
        "protocolVersion": version,
        "capabilities": capabilities(),
        "serverInfo": server_info(),
        "instructions": INSTRUCTIONS,
    })
}

pub(crate) fn discover_result() -> Value {
    let supported: Vec<&str> = MODERN_VERSIONS
        .iter()
        .chain(HANDSHAKE_VERSIONS.iter().rev())
        .copied()
        .collect();
    json!({
        "supportedVersions": supported,
        "capabilities": capabilities(),
        "serverInfo": server_info(),
        "instructions": INSTRUCTIONS,
        // The tools depend on the caller's credential.
        "cacheScope": "private",
        "ttlMs": 0,
        "resultType": "complete",
    })
}

/// A result as the request's era wants it: modern results say they are complete, and lists
/// say how they may be cached (per credential: the tools are the caller's).
pub(crate) fn finish(era: &Era, method: &str, mut result: Value) -> Value {
    if *era == Era::Modern {
        if let Value::Object(object) = &mut result {
            object.insert("resultType".to_owned(), json!("complete"));
            if method == "tools/list" {
                object.insert("cacheScope".to_owned(), json!("private"));
                object.insert("ttlMs".to_owned(), json!(0));
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn negotiation_keeps_a_known_version_and_offers_the_newest_otherwise() {
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(Some("1999-01-01")), "2025-11-25");
        assert_eq!(negotiate(None), "2025-11-25");
    }

    #[test]
    fn a_modern_envelope_is_checked_against_its_headers() {
        let p = params(json!({"name": "shop.query", "_meta": {
            VERSION_KEY: "2026-07-28", CAPABILITIES_KEY: {}, CLIENT_INFO_KEY: {"name": "claude"}}}));
        let ok = Headers {
            version: Some("2026-07-28".into()),
            method: Some("tools/call".into()),
            name: Some("shop.query".into()),
        };
        assert_eq!(
            modern_envelope("tools/call", &p, &ok).unwrap(),
            Some(Some("claude".into()))
        );
        let wrong = Headers {
            name: Some("other.query".into()),
            ..ok
        };
        assert_eq!(
            modern_envelope("tools/call", &p, &wrong).unwrap_err().code,
            HEADER_MISMATCH
        );
        let old = params(json!({"_meta": {VERSION_KEY: "2030-01-01", CAPABILITIES_KEY: {}}}));
        let e = modern_envelope("tools/list", &old, &Headers::default()).unwrap_err();
        assert_eq!(e.code, UNSUPPORTED_PROTOCOL_VERSION);
        assert!(
            modern_envelope("tools/list", &Map::new(), &Headers::default())
                .unwrap()
                .is_none()
        );
    }
}
