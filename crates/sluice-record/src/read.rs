//! [`parse`]: a recording's bytes back into a [`Recording`].

use std::collections::HashMap;

use serde::Deserialize;

use crate::kinds::{FileOp, HttpExchange, TerminalEvent, TerminalHeader};
use crate::read_kinds::{attach, empty_request, with_request, Request};
use crate::{Header, RecordError, RecordedDecision, FORMAT_NAME, FORMAT_VERSION};

/// A parsed recording.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recording {
    /// The format version it was written in.
    pub version: u32,
    pub header: Header,
    /// The screen of a terminal recording, from its header.
    pub terminal: Option<TerminalHeader>,
    /// Statements, requests, terminal events and session-level events, in
    /// the order they were recorded.
    pub items: Vec<Item>,
    /// The `end` line; `None` when the recording is incomplete (the gateway
    /// stopped before the session ended).
    pub end: Option<End>,
    /// Whether the last line was torn (cut short by a crash) and left out.
    pub torn_tail: bool,
    /// Lines of types the recording's version does not define, skipped.
    pub skipped_lines: usize,
}

impl Recording {
    /// The recording's kind; a header without one is SQL (as the recorder writes it).
    pub fn kind(&self) -> &str {
        match self.header.kind.as_str() {
            "" => crate::KIND_SQL,
            kind => kind,
        }
    }

    /// Whether the recording has its `end` line.
    pub fn is_complete(&self) -> bool {
        self.end.is_some()
    }

    /// Whether a cap left something out.
    pub fn is_truncated(&self) -> bool {
        self.items.iter().any(|item| match item {
            Item::Event(Event::Truncated(_)) => true,
            Item::Statement(s) => s.events.iter().any(|e| matches!(e, Event::Truncated(_))),
            Item::Request(r) => r.events.iter().any(|e| matches!(e, Event::Truncated(_))),
            Item::Event(_) | Item::Terminal(_) => false,
        })
    }

    /// The statements, in order.
    pub fn statements(&self) -> impl Iterator<Item = &Statement> {
        self.items.iter().filter_map(|item| match item {
            Item::Statement(s) => Some(s),
            _ => None,
        })
    }

    /// Statement number `n`.
    pub fn statement(&self, n: u64) -> Option<&Statement> {
        self.statements().find(|s| s.n == n)
    }

    /// The requests (of terminal, HTTP and file sessions), in order.
    pub fn requests(&self) -> impl Iterator<Item = &Request> {
        self.items.iter().filter_map(|item| match item {
            Item::Request(r) => Some(r),
            _ => None,
        })
    }

    /// Request number `n`.
    pub fn request(&self, n: u64) -> Option<&Request> {
        self.requests().find(|r| r.n == n)
    }

    /// The terminal events, in order.
    pub fn terminal_events(&self) -> impl Iterator<Item = &TerminalEvent> {
        self.items.iter().filter_map(|item| match item {
            Item::Terminal(e) => Some(e),
            _ => None,
        })
    }
}

/// One entry of a recording.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Item {
    /// A statement with everything recorded about it.
    Statement(Statement),
    /// An error, notice or truncation not tied to a statement (`"n":null`).
    Event(Event),
    /// A request of a terminal, HTTP or file session with its outcome
    /// (version 2).
    Request(Request),
    /// A terminal event (version 2): kept in stream order rather than
    /// under its request, since a replay plays the stream.
    Terminal(TerminalEvent),
}

/// A statement and what the client received for it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Statement {
    pub n: u64,
    /// Seconds since the session started.
    pub t: f64,
    pub text: String,
    pub decision: RecordedDecision,
    /// The result's columns, if it returned rows; of the last result set
    /// when there were several.
    pub columns: Option<Vec<Column>>,
    /// The rows recorded (up to the row cap), values as the client received
    /// them; `None` is NULL. With several result sets, those of
    /// `earlier_results` first, in order, then the last set's.
    pub rows: Vec<Vec<Option<String>>>,
    /// The result sets before the last, when one statement returned several
    /// (a MySQL multi-statement string): a renderer that prints one table per
    /// set needs to know where each set's rows begin, which `columns` alone
    /// (the last set's) cannot tell.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub earlier_results: Vec<ResultSet>,
    pub complete: Option<Completion>,
    /// Errors, notices and truncations for this statement, in order.
    pub events: Vec<Event>,
}

