//! One client message relayed: POSTed with its headers, and whatever the server answers (a
//! JSON body, an event stream, an error) turned into lines on stdout. Every request (a message
//! with a method and an id) is answered, by the server or by the bridge.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::StatusCode;
use serde_json::Value;
use sluice_core::secret::Secret;

use super::headers::{self, Session};
use super::output::{self, Output, INTERNAL_ERROR};
use super::sse::SseParser;
use super::transport::Endpoint;

/// The most of one answer (a JSON body or one event) the bridge holds.
const MAX_ANSWER: usize = 64 * 1024 * 1024;
/// How much of a non-JSON-RPC error body is quoted to the client.
const QUOTED: usize = 200;

/// What every message's relay shares.
pub struct Bridge {
    pub endpoint: Endpoint,
    pub bearer: HeaderValue,
    /// Only to take it out of any server text quoted back to the client.
    pub token: Secret,
    pub session: Mutex<Session>,
    /// Held by an `initialize` until its answer is relayed, so a message the client sends
    /// right after it carries the session it opened, even though messages are posted
    /// concurrently.
    pub opening: tokio::sync::RwLock<()>,
    pub output: Output,
}

/// Relays `message` (its bytes as the client wrote them).
pub async fn relay(bridge: Arc<Bridge>, message: Value, raw: Vec<u8>) {
    let mut pending = Pending::of(&message);
    let initialize = message.get("method").and_then(Value::as_str) == Some("initialize");
    let _opening = if initialize {
        Some(bridge.opening.write().await)
    } else {
        drop(bridge.opening.read().await);
        None
    };
    let derived = headers::mcp_headers(&message, &bridge.session());
    let derived = match derived {
        Ok(derived) => derived,
        Err(headers::Unsendable(name)) => {
            let text = format!(
                "the message cannot be sent: its {name} header value holds characters HTTP \
                 cannot carry"
            );
            return pending.fail(&bridge.output, &text).await;
        }
    };
    // The session this message carried, if any: a 404 then means that session expired.
    let sent_session = derived
        .iter()
        .find(|(name, _)| *name == headers::SESSION_ID)
        .map(|(_, id)| id.clone());
    let mut extra = Vec::new();
    for (name, value) in derived {
        // mcp_headers only returns values that pass this conversion.
        if let Ok(value) = HeaderValue::try_from(value) {
            extra.push((HeaderName::from_static(name), value));
        }
    }
    let answer = match bridge
        .endpoint
        .post(&bridge.bearer, extra, Bytes::from(raw))
        .await
    {
        Ok(answer) => answer,
        Err(e) => {
            let text = format!(
                "cannot reach the MCP server at {}: {e:#}",
                bridge.endpoint.describe()
            );
            return pending.fail(&bridge.output, &bridge.redact(&text)).await;
        }
    };
    let response = answer.response;
    let status = response.status();
    if initialize && status.is_success() {
        let id = response
            .headers()
            .get(headers::SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        bridge.session().id = id;
    }
    if status == StatusCode::NOT_FOUND {
        if let Some(sent) = &sent_session {
            let mut session = bridge.session();
            // Only the session this request carried: a new one may have been opened meanwhile.
            if session.id.as_ref() == Some(sent) {
                eprintln!("sluice mcp: the session expired; the client must initialize again");
                session.id = None;
            }
        }
    }
    if status == StatusCode::ACCEPTED || status == StatusCode::NO_CONTENT {
        return;
    }
    let streamed = status.is_success()
        && response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("text/event-stream")
            });
    let context = Context {
        bridge: &bridge,
        initialize,
    };
    if streamed {
        stream(&context, response.into_body(), &mut pending).await;
    } else {
        whole(&context, status, response.into_body(), &mut pending).await;
    }
}

struct Context<'a> {
    bridge: &'a Bridge,
    initialize: bool,
}

impl Context<'_> {
    /// Writes a server message, noting the protocol version an `initialize` result chose.
    async fn forward(&self, message: &Value, pending: &mut Pending) {
        if self.initialize {
            if let Some(version) = message
                .get("result")
                .and_then(|r| r.get("protocolVersion"))
                .and_then(Value::as_str)
            {
                self.bridge.session().protocol_version = Some(version.to_owned());
            }
        }
        pending.answered(message);
        self.bridge.output.write(message).await;
    }
}

