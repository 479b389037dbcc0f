//! `sluice review list | show | approve | deny | stats`: what a reviewer runs against a
//! gateway's admin API to see the requests waiting for approval and decide them.

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::admin_client::{
    self as api, age, exact, human_seconds, one_line, printable, when, AdminClient, Review, Table,
};
use crate::cli::{ReviewArgs, ReviewCommand};

pub async fn run(args: ReviewArgs) -> Result<()> {
    let client = AdminClient::connect(&args.connection)?;
    match args.command {
        ReviewCommand::List { all, json } => list(&client, all, json).await,
        ReviewCommand::Show { id, json } => show(&client, &id, json).await,
        ReviewCommand::Approve {
            id,
            comment,
            grant,
            scope,
        } => approve(&client, &id, comment, grant, scope).await,
        ReviewCommand::Deny { id, comment } => deny(&client, &id, comment).await,
        ReviewCommand::Stats { since, json } => stats(&client, since.as_deref(), json).await,
    }
}

async fn list(client: &AdminClient, all: bool, json: bool) -> Result<()> {
    let state = if all { "all" } else { "pending" };
    let answer: Value = client
        .get(&format!(
            "/reviews{}",
            api::query(&[("state", Some(state))])
        ))
        .await?;
    let reviews = api::take_field(answer, "reviews")?;
    if json {
        return api::print_json(&reviews);
    }
    let reviews: Vec<Review> = serde_json::from_value(reviews)?;
    if reviews.is_empty() {
        println!(
            "{}",
            if all {
                "no reviews"
            } else {
                "no pending reviews"
            }
        );
        return Ok(());
    }
    print!("{}", review_table(&reviews, OffsetDateTime::now_utc()));
    Ok(())
}

fn review_table(reviews: &[Review], now: OffsetDateTime) -> String {
    let mut table = Table::new(&["ID", "STATE", "KIND", "REQUESTER", "TARGET", "AGE", "WHAT"]);
    for r in reviews {
        table.row(vec![
            r.id.clone(),
            r.state.clone(),
            r.kind.clone(),
            r.requester.clone(),
            r.target.clone(),
            age(&r.created_at, now),
            what(r),
        ]);
    }
    table.render()
}

/// What the review would let through, in one short line.
pub fn what(r: &Review) -> String {
    match (&r.access, &r.statement) {
        (Some(a), _) => format!("access {} for {}", a.scope, exact(a.duration_seconds)),
        (None, Some(statement)) => one_line(statement, 60),
        (None, None) => String::new(),
    }
}

async fn show(client: &AdminClient, id: &str, json: bool) -> Result<()> {
    let id = api::review_id(id)?;
    let answer: Value = client.get(&format!("/reviews/{id}")).await?;
    if json {
        return api::print_json(&answer);
    }
    let review: Review = serde_json::from_value(answer)?;
    print!("{}", describe(&review, OffsetDateTime::now_utc()));
    Ok(())
}

/// Every field, labelled; the statement in full, since that is what the reviewer approves.
pub fn describe(r: &Review, now: OffsetDateTime) -> String {
    let mut out = format!("review {} ({}): {}\n", r.id, r.kind, r.state);
    let mut field = |label: &str, value: &str| {
        out.push_str(&format!("{:<11}{}\n", format!("{label}:"), value));
    };
    field("requester", &printable(&r.requester, false));
    let database = r
        .database
        .as_deref()
        .map(|d| format!(", database {}", printable(d, false)))
        .unwrap_or_default();
    field(
        "target",
        &format!("{}{database}", printable(&r.target, false)),
    );
    if let Some(session) = &r.session {
        field("session", &printable(session, false));
    }
    field("reason", &one_line(&r.reason, usize::MAX));
    field("rule", &printable(&r.rule, false));
    field("policy", &printable(&r.policy, false));
    field("created", &when(&r.created_at, now));
    field("expires", &when(&r.expires_at, now));
    if let Some(decided) = &r.decided_at {
        field("decided", &when(decided, now));
    }
    if let Some(grant) = &r.grant {
        field("grant", &printable(grant, false));
    }
    if let Some(url) = &r.url {
        field("url", &printable(url, false));
    }
    out.push_str(&requirements_block(r));
    out.push_str(&decisions_block(r));
    out.push_str(&request_block(r));
    out
}

fn requirements_block(r: &Review) -> String {
    let mut out = String::from("requires:\n");
    if r.requirements.is_empty() {
        out.push_str("  (nothing listed)\n");
    }
    for req in &r.requirements {
        out.push_str(&format!("  {}\n", req.describe()));
    }
    out
}

fn decisions_block(r: &Review) -> String {
    let mut out = String::from("decisions:\n");
    if r.decisions.is_empty() {
        out.push_str("  (none yet)\n");
    }
    for d in &r.decisions {
        let comment = d
            .comment
            .as_deref()
            .map(|c| format!(": {}", one_line(c, usize::MAX)))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {} {} by {}{comment}\n",
            printable(&d.at, false),
            printable(&d.verdict, false),
            printable(&d.reviewer, false)
        ));
    }
    out
}

