//! One session's page: who, where and when; the seal; then each statement or request in
//! order with its decision and what the client got, as recorded. Recorded text is the
//! client's and the target's (attacker-controlled): it is only ever put in the page through
//! maud's escaping.

use maud::{html, Markup};
use sluice_audit::SessionSummary;
use sluice_record::{
    Body, Event, HttpExchange, Item, RecordedDecision, Recording, Request, Statement,
};

use super::seal::Seal;
use crate::console::page;

/// Rows of one result shown on the page; the download has them all.
const ROWS_SHOWN: usize = 200;

/// What the store gave for the session.
pub(super) enum Shown<'a> {
    Recording(&'a Recording),
    /// Stored, but not a recording this build reads (altered, or a newer format): why.
    Unparsed(&'a str),
    Missing,
}

pub(super) fn body(
    id: &str,
    shown: Shown<'_>,
    summary: Option<&SessionSummary>,
    seal: &Seal,
) -> Markup {
    let recording = match shown {
        Shown::Recording(r) => Some(r),
        Shown::Unparsed(_) | Shown::Missing => None,
    };
    html! {
        h1 { "Session " code { (id) } }
        (facts(recording, summary))
        h2 { "Seal" }
        (seal.markup())
        @match shown {
            Shown::Missing => p class="empty" { "The store has no recording of this session." },
            Shown::Unparsed(e) => {
                p class="error" role="alert" { "The stored recording cannot be read: " (e) }
                (download(id))
            },
            Shown::Recording(rec) => {
                (download(id))
                @if rec.terminal.is_some() {
                    (player(id))
                }
                (entries(rec))
                @if !rec.is_complete() {
                    p class="muted" { "The recording has no end: the session is still open, or the gateway stopped before it ended." }
                }
            },
        }
    }
}

fn download(id: &str) -> Markup {
    html! {
        p class="actions" {
            a class="button" href={ "/console/sessions/" (id) "/recording" } download { "Download the recording" }
        }
    }
}

/// The header: from the recording when there is one (every kind has it), with what only the
/// audit trail knows (how it ended, the task).
fn facts(recording: Option<&Recording>, summary: Option<&SessionSummary>) -> Markup {
    let header = recording.map(|r| &r.header);
    let pick = |from_header: Option<&String>, from_summary: Option<&String>| {
        from_header
            .filter(|v| !v.is_empty())
            .or(from_summary)
            .cloned()
            .unwrap_or_default()
    };
    let identity = pick(header.map(|h| &h.identity), summary.map(|s| &s.identity));
    let target = pick(header.map(|h| &h.target), summary.map(|s| &s.target));
    let database = pick(header.map(|h| &h.database), summary.map(|s| &s.database));
    let client = pick(
        header.map(|h| &h.client_addr),
        summary.map(|s| &s.client_addr),
    );
    let started = pick(
        header.map(|h| &h.started_at),
        summary.map(|s| &s.started_at),
    );
    html! {
        dl class="facts session-facts" {
            dt { "Identity" } dd data-field="identity" { (identity) }
            dt { "Target" } dd data-field="target" {
                (target)
                @if !database.is_empty() { " " span class="muted" { "(" (database) ")" } }
            }
            @if let Some(rec) = recording {
                dt { "Kind" } dd data-field="kind" { (rec.kind()) " " span class="muted" { "(" (rec.header.protocol) ")" } }
                @if let Some(t) = &rec.terminal {
                    dt { "Terminal" } dd {
                        (t.width) "×" (t.height)
                        @if !t.term.is_empty() { " " (t.term) }
                        @if let Some(c) = &t.command { ", command " code { (c) } }
                    }
                }
            }
            dt { "Client" } dd { (client) }
            dt { "Started" } dd { (page::when(&started)) " " span class="muted" { (page::relative(&started)) } }
            dt { "Ended" } dd {
                @match (summary.and_then(|s| s.ended_at.as_ref()), recording.and_then(|r| r.end.as_ref())) {
                    (Some(at), _) => {
                        (page::when(at))
                        @if let Some(reason) = summary.and_then(|s| s.end_reason.as_ref()) { ": " (reason) }
                    },
                    (None, Some(end)) => { (format!("{:.3}", end.t)) " s after it started: " (end.reason) },
                    (None, None) => span class="muted" { "not recorded (still open, or the gateway stopped)" },
                }
            }
            @if let Some(task) = summary.and_then(|s| s.task.as_ref()) {
                dt { "Task" } dd data-field="task" { (task) }
            }
        }
    }
}

/// The terminal replay: the player is started by our script from `data-cast` (inline scripts
/// are refused by the page's CSP), its files loaded here because only this page needs them.
fn player(id: &str) -> Markup {
    html! {
        h2 { "Terminal" }
        link rel="stylesheet" href="/console/assets/asciinema-player.css";
        div class="player" role="region" aria-label="Terminal replay" data-cast={ "/console/sessions/" (id) "/cast" } {
            p class="muted" { "The replay needs JavaScript." }
        }
        p {
            a href={ "/console/sessions/" (id) "/cast" } download={ (id) ".cast" } { "Download as asciicast" }
            " (plays in any asciicast player)"
        }
        script src="/console/assets/asciinema-player.min.js" defer {}
        script src="/console/assets/console-sessions.js" defer {}
    }
}

fn entries(rec: &Recording) -> Markup {
    let any = rec.items.iter().any(|i| !matches!(i, Item::Terminal(_)));
    html! {
        @if any {
            h2 { @if rec.statements().next().is_some() { "Statements" } @else { "Requests" } }
            ol class="entries" {
                @for item in &rec.items {
                    @match item {
                        Item::Statement(s) => li id={ "entry-" (s.n) } { (statement(s)) },
                        Item::Request(r) => li id={ "entry-" (r.n) } { (request(r)) },
                        Item::Event(e) => li class="session-event" { (event(e)) },
                        Item::Terminal(_) => {},
                    }
                }
            }
        }
    }
}

fn decision(n: u64, t: f64, d: &RecordedDecision) -> Markup {
    html! {
        p class="entry-head" {
            span class="entry-n" { "#" (n) }
            " "
            span class="muted" { "+" (format!("{t:.3}")) " s" }
            " "
            span class={ "verdict verdict-" (d.verdict) } data-verdict=(d.verdict) { (d.verdict) }
            " "
            span class="rule" { "rule " code { (d.rule) } }
            @if !d.policy.is_empty() {
                " " span class="muted" { "policy " (d.policy) }
            }
        }
    }
}

fn statement(s: &Statement) -> Markup {
    html! {
        (decision(s.n, s.t, &s.decision))
        pre class="statement" { code { (s.text) } }
        @for earlier in &s.earlier_results {
            p class="muted" { "An earlier result: " (earlier.columns.len()) " columns, " (earlier.rows) " rows (only counted)." }
        }
        @if let Some(columns) = &s.columns {
            div class="table-wrap" {
                table class="result" {
                    thead { tr { @for c in columns { th scope="col" { (c.name) } } } }
                    tbody {
                        @for row in s.rows.iter().take(ROWS_SHOWN) {
                            tr { @for v in row {
                                @match v {
                                    Some(v) => td { (v) },
                                    None => td class="null" { "NULL" },
                                }
                            } }
                        }
                    }
                }
            }
            @if s.rows.len() > ROWS_SHOWN {
                p class="muted" { (s.rows.len() - ROWS_SHOWN) " more rows in the recording." }
            }
        }
        @if let Some(c) = &s.complete {
            p class="complete" { (c.tag) " " span class="muted" { "in " (c.duration_us / 1000) " ms" } }
        }
        @for e in &s.events { (event(e)) }
    }
}

fn request(r: &Request) -> Markup {
    html! {
        (decision(r.n, r.t, &r.decision))
        pre class="statement" { code { (r.line()) } }
        @if let Some(h) = &r.http { (http(h)) }
        @if let Some(f) = &r.file {
            p class="complete" {
                (f.op) " " code { (f.path) }
                @if let Some(t) = &f.target { " → " code { (t) } }
                ": " (f.outcome)
                @if let Some(b) = f.bytes { ", " (b) " bytes" }
                @if !f.message.is_empty() { " (" (f.message) ")" }
            }
        }
        @if let Some(c) = &r.complete {
            p class="complete" { (c.tag) }
        }
        @for e in &r.events { (event(e)) }
    }
}

fn http(h: &HttpExchange) -> Markup {
    html! {
        p class="complete" {
            (h.method) " " code { (h.host) (h.path) } " → "
            @match h.status {
                Some(s) => strong data-status=(s) { (s) },
                None => span class="muted" { "no response" },
            }
            " " span class="muted" { (h.duration_us / 1000) " ms" }
        }
        div class="http-parts" {
            (headers("Request headers", &h.request_headers))
            (body_excerpt("Request body", &h.request_body))
            (headers("Response headers", &h.response_headers))
            (body_excerpt("Response body", &h.response_body))
        }
    }
}

fn headers(title: &str, headers: &[(String, String)]) -> Markup {
    html! {
        @if !headers.is_empty() {
            details {
                summary { (title) " (" (headers.len()) ")" }
                div class="table-wrap" {
                    table class="headers" {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Value" } } }
                        tbody { @for (k, v) in headers { tr { td { (k) } td { (v) } } } }
                    }
                }
            }
        }
    }
}

fn body_excerpt(title: &str, body: &Body) -> Markup {
    html! {
        @if body.bytes > 0 {
            details {
                summary {
                    (title) " (" (body.bytes) " bytes"
                    @if body.truncated { ", excerpt" }
                    @if body.masked { ", masked" }
                    ")"
                }
                pre class="body" { code { (body.excerpt) } }
            }
        }
    }
}

fn event(e: &Event) -> Markup {
    html! {
        @match e {
            Event::Error(m) => p class="error" {
                (m.severity) @if !m.sqlstate.is_empty() { " " (m.sqlstate) } ": " (m.message)
            },
            Event::Notice(m) => p class="notice" {
                (m.severity) ": " (m.message)
            },
            Event::Truncated(t) => p class="notice" {
                "Not recorded in full: " (t.reason)
                @if !t.detail.is_empty() { " (" (t.detail) ")" }
            },
        }
    }
}
