//! `pods/NAME/portforward`: SPDY/3.1 (`portforward.k8s.io`), plain or tunnelled through a
//! WebSocket (`SPDY/3.1+portforward.k8s.io`, kubectl's default since 1.31). For each local
//! connection kubectl opens an error stream and a data stream sharing a `requestid`; the
//! fixture's "pod port" echoes whatever arrives on the data stream.

use std::collections::HashMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};

use super::api::{full, status_error, Body};
use super::spdy::{self, data_frame, header, Event, Session};
use super::{websocket, State};

pub const WEBSOCKET_PROTOCOLS: &[&str] = &["SPDY/3.1+portforward.k8s.io"];
const SPDY_PROTOCOLS: &[&str] = &["portforward.k8s.io"];

pub fn portforward(
    state: &Arc<State>,
    mut req: Request<Incoming>,
    upgrade: Option<String>,
    ns: &str,
    name: &str,
) -> Response<Body> {
    if state.store.get("pods", ns, name).is_none() {
        return status_error(
            404,
            "NotFound",
            &format!("pods \"{name}\" not found"),
            Some(json!({"name": name, "kind": "pods"})),
        );
    }
    let is_websocket = req
        .headers()
        .get("upgrade")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let guard = state.stream_guard();
    if is_websocket {
        let (Some(protocol), Some(key)) = (upgrade, websocket::key(&req)) else {
            return status_error(
                400,
                "BadRequest",
                "none of the offered WebSocket subprotocols is supported",
                None,
            );
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let _guard = guard;
            if let Ok(io) = on_upgrade.await {
                let pipe = websocket::tunnel(hyper_util::rt::TokioIo::new(io));
                echo(pipe).await;
            }
        });
        return websocket::switching(&key, &protocol);
    }
    if upgrade
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case("SPDY/3.1"))
    {
        let Some(protocol) = spdy::choose(&req, SPDY_PROTOCOLS) else {
            return status_error(
                403,
                "Forbidden",
                "none of the offered stream protocols is supported",
                None,
            );
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let _guard = guard;
            if let Ok(io) = on_upgrade.await {
                echo(hyper_util::rt::TokioIo::new(io)).await;
            }
        });
        return spdy::switching(protocol);
    }
    drop(guard);
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .body(full("Upgrade request required"))
        .unwrap()
}

/// Serves one port-forward session: every data stream echoes; when the client finishes a
/// data stream, it and its error stream are finished too.
async fn echo<IO: AsyncRead + AsyncWrite + Send + 'static>(io: IO) {
    let (r, w) = tokio::io::split(io);
    let (mut session, writer) = Session::new(r, w);
    // data stream -> request id; request id -> error stream
    let mut data_streams: HashMap<u32, String> = HashMap::new();
    let mut error_streams: HashMap<String, u32> = HashMap::new();
    while let Some(event) = session.next().await {
        match event {
            Event::Open {
                stream, headers, ..
            } => {
                let request = header(&headers, "requestid").unwrap_or("").to_owned();
                match header(&headers, "streamtype") {
                    Some("data") => {
                        data_streams.insert(stream, request);
                    }
                    Some("error") => {
                        error_streams.insert(request, stream);
                    }
                    _ => {}
                }
            }
            Event::Data { stream, data, fin } => {
                let Some(request) = data_streams.get(&stream) else {
                    continue;
                };
                if !data.is_empty() {
                    session.send(data_frame(stream, false, &data));
                }
                if fin {
                    session.send(data_frame(stream, true, &[]));
                    if let Some(error) = error_streams.remove(request) {
                        session.send(data_frame(error, true, &[]));
                    }
                    data_streams.remove(&stream);
                }
            }
            Event::Reset { stream } => {
                if let Some(request) = data_streams.remove(&stream) {
                    if let Some(error) = error_streams.remove(&request) {
                        session.send(data_frame(error, true, &[]));
                    }
                }
            }
        }
    }
    drop(session);
    let _ = writer.await;
}
