//! Reading the version 2 kinds: [`Request`], and how lines find the
//! statement or request their `n` names.

use std::collections::HashMap;

use crate::kinds::{FileOp, HttpExchange};
use crate::read::{empty_statement, Completion, Event, Item, Recording};
use crate::RecordedDecision;

/// A request of a terminal, HTTP or file session (a `request` line) with
/// what was recorded about its outcome: what a [`crate::Statement`] is for
/// SQL.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Request {
    pub n: u64,
    /// Seconds since the session started, when it was decided.
    pub t: f64,
    /// The kind's verb: `shell`, `exec`, `subsystem`, an HTTP method, a file
    /// operation.
    pub action: String,
    /// What was asked, as one string: the command line, host and path, the
    /// file's path.
    pub text: String,
    pub decision: RecordedDecision,
    /// The exchange, for an HTTP request (boxed: most items of a recording
    /// are not HTTP exchanges and need not be as large as one).
    pub http: Option<Box<HttpExchange>>,
    /// The operation, for a file request.
    pub file: Option<Box<FileOp>>,
    /// When the `http` or `file` line was recorded.
    pub outcome_t: Option<f64>,
    /// How it ended (`complete`), such as a command's exit status.
    pub complete: Option<Completion>,
    /// Errors, notices and truncations for this request, in order.
    pub events: Vec<Event>,
}

impl Request {
    /// The request as one line: its verb and what it asked (`exec ls -l`, `GET host/path`,
    /// `remove /tmp/x`); a shell asks for nothing but the verb.
    pub fn line(&self) -> String {
        if self.text.is_empty() {
            self.action.clone()
        } else {
            format!("{} {}", self.action, self.text)
        }
    }
}

pub(crate) fn empty_request(n: u64, t: f64) -> Request {
    Request {
        n,
        t,
        action: String::new(),
        text: String::new(),
        decision: RecordedDecision::default(),
        http: None,
        file: None,
        outcome_t: None,
        complete: None,
        events: Vec::new(),
    }
}

/// Applies `f` to request `n`, created empty first if its `request` line is
/// missing. A line of a request whose number names a statement is dropped.
pub(crate) fn with_request(
    recording: &mut Recording,
    by_n: &mut HashMap<u64, usize>,
    n: u64,
    t: f64,
    f: impl FnOnce(&mut Request),
) {
    let index = *by_n.entry(n).or_insert_with(|| {
        recording.items.push(Item::Request(empty_request(n, t)));
        recording.items.len() - 1
    });
    if let Some(Item::Request(request)) = recording.items.get_mut(index) {
        f(request);
    }
}

/// Applies `f` to the completion and events of statement or request `n`
/// (the lines every kind shares). When neither line was recorded, one is
/// created empty: a statement in a SQL (or version 1) recording, as version
/// 1 did, a request in any other.
pub(crate) fn attach(
    recording: &mut Recording,
    by_n: &mut HashMap<u64, usize>,
    n: u64,
    t: f64,
    f: impl FnOnce(&mut Option<Completion>, &mut Vec<Event>),
) {
    let sql = recording.version == 1
        || recording.header.kind.is_empty()
        || recording.header.kind == crate::KIND_SQL;
    let index = *by_n.entry(n).or_insert_with(|| {
        recording.items.push(if sql {
            Item::Statement(empty_statement(n, t))
        } else {
            Item::Request(empty_request(n, t))
        });
        recording.items.len() - 1
    });
    match recording.items.get_mut(index) {
        Some(Item::Statement(s)) => f(&mut s.complete, &mut s.events),
        Some(Item::Request(r)) => f(&mut r.complete, &mut r.events),
        _ => {}
    }
}
