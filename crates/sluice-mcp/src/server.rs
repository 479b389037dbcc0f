//! The MCP endpoint on the HTTPS listener: one JSON-RPC message per POST, answered as JSON, or
//! for a tool call as server-sent events so that a held call's notice and the reminders that it
//! still waits reach the client before the result. Errors are JSON-RPC errors with the HTTP
//! status the transport gives them, and nothing one request does upsets the next.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE, HOST, ORIGIN};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use sluice_core::config::McpSettings;
use sluice_core::Gateway;
use sluice_http::{Endpoint, EndpointBody, EndpointFuture};

use crate::call::{Quiet, ToolCall};
use crate::caller::{Callers, Refused};
use crate::era::{self, Era, Headers};
use crate::jsonrpc::{
    self, Message, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND,
};
use crate::sessions::{Opened, Sessions};
use crate::tools;
use crate::McpError;

const PATH: &str = "/mcp";
const SESSION_HEADER: &str = "mcp-session-id";
/// Handshake-era sessions kept at most.
const MAX_SESSIONS: usize = 10_000;

/// The endpoint, mounted on the HTTPS listener with `HttpServer::with_endpoint`.
pub struct McpServer {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub gateway: Gateway,
    pub settings: McpSettings,
    pub callers: Callers,
    sessions: Sessions,
    pub ssh_fingerprint: Option<String>,
    pub https_tls: Arc<rustls::ClientConfig>,
    pub postgres_tls: Option<Arc<rustls::ClientConfig>>,
}

impl McpServer {
    /// `ssh_fingerprint` is the SSH listener's host key (pinned by SSH tool calls), when the
    /// gateway runs one.
    pub fn new(gateway: Gateway, ssh_fingerprint: Option<String>) -> Result<McpServer, McpError> {
        let config = gateway.config();
        let http = config.http.clone().unwrap_or_default();
        let https_tls = sluice_net::tls::own_listener_client_config(
            (http.tls_cert.as_deref(), http.tls_key.as_deref()),
            &config.gateway.data_dir,
            &[b"http/1.1"],
        )
        .map_err(|e| McpError::Tls(e.to_string()))?;
        // Plaintext on loopback otherwise: SCRAM keeps the credential off the wire anyway.
        let postgres = &config.postgres;
        let postgres_tls = if postgres.require_tls {
            Some(
                sluice_net::tls::own_listener_client_config(
                    (postgres.tls_cert.as_deref(), postgres.tls_key.as_deref()),
                    &config.gateway.data_dir,
                    &[],
                )
                .map_err(|e| McpError::Tls(e.to_string()))?,
            )
        } else {
            None
        };
        Ok(McpServer {
            inner: Arc::new(Inner {
                sessions: Sessions::new(
                    Duration::from_secs(http.mcp.session_idle_seconds.max(1)),
                    MAX_SESSIONS,
                ),
                settings: http.mcp,
                callers: Callers::default(),
                ssh_fingerprint,
                https_tls,
                postgres_tls,
                gateway,
            }),
        })
    }
}

impl Endpoint for McpServer {
    fn path(&self) -> &'static str {
        PATH
    }

    fn serve(&self, request: Request<Incoming>, peer: SocketAddr) -> EndpointFuture {
        let inner = self.inner.clone();
        Box::pin(async move { inner.handle(request, peer).await })
    }
}

fn full(status: StatusCode, body: impl Into<Bytes>, content_type: &str) -> Response<EndpointBody> {
    let mut response = Response::new(sluice_http::full_body(body));
    *response.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(CONTENT_TYPE, v);
    }
    response
}

fn json_response(status: StatusCode, value: &Value) -> Response<EndpointBody> {
    full(status, value.to_string(), "application/json")
}

/// A JSON-RPC error with the HTTP status the transport maps its code to.
fn error_response(
    id: &Value,
    code: i64,
    message: &str,
    data: Option<Value>,
) -> Response<EndpointBody> {
    let status = match code {
        jsonrpc::PARSE_ERROR
        | INVALID_REQUEST
        | INVALID_PARAMS
        | jsonrpc::HEADER_MISMATCH
        | jsonrpc::UNSUPPORTED_PROTOCOL_VERSION => StatusCode::BAD_REQUEST,
        METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    };
    json_response(status, &jsonrpc::error(id, code, message, data))
}

fn empty(status: StatusCode) -> Response<EndpointBody> {
    full(status, Bytes::new(), "text/plain")
}

fn header<'a>(request: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