/// The statement (with its bound parameters) or the access asked for.
fn request_block(r: &Review) -> String {
    let mut out = String::new();
    if let Some(statement) = &r.statement {
        out.push_str("statement:\n");
        for line in printable(statement, true).lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    if let Some(parameters) = &r.parameters {
        out.push_str("parameters:\n");
        for (i, p) in parameters.iter().enumerate() {
            let value = match p {
                Some(v) => format!("{:?}", printable(v, false)),
                None => "NULL".to_owned(),
            };
            out.push_str(&format!("  ${} = {value}\n", i + 1));
        }
    }
    if let Some(a) = &r.access {
        out.push_str("access:\n");
        out.push_str(&format!("  scope:    {}\n", printable(&a.scope, false)));
        out.push_str(&format!("  duration: {}\n", exact(a.duration_seconds)));
        out.push_str(&format!(
            "  reason:   {}\n",
            one_line(&a.reason, usize::MAX)
        ));
    }
    out
}

#[derive(Serialize)]
struct ApproveBody {
    comment: Option<String>,
    grant: Option<String>,
    scope: Option<String>,
}

#[derive(Serialize)]
struct DenyBody {
    comment: Option<String>,
}

async fn approve(
    client: &AdminClient,
    id: &str,
    comment: Option<String>,
    grant: Option<String>,
    scope: Option<String>,
) -> Result<()> {
    let id = api::review_id(id)?;
    if let Some(g) = &grant {
        api::parse_duration(g, "--grant")?;
    }
    let body = ApproveBody {
        comment,
        grant: grant.map(|g| g.trim().to_owned()),
        scope,
    };
    let review: Review = client
        .post(&format!("/reviews/{id}/approve"), &body)
        .await?;
    println!("{}", decision_line(&review, "approved"));
    Ok(())
}

async fn deny(client: &AdminClient, id: &str, comment: Option<String>) -> Result<()> {
    let id = api::review_id(id)?;
    let review: Review = client
        .post(&format!("/reviews/{id}/deny"), &DenyBody { comment })
        .await?;
    println!("{}", decision_line(&review, "denied"));
    Ok(())
}

/// The review's state after the caller's decision (`done`: "approved" or "denied"). The client
/// cannot know which groups a reviewer counts for, so a still-pending review reports approve
/// decisions against the sum of approvals required.
pub fn decision_line(r: &Review, done: &str) -> String {
    match r.state.as_str() {
        "pending" => format!(
            "{} {done} by you; still pending: {} of {} approvals recorded",
            r.id,
            r.approvals_recorded(),
            r.approvals_required()
        ),
        "approved" => match &r.grant {
            Some(g) => format!("{} approved; grant {}", r.id, printable(g, false)),
            None => format!("{} approved", r.id),
        },
        state => format!("{} {}", r.id, printable(state, false)),
    }
}

/// What `GET /reviews/stats` answers.
#[derive(serde::Deserialize, Debug, Default)]
struct ReviewStats {
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    total: u64,
    #[serde(default)]
    pending: u64,
    #[serde(default)]
    approved: u64,
    #[serde(default)]
    denied: u64,
    #[serde(default)]
    expired: u64,
    #[serde(default)]
    cancelled: u64,
    #[serde(default)]
    latency_seconds: Latency,
}

#[derive(serde::Deserialize, Debug, Default)]
struct Latency {
    #[serde(default)]
    count: u64,
    #[serde(default)]
    mean: Option<f64>,
    #[serde(default)]
    p50: Option<f64>,
    #[serde(default)]
    p90: Option<f64>,
    #[serde(default)]
    p99: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
}

async fn stats(client: &AdminClient, since: Option<&str>, json: bool) -> Result<()> {
    if let Some(stats) = api::stats::<ReviewStats>(client, "/reviews/stats", since, json).await? {
        print!("{}", describe_stats(&stats));
    }
    Ok(())
}

fn describe_stats(s: &ReviewStats) -> String {
    let window = api::stats_window(s.since.as_deref());
    let mut out = format!(
        "reviews ({window}): {} total\n  pending {}, approved {}, denied {}, expired {}, cancelled {}\n",
        s.total, s.pending, s.approved, s.denied, s.expired, s.cancelled
    );
    let l = &s.latency_seconds;
    if l.count == 0 {
        out.push_str("time to decision: no decisions yet\n");
        return out;
    }
    let figures: Vec<String> = [
        ("mean", l.mean),
        ("p50", l.p50),
        ("p90", l.p90),
        ("p99", l.p99),
        ("max", l.max),
    ]
    .iter()
    .filter_map(|(name, v)| v.map(|v| format!("{name} {}", human_seconds(v))))
    .collect();
    out.push_str(&format!(
        "time to decision ({} decided): {}\n",
        l.count,
        figures.join(", ")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn review(json: Value) -> Review {
        serde_json::from_value(json).unwrap()
    }

    fn statement_review() -> Review {
        review(serde_json::json!({
            "id": "r-42", "kind": "statement", "state": "pending", "requester": "alice",
            "target": "demo", "database": "demo", "session": "s_1",
            "statement": "DELETE FROM orders\n  WHERE created_at < now() - interval '1 year' AND status = 'closed' AND x = $1",
            "parameters": ["7", null],
            "access": null, "reason": "deletes need a second pair of eyes",
            "rule": "data.sluice.review_deletes", "policy": "sha256:abc",
            "requirements": [{"groups": ["dba"], "approvals": 1}, {"groups": ["sec", "sre"], "approvals": 2}],
            "decisions": [{"reviewer": "dana", "verdict": "approve", "comment": "ok", "at": "2024-05-01T11:55:00Z"}],
            "created_at": "2024-05-01T11:48:00Z", "expires_at": "2024-05-01T12:48:00Z",
            "decided_at": null, "grant": null, "url": "http://gw/reviews/r-42",
            "a_field_from_a_newer_server": {"x": 1}
        }))
    }

    fn access_review() -> Review {
        review(serde_json::json!({
            "id": "r-43", "kind": "access", "state": "approved", "requester": "bob",
            "target": "prod", "created_at": "2024-04-30T12:00:00Z",
            "access": {"scope": "*", "duration_seconds": 5400, "reason": "incident 12"},
            "grant": "g-7"
        }))
    }

    #[test]
    fn the_list_is_a_table_with_a_short_what() {
        let now = datetime!(2024-05-01 12:00:00 UTC);
        let table = review_table(&[statement_review(), access_review()], now);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "ID    STATE     KIND       REQUESTER  TARGET  AGE  WHAT"
        );
        assert_eq!(
            lines[1],
            "r-42  pending   statement  alice      demo    12m  DELETE FROM orders WHERE created_at < now() - interval '1 y…"
        );
        assert_eq!(
            lines[2],
            "r-43  approved  access     bob        prod    1d   access * for 1h30m"
        );
    }

    #[test]
    fn show_includes_requirements_decisions_statement_and_parameters() {
        let now = datetime!(2024-05-01 12:00:00 UTC);
        let text = describe(&statement_review(), now);
        for expected in [
            "review r-42 (statement): pending\n",
            "target:    demo, database demo\n",
            "created:   2024-05-01T11:48:00Z (12m ago)\n",
            "expires:   2024-05-01T12:48:00Z (in 48m)\n",
            "  1 approval from dba\n",
            "  2 approvals from sec or sre\n",
            "  2024-05-01T11:55:00Z approve by dana: ok\n",
            "statement:\n    DELETE FROM orders\n      WHERE created_at",
            "  $1 = \"7\"\n  $2 = NULL\n",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
        let text = describe(&access_review(), now);
        assert!(
            text.contains("access:\n  scope:    *\n  duration: 1h30m\n  reason:   incident 12\n")
        );
    }

    #[test]
    fn a_still_pending_review_reports_approvals_recorded_against_required() {
        assert_eq!(
            decision_line(&statement_review(), "approved"),
            "r-42 approved by you; still pending: 1 of 3 approvals recorded"
        );
        assert_eq!(
            decision_line(&access_review(), "approved"),
            "r-43 approved; grant g-7"
        );
        let denied = review(serde_json::json!({"id": "r-44", "state": "denied"}));
        assert_eq!(decision_line(&denied, "denied"), "r-44 denied");
    }

    #[test]
    fn stats_read_as_counts_and_latency_percentiles() {
        let stats: ReviewStats = serde_json::from_value(serde_json::json!({
            "since": "2024-05-01T00:00:00Z", "total": 12, "pending": 2, "approved": 7,
            "denied": 1, "expired": 1, "cancelled": 1,
            "latency_seconds": {"count": 9, "mean": 20.0, "p50": 12.34, "p90": 65.0, "p99": 300.0, "max": 301.0}
        }))
        .unwrap();
        assert_eq!(
            describe_stats(&stats),
            "reviews (since 2024-05-01T00:00:00Z): 12 total\n  pending 2, approved 7, denied 1, expired 1, cancelled 1\n\
             time to decision (9 decided): mean 20.0s, p50 12.3s, p90 1m05s, p99 5m00s, max 5m01s\n"
        );
        let empty: ReviewStats = serde_json::from_value(serde_json::json!({
            "since": null, "total": 0,
            "latency_seconds": {"count": 0, "mean": null, "p50": null, "p90": null, "p99": null, "max": null}
        }))
        .unwrap();
        assert!(describe_stats(&empty).ends_with("time to decision: no decisions yet\n"));
    }
}
