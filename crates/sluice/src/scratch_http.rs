//! A throwaway HTTP service in this process, for `sluice demo`, the tests and the benchmarks:
//! the `kind = "http"` target behind the HTTPS gateway. Plain HTTP on a free loopback port,
//! HTTP/1.1 with keep-alive and HTTP/2 with prior knowledge on the same port, served by hyper
//! on the tokio runtime that starts it. It stops when the [`ScratchHttp`] is dropped.
//!
//! Endpoints (JSON unless said):
//! - `GET /hello`: `{"hello":"world"}`, the benchmark's request. It does no work beyond the
//!   answer: it is counted ([`ScratchHttp::hello_count`]) but not kept in
//!   [`ScratchHttp::requests`], so that the server costs both legs of the benchmark as little
//!   as it can.
//! - `GET /customers`: three customers with an email address, a phone number, a (Luhn-valid
//!   test) card number, an SSN and notes with another email address in them, for masking.
//!   `GET /customers/{id}`: one of them (404 if there is none); `DELETE /customers/{id}`: 204,
//!   and nothing is deleted; `POST /customers`: the JSON object sent, with an `id`, 201.
//! - `/echo` and `/echo/...`, any method: the method, path, query, every header as it arrived
//!   and the body as text, so that a test sees what the gateway sent on, and what it did not.
//! - `GET /events`: `text/event-stream`, `data: {"n":N}` for N = 1..=count, 100 ms apart, each
//!   event written as it is made, then the end (`?count=` up to 1000, default 20;
//!   `?interval_ms=` up to 10000). `GET /stream`: chunked `text/plain`, 10 lines 50 ms apart,
//!   the fifth with an email address in it (same `count` and `interval_ms`).
//! - `GET /big?kib=N`: a JSON document of exactly N KiB (N up to 65536, default 1024, at least
//!   the 10 bytes of `{"pad":""}`), with a Content-Length, for body-cap tests.
//! - `GET /status/{code}`: that status (200 to 599) with `{"status":code}` (no body where the
//!   status has none).
//! - `/admin` and `/admin/...`, any method: 200 `{"admin":true}`, a path the example policy
//!   denies, so that reaching it shows that the gateway let it through.
//! - anything else: 404 `{"error":"not found"}`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

/// How many requests [`ScratchHttp::requests`] keeps: the last ones.
pub const KEPT_REQUESTS: usize = 1000;
/// The most of a request body that is read into memory (for `/echo` and `POST /customers`);
/// the rest is counted and dropped.
const BODY_KEPT: usize = 16 * 1024 * 1024;
const MAX_EVENTS: u64 = 1000;
const MAX_INTERVAL_MS: u64 = 10_000;
const MAX_BIG_KIB: u64 = 64 * 1024;
const HELLO: &[u8] = br#"{"hello":"world"}"#;
/// What `/big` pads with, sent in slices of this.
static FILL: [u8; 64 * 1024] = [b'a'; 64 * 1024];

/// One request as the service received it (any but `GET /hello`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    /// The path and the query, as sent: `/customers?limit=2`.
    pub path: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Every header, in the order received, names in lower case (authorization included).
    pub headers: Vec<(String, String)>,
    /// The request body's length in bytes.
    pub body_len: u64,
}

