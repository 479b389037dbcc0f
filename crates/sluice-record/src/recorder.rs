//! [`Recorder`]: encodes a session into recording lines, in memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::json::{push_value, Line};
use crate::{Header, TerminalHeader, FORMAT_NAME};

/// Rows per `rows` line at most.
pub const ROWS_PER_LINE: usize = 100;
/// A `rows` line is closed once it reaches this many bytes (a single larger
/// row still makes one line of its own).
pub const ROWS_LINE_BYTES: usize = 64 * 1024;

/// What the recorder keeps at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rows recorded per statement; the rest are counted out with one
    /// `truncated` (`row_cap`) line.
    pub max_rows_per_statement: u64,
    /// Bytes of recording per session; past it one `truncated`
    /// (`session_cap`) line is written and then only `end`.
    pub max_session_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_rows_per_statement: 10_000,
            max_session_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Whether a call's content was kept out of the recording by a cap.
///
/// A call returns the cap that kept (part of) its content out: the call that
/// hits a cap (and writes its `truncated` line) and every later call whose
/// content that cap drops (`RowCap` for the statement's later rows,
/// `SessionCap` for every call after the session cap). The caller can end the
/// session when policy says so, on the first one it sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapHit {
    /// Everything was recorded.
    None,
    /// The statement's row cap: this row was not recorded.
    RowCap,
    /// The session's byte cap: nothing of this call was recorded, nor will
    /// anything be but the `end` line.
    SessionCap,
}

/// The policy decision recorded with a statement.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordedDecision {
    /// `allow`, `hold` or `deny`.
    pub verdict: String,
    /// The rule that decided.
    pub rule: String,
    /// The policy version that decided.
    pub policy: String,
}

/// What a finished recording was: its SHA-256 over every byte produced (the
/// concatenation of every [`Recorder::take`] and the final bytes of
/// [`Recorder::finish`]), their count, and whether a cap truncated it. This is
/// what the session-end audit record carries, so a stored recording can be
/// checked against the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Bytes in the recording.
    pub bytes: u64,
    /// Whether a row or session cap left something out.
    pub truncated: bool,
}

type Clock = Box<dyn Fn() -> Duration + Send + Sync>;

/// Records one session. Sync, cheap and never blocks on I/O: each call
/// encodes lines into an internal buffer, keeps a running SHA-256 of every
/// byte produced and their count, and applies the [`Limits`] (writing the
/// `truncated` lines). The caller hands [`Recorder::take`]'s bytes to a
/// [`crate::RecordingStore`] when convenient and [`Recorder::finish`]'s at
/// the end.
///
/// Rows are batched: consecutive rows of one statement share a `rows` line of
/// up to [`ROWS_PER_LINE`] rows or [`ROWS_LINE_BYTES`] bytes; any other line,
/// [`Recorder::take`] and [`Recorder::finish`] close the batch first.
pub struct Recorder {
    clock: Clock,
    limits: Limits,
    /// Committed lines not yet taken.
    out: Vec<u8>,
    hasher: Sha256,
    /// Bytes committed (hashed) so far.
    produced: u64,
    /// The open `rows` line: its statement and its bytes so far (without the
    /// closing `]}\n`), and how many rows it holds.
    batch: Option<(u64, Vec<u8>, usize)>,
    /// Rows recorded per statement still open, and whether its cap was hit.
    row_counts: HashMap<u64, (u64, bool)>,
    /// Reused for encoding each row.
    scratch: Vec<u8>,
    session_capped: bool,
    truncated: bool,
    statements: u64,
    /// Per terminal stream (request and event code), the start of a UTF-8
    /// character whose other bytes have not arrived yet.
    pub(crate) utf8_carry: HashMap<(Option<u64>, u8), Vec<u8>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("limits", &self.limits)
            .field("produced", &self.produced)
            .field("pending", &self.out.len())
            .field("session_capped", &self.session_capped)
            .field("truncated", &self.truncated)
            .field("statements", &self.statements)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Starts a recording: takes the start instant for `t` and buffers the
    /// header line (an empty `kind` is written as `sql`). The header's
    /// `version` follows the kind ([`crate::version_for_kind`]): a `sql`
    /// recording is written as version 1, byte for byte as before version 2,
    /// so that builds reading only version 1 still read it; its lines are
    /// the version 1 ones (`request`, `terminal`, `http` and `file` lines in
    /// it would be skipped by readers, as version 1 says).
    pub fn new(header: &Header, limits: Limits) -> Recorder {
        let start = Instant::now();
        Recorder::with_clock(header, limits, move || start.elapsed())
    }

