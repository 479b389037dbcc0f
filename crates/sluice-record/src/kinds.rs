//! The typed content of the version 2 line kinds (terminal, HTTP, file), one
//! definition shared by the writer and the reader so the two cannot drift.

use serde::{Deserialize, Serialize};

/// A terminal session's screen, from the header of a `terminal` recording:
/// the fields asciicast v2 puts in its own header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalHeader {
    /// Columns of the pseudo-terminal the client asked for.
    pub width: u16,
    /// Rows of the pseudo-terminal.
    pub height: u16,
    /// The client's `TERM` (`xterm-256color`); empty when it sent none.
    #[serde(default)]
    pub term: String,
    /// The command the client asked to run (SSH `exec`); `None` for an
    /// interactive shell.
    #[serde(default)]
    pub command: Option<String>,
}

/// One asciicast v2 event of a terminal recording (a `terminal` line).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TerminalEvent {
    /// The request (SSH channel) the event belongs to, if any.
    pub n: Option<u64>,
    /// Seconds since the session started.
    pub t: f64,
    /// asciicast's event code: `o` output, `i` input, `r` resize, `m` marker.
    pub code: String,
    /// Output or input text, `COLSxROWS` for a resize, a marker's label.
    pub data: String,
}

/// A message body as the recording keeps it: its size and an excerpt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// The body's full size in bytes, recorded or not.
    pub bytes: u64,
    /// The start of the body as text, as the client saw it (masked when
    /// policy masked it); empty for a binary or absent body.
    #[serde(default)]
    pub excerpt: String,
    /// Whether `excerpt` is shorter than the body.
    #[serde(default)]
    pub truncated: bool,
    /// Whether masking changed the excerpt.
    #[serde(default)]
    pub masked: bool,
}

/// One HTTP request and its response (an `http` line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpExchange {
    pub method: String,
    /// The `Host` (authority) the request was for.
    pub host: String,
    /// The request target: path and query string.
    pub path: String,
    /// The status the client received; `None` when it received no response
    /// (the connection broke first).
    #[serde(default)]
    pub status: Option<u16>,
    /// The request headers the gateway chose to keep, in order, as
    /// `(name, value)`; names lowercase.
    #[serde(default)]
    pub request_headers: Vec<(String, String)>,
    /// The response headers the gateway chose to keep.
    #[serde(default)]
    pub response_headers: Vec<(String, String)>,
    #[serde(default)]
    pub request_body: Body,
    #[serde(default)]
    pub response_body: Body,
    /// From the request's first byte to the response's last, in microseconds.
    #[serde(default)]
    pub duration_us: u64,
}

/// One file operation of an SFTP or SCP session (a `file` line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOp {
    /// `read`, `write`, `create`, `remove`, `rename`, `mkdir`, `rmdir`,
    /// `list`, `stat`, `setstat` or `symlink`.
    pub op: String,
    pub path: String,
    /// The new name of a `rename`, the link's target of a `symlink`.
    #[serde(default)]
    pub target: Option<String>,
    /// Bytes transferred by a `read` or `write`.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// `ok`, `denied` (refused by policy) or `error`.
    pub outcome: String,
    /// The server's (or gateway's) message when the outcome is not `ok`.
    #[serde(default)]
    pub message: String,
}

/// The most of a body excerpt a recording keeps; a longer excerpt is cut (at
/// a character boundary) and marked truncated.
pub const BODY_EXCERPT_BYTES: usize = 4096;