impl SeenRequest {
    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of the header `name` (any case), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The running service. Dropping it closes the listener and every connection.
pub struct ScratchHttp {
    port: u16,
    state: Arc<State>,
    server: JoinHandle<()>,
}

struct State {
    seen: Mutex<VecDeque<SeenRequest>>,
    hellos: AtomicU64,
    next_customer: AtomicU64,
}

impl ScratchHttp {
    /// Listens on a free port of 127.0.0.1 and serves on the current tokio runtime; it accepts
    /// connections once this returns.
    pub async fn start() -> io::Result<ScratchHttp> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(State {
            seen: Mutex::new(VecDeque::with_capacity(64)),
            hellos: AtomicU64::new(0),
            next_customer: AtomicU64::new(CUSTOMERS.len() as u64 + 1),
        });
        let server = tokio::spawn(serve(listener, state.clone()));
        Ok(ScratchHttp {
            port,
            state,
            server,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests received so far, oldest first: the last [`KEPT_REQUESTS`] of them, all but
    /// `GET /hello` (see [`ScratchHttp::hello_count`]).
    pub fn requests(&self) -> Vec<SeenRequest> {
        lock(&self.state.seen).iter().cloned().collect()
    }

    /// How many `GET /hello` requests were answered.
    pub fn hello_count(&self) -> u64 {
        self.state.hellos.load(Ordering::Relaxed)
    }
}

impl Drop for ScratchHttp {
    fn drop(&mut self) {
        // The accept loop owns the listener and, in its JoinSet, every connection's task:
        // cancelling it drops them all.
        self.server.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding it leaves the list usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // With a timer hyper keeps its header-read deadline, so an idle half-request cannot hold
    // a connection forever.
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors, say: wait rather than spin.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                // Small answers go out at once: the benchmark's latency is the gateway's.
                let _ = stream.set_nodelay(true);
                let builder = builder.clone();
                let state = state.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    // A client that goes away mid-request is not this server's problem.
                    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Body> {
    // The benchmark's request, before anything else is looked at or allocated.
    if req.uri().path() == "/hello" && req.method() == Method::GET {
        state.hellos.fetch_add(1, Ordering::Relaxed);
        return with_type(
            Response::new(Body::Full(Some(Bytes::from_static(HELLO)))),
            "application/json",
        );
    }
    let (parts, body) = req.into_parts();
    let (body, body_len) = match read_body(body).await {
        Ok(read) => read,
        Err(e) => return json(StatusCode::BAD_REQUEST, json!({"error": e.to_string()})),
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let seen = SeenRequest {
        method: parts.method.as_str().to_owned(),
        path: path_and_query,
        version: format!("{:?}", parts.version),
        headers,
        body_len,
    };
    {
        let mut kept = lock(&state.seen);
        if kept.len() >= KEPT_REQUESTS {
            kept.pop_front();
        }
        kept.push_back(seen.clone());
    }
    route(
        state,
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &seen,
        &body,
    )
}

fn route(
    state: &State,
    method: &Method,
    path: &str,
    query: Option<&str>,
    seen: &SeenRequest,
    body: &[u8],
) -> Response<Body> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::GET, ["customers"]) => json(StatusCode::OK, Value::Array(customers())),
        (&Method::POST, ["customers"]) => create_customer(state, body),
        (&Method::GET, ["customers", id]) => match customer(id) {
            Some(c) => json(StatusCode::OK, c),
            None => not_found(),
        },
        (&Method::DELETE, ["customers", _]) => empty(StatusCode::NO_CONTENT),
        (_, ["echo", ..]) => echo(seen, path, query, body),
        (&Method::GET, ["events"]) => events(query),
        (&Method::GET, ["stream"]) => stream(query),
        (&Method::GET, ["big"]) => big(query),
        (&Method::GET, ["status", code]) => status(code),
        (_, ["admin", ..]) => json(StatusCode::OK, json!({"admin": true})),
        _ => not_found(),
    }
}

/// The body, up to [`BODY_KEPT`] of it, and its full length.
async fn read_body(mut body: Incoming) -> Result<(Vec<u8>, u64), hyper::Error> {
    use hyper::body::Body as _;
    let mut kept = Vec::new();
    let mut len = 0u64;
    if body.is_end_stream() {
        return Ok((kept, len));
    }
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(data) = frame?.into_data() {
            len += data.len() as u64;
            let room = BODY_KEPT.saturating_sub(kept.len());
            kept.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    Ok((kept, len))
}

struct Customer {
    id: u64,
    name: &'static str,
    email: &'static str,
    phone: &'static str,
    card_number: &'static str,
    ssn: &'static str,
    notes: &'static str,
}

/// Test data only: example.com addresses, the card networks' published test numbers
/// (Luhn-valid), SSNs of the kind used in examples.
const CUSTOMERS: [Customer; 3] = [
    Customer {
        id: 1,
        name: "Ada Lovelace",
        email: "ada@example.com",
        phone: "+44 20 7946 0018",
        card_number: "4111 1111 1111 1111",
        ssn: "123-45-6789",
        notes: "Prefers email; her assistant is at charles.babbage@example.org.",
    },
    Customer {
        id: 2,
        name: "Grace Hopper",
        email: "grace@example.com",
        phone: "+1 202 555 0143",
        card_number: "5555 5555 5555 4444",
        ssn: "219-09-9999",
        notes: "Escalations go to grace.h@example.net, not the main address.",
    },
    Customer {
        id: 3,
        name: "Alan Turing",
        email: "alan@example.com",
        phone: "+44 161 496 0753",
        card_number: "6011 1111 1111 1117",
        ssn: "078-05-1120",
        notes: "Met at the conference; follow up with alan.t@example.com next week.",
    },
];

fn customer_json(c: &Customer) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "email": c.email,
        "phone": c.phone,
        "card_number": c.card_number,
        "ssn": c.ssn,
        "notes": c.notes,
    })
}

fn customers() -> Vec<Value> {
    CUSTOMERS.iter().map(customer_json).collect()
}

fn customer(id: &str) -> Option<Value> {
    let id: u64 = id.parse().ok()?;
    CUSTOMERS.iter().find(|c| c.id == id).map(customer_json)
}

fn create_customer(state: &State, body: &[u8]) -> Response<Body> {
    let mut object = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            return json(
                StatusCode::BAD_REQUEST,
                json!({"error": "the body is not a JSON object"}),
            )
        }
        Err(e) => {
            return json(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("the body is not JSON: {e}")}),
            )
        }
    };
    let id = state.next_customer.fetch_add(1, Ordering::Relaxed);
    object.insert("id".into(), id.into());
    let mut response = json(StatusCode::CREATED, Value::Object(object));
    if let Ok(location) = HeaderValue::from_str(&format!("/customers/{id}")) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

