//! JSON-RPC 2.0 as MCP uses it: one message per HTTP request body, read strictly; answers and
//! errors built here so every code is named once.

use serde_json::{json, Map, Value};

pub(crate) const PARSE_ERROR: i64 = -32700;
pub(crate) const INVALID_REQUEST: i64 = -32600;
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
pub(crate) const INVALID_PARAMS: i64 = -32602;
pub(crate) const INTERNAL_ERROR: i64 = -32603;
/// 2026-07-28: a routing header disagrees with the body.
pub(crate) const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: the request's protocol version is not one this server speaks.
pub(crate) const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// One message from the client.
#[derive(Debug)]
pub(crate) enum Message {
    Request {
        id: Value,
        method: String,
        params: Map<String, Value>,
    },
    /// `notifications/initialized`, `notifications/cancelled`: nothing to answer.
    Notification,
    /// A response to a request of ours; this server sends none, so it is dropped.
    Response,
}

/// A message that could not be read, with the error to answer (id `null` when unknown).
#[derive(Debug)]
pub(crate) struct Unreadable {
    pub id: Value,
    pub code: i64,
    pub message: String,
}

pub(crate) fn parse(body: &[u8]) -> Result<Message, Unreadable> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Unreadable {
        id: Value::Null,
        code: PARSE_ERROR,
        message: format!("the body is not JSON: {e}"),
    })?;
    let invalid = |id: Value, message: &str| Unreadable {
        id,
        code: INVALID_REQUEST,
        message: message.to_owned(),
    };
    let Value::Object(mut object) = value else {
        // Batches left JSON-RPC over MCP in 2025-06-18.
        return Err(invalid(
            Value::Null,
            "send one JSON-RPC message object, not a batch",
        ));
    };
    let id = object.remove("id");
    if let Some(id) = &id {
        if !(id.is_string() || id.is_i64() || id.is_u64()) {
            return Err(invalid(
                Value::Null,
                "the id must be a string or an integer",
            ));
        }
    }
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid(
            id.unwrap_or(Value::Null),
            "jsonrpc must be \"2.0\"",
        ));
    }
    let Some(method) = object.remove("method") else {
        if id.is_some() && (object.contains_key("result") || object.contains_key("error")) {
            return Ok(Message::Response);
        }
        return Err(invalid(
            id.unwrap_or(Value::Null),
            "a request needs a method",
        ));
    };
    let Value::String(method) = method else {
        return Err(invalid(
            id.unwrap_or(Value::Null),
            "the method must be a string",
        ));
    };
    let params = match object.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(params)) => params,
        Some(_) => {
            return Err(Unreadable {
                id: id.unwrap_or(Value::Null),
                code: INVALID_PARAMS,
                message: "params must be an object".to_owned(),
            })
        }
    };
    Ok(match id {
        Some(id) => Message::Request { id, method, params },
        None => Message::Notification,
    })
}

pub(crate) fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

pub(crate) fn error(id: &Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let (Some(data), Value::Object(e)) = (data, &mut error) {
        e.insert("data".to_owned(), data);
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

pub(crate) fn notification(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": params})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_requests_notifications_and_refuses_the_rest() {
        let m = parse(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#).unwrap();
        assert!(matches!(m, Message::Request { ref method, .. } if method == "tools/list"));
        let m = parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(matches!(m, Message::Notification));
        let m = parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap();
        assert!(matches!(m, Message::Response));
        assert_eq!(parse(b"{not json").unwrap_err().code, PARSE_ERROR);
        assert_eq!(parse(b"[]").unwrap_err().code, INVALID_REQUEST);
        let e = parse(br#"{"jsonrpc":"1.0","id":3,"method":"x"}"#).unwrap_err();
        assert_eq!((e.code, e.id), (INVALID_REQUEST, json!(3)));
        let e = parse(br#"{"jsonrpc":"2.0","id":{},"method":"x"}"#).unwrap_err();
        assert_eq!(e.code, INVALID_REQUEST);
        let e = parse(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#).unwrap_err();
        assert_eq!(e.code, INVALID_PARAMS);
    }
}