/// A result set before a statement's last: its columns and how many of the
/// statement's rows are its.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResultSet {
    pub columns: Vec<Column>,
    /// Rows recorded for it (the row cap counts per statement, so a set
    /// after the cap was hit has none).
    pub rows: usize,
}

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Column {
    pub name: String,
    pub type_oid: u32,
}

/// How a statement completed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Completion {
    pub t: f64,
    /// The command tag, such as `SELECT 2` or `UPDATE 1`.
    pub tag: String,
    pub duration_us: u64,
}

/// An error, notice or truncation marker.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Event {
    Error(Message),
    Notice(Message),
    Truncated(Truncation),
}

/// An error or notice the client received.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Message {
    pub n: Option<u64>,
    pub t: f64,
    /// `ERROR` for errors; the notice's severity (`NOTICE`, `WARNING`, ...).
    pub severity: String,
    pub sqlstate: String,
    pub message: String,
}

/// Where a cap cut the recording.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Truncation {
    pub n: Option<u64>,
    pub t: f64,
    /// `row_cap` or `session_cap`.
    pub reason: String,
    pub detail: String,
}

/// The `end` line.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct End {
    pub t: f64,
    pub reason: String,
    /// Statements the session had (recorded or not).
    pub statements: u64,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum RawLine {
    Header {},
    Statement {
        n: u64,
        t: f64,
        text: String,
        #[serde(default)]
        decision: RecordedDecision,
    },
    Columns {
        n: u64,
        columns: Vec<Column>,
    },
    Rows {
        n: u64,
        rows: Vec<Vec<Option<String>>>,
    },
    Complete {
        n: u64,
        t: f64,
        tag: String,
        #[serde(default)]
        duration_us: u64,
    },
    Error {
        #[serde(default)]
        n: Option<u64>,
        t: f64,
        #[serde(default)]
        sqlstate: String,
        message: String,
    },
    Notice {
        #[serde(default)]
        n: Option<u64>,
        t: f64,
        severity: String,
        #[serde(default)]
        sqlstate: String,
        message: String,
    },
    Truncated {
        #[serde(default)]
        n: Option<u64>,
        t: f64,
        reason: String,
        #[serde(default)]
        detail: String,
    },
    End {
        t: f64,
        reason: String,
        statements: u64,
    },
    Request {
        n: u64,
        t: f64,
        #[serde(default)]
        action: String,
        #[serde(default)]
        text: String,
        #[serde(default)]
        decision: RecordedDecision,
    },
    Terminal {
        #[serde(default)]
        n: Option<u64>,
        t: f64,
        event: String,
        #[serde(default)]
        data: String,
    },
    Http {
        n: u64,
        t: f64,
        #[serde(flatten)]
        exchange: HttpExchange,
    },
    File {
        n: u64,
        t: f64,
        #[serde(flatten)]
        op: FileOp,
    },
    #[serde(other)]
    Unknown,
}

/// The line types version 2 added: in a version 1 recording they are
/// unknown types, skipped whatever they hold, as a version 1 reader did.
const SINCE_V2: &[&str] = &["request", "terminal", "http", "file"];