    /// Like [`Recorder::new`], with `clock` giving the time since the session
    /// started (for tests, or to share the session's own start instant).
    pub fn with_clock(
        header: &Header,
        limits: Limits,
        clock: impl Fn() -> Duration + Send + Sync + 'static,
    ) -> Recorder {
        Recorder::start(header, None, limits, Box::new(clock))
    }

    /// Starts the recording of a terminal session: a header of kind
    /// `terminal` carrying the screen asciicast's header needs.
    pub fn new_terminal(header: &Header, terminal: &TerminalHeader, limits: Limits) -> Recorder {
        let start = Instant::now();
        Recorder::terminal_with_clock(header, terminal, limits, move || start.elapsed())
    }

    /// Like [`Recorder::new_terminal`], with the session's clock.
    pub fn terminal_with_clock(
        header: &Header,
        terminal: &TerminalHeader,
        limits: Limits,
        clock: impl Fn() -> Duration + Send + Sync + 'static,
    ) -> Recorder {
        let header = Header {
            kind: crate::KIND_TERMINAL.to_owned(),
            ..header.clone()
        };
        Recorder::start(&header, Some(terminal), limits, Box::new(clock))
    }

    fn start(
        header: &Header,
        terminal: Option<&TerminalHeader>,
        limits: Limits,
        clock: Clock,
    ) -> Recorder {
        let mut recorder = Recorder {
            clock,
            limits,
            out: Vec::with_capacity(4096),
            hasher: Sha256::new(),
            produced: 0,
            batch: None,
            row_counts: HashMap::new(),
            scratch: Vec::new(),
            session_capped: false,
            truncated: false,
            statements: 0,
            utf8_carry: HashMap::new(),
        };
        let kind = if header.kind.is_empty() {
            crate::KIND_SQL
        } else {
            &header.kind
        };
        let mut line = Line::new("header")
            .str("format", FORMAT_NAME)
            .u64("version", u64::from(crate::version_for_kind(kind)))
            .str("session", &header.session)
            .str("kind", kind)
            .str("identity", &header.identity)
            .str("target", &header.target)
            .str("database", &header.database)
            .str("protocol", &header.protocol)
            .str("client_addr", &header.client_addr)
            .str("started_at", &header.started_at);
        if let Some(terminal) = terminal {
            line = line
                .u64("width", u64::from(terminal.width))
                .u64("height", u64::from(terminal.height))
                .str("term", &terminal.term)
                .opt_str("command", terminal.command.as_deref());
        }
        recorder.commit(&line.finish());
        recorder
    }

    /// Bytes produced so far, taken or not (the open `rows` batch excluded).
    pub fn bytes(&self) -> u64 {
        self.produced
    }

    /// Whether a cap has left something out so far.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Whether the session cap was hit (nothing more is recorded but `end`).
    pub fn is_session_capped(&self) -> bool {
        self.session_capped
    }

    /// Statements and requests seen so far (recorded or not): `end`'s
    /// `statements`.
    pub fn statements(&self) -> u64 {
        self.statements
    }

    /// Records a statement as decided, before it is forwarded (or refused).
    pub fn statement(&mut self, n: u64, text: &str, decision: &RecordedDecision) -> CapHit {
        self.statements += 1;
        if self.session_capped {
            return CapHit::SessionCap;
        }
        let line = Line::new("statement")
            .u64("n", n)
            .secs("t", self.micros())
            .str("text", text)
            .raw("decision", &decision_json(decision))
            .finish();
        self.emit(Some(n), &line)
    }

    /// Records a request of a terminal, HTTP or file session as decided,
    /// before it is forwarded (or refused): what SQL's
    /// [`Recorder::statement`] is for a statement. `action` is the kind's verb
    /// (`shell`, `exec`, an HTTP method, a file operation) and `text` what
    /// was asked as one searchable string (the command line, host and path,
    /// the file's path). Counts towards `end`'s `statements`.
    pub fn request(
        &mut self,
        n: u64,
        action: &str,
        text: &str,
        decision: &RecordedDecision,
    ) -> CapHit {
        self.statements += 1;
        if self.session_capped {
            return CapHit::SessionCap;
        }
        let line = Line::new("request")
            .u64("n", n)
            .secs("t", self.micros())
            .str("action", action)
            .str("text", text)
            .raw("decision", &decision_json(decision))
            .finish();
        self.emit(Some(n), &line)
    }