fn echo(seen: &SeenRequest, path: &str, query: Option<&str>, body: &[u8]) -> Response<Body> {
    // Repeated headers are joined with ", " here, and listed one by one in `header_list`.
    let mut headers = serde_json::Map::new();
    for (name, value) in &seen.headers {
        match headers.get_mut(name) {
            Some(Value::String(joined)) => {
                joined.push_str(", ");
                joined.push_str(value);
            }
            _ => {
                headers.insert(name.clone(), Value::String(value.clone()));
            }
        }
    }
    let header_list: Vec<Value> = seen.headers.iter().map(|(n, v)| json!([n, v])).collect();
    json(
        StatusCode::OK,
        json!({
            "method": seen.method,
            "path": path,
            "query": query.unwrap_or(""),
            "version": seen.version,
            "headers": headers,
            "header_list": header_list,
            "body": String::from_utf8_lossy(body),
            "body_len": seen.body_len,
        }),
    )
}

/// `NAME=N` from a query string, at most `max`; `default` when absent or not a number.
fn query_u64(query: Option<&str>, name: &str, default: u64, max: u64) -> u64 {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(default)
        .min(max)
}

/// A body made by a task that sends each piece as it is due; it stops when the client goes.
fn paced(count: u64, interval: Duration, piece: impl Fn(u64) -> String + Send + 'static) -> Body {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        for n in 1..=count {
            if n > 1 {
                tokio::time::sleep(interval).await;
            }
            if tx.send(Bytes::from(piece(n))).await.is_err() {
                return;
            }
        }
    });
    Body::Channel(rx)
}

fn events(query: Option<&str>) -> Response<Body> {
    let count = query_u64(query, "count", 20, MAX_EVENTS);
    let interval = query_u64(query, "interval_ms", 100, MAX_INTERVAL_MS);
    let body = paced(count, Duration::from_millis(interval), |n| {
        format!("data: {{\"n\":{n}}}\n\n")
    });
    let mut response = with_type(Response::new(body), "text/event-stream");
    response.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    response
}

fn stream(query: Option<&str>) -> Response<Body> {
    let count = query_u64(query, "count", 10, MAX_EVENTS);
    let interval = query_u64(query, "interval_ms", 50, MAX_INTERVAL_MS);
    let body = paced(count, Duration::from_millis(interval), |n| {
        if n == 5 {
            format!("line {n}: questions to support@example.com\n")
        } else {
            format!("line {n}\n")
        }
    });
    with_type(Response::new(body), "text/plain; charset=utf-8")
}

