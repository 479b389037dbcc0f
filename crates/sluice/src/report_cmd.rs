//! `sluice report`: the five self-reflection signals (docs/signals.md) as a gateway computes
//! them now (`GET /signals?refresh=true`), printed as one table per signal or as the gateway's
//! JSON.

use anyhow::Result;
use serde_json::Value;

use crate::admin_client::{self as api, AdminClient, Table};
use crate::cli::ReportArgs;

/// The signals in the report's order, with their headings.
const SIGNALS: [(&str, &str); 5] = [
    ("policy_drift", "Policy drift"),
    ("approval_latency", "Approval latency"),
    ("masking_effectiveness", "Masking effectiveness"),
    ("audit_completeness", "Audit completeness"),
    ("access_churn", "Access churn"),
];

/// `--check`'s exit status when a signal fires: 1 and 2 already mean errors.
const FIRING_EXIT: i32 = 3;

pub async fn run(args: ReportArgs) -> Result<()> {
    let client = AdminClient::connect(&args.connection)?;
    let report: Value = client.get("/signals?refresh=true").await?;
    if args.json {
        api::print_json(&report)?;
    } else {
        print!("{}", render(&report));
    }
    let firing = SIGNALS
        .iter()
        .any(|(key, _)| report[key]["health"]["status"] == "firing");
    if args.check && firing {
        std::process::exit(FIRING_EXIT);
    }
    Ok(())
}

/// The report as text: a summary table, then each signal's findings.
pub fn render(r: &Value) -> String {
    let mut out = format!(
        "signals at {} over the last {}\n\n",
        text(&r["generated_at"]),
        api::human_seconds(r["window_seconds"].as_f64().unwrap_or(0.0))
    );
    let mut summary = Table::new(&["SIGNAL", "STATUS", "WHY"]);
    for (key, _) in SIGNALS {
        let health = &r[key]["health"];
        summary.row(vec![
            key.to_owned(),
            text(&health["status"]),
            strings(&health["reasons"]).join("; "),
        ]);
    }
    out.push_str(&summary.render());
    for (key, heading) in SIGNALS {
        out.push_str(&format!("\n{heading}\n"));
        let s = &r[key];
        let section = match key {
            "policy_drift" => drift(s),
            "approval_latency" => latency(s),
            "masking_effectiveness" => masking(s),
            "audit_completeness" => completeness(s),
            _ => churn(s),
        };
        out.push_str(&section);
    }
    out
}

fn drift(s: &Value) -> String {
    let mut out = String::new();
    match s["repository"].as_object() {
        Some(repo) => out.push_str(&format!(
            "  repository: {} at {} (policy {}, work tree {})\n",
            repo.get("branch")
                .and_then(Value::as_str)
                .unwrap_or("detached"),
            short(repo.get("commit").and_then(Value::as_str).unwrap_or("")),
            repo.get("head_digest")
                .and_then(Value::as_str)
                .unwrap_or("none"),
            repo.get("worktree_digest")
                .and_then(Value::as_str)
                .unwrap_or(""),
        )),
        None => out.push_str("  repository: none (the policy directory is not a git checkout)\n"),
    }
    out.push_str(&table(
        &s["gateways"],
        &["GATEWAY", "POLICY", "LOADED", "STATE"],
        &["gateway", "version", "loaded_at", "state"],
    ));
    out.push_str(&format!(
        "  dead rules ({}): {}\n",
        len(&s["dead_rules"]),
        strings(&s["dead_rules"]).join(", ")
    ));
    out.push_str(&format!(
        "  statements decided only by the default deny: {}\n",
        text(&s["default_denied_total"])
    ));
    out.push_str(&table(
        &s["default_denied"],
        &["TARGET", "IDENTITY", "STATEMENT", "COUNT", "LAST"],
        &["target", "identity", "shape", "count", "last"],
    ));
    out
}

fn latency(s: &Value) -> String {
    let o = &s["overall"];
    let mut out = format!(
        "  decided: {}  p50 {}  p90 {}  max {}\n  pending: {}  overdue: {}  expired undecided: {}\n",
        text(&o["count"]),
        seconds(&o["p50_seconds"]),
        seconds(&o["p90_seconds"]),
        seconds(&o["max_seconds"]),
        text(&s["pending"]),
        len(&s["overdue"]),
        text(&s["expired_undecided"]),
    );
    for (field, label) in [("by_group", "GROUP"), ("by_target", "TARGET")] {
        let mut t = Table::new(&[label, "DECIDED", "P50", "P90", "MAX"]);
        for g in s[field].as_array().into_iter().flatten() {
            t.row(vec![
                text(&g["name"]),
                text(&g["count"]),
                seconds(&g["p50_seconds"]),
                seconds(&g["p90_seconds"]),
                seconds(&g["max_seconds"]),
            ]);
        }
        if len(&s[field]) > 0 {
            out.push_str(&indent(&t.render()));
        }
    }
    out.push_str(&table(
        &s["overdue"],
        &["OVERDUE REVIEW", "REQUESTER", "TARGET", "AGE (S)"],
        &["review", "requester", "target", "age_seconds"],
    ));
    out.push_str(&table(
        &s["rubber_stamping"],
        &["REVIEWER", "REQUESTER", "APPROVALS", "DENIALS"],
        &["reviewer", "requester", "approvals", "denials"],
    ));
    out
}

