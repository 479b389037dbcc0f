//! `pods/NAME/log`: a few fixed lines (with an email address and a card-like number for
//! masking tests), and with `follow=true` one more line every 200 ms up to 50 lines.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::json;

use super::api::{full, status_error, streaming, Body, Query};
use super::State;

pub const LINES: &[&str] = &[
    "starting web on :8080",
    "user signed in: alice@example.com",
    "charged card 4111 1111 1111 1111 for order 42",
    "ready to serve requests",
];

/// How many lines a followed log sends in all before it ends.
pub const FOLLOW_LIMIT: usize = 50;

pub fn logs(state: &Arc<State>, q: &Query, ns: &str, name: &str) -> Response<Body> {
    let Some(pod) = state.store.get("pods", ns, name) else {
        return status_error(
            404,
            "NotFound",
            &format!("pods \"{name}\" not found"),
            Some(json!({"name": name, "kind": "pods"})),
        );
    };
    if let Some(container) = q.get("container") {
        let known = pod["spec"]["containers"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["name"] == container));
        if !known {
            return status_error(
                400,
                "BadRequest",
                &format!("container {container} is not valid for pod {name}"),
                None,
            );
        }
    }
    let text_response = |body| {
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/plain")
            .body(body)
            .unwrap()
    };
    let mut lines: Vec<String> = LINES.iter().map(|l| (*l).to_owned()).collect();
    if let Some(tail) = q.get("tailLines").and_then(|t| t.parse::<usize>().ok()) {
        lines.drain(..lines.len().saturating_sub(tail));
    }
    if !q.flag("follow") {
        let mut text = lines.join("\n");
        text.push('\n');
        return text_response(full(text));
    }
    let (tx, body) = streaming();
    let guard = state.stream_guard();
    tokio::spawn(async move {
        let _guard = guard;
        let mut sent = 0;
        for line in lines {
            if tx.send(Bytes::from(format!("{line}\n"))).await.is_err() {
                return;
            }
            sent += 1;
        }
        let mut tick = 0;
        while sent < FOLLOW_LIMIT {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = tx.closed() => return,
            }
            tick += 1;
            if tx
                .send(Bytes::from(format!("heartbeat {tick}\n")))
                .await
                .is_err()
            {
                return;
            }
            sent += 1;
        }
    });
    text_response(body)
}