/// Whether `line` is of a type version 2 added.
fn is_since_v2(line: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct TypeOnly {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_slice::<TypeOnly>(line).is_ok_and(|l| SINCE_V2.contains(&l.kind.as_str()))
}

/// Reads a recording: the header (refusing a newer format version or another
/// format), the statements grouped by `n` with their columns, rows,
/// completion, errors, notices and truncations, and the `end` line, or none
/// for an incomplete recording.
///
/// Tolerated: a torn last line (no newline and not valid JSON: the gateway
/// stopped mid-write), reported as [`Recording::torn_tail`], and lines of
/// unknown types, skipped and counted. Anything else that does not read is an
/// error naming the line.
pub fn parse(bytes: &[u8]) -> Result<Recording, RecordError> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // The piece after the last newline: empty for a complete file, else a
    // last line without its newline (kept if it reads, else torn).
    let tail = lines.pop().unwrap_or_default();
    let mut torn_tail = false;
    if !tail.is_empty() {
        if serde_json::from_slice::<serde_json::Value>(tail).is_ok() {
            lines.push(tail);
        } else {
            torn_tail = true;
        }
    }

    let Some((first, rest)) = lines.split_first() else {
        return Err(RecordError::NotARecording(if torn_tail {
            "the header line is torn".to_owned()
        } else {
            "the file is empty".to_owned()
        }));
    };
    let (version, header, terminal) = parse_header(first)?;

    let mut recording = Recording {
        version,
        header,
        terminal,
        items: Vec::new(),
        end: None,
        torn_tail,
        skipped_lines: 0,
    };
    let mut by_n: HashMap<u64, usize> = HashMap::new();

    for (i, line) in rest.iter().enumerate() {
        let line_no = i + 2;
        let malformed = |reason: String| RecordError::Malformed {
            line: line_no,
            reason,
        };
        if recording.end.is_some() {
            return Err(malformed("a line after the end line".to_owned()));
        }
        // In a version 1 recording the types version 2 added are unknown,
        // whatever they hold; the type is looked at again only for a line
        // that does not read, so a version 1 row is still parsed once.
        let raw = match serde_json::from_slice::<RawLine>(line) {
            Ok(
                RawLine::Request { .. }
                | RawLine::Terminal { .. }
                | RawLine::Http { .. }
                | RawLine::File { .. },
            ) if version == 1 => RawLine::Unknown,
            Ok(raw) => raw,
            Err(_) if version == 1 && is_since_v2(line) => RawLine::Unknown,
            Err(e) => return Err(malformed(e.to_string())),
        };
        match raw {
            RawLine::Header {} => return Err(malformed("a second header line".to_owned())),
            RawLine::Unknown => recording.skipped_lines += 1,
            RawLine::Statement {
                n,
                t,
                text,
                decision,
            } => {
                by_n.insert(n, recording.items.len());
                recording.items.push(Item::Statement(Statement {
                    text,
                    decision,
                    ..empty_statement(n, t)
                }));
            }
            RawLine::Columns { n, columns } => {
                with_statement(&mut recording, &mut by_n, n, 0.0, |s| {
                    // A second `columns` line starts another result set: the
                    // rows so far, less the earlier sets', were the previous
                    // set's.
                    if let Some(previous) = s.columns.replace(columns) {
                        let earlier: usize = s.earlier_results.iter().map(|r| r.rows).sum();
                        s.earlier_results.push(ResultSet {
                            columns: previous,
                            rows: s.rows.len().saturating_sub(earlier),
                        });
                    }
                });
            }
            RawLine::Rows { n, rows } => {
                with_statement(&mut recording, &mut by_n, n, 0.0, |s| s.rows.extend(rows));
            }
            RawLine::Complete {
                n,
                t,
                tag,
                duration_us,
            } => {
                let complete = Completion {
                    t,
                    tag,
                    duration_us,
                };
                attach(&mut recording, &mut by_n, n, t, |c, _| *c = Some(complete));
            }
            RawLine::Error {
                n,
                t,
                sqlstate,
                message,
            } => {
                let message = Message {
                    n,
                    t,
                    severity: "ERROR".to_owned(),
                    sqlstate,
                    message,
                };
                push_event(&mut recording, &mut by_n, n, t, Event::Error(message));
            }
            RawLine::Notice {
                n,
                t,
                severity,
                sqlstate,
                message,
            } => {
                let message = Message {
                    n,
                    t,
                    severity,
                    sqlstate,
                    message,
                };
                push_event(&mut recording, &mut by_n, n, t, Event::Notice(message));
            }
            RawLine::Truncated {
                n,
                t,
                reason,
                detail,
            } => {
                let truncation = Truncation {
                    n,
                    t,
                    reason,
                    detail,
                };
                push_event(
                    &mut recording,
                    &mut by_n,
                    n,
                    t,
                    Event::Truncated(truncation),
                );
            }
            RawLine::End {
                t,
                reason,
                statements,
            } => {
                recording.end = Some(End {
                    t,
                    reason,
                    statements,
                });
            }
            RawLine::Request {
                n,
                t,
                action,
                text,
                decision,
            } => {
                by_n.insert(n, recording.items.len());
                recording.items.push(Item::Request(Request {
                    action,
                    text,
                    decision,
                    ..empty_request(n, t)
                }));
            }
            RawLine::Terminal { n, t, event, data } => {
                recording.items.push(Item::Terminal(TerminalEvent {
                    n,
                    t,
                    code: event,
                    data,
                }));
            }
            RawLine::Http { n, t, exchange } => {
                with_request(&mut recording, &mut by_n, n, t, |r| {
                    r.outcome_t = Some(t);
                    r.http = Some(Box::new(exchange));
                });
            }
            RawLine::File { n, t, op } => {
                with_request(&mut recording, &mut by_n, n, t, |r| {
                    r.outcome_t = Some(t);
                    r.file = Some(Box::new(op));
                });
            }
        }
    }
    Ok(recording)
}

