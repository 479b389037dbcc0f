//! stdout is the protocol: one JSON message per line, whole lines only, flushed at once so a
//! client waiting on a progress notification sees it. Writers from every in-flight request
//! share it through one lock.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

/// JSON-RPC: the message is not JSON (or too long to read).
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: the server could not be reached or did not answer in JSON-RPC.
pub const INTERNAL_ERROR: i64 = -32603;

type Writer = Box<dyn AsyncWrite + Send + Unpin>;

#[derive(Clone)]
pub struct Output(Arc<Mutex<Writer>>);

impl Output {
    pub fn new(writer: impl AsyncWrite + Send + Unpin + 'static) -> Self {
        Output(Arc::new(Mutex::new(Box::new(writer))))
    }

    /// Writes `message` compactly, so that it is one line whatever whitespace the server sent.
    pub async fn write(&self, message: &Value) {
        let mut line = match serde_json::to_vec(message) {
            Ok(line) => line,
            Err(e) => {
                eprintln!("sluice mcp: a message could not be written: {e}");
                return;
            }
        };
        line.push(b'\n');
        let mut writer = self.0.lock().await;
        let written = async {
            writer.write_all(&line).await?;
            writer.flush().await
        };
        // A closed stdout means the client is gone; stdin's end will stop the bridge.
        if let Err(e) = written.await {
            eprintln!("sluice mcp: writing to stdout: {e}");
        }
    }
}

/// A JSON-RPC error response.
pub fn error(id: Value, code: i64, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    })
}