fn masking(s: &Value) -> String {
    let mut out = format!(
        "  sampled sessions: {} (fraction {})  escaped masking: {}  unmasked by policy: {}\n",
        text(&s["sessions_sampled"]),
        text(&s["sample_fraction"]),
        text(&s["escaped_values"]),
        text(&s["unmasked_by_policy_values"]),
    );
    out.push_str(&table(
        &s["unmasked"],
        &["DETECTOR", "TARGET", "COLUMN", "RULE", "MASKED", "VALUES"],
        &[
            "detector",
            "target",
            "column",
            "rule",
            "masking_applied",
            "values",
        ],
    ));
    out.push_str(&table(
        &s["pii_columns"],
        &["PII COLUMN", "TARGET", "RULE", "VALUES"],
        &["column", "target", "rule", "values"],
    ));
    out
}

fn completeness(s: &Value) -> String {
    let mut out = format!(
        "  records: {}  open sessions: {}  cut by a crash: {}  statements without a result: {}  unsealed recordings: {}\n",
        text(&s["records"]),
        text(&s["open_sessions"]),
        text(&s["sessions_cut_by_crash"]),
        text(&s["statements_without_result"]),
        text(&s["unsealed_recordings"]),
    );
    match s["last_verify"].as_object() {
        Some(v) => out.push_str(&format!(
            "  last verify: {} at {}: {}\n",
            if v.get("ok") == Some(&Value::Bool(true)) {
                "ok"
            } else {
                "FAILED"
            },
            v.get("at").and_then(Value::as_str).unwrap_or(""),
            v.get("summary").and_then(Value::as_str).unwrap_or(""),
        )),
        None => out.push_str("  last verify: not run yet\n"),
    }
    out.push_str(&table(
        &s["sessions_without_end"],
        &[
            "SESSION WITHOUT END",
            "GATEWAY",
            "IDENTITY",
            "TARGET",
            "STARTED",
        ],
        &["session", "gateway", "identity", "target", "started_at"],
    ));
    out.push_str(&table(
        &s["recordings"],
        &["RECORDING", "PROBLEM"],
        &["session", "problem"],
    ));
    out.push_str(&table(
        &s["checkpoints"],
        &["GATEWAY", "LAST CHECKPOINT", "AGE (S)", "OVERDUE"],
        &["gateway", "last", "age_seconds", "overdue"],
    ));
    out.push_str(&table(
        &s["sinks"],
        &["SINK", "LAG (RECORDS)", "BEHIND"],
        &["sink", "lag_records", "behind"],
    ));
    out
}

fn churn(s: &Value) -> String {
    let mut out = format!(
        "  grants issued: {}  used: {}  unused: {}  expired: {}  revoked: {}  active: {}\n  tokens created: {}  never used: {}\n",
        text(&s["grants_issued"]),
        text(&s["grants_used"]),
        text(&s["grants_unused"]),
        text(&s["grants_expired"]),
        text(&s["grants_revoked"]),
        text(&s["grants_active"]),
        text(&s["tokens_created"]),
        len(&s["tokens_never_used"]),
    );
    out.push_str(&table(
        &s["by_identity_target"],
        &[
            "IDENTITY", "TARGET", "ISSUED", "USED", "UNUSED", "EXPIRED", "REVOKED", "ACTIVE",
        ],
        &[
            "identity", "target", "issued", "used", "unused", "expired", "revoked", "active",
        ],
    ));
    out.push_str(&table(
        &s["unused_grants"],
        &["UNUSED GRANT", "IDENTITY", "TARGET", "ISSUED", "ENDED"],
        &["grant", "identity", "target", "issued_at", "ended"],
    ));
    out.push_str(&table(
        &s["repeated_requests"],
        &["REPEATED BY", "TARGET", "ACCESS", "REQUESTS", "APPROVED"],
        &["identity", "target", "access", "requests", "approved"],
    ));
    out.push_str(&table(
        &s["tokens_never_used"],
        &["UNUSED TOKEN", "IDENTITY", "PURPOSE", "CREATED"],
        &["token", "identity", "purpose", "created_at"],
    ));
    out
}

/// The rows of an array of objects as an indented table; nothing when it is empty.
fn table(rows: &Value, headers: &[&str], fields: &[&str]) -> String {
    let Some(rows) = rows.as_array().filter(|r| !r.is_empty()) else {
        return String::new();
    };
    let mut t = Table::new(headers);
    for row in rows {
        t.row(fields.iter().map(|f| text(&row[*f])).collect());
    }
    indent(&t.render())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn seconds(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}s"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().map(text).collect()
}

fn len(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}
