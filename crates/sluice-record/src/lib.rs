//! Session recordings for the sluice gateway: one documented, versioned
//! format, written while a session runs, stored, read back and rendered for
//! replay.
//!
//! # The format
//!
//! A recording is a file of JSON lines (UTF-8, one object per line, each
//! ending with `\n`), one file per session. Every line has a `"type"`. The
//! first line is the `header`, naming the format (`"sluice-recording"`), its
//! version and the session and its `kind`; the last is `end`. `t` is seconds
//! since the session started; `n` numbers a statement or request, and the
//! lines about it carry the same `n`.
//!
//! - `"kind":"sql"` (PostgreSQL, MySQL; `protocol` is the dialect):
//!   `statement`, `columns`, `rows`, `complete`, `error`, `notice`. Written as
//!   version 1, byte for byte what earlier builds wrote.
//! - `"kind":"terminal"` (SSH): `request` lines (`shell`, `exec`) and
//!   `terminal` lines, each an asciicast v2 event (`o`, `i`, `r`, `m`); the
//!   header carries `width`, `height`, `term` and `command`, so the recording
//!   converts to an asciicast v2 file without loss ([`to_asciicast`]).
//! - `"kind":"http"`: a `request` and an `http` line (method, host, path,
//!   kept headers, status, body sizes and excerpts, duration) per exchange.
//! - `"kind":"file"` (SFTP, SCP): a `request` and a `file` line (operation,
//!   path, target, bytes, outcome) per operation.
//! - Every kind: `truncated` where a cap cut the recording, `end`.
//!
//! ```text
//! {"type":"header","format":"sluice-recording","version":1,"session":"s_1","kind":"sql","identity":"ada","target":"shop","database":"shop","protocol":"postgres","client_addr":"127.0.0.1:50000","started_at":"2025-01-02T03:04:05.678Z"}
//! {"type":"statement","n":1,"t":0.25,"text":"SELECT id, name FROM users","decision":{"verdict":"allow","rule":"allow_reads","policy":"v1"}}
//! {"type":"columns","n":1,"columns":[{"name":"id","type_oid":23},{"name":"name","type_oid":25}]}
//! {"type":"rows","n":1,"rows":[["1","ada"],[null,"x"]]}
//! {"type":"complete","n":1,"t":0.251,"tag":"SELECT 2","duration_us":812}
//! {"type":"end","t":3.5,"reason":"client terminated the session","statements":1}
//! ```
//!
//! ```text
//! {"type":"header","format":"sluice-recording","version":2,"session":"s_2","kind":"terminal","identity":"ada","target":"web-1","database":"deploy","protocol":"ssh","client_addr":"127.0.0.1:50022","started_at":"2025-01-02T03:04:05.678Z","width":80,"height":24,"term":"xterm-256color","command":null}
//! {"type":"request","n":1,"t":0.1,"action":"shell","text":"","decision":{"verdict":"allow","rule":"ops_shell","policy":"v3"}}
//! {"type":"terminal","n":1,"t":0.5,"event":"o","data":"$ ls\r\n"}
//! {"type":"end","t":9.5,"reason":"client closed the connection","statements":1}
//! ```
//!
//! The reader ([`parse`]) reads versions 1 and 2 (a version 1 recording
//! exactly as before) and refuses a newer version with an error naming it.
//! `FORMAT.md` beside this crate's `Cargo.toml` is the full specification:
//! every kind, line type and field, the changes from version 1, the caps,
//! and how readers treat unknown types, a torn last line and a missing
//! `end`.
//!
//! # The parts
//!
//! - [`Recorder`] (`recorder.rs`; the terminal, HTTP and file methods in
//!   `recorder_kinds.rs`): encodes a session into lines in memory: sync,
//!   cheap, no I/O; keeps the running SHA-256 and byte count that end up in
//!   [`Digest`] and applies the [`Limits`] (row cap per statement, byte cap
//!   per session, whatever the kind), writing one `truncated` line per cap
//!   hit.
//! - `kinds.rs`: the typed content of the version 2 lines ([`TerminalHeader`],
//!   [`HttpExchange`], [`FileOp`], ...), shared by writer and reader.
//! - [`RecordingStore`] (`store.rs`): where the bytes go. [`FileStore`] keeps
//!   `<dir>/<session>.jsonl`; [`delete_older_than`] is retention.
//!   With the `object-store` feature (on by default), `ObjectStoreArchive` (`archive.rs`) spools to a
//!   [`FileStore`] and uploads finished recordings to an object store.
//! - [`parse`] (`read.rs`, `read_kinds.rs`): bytes back into a
//!   [`Recording`] of statements, [`Request`]s, terminal events and
//!   session-level events.
//! - [`render`], [`render_psql`], [`replay_timed`], [`search`] (`render.rs`,
//!   `render_kinds.rs`, `render_mysql.rs`): the session as its user saw it
//!   (psql's output or mysql's, the terminal's, an access log, a file
//!   operation log), timed chunks for a replay, statements and requests by
//!   text.
//! - [`to_asciicast`] (`asciicast.rs`): a terminal recording as asciicast v2.
//! - `json.rs`: the hand-written line encoder the recorder uses.
//! - [`RecordError`] (`error.rs`): the one error type.
//!
//! This crate depends on no other sluice crate.

