//! The audit pages' markup: the search form and its page of records, one record's fields,
//! and the verification's findings. Everything shown comes from the trail, so it is written
//! as text (maud escapes it), never as markup.

use maud::{html, Markup};
use sluice_audit::{AuditError, AuditEvent, MergedRecord, VerifyReport};

use super::query::{escape, Page, RecordId, SearchQuery};
use super::verify::Verified;
use crate::console::auth::Viewer;
use crate::console::page;

/// Problem findings listed on the page; the rest are counted (`sluice audit verify` lists all).
const FINDINGS_SHOWN: usize = 20;

pub(super) fn search(viewer: &Viewer, q: &SearchQuery, page: &Page, verified: &Verified) -> Markup {
    html! {
        h1 { "Audit" }
        (status(viewer, verified))
        h2 { "Search" }
        form class="audit-search" method="get" action="/console/audit" {
            label { "Identity" input type="text" name="identity" value=(q.identity); }
            label { "Session" input type="text" name="session" value=(q.session); }
            label { "Event" input type="text" name="kind" value=(q.kind) placeholder="statement"; }
            label { "Outcome" input type="text" name="outcome" value=(q.outcome) placeholder="deny"; }
            label { "Target" input type="text" name="target" value=(q.target); }
            label { "From (UTC)" input type="datetime-local" name="from" step="1" value=(q.from); }
            label { "To (UTC)" input type="datetime-local" name="to" step="1" value=(q.to); }
            label { "Text" input type="text" name="text" value=(q.text); }
            div class="buttons" {
                button type="submit" { "Search" }
                a class="button" href="/console/audit" { "Clear" }
            }
        }
        @if page.records.is_empty() {
            p class="empty" { "No record matches." }
        } @else {
            div class="table-wrap" {
                table class="audit" {
                    thead { tr {
                        th { "Time" } th { "Record" } th { "Event" } th { "Identity" }
                        th { "Target" } th { "Outcome" } th { "What" }
                    } }
                    tbody {
                        @for (id, record) in &page.records {
                            tr data-record=(id) {
                                td { (page::when(&record.time)) }
                                td { a href=(id.href()) { (id) } }
                                td { (record.event.kind()) }
                                td { (record.event.identity().unwrap_or("")) }
                                td { (record.event.target().unwrap_or("")) }
                                td { (record.event.outcome().unwrap_or("")) }
                                td class="what" { (summary(&record.event)) }
                            }
                        }
                    }
                }
            }
        }
        nav class="pages" aria-label="Pages" {
            @if !q.before.is_empty() {
                a href=(page_link(q, None)) { "Newest" }
            }
            @if let Some(older) = &page.older {
                a href=(page_link(q, Some(older))) rel="next" { "Older" }
            }
        }
    }
}

/// The search page's link with the same filters, starting below `before`.
fn page_link(q: &SearchQuery, before: Option<&RecordId>) -> String {
    let set = |v: &str| Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
    let before = before.map(RecordId::to_string);
    let pairs = [
        ("identity", set(&q.identity)),
        ("session", set(&q.session)),
        ("kind", set(&q.kind)),
        ("outcome", set(&q.outcome)),
        ("target", set(&q.target)),
        ("from", set(&q.from)),
        ("to", set(&q.to)),
        ("text", set(&q.text)),
        ("before", before),
    ];
    let pairs: Vec<(&str, Option<&str>)> = pairs.iter().map(|(k, v)| (*k, v.as_deref())).collect();
    format!("/console/audit{}", crate::admin_client::query(&pairs))
}

/// A record's gist on one line: what was run, or why it was refused.
fn summary(event: &AuditEvent) -> String {
    let text = match event {
        AuditEvent::Statement { text, .. } => text.clone(),
        AuditEvent::StatementResult {
            command_tag, rows, ..
        } => format!(
            "{}{}",
            command_tag.as_deref().unwrap_or(""),
            rows.map(|r| format!(" ({r} rows)")).unwrap_or_default()
        ),
        AuditEvent::AdminRefused {
            operation, reason, ..
        } => format!("{operation}: {reason}"),
        AuditEvent::ConnectionRejected { reason, .. }
        | AuditEvent::AccessRefused { reason, .. }
        | AuditEvent::PolicyRejected { reason, .. } => reason.clone(),
        AuditEvent::CredentialRefused { reason, detail, .. } => format!("{reason}: {detail}"),
        AuditEvent::PolicyLoaded { version, .. } => version.clone(),
        _ => String::new(),
    };
    crate::admin_client::one_line(&text, 120)
}