/// Events written as each completes; a request the stream never answered gets an error.
async fn stream(context: &Context<'_>, mut body: Incoming, pending: &mut Pending) {
    let mut parser = SseParser::new(MAX_ANSWER);
    let broken = loop {
        let frame = match body.frame().await {
            None => break None,
            Some(Ok(frame)) => frame,
            Some(Err(e)) => break Some(format!("the event stream broke: {e}")),
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let events = match parser.feed(&data) {
            Ok(events) => events,
            Err(_) => break Some("the server sent an event larger than 64 MiB".to_owned()),
        };
        for event in events {
            match serde_json::from_str::<Value>(&event) {
                Ok(message) => context.forward(&message, pending).await,
                Err(_) => eprintln!("sluice mcp: skipped an event that is not JSON"),
            }
        }
    };
    let text =
        broken.unwrap_or_else(|| "the MCP server's event stream ended without an answer".into());
    pending.fail(&context.bridge.output, &text).await;
}

/// A JSON answer written as one line; anything else becomes an error for the request.
async fn whole(context: &Context<'_>, status: StatusCode, body: Incoming, pending: &mut Pending) {
    let body = match collect(body).await {
        Ok(body) => body,
        Err(text) => return pending.fail(&context.bridge.output, &text).await,
    };
    if let Ok(message) = serde_json::from_slice::<Value>(&body) {
        if status.is_success() || is_json_rpc(&message) {
            context.forward(&message, pending).await;
            return pending
                .fail(
                    &context.bridge.output,
                    "the MCP server's answer did not answer the request",
                )
                .await;
        }
    }
    if status.is_success() && body.is_empty() && pending.ids.is_empty() {
        return;
    }
    let quoted: String = String::from_utf8_lossy(&body)
        .chars()
        .take(QUOTED)
        .collect();
    let text = format!(
        "the MCP server answered HTTP {}{}{}",
        status.as_u16(),
        if quoted.trim().is_empty() { "" } else { ": " },
        quoted.trim()
    );
    pending
        .fail(&context.bridge.output, &context.bridge.redact(&text))
        .await;
}

async fn collect(mut body: Incoming) -> Result<Vec<u8>, String> {
    let mut all = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the MCP server's answer: {e}"))?;
        if let Ok(data) = frame.into_data() {
            if all.len() + data.len() > MAX_ANSWER {
                return Err("the MCP server's answer is larger than 64 MiB".to_owned());
            }
            all.extend_from_slice(&data);
        }
    }
    Ok(all)
}

fn is_json_rpc(message: &Value) -> bool {
    match message {
        Value::Object(o) => o.get("jsonrpc").and_then(Value::as_str) == Some("2.0"),
        Value::Array(items) => !items.is_empty() && items.iter().all(is_json_rpc),
        _ => false,
    }
}

impl Bridge {
    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        // A poisoned lock only means another relay panicked mid-update of two strings.
        self.session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Server text quoted to the client never carries the token, even if the server echoed it.
    fn redact(&self, text: &str) -> String {
        let token = self.token.expose();
        if token.is_empty() {
            text.to_owned()
        } else {
            text.replace(token, "[token]")
        }
    }
}

/// The ids of the requests in a message (one, or several in a batch) not yet answered.
struct Pending {
    ids: Vec<Value>,
}

impl Pending {
    fn of(message: &Value) -> Self {
        let request_id = |m: &Value| m.get("method").and(m.get("id")).cloned();
        let ids = match message {
            Value::Array(items) => items.iter().filter_map(request_id).collect(),
            message => request_id(message).into_iter().collect(),
        };
        Pending { ids }
    }

    fn answered(&mut self, message: &Value) {
        let answers = match message {
            Value::Array(items) => items.iter().collect(),
            message => vec![message],
        };
        for answer in answers {
            if answer.get("result").is_some() || answer.get("error").is_some() {
                if let Some(id) = answer.get("id") {
                    self.ids.retain(|pending| pending != id);
                }
            }
        }
    }

    /// An error for every request still unanswered; notifications get none.
    async fn fail(&mut self, out: &Output, text: &str) {
        let ids = std::mem::take(&mut self.ids);
        if !ids.is_empty() {
            // Logged too: a client may show the error only to the model, not to its user.
            eprintln!("sluice mcp: {text}");
        }
        for id in ids {
            out.write(&output::error(id, INTERNAL_ERROR, text)).await;
        }
    }
}