    /// Records a result's columns: name and type OID of each.
    pub fn columns(&mut self, n: u64, columns: &[(&str, u32)]) -> CapHit {
        if self.session_capped {
            return CapHit::SessionCap;
        }
        let mut list = Vec::with_capacity(32 * columns.len() + 2);
        list.push(b'[');
        for (i, (name, oid)) in columns.iter().enumerate() {
            if i > 0 {
                list.push(b',');
            }
            let column = Line::object()
                .str("name", name)
                .u64("type_oid", u64::from(*oid));
            list.extend_from_slice(&column.into_object());
        }
        list.push(b']');
        let line = Line::new("columns")
            .u64("n", n)
            .raw("columns", &list)
            .finish();
        self.emit(Some(n), &line)
    }

    /// Records one row as the client received it. `binary[i]` says whether
    /// value `i` is in binary format (recorded as `\x` + hex) or text
    /// (recorded as lossy UTF-8). As with PostgreSQL's result format codes,
    /// an empty `binary` means all text and a single flag applies to every
    /// value; values past a longer list's end are text.
    pub fn row(&mut self, n: u64, values: &[Option<&[u8]>], binary: &[bool]) -> CapHit {
        if self.session_capped {
            return CapHit::SessionCap;
        }
        let max_rows = self.limits.max_rows_per_statement;
        let (count, capped) = self.row_counts.get(&n).copied().unwrap_or((0, false));
        if capped {
            return CapHit::RowCap;
        }
        if count >= max_rows {
            self.row_counts.insert(n, (count, true));
            self.truncated = true;
            let detail = format!(
                "recorded {max_rows} of the statement's rows; the rest were sent to the client but not recorded"
            );
            let line = Line::new("truncated")
                .opt_u64("n", Some(n))
                .secs("t", self.micros())
                .str("reason", "row_cap")
                .str("detail", &detail)
                .finish();
            return match self.emit(Some(n), &line) {
                CapHit::None => CapHit::RowCap,
                hit => hit,
            };
        }
        self.row_counts.insert(n, (count + 1, false));

        // The row's JSON array, encoded into a buffer kept across rows.
        let mut encoded = std::mem::take(&mut self.scratch);
        encoded.clear();
        encoded.push(b'[');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                encoded.push(b',');
            }
            let is_binary = match binary.len() {
                0 => false,
                1 => binary[0],
                _ => binary.get(i).copied().unwrap_or(false),
            };
            push_value(&mut encoded, *value, is_binary);
        }
        encoded.push(b']');

        // A batch of another statement, a full one, or one this row would
        // take past the line size, is closed first.
        if let Some((batch_n, bytes, rows)) = &self.batch {
            if *batch_n != n
                || *rows >= ROWS_PER_LINE
                || bytes.len() + encoded.len() + 4 > ROWS_LINE_BYTES
            {
                self.close_batch();
            }
        }
        let open = match &self.batch {
            Some((_, bytes, _)) => bytes.len(),
            None => 0,
        };
        let prefix = if open == 0 {
            rows_prefix(n)
        } else {
            Vec::new()
        };
        // The session cap counts the batch as it would be written: open bytes,
        // this row (and its comma or the line's opening) and the closing `]}\n`.
        let would_be = self.produced + (open + prefix.len() + encoded.len() + 1 + 3) as u64;
        if would_be > self.limits.max_session_bytes {
            self.close_batch();
            self.hit_session_cap(Some(n));
            self.scratch = encoded;
            return CapHit::SessionCap;
        }
        match &mut self.batch {
            Some((_, bytes, rows)) => {
                bytes.push(b',');
                bytes.extend_from_slice(&encoded);
                *rows += 1;
            }
            None => {
                let mut bytes = prefix;
                bytes.extend_from_slice(&encoded);
                self.batch = Some((n, bytes, 1));
            }
        }
        self.scratch = encoded;
        CapHit::None
    }

    /// Records a statement's completion: its command tag and duration.
    pub fn complete(&mut self, n: u64, tag: &str, duration_us: u64) -> CapHit {
        self.row_counts.remove(&n);
        if self.session_capped {
            return CapHit::SessionCap;
        }
        let line = Line::new("complete")
            .u64("n", n)
            .secs("t", self.micros())
            .str("tag", tag)
            .u64("duration_us", duration_us)
            .finish();
        self.emit(Some(n), &line)
    }

    /// Records an error the client received, for statement `n` or (`None`)
    /// for the session.
    pub fn error(&mut self, n: Option<u64>, sqlstate: &str, message: &str) -> CapHit {
        if let Some(n) = n {
            self.row_counts.remove(&n);
        }
        if self.session_capped {
            return CapHit::SessionCap;
        }
        let line = Line::new("error")
            .opt_u64("n", n)
            .secs("t", self.micros())
            .str("sqlstate", sqlstate)
            .str("message", message)
            .finish();
        self.emit(n, &line)
    }

    /// Records a notice (or warning) the client received.
    pub fn notice(
        &mut self,
        n: Option<u64>,
        severity: &str,
        sqlstate: &str,
        message: &str,
    ) -> CapHit {
        if self.session_capped {
            return CapHit::SessionCap;
        }
        let line = Line::new("notice")
            .opt_u64("n", n)
            .secs("t", self.micros())
            .str("severity", severity)
            .str("sqlstate", sqlstate)
            .str("message", message)
            .finish();
        self.emit(n, &line)
    }

    /// The bytes produced since the last call (open rows are closed into a
    /// line first), to hand to the store.
    pub fn take(&mut self) -> Vec<u8> {
        self.close_batch();
        std::mem::take(&mut self.out)
    }

    /// Writes `end` (always, caps or not) and returns the bytes not yet taken
    /// and the digest of the whole recording.
    pub fn finish(mut self, reason: &str) -> (Vec<u8>, Digest) {
        self.close_batch();
        self.flush_utf8_carry();
        let line = Line::new("end")
            .secs("t", self.micros())
            .str("reason", reason)
            .u64("statements", self.statements)
            .finish();
        self.commit(&line);
        let digest = Digest {
            sha256: hex::encode(self.hasher.finalize()),
            bytes: self.produced,
            truncated: self.truncated,
        };
        (self.out, digest)
    }

    pub(crate) fn micros(&self) -> u64 {
        u64::try_from((self.clock)().as_micros()).unwrap_or(u64::MAX)
    }

    /// Appends a line to the output and the digest.
    fn commit(&mut self, line: &[u8]) {
        self.hasher.update(line);
        self.produced += line.len() as u64;
        self.out.extend_from_slice(line);
    }

    /// Writes `line` unless it would take the session past its cap, in which
    /// case the `session_cap` marker is written instead.
    pub(crate) fn emit(&mut self, n: Option<u64>, line: &[u8]) -> CapHit {
        self.close_batch();
        if self.session_capped {
            return CapHit::SessionCap;
        }
        if self.produced + line.len() as u64 > self.limits.max_session_bytes {
            self.hit_session_cap(n);
            return CapHit::SessionCap;
        }
        self.commit(line);
        CapHit::None
    }

    fn hit_session_cap(&mut self, n: Option<u64>) {
        self.session_capped = true;
        self.truncated = true;
        self.batch = None;
        let detail = format!(
            "recorded {} bytes of the session (the cap is {}); the rest of the session was not recorded",
            self.produced, self.limits.max_session_bytes
        );
        let line = Line::new("truncated")
            .opt_u64("n", n)
            .secs("t", self.micros())
            .str("reason", "session_cap")
            .str("detail", &detail)
            .finish();
        self.commit(&line);
    }

    /// Closes the open `rows` line into the output. The session cap was
    /// checked when each row joined the batch.
    fn close_batch(&mut self) {
        if let Some((_, mut bytes, _)) = self.batch.take() {
            bytes.extend_from_slice(b"]}\n");
            self.commit(&bytes);
        }
    }
}

/// A decision as the `decision` object of `statement` and `request` lines.
fn decision_json(decision: &RecordedDecision) -> Vec<u8> {
    Line::object()
        .str("verdict", &decision.verdict)
        .str("rule", &decision.rule)
        .str("policy", &decision.policy)
        .into_object()
}

/// `{"type":"rows","n":N,"rows":[`
fn rows_prefix(n: u64) -> Vec<u8> {
    let mut line = Line::new("rows")
        .u64("n", n)
        .raw("rows", b"[")
        .into_object();
    line.pop(); // the `}`: rows follow, then `]}\n` closes the line
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_can_move_between_tasks() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Recorder>();
    }
}
