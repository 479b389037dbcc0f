//! "What would the policy decide": an input document written by hand, decided by the policy in
//! force exactly as `sluice policy eval` decides one, with no side effect (nothing recorded,
//! cached or held).

use axum::http::StatusCode;
use maud::{html, Markup};
use sluice_decision::Explained;

use crate::console::auth::Viewer;

/// The largest input taken: a statement's facts are a few KiB.
pub(super) const MAX_INPUT: usize = 64 * 1024;

/// What the form got back.
pub(super) enum Evaluation {
    Decided(Explained),
    /// Not decided, with the status of the page and why.
    Failed(StatusCode, String),
}

/// Decides `input` with the policy in force on this gateway.
pub(super) async fn run(viewer: &Viewer, input: &str) -> Evaluation {
    if input.len() > MAX_INPUT {
        return Evaluation::Failed(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the input is {} bytes; at most {MAX_INPUT} are evaluated",
                input.len()
            ),
        );
    }
    // Checked here first so that a typo is answered with where it is.
    match serde_json::from_str::<serde_json::Value>(input) {
        Ok(serde_json::Value::Object(_)) => {}
        Ok(_) => {
            return Evaluation::Failed(
                StatusCode::BAD_REQUEST,
                "the input must be a JSON object (docs/policy.md)".into(),
            )
        }
        Err(e) => {
            return Evaluation::Failed(
                StatusCode::BAD_REQUEST,
                format!("the input is not JSON: {e}"),
            )
        }
    }
    let active = std::sync::Arc::clone(&viewer.gateway.policy().current());
    let input = input.to_owned();
    match tokio::task::spawn_blocking(move || active.evaluate_json(&input)).await {
        Ok(Ok(explained)) => Evaluation::Decided(explained),
        Ok(Err(e)) => Evaluation::Failed(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(e) => Evaluation::Failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the evaluation task failed: {e}"),
        ),
    }
}

/// The form's starting document: a SQL statement on this gateway's first target, in the
/// shape the gateway builds (docs/policy.md).
pub(super) fn example(viewer: &Viewer) -> String {
    let config = viewer.gateway.config();
    let target = config.targets.first();
    let document = serde_json::json!({
        "schema_version": 2,
        "identity": {"name": "alice", "kind": "human", "groups": ["developers"], "attributes": {}},
        "target": {
            "name": target.map_or("shop", |t| t.name.as_str()),
            "kind": "postgres",
            "tags": {},
            "database": "app",
        },
        "session": {
            "id": "s_example",
            "client_address": "127.0.0.1",
            "protocol": "postgres",
        },
        "request": {
            "action": "statement",
            "kind": "sql",
            "dialect": "postgresql",
            "statement": {
                "text": "SELECT id, note FROM orders WHERE id = $1",
                "kind": "read",
                "command": "SELECT",
                "tables_read": ["public.orders"],
                "tables_written": [],
                "functions": [],
                "unbounded_write": false,
                "session_change": null,
                "parameter_count": 1,
                "masked_columns_in_predicates": [],
            },
            "index": 0,
            "count": 1,
            "parameters": null,
        },
        "time": {"now": "2026-12-04T10:15:00Z", "timezone": "UTC", "weekday": "friday", "hour": 10},
        "grants": [],
    });
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

/// The form, holding `input`.
pub(super) fn form(viewer: &Viewer, input: &str) -> Markup {
    html! {
        h2 id="evaluate" { "What would the policy decide?" }
        p class="muted" {
            "An input document as the gateway builds it (docs/policy.md), decided by the policy \
             in force here. Nothing is recorded or held."
        }
        form class="evaluate" method="post" action="/console/policy/evaluate#evaluation" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            label {
                "Input (JSON, at most " (MAX_INPUT / 1024) " KiB)"
                textarea name="input" rows="18" spellcheck="false" required { (input) }
            }
            div class="buttons" { button type="submit" { "Evaluate" } }
        }
    }
}

pub(super) fn result(evaluation: &Evaluation) -> Markup {
    match evaluation {
        Evaluation::Failed(_, why) => html! {
            p class="error" role="alert" id="evaluation" { "Not evaluated: " (why) }
        },
        Evaluation::Decided(explained) => {
            let d = &explained.decision;
            let reasons = explained
                .document
                .as_ref()
                .and_then(|doc| doc.get("reasons"))
                .and_then(|r| r.as_array())
                .map(|r| {
                    r.iter()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            html! {
                section class="evaluation" id="evaluation" {
                    p class={ "verdict " (d.verdict_name()) } { (d.verdict_name()) }
                    dl class="facts" {
                        dt { "Rule" } dd { code { (d.rule) } }
                        dt { "Policy" } dd { code { (d.policy) } }
                        @if let Some(reason) = d.deny_reason() {
                            dt { "Denied because" } dd { (reason) }
                        }
                        @if !reasons.is_empty() {
                            dt { "Reasons" } dd { ul { @for r in &reasons { li { (r) } } } }
                        }
                        @if let Some(approval) = d.approval() {
                            dt { "Approval" } dd { pre { (pretty(approval)) } }
                        }
                        @if let Some(mask) = &d.mask {
                            dt { "Masks" } dd { pre { (pretty(&**mask)) } }
                        }
                    }
                    @if let Some(document) = &explained.document {
                        details {
                            summary { "data.sluice.decision" }
                            pre { (pretty(document)) }
                        }
                    }
                    @if !explained.prints.is_empty() {
                        details {
                            summary { "What the policy printed" }
                            pre { @for line in &explained.prints { (line) "\n" } }
                        }
                    }
                }
            }
        }
    }
}

fn pretty<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