fn big(query: Option<&str>) -> Response<Body> {
    let kib = query_u64(query, "kib", 1024, MAX_BIG_KIB);
    let head = Bytes::from_static(br#"{"pad":""#);
    let tail = Bytes::from_static(br#""}"#);
    let fill = (kib * 1024).saturating_sub((head.len() + tail.len()) as u64);
    with_type(
        Response::new(Body::Padded {
            head: Some(head),
            fill,
            tail: Some(tail),
        }),
        "application/json",
    )
}

fn status(code: &str) -> Response<Body> {
    let Some(status) = code
        .parse::<u16>()
        .ok()
        .filter(|c| (200..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
    else {
        return json(
            StatusCode::BAD_REQUEST,
            json!({"error": "the status must be a number from 200 to 599"}),
        );
    };
    if status == StatusCode::NO_CONTENT
        || status == StatusCode::RESET_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return empty(status);
    }
    json(status, json!({"status": status.as_u16()}))
}

fn not_found() -> Response<Body> {
    json(StatusCode::NOT_FOUND, json!({"error": "not found"}))
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Full(None));
    *response.status_mut() = status;
    response
}

fn json(status: StatusCode, value: Value) -> Response<Body> {
    // A Value serializes without error (its keys are strings).
    let body = serde_json::to_vec(&value).unwrap_or_default();
    let mut response = with_type(
        Response::new(Body::Full(Some(Bytes::from(body)))),
        "application/json",
    );
    *response.status_mut() = status;
    response
}

fn with_type(mut response: Response<Body>, content_type: &'static str) -> Response<Body> {
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The response bodies: all at once (with a Content-Length), piece by piece as a task makes
/// them (chunked in HTTP/1.1), or `/big`'s padding sent in slices of [`FILL`].
enum Body {
    Full(Option<Bytes>),
    Channel(mpsc::Receiver<Bytes>),
    Padded {
        head: Option<Bytes>,
        fill: u64,
        tail: Option<Bytes>,
    },
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let data = match self.get_mut() {
            Body::Full(bytes) => bytes.take(),
            Body::Channel(rx) => match rx.poll_recv(cx) {
                Poll::Ready(piece) => piece,
                Poll::Pending => return Poll::Pending,
            },
            Body::Padded { head, fill, tail } => {
                if let Some(head) = head.take() {
                    Some(head)
                } else if *fill > 0 {
                    let n = (*fill).min(FILL.len() as u64);
                    *fill -= n;
                    Some(Bytes::from_static(&FILL[..n as usize]))
                } else {
                    tail.take()
                }
            }
        };
        Poll::Ready(data.map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(bytes) => bytes.as_ref().is_none_or(|b| b.is_empty()),
            Body::Channel(_) => false,
            Body::Padded { head, fill, tail } => head.is_none() && *fill == 0 && tail.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Channel(_) => SizeHint::default(),
            Body::Padded { head, fill, tail } => SizeHint::with_exact(
                head.as_ref().map_or(0, |b| b.len() as u64)
                    + fill
                    + tail.as_ref().map_or(0, |b| b.len() as u64),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luhn(number: &str) -> bool {
        let digits: Vec<u32> = number.chars().filter_map(|c| c.to_digit(10)).collect();
        let sum: u32 = digits
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &d)| {
                if i % 2 == 1 {
                    let d = d * 2;
                    if d > 9 {
                        d - 9
                    } else {
                        d
                    }
                } else {
                    d
                }
            })
            .sum();
        digits.len() >= 13 && sum.is_multiple_of(10)
    }

    #[test]
    fn the_card_numbers_pass_luhn_and_the_notes_hold_an_email_address() {
        for c in &CUSTOMERS {
            assert!(luhn(c.card_number), "{}", c.card_number);
            assert!(c.notes.contains("@example."), "{}", c.notes);
            assert_eq!(c.ssn.len(), 11);
        }
        assert!(!luhn("4111 1111 1111 1112"));
    }

    #[test]
    fn queries_are_read_and_bounded() {
        assert_eq!(query_u64(Some("count=5"), "count", 20, 1000), 5);
        assert_eq!(query_u64(Some("a=1&count=5000"), "count", 20, 1000), 1000);
        assert_eq!(query_u64(Some("count=x"), "count", 20, 1000), 20);
        assert_eq!(query_u64(None, "count", 20, 1000), 20);
    }
}