#[cfg(feature = "object-store")]
mod archive;
mod asciicast;
mod error;
mod json;
mod kinds;
mod read;
mod read_kinds;
mod recorder;
mod recorder_kinds;
mod render;
mod render_kinds;
mod render_mysql;
mod store;

use std::time::SystemTime;

#[cfg(feature = "object-store")]
pub use archive::{ObjectStoreArchive, S3Config};
pub use asciicast::to_asciicast;
pub use error::RecordError;
pub use kinds::{Body, FileOp, HttpExchange, TerminalEvent, TerminalHeader, BODY_EXCERPT_BYTES};
pub use read::{
    parse, Column, Completion, End, Event, Item, Message, Recording, ResultSet, Statement,
    Truncation,
};
pub use read_kinds::Request;
pub use recorder::{
    CapHit, Digest, Limits, RecordedDecision, Recorder, ROWS_LINE_BYTES, ROWS_PER_LINE,
};
pub use render::{render, render_psql, replay_timed, search};
pub use store::{
    delete_older_than, validate_session, FileStore, RecordingInfo, RecordingStore, MAX_SESSION_ID,
};

/// The `format` every recording's header names.
pub const FORMAT_NAME: &str = "sluice-recording";
/// The newest format version this build writes and reads. Recordings of
/// kind `sql` are still written as version 1 ([`version_for_kind`]).
pub const FORMAT_VERSION: u32 = 2;

/// `kind` of a SQL session recording (PostgreSQL, MySQL: the header's
/// `protocol` says which).
pub const KIND_SQL: &str = "sql";
/// `kind` of a terminal (SSH shell or command) recording, asciicast v2
/// compatible.
pub const KIND_TERMINAL: &str = "terminal";
/// `kind` of an HTTP session recording: one exchange per request.
pub const KIND_HTTP: &str = "http";
/// `kind` of a file transfer (SFTP, SCP) recording: one line per operation.
pub const KIND_FILE: &str = "file";

/// The format version a recording of `kind` is written in: 1 for `sql`,
/// whose lines version 1 already describes completely (so its recordings
/// stay byte for byte what they were, and readable by builds that know only
/// version 1), and [`FORMAT_VERSION`] for every other kind.
pub fn version_for_kind(kind: &str) -> u32 {
    if kind == KIND_SQL || kind.is_empty() {
        1
    } else {
        FORMAT_VERSION
    }
}

/// The session a recording is of: its header line.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Header {
    /// The session id (also the recording's name in a store).
    pub session: String,
    /// The identity that authenticated.
    pub identity: String,
    /// The gateway target.
    pub target: String,
    /// The database of a SQL session; the account on the host of a terminal
    /// or file session; empty for HTTP.
    pub database: String,
    /// The wire protocol: `postgres`, `mysql`, `ssh`, `sftp`, `scp`,
    /// `http`, `https`. For SQL it is the dialect.
    pub protocol: String,
    /// The client's address, `ip:port`.
    pub client_addr: String,
    /// When the session started: RFC 3339, UTC, milliseconds
    /// ([`format_started_at`]).
    pub started_at: String,
    /// [`KIND_SQL`], [`KIND_TERMINAL`], [`KIND_HTTP`] or [`KIND_FILE`].
    pub kind: String,
}

/// A time as the header's `started_at` has it: RFC 3339 in UTC with
/// milliseconds, `2025-01-02T03:04:05.678Z`.
pub fn format_started_at(at: SystemTime) -> String {
    let at = time::OffsetDateTime::from(at).to_offset(time::UtcOffset::UTC);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.format(&format).unwrap_or_default()
}