impl Inner {
    async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<EndpointBody> {
        if !self.settings.enabled {
            return full(
                StatusCode::NOT_FOUND,
                "sluice: the MCP endpoint is disabled\n",
                "text/plain",
            );
        }
        let host = header(&request, HOST.as_str())
            .map(str::to_owned)
            .or_else(|| request.uri().authority().map(|a| a.to_string()));
        if !sluice_http::same_origin(header(&request, ORIGIN.as_str()), host.as_deref(), "https") {
            // A web page elsewhere must not drive a signed-in agent's tools (DNS rebinding).
            return error_response(
                &Value::Null,
                INVALID_REQUEST,
                "cross-origin requests are refused",
                None,
            )
            .tap_status(StatusCode::FORBIDDEN);
        }
        let Some(bearer) = sluice_http::bearer(request.headers()).map(str::to_owned) else {
            let mut response = json_response(
                StatusCode::UNAUTHORIZED,
                &jsonrpc::error(
                    &Value::Null,
                    INVALID_REQUEST,
                    "send a sluice per-task token (or a sluice or identity-provider credential) as \
                     `Authorization: Bearer TOKEN`",
                    None,
                ),
            );
            response.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Bearer realm=\"sluice\""),
            );
            return response;
        };
        match *request.method() {
            Method::POST => self.post(request, bearer, peer).await,
            Method::DELETE => {
                let closed = header(&request, SESSION_HEADER)
                    .is_some_and(|id| self.sessions.close(id, &bearer));
                empty(if closed {
                    StatusCode::OK
                } else {
                    StatusCode::NOT_FOUND
                })
            }
            _ => {
                // No server-initiated stream: this server sends nothing unasked.
                let mut response = empty(StatusCode::METHOD_NOT_ALLOWED);
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("POST, DELETE"));
                response
            }
        }
    }

    async fn post(
        self: Arc<Self>,
        request: Request<Incoming>,
        bearer: String,
        peer: SocketAddr,
    ) -> Response<EndpointBody> {
        let content_type = header(&request, CONTENT_TYPE.as_str()).unwrap_or_default();
        if !content_type
            .split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        {
            return error_response(
                &Value::Null,
                INVALID_REQUEST,
                "the body must be application/json",
                None,
            )
            .tap_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
        let accept = header(&request, ACCEPT.as_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let sse = accept.contains("text/event-stream") || accept.contains("*/*");
        let headers = Headers {
            version: header(&request, "mcp-protocol-version").map(str::to_owned),
            method: header(&request, "mcp-method").map(str::to_owned),
            name: header(&request, "mcp-name").map(str::to_owned),
        };
        let session_id = header(&request, SESSION_HEADER).map(str::to_owned);
        let limit = self.settings.max_message_bytes;
        let body = match read_body(request.into_body(), limit).await {
            Ok(body) => body,
            Err(Oversized::Drained) => {
                return error_response(
                    &Value::Null,
                    INVALID_REQUEST,
                    &format!("the message is longer than {limit} bytes"),
                    None,
                )
                .tap_status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            Err(Oversized::Broken) => return empty(StatusCode::BAD_REQUEST),
        };
        let (id, method, params) = match jsonrpc::parse(&body) {
            Ok(Message::Request { id, method, params }) => (id, method, params),
            // Notifications (initialized, cancelled) and responses need no answer.
            Ok(Message::Notification | Message::Response) => return empty(StatusCode::ACCEPTED),
            Err(e) => return error_response(&e.id, e.code, &e.message, None),
        };
        let caller = match self
            .callers
            .authenticate(&self.gateway, &bearer, &peer.to_string())
            .await
        {
            Ok(caller) => caller,
            Err(Refused::Unauthorized(why)) => {
                tracing::debug!(%peer, %why, "mcp: bearer refused");
                return error_response(&id, INVALID_REQUEST, &why, None)
                    .tap_status(StatusCode::UNAUTHORIZED);
            }
            Err(Refused::Throttled(why)) => {
                return error_response(&id, INVALID_REQUEST, &why, None)
                    .tap_status(StatusCode::TOO_MANY_REQUESTS)
            }
            Err(Refused::Unavailable(why)) => {
                return error_response(&id, INTERNAL_ERROR, &why, None)
                    .tap_status(StatusCode::SERVICE_UNAVAILABLE)
            }
        };
        // Which era, and for the handshake era which session.
        let (era, client_name) = match era::modern_envelope(&method, &params, &headers) {
            Err(misfit) => {
                return error_response(&id, misfit.code, &misfit.message, misfit.data)
                    .tap_status(StatusCode::from_u16(misfit.status).unwrap_or(StatusCode::BAD_REQUEST))
            }
            Ok(Some(client)) => (Era::Modern, client),
            Ok(None) if method == "initialize" => {
                let requested = params.get("protocolVersion").and_then(Value::as_str);
                let version = era::negotiate(requested);
                let client_name = params
                    .get("clientInfo")
                    .and_then(|c| c.get("name"))
                    .and_then(Value::as_str)
                    .map(|n| n.chars().take(60).collect());
                let session = self.sessions.open(
                    &bearer,
                    Opened {
                        version: version.to_owned(),
                        client_name,
                    },
                );
                let mut response =
                    json_response(StatusCode::OK, &jsonrpc::result(&id, era::initialize_result(version)));
                if let Ok(v) = HeaderValue::from_str(&session) {
                    response.headers_mut().insert(SESSION_HEADER, v);
                }
                return response;
            }
            Ok(None) if method == "server/discover" => {
                return json_response(StatusCode::OK, &jsonrpc::result(&id, era::discover_result()))
            }
            Ok(None) => match session_id {
                None => {
                    return error_response(
                        &id,
                        INVALID_REQUEST,
                        "no Mcp-Session-Id: send initialize first (or a 2026-07-28 request with its _meta)",
                        None,
                    )
                }
                Some(sid) => match self.sessions.get(&sid, &bearer) {
                    Some(opened) => (Era::Handshake(opened.version), opened.client_name),
                    None => {
                        return error_response(&id, INVALID_REQUEST, "the session has ended: initialize again", None)
                            .tap_status(StatusCode::NOT_FOUND)
                    }
                },
            },
        };
        match method.as_str() {
            "ping" => json_response(
                StatusCode::OK,
                &jsonrpc::result(&id, era::finish(&era, &method, json!({}))),
            ),
            "server/discover" => json_response(
                StatusCode::OK,
                &jsonrpc::result(&id, era::discover_result()),
            ),
            "initialize" => error_response(
                &id,
                INVALID_REQUEST,
                "initialize belongs to the handshake era, without _meta",
                None,
            ),
            "tools/list" => {
                let list = tools::list(&self.gateway, &caller.view, self.settings.max_rows);
                json_response(
                    StatusCode::OK,
                    &jsonrpc::result(&id, era::finish(&era, &method, list)),
                )
            }
            "tools/call" => {
                let Some(name) = params
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                else {
                    return error_response(
                        &id,
                        INVALID_PARAMS,
                        "tools/call needs the tool's name",
                        None,
                    );
                };
                if tools::resolve(&self.gateway, &caller.view, &name).is_none() {
                    return error_response(
                        &id,
                        INVALID_PARAMS,
                        &format!(
                            "there is no tool {name:?} for this credential (tools/list names them)"
                        ),
                        None,
                    );
                }
                let args = match params.get("arguments") {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(a)) => a.clone(),
                    Some(_) => {
                        return error_response(
                            &id,
                            INVALID_PARAMS,
                            "arguments must be an object",
                            None,
                        )
                    }
                };
                let token = params
                    .get("_meta")
                    .and_then(|m| m.get("progressToken"))
                    .filter(|t| t.is_string() || t.is_i64() || t.is_u64())
                    .cloned();
                let call = ToolCall {
                    inner: self.clone(),
                    caller,
                    client_name,
                    era,
                    id,
                    name,
                    args,
                    token,
                };
                if sse {
                    call.streamed()
                } else {
                    let response = call.run(&mut Quiet).await;
                    json_response(StatusCode::OK, &response)
                }
            }
            _ => error_response(
                &id,
                METHOD_NOT_FOUND,
                &format!("method {method:?} is not served here"),
                None,
            ),
        }
    }
}

/// Why a body was not read.
enum Oversized {
    /// Longer than the limit; the rest was read and dropped, so that the client, still
    /// sending, gets the answer rather than a closed connection.
    Drained,
    /// The body broke off, or went on past what is worth draining.
    Broken,
}

/// Bytes drained of an oversized body before the connection is given up instead.
const MAX_DRAIN: usize = 16 * 1024 * 1024;

async fn read_body(mut body: Incoming, limit: usize) -> Result<Bytes, Oversized> {
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Oversized::Broken)?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > limit.saturating_add(MAX_DRAIN) {
            return Err(Oversized::Broken);
        }
        if seen <= limit {
            kept.extend_from_slice(data);
        }
    }
    if seen > limit {
        return Err(Oversized::Drained);
    }
    Ok(Bytes::from(kept))
}

trait TapStatus {
    fn tap_status(self, status: StatusCode) -> Self;
}

impl TapStatus for Response<EndpointBody> {
    fn tap_status(mut self, status: StatusCode) -> Self {
        *self.status_mut() = status;
        self
    }
}