/// The verification's result with its age and the button that runs it again.
fn status(viewer: &Viewer, verified: &Verified) -> Markup {
    html! {
        h2 { "Chain and checkpoints" }
        form class="verify" method="post" action="/console/audit/verify" {
            span class="muted" {
                "Verified " (page::when(&verified.at)) " (" (page::relative(&verified.at)) "), in "
                (verified.took.as_millis()) " ms."
            }
            input type="hidden" name="csrf" value=(viewer.csrf);
            button type="submit" { "Verify now" }
        }
        @match &verified.check {
            Err(why) => p class="error" role="alert" { "The trail could not be verified: " (why) },
            Ok(check) => {
                (report(&check.report, check.key_note.as_deref()))
                p class="muted" { "Trail " code { (check.path.display()) } }
            }
        }
    }
}

fn report(r: &VerifyReport, key_note: Option<&str>) -> Markup {
    let problems: Vec<_> = r.problems().collect();
    html! {
        @match &r.broken {
            None => p class="verdict intact" { "Chain intact" },
            Some(b) => p class="verdict broken" role="alert" {
                "NOT INTACT: first break at line " (b.line)
                @if let Some(seq) = b.seq { " (seq " (seq) ")" }
                ": " (b.reason)
            },
        }
        dl class="facts" {
            dt { "Gateway" } dd { (r.gateways.join(" + ")) }
            dt { "Records" } dd {
                (r.records)
                @if let (Some(first), Some(last)) = (r.first_seq, r.last_seq) { " (seq " (first) " to " (last) ")" }
            }
            dt { "Head" } dd { code { (r.last_hash.as_deref().unwrap_or("none")) } }
            dt { "Checkpoints" } dd { (r.checkpoint_summary(key_note)) }
            dt { "Last checkpoint" } dd {
                @match r.last_checkpoint { Some(seq) => { "seq " (seq) }, None => "none" }
            }
            dt { "Unsealed" } dd { (r.unsealed_summary().unwrap_or_else(|| "none: every record is sealed".into())) }
        }
        @if !problems.is_empty() {
            ul class="findings" {
                @for f in problems.iter().take(FINDINGS_SHOWN) {
                    li { strong { (f.kind.as_str()) } ": " (f.message) }
                }
            }
            @if problems.len() > FINDINGS_SHOWN {
                p class="muted" { (problems.len() - FINDINGS_SHOWN) " more: run sluice audit verify for all of them." }
            }
        }
        @for note in r.notes() {
            p class="muted" { "Note: " (note.message) }
        }
    }
}

/// Every field of one record, as its line holds it (fields this version does not know
/// included), and the hash the next record chains.
pub(super) fn record(id: &RecordId, line: &MergedRecord) -> Result<Markup, AuditError> {
    let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&line.line)?;
    let searchable = ["identity", "session", "target"];
    Ok(html! {
        h1 { "Audit record " (id) }
        dl class="facts record" {
            @for (name, value) in &fields {
                dt { (name) }
                dd {
                    @match value {
                        serde_json::Value::String(s) => {
                            @if searchable.contains(&name.as_str()) {
                                a href={ "/console/audit?" (name) "=" (escape(s)) } { (s) }
                            } @else {
                                (s)
                            }
                        }
                        serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                            pre { (serde_json::to_string_pretty(value).unwrap_or_default()) }
                        }
                        other => (other.to_string()),
                    }
                }
            }
            dt { "line SHA-256" }
            dd { code { (hex::encode(sluice_audit::hash_line(&line.line))) } }
        }
        p { a href="/console/audit" { "Back to the search" } }
    })
}