fn parse_header(line: &[u8]) -> Result<(u32, Header, Option<TerminalHeader>), RecordError> {
    let value: serde_json::Value = serde_json::from_slice(line)
        .map_err(|e| RecordError::NotARecording(format!("the first line is not JSON: {e}")))?;
    if value.get("type").and_then(|v| v.as_str()) != Some("header") {
        return Err(RecordError::NotARecording(
            "the first line is not a header".to_owned(),
        ));
    }
    let format = value
        .get("format")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if format != FORMAT_NAME {
        return Err(RecordError::NotARecording(format!(
            "the header names format {format:?}, not {FORMAT_NAME:?}"
        )));
    }
    let version = value
        .get("version")
        .and_then(|v| v.as_u64())
        .filter(|&v| v > 0)
        .ok_or_else(|| RecordError::Malformed {
            line: 1,
            reason: "the header has no valid version".to_owned(),
        })?;
    if version > u64::from(FORMAT_VERSION) {
        return Err(RecordError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    // A screen is only read from a version 2 header: version 1 reserved
    // those fields without defining them.
    let terminal = if version >= 2 && value.get("width").is_some() {
        let terminal =
            serde_json::from_value(value.clone()).map_err(|e| RecordError::Malformed {
                line: 1,
                reason: format!("the terminal header: {e}"),
            })?;
        Some(terminal)
    } else {
        None
    };
    let header: Header = serde_json::from_value(value).map_err(|e| RecordError::Malformed {
        line: 1,
        reason: e.to_string(),
    })?;
    // `version` is at most FORMAT_VERSION here.
    Ok((
        u32::try_from(version).unwrap_or(FORMAT_VERSION),
        header,
        terminal,
    ))
}

pub(crate) fn empty_statement(n: u64, t: f64) -> Statement {
    Statement {
        n,
        t,
        text: String::new(),
        decision: RecordedDecision::default(),
        columns: None,
        rows: Vec::new(),
        earlier_results: Vec::new(),
        complete: None,
        events: Vec::new(),
    }
}

/// Applies `f` to statement `n`, created empty first if its `statement` line
/// is missing. A line of a statement whose number names a request is
/// dropped: it cannot belong to it.
fn with_statement(
    recording: &mut Recording,
    by_n: &mut HashMap<u64, usize>,
    n: u64,
    t: f64,
    f: impl FnOnce(&mut Statement),
) {
    let index = *by_n.entry(n).or_insert_with(|| {
        recording.items.push(Item::Statement(empty_statement(n, t)));
        recording.items.len() - 1
    });
    if let Some(Item::Statement(statement)) = recording.items.get_mut(index) {
        f(statement);
    }
}

fn push_event(
    recording: &mut Recording,
    by_n: &mut HashMap<u64, usize>,
    n: Option<u64>,
    t: f64,
    event: Event,
) {
    match n {
        Some(n) => attach(recording, by_n, n, t, |_, events| events.push(event)),
        None => recording.items.push(Item::Event(event)),
    }
}
