//! Rendering the version 2 kinds for replay: a terminal's output stream as
//! it was shown, one access-log line per HTTP exchange, one line per file
//! operation.

use std::fmt::Write as _;

use crate::kinds::{FileOp, HttpExchange, TerminalEvent};
use crate::read_kinds::Request;

/// What a terminal event shows: its output, verbatim. Input is not shown
/// (the terminal echoes what it means to show), nor are resizes and markers.
pub(crate) fn terminal(event: &TerminalEvent) -> Option<&str> {
    (event.code == "o").then_some(event.data.as_str())
}

/// A request's line, when it was recorded: the HTTP exchange or file
/// operation when its outcome was recorded, else a line saying the request
/// was refused or, for an HTTP or file session, that no outcome was
/// recorded. An allowed terminal request shows nothing of its own: its
/// output is the terminal's. The line is stamped with when its outcome was
/// recorded.
pub(crate) fn request(request: &Request, kind: &str) -> Option<(f64, String)> {
    let t = request.outcome_t.unwrap_or(request.t);
    let mut line = String::new();
    if let Some(exchange) = &request.http {
        push_http(&mut line, request, exchange);
    } else if let Some(op) = &request.file {
        push_file(&mut line, request, op);
    } else if request.decision.verdict != "allow" && !request.decision.verdict.is_empty() {
        let _ = write!(line, "-- {} {}", request.action, request.text);
        push_decision(&mut line, request);
    } else if kind == crate::KIND_HTTP || kind == crate::KIND_FILE {
        let _ = write!(
            line,
            "{:.3}s {} {} -> no outcome recorded",
            request.t, request.action, request.text
        );
        push_decision(&mut line, request);
    } else {
        return None;
    }
    line.push('\n');
    Some((t, line))
}

/// `0.840s GET api.internal/v1/users?limit=10 -> 200 5120B 8.123ms [allow read_api]`
fn push_http(out: &mut String, request: &Request, exchange: &HttpExchange) {
    let _ = write!(
        out,
        "{:.3}s {} {}{} -> ",
        request.t, exchange.method, exchange.host, exchange.path
    );
    match exchange.status {
        Some(status) => {
            let _ = write!(out, "{status}");
        }
        None => out.push_str("no response"),
    }
    let _ = write!(
        out,
        " {}B {}ms",
        exchange.response_body.bytes,
        millis(exchange.duration_us)
    );
    push_decision(out, request);
}

/// `2.500s rename /srv/a.txt -> /srv/b.txt: ok [allow files]`
fn push_file(out: &mut String, request: &Request, op: &FileOp) {
    let _ = write!(out, "{:.3}s {} {}", request.t, op.op, op.path);
    if let Some(target) = &op.target {
        let _ = write!(out, " -> {target}");
    }
    if let Some(bytes) = op.bytes {
        let _ = write!(out, " ({bytes}B)");
    }
    let _ = write!(out, ": {}", op.outcome);
    if !op.message.is_empty() {
        let _ = write!(out, " ({})", op.message);
    }
    push_decision(out, request);
}

fn push_decision(out: &mut String, request: &Request) {
    let decision = &request.decision;
    if !decision.verdict.is_empty() {
        let _ = write!(out, " [{} {}]", decision.verdict, decision.rule);
    }
}

/// Microseconds as milliseconds with up to three decimals: `8.123`, `12`.
fn millis(us: u64) -> String {
    let whole = us / 1000;
    let frac = us % 1000;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:03}")
            .trim_end_matches('0')
            .to_owned()
    }
}
