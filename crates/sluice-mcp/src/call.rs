//! One tool call in flight: run in the task that feeds its response, answered as server-sent
//! events (progress while it runs: a hold's notice the moment it comes, then a reminder every
//! interval; then the result) or, for a client that takes only JSON, as one answer at the end.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Response;
use serde_json::{json, Map, Value};
use sluice_http::EndpointBody;
use tokio::sync::mpsc;

use crate::era::{self, Era};
use crate::exec::Progress;
use crate::jsonrpc::{self, INVALID_PARAMS};
use crate::server::Inner;
use crate::tools;

/// One tool call, owned so that it can run in the task feeding its event stream.
pub(crate) struct ToolCall {
    pub inner: Arc<Inner>,
    pub caller: crate::caller::Caller,
    pub client_name: Option<String>,
    pub era: Era,
    pub id: Value,
    pub name: String,
    pub args: Map<String, Value>,
    pub token: Option<Value>,
}

impl ToolCall {
    pub(crate) async fn run(&self, progress: &mut dyn Progress) -> Value {
        let inner = &self.inner;
        let call = tools::Call {
            gateway: &inner.gateway,
            callers: &inner.callers,
            caller: &self.caller,
            client_name: self.client_name.as_deref(),
            ssh_fingerprint: inner.ssh_fingerprint.as_deref(),
            https_tls: &inner.https_tls,
            postgres_tls: inner.postgres_tls.as_ref(),
            max_rows: inner.settings.max_rows.max(1),
            max_output: inner.settings.max_output_bytes.max(1024),
        };
        match tools::call(&call, &self.name, &self.args, progress).await {
            Ok(result) => jsonrpc::result(&self.id, era::finish(&self.era, "tools/call", result)),
            Err(tools::UnknownTool(why)) => jsonrpc::error(&self.id, INVALID_PARAMS, &why, None),
        }
    }

    /// The answer as server-sent events: progress while the call runs (a hold's notice the
    /// moment it comes, then a reminder every interval), then the result. A client that goes
    /// away ends the call, which closes its connection to the listener: a held statement's
    /// review is cancelled, a running one interrupted, as for any client.
    pub(crate) fn streamed(self) -> Response<EndpointBody> {
        let (events, body) = sluice_http::streamed_body();
        let interval = Duration::from_secs(self.inner.settings.progress_interval_seconds.max(1));
        tokio::spawn(async move {
            let (said, mut heard) = mpsc::unbounded_channel();
            let mut progress = Said(said);
            let run = self.run(&mut progress);
            tokio::pin!(run);
            let mut ticks =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            let mut count = 0u64;
            let mut last = "running".to_owned();
            loop {
                let event = tokio::select! {
                    result = &mut run => {
                        let _ = events.send(Ok(sse(&result))).await;
                        return;
                    }
                    Some(message) = heard.recv() => {
                        last = message;
                        count += 1;
                        self.progress(count, &last)
                    }
                    _ = ticks.tick() => {
                        count += 1;
                        self.progress(count, &format!("still waiting: {last}"))
                    }
                    _ = events.closed() => return,
                };
                if events.send(Ok(event)).await.is_err() {
                    return;
                }
            }
        });
        let mut response = Response::new(body);
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        response
            .headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-cache"));
        response
    }

    /// A progress notification when the client asked for them, else an SSE comment that keeps
    /// the stream (and proxies on the way) awake.
    fn progress(&self, count: u64, message: &str) -> Bytes {
        match &self.token {
            Some(token) => sse(&jsonrpc::notification(
                "notifications/progress",
                json!({"progressToken": token, "progress": count, "message": message}),
            )),
            None => Bytes::from(": waiting\n\n"),
        }
    }
}

fn sse(message: &Value) -> Bytes {
    Bytes::from(format!("event: message\ndata: {message}\n\n"))
}

/// Progress for a call answered as plain JSON: nothing can be said before the result.
pub(crate) struct Quiet;

impl Progress for Quiet {
    fn say(&mut self, _message: &str) {}
}

struct Said(mpsc::UnboundedSender<String>);

impl Progress for Said {
    fn say(&mut self, message: &str) {
        let _ = self.0.send(message.to_owned());
    }
}
