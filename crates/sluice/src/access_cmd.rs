//! `sluice access request | list | revoke | stats`: a requester asks a gateway for time-bound
//! access (granted at once by policy, or after review), and grants are listed and revoked.

use std::time::Duration;

use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::admin_client::{
    self as api, exact, one_line, printable, relative, AdminClient, Grant, Review, Table,
};
use crate::cli::{AccessArgs, AccessCommand};

/// How often `--wait` asks whether the review was decided.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

pub async fn run(args: AccessArgs) -> Result<()> {
    let client = AdminClient::connect(&args.connection)?;
    match args.command {
        AccessCommand::Request {
            target,
            duration,
            reason,
            scope,
            wait,
            wait_timeout,
            json,
        } => {
            api::parse_duration(&duration, "--duration")?;
            let wait = if wait {
                Some(api::parse_duration(&wait_timeout, "--wait-timeout")?)
            } else {
                None
            };
            let body = RequestBody {
                target,
                duration: duration.trim().to_owned(),
                scope,
                reason,
            };
            request(&client, &body, wait, json).await
        }
        AccessCommand::List {
            all,
            identity,
            target,
            json,
        } => list(&client, all, identity.as_deref(), target.as_deref(), json).await,
        AccessCommand::Revoke { id, comment } => revoke(&client, &id, comment).await,
        AccessCommand::Stats { since, json } => stats(&client, since.as_deref(), json).await,
    }
}

#[derive(Serialize)]
struct RequestBody {
    target: String,
    duration: String,
    scope: Option<String>,
    reason: String,
}

/// `POST /access` answers one of the two.
#[derive(serde::Deserialize)]
struct RequestAnswer {
    #[serde(default)]
    review: Option<Review>,
    #[serde(default)]
    grant: Option<Grant>,
}

async fn request(
    client: &AdminClient,
    body: &RequestBody,
    wait: Option<Duration>,
    json: bool,
) -> Result<()> {
    let answer: Value = client.post("/access", body).await?;
    let parsed: RequestAnswer = serde_json::from_value(answer.clone())?;
    let now = OffsetDateTime::now_utc();
    let review = match (parsed.grant, parsed.review) {
        (Some(grant), _) => {
            if json {
                return api::print_json(&answer);
            }
            println!("{}", granted_line(&grant, now));
            return Ok(());
        }
        (None, Some(review)) => review,
        (None, None) => bail!("the gateway's answer holds neither a review nor a grant"),
    };
    if !json {
        print!("{}", pending_text(&review));
    }
    let Some(timeout) = wait else {
        return if json {
            api::print_json(&answer)
        } else {
            Ok(())
        };
    };
    eprintln!(
        "waiting up to {} for a decision on {} (interrupting does not withdraw the request)",
        exact(timeout.as_secs()),
        review.id
    );
    let (decided, decided_json) = wait_for_decision(client, &review.id, timeout).await?;
    if json {
        api::print_json(&serde_json::json!({ "review": decided_json }))?;
    }
    let line = outcome_line(&decided);
    if decided.state != "approved" {
        bail!(line);
    }
    if !json {
        println!("{line}");
    }
    Ok(())
}

fn granted_line(g: &Grant, now: OffsetDateTime) -> String {
    format!(
        "granted {}: {} on {} (scope {}) until {} ({})",
        g.id,
        printable(&g.identity, false),
        printable(&g.target, false),
        printable(&g.scope, false),
        printable(&g.expires_at, false),
        relative(&g.expires_at, now)
    )
}

/// The review id and what a reviewer runs to decide it.
fn pending_text(r: &Review) -> String {
    let asked = r
        .access
        .as_ref()
        .map(|a| {
            format!(
                " for access to {} (scope {}) for {}",
                printable(&r.target, false),
                printable(&a.scope, false),
                exact(a.duration_seconds)
            )
        })
        .unwrap_or_default();
    let needs: Vec<String> = r.requirements.iter().map(|q| q.describe()).collect();
    let mut out = format!("{} is pending approval{asked}\n", r.id);
    if !needs.is_empty() {
        out.push_str(&format!("it needs {}\n", needs.join("; ")));
    }
    out.push_str(&format!(
        "a reviewer runs: sluice review approve {}\n",
        r.id
    ));
    out
}

/// Polls until the review leaves `pending`; returns it parsed and as the server sent it.
async fn wait_for_decision(
    client: &AdminClient,
    id: &str,
    timeout: Duration,
) -> Result<(Review, Value)> {
    let id = api::review_id(id)?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let answer: Value = client.get(&format!("/reviews/{id}")).await?;
        let review: Review = serde_json::from_value(answer.clone())?;
        if review.state != "pending" {
            return Ok((review, answer));
        }
        if tokio::time::Instant::now() + POLL_INTERVAL > deadline {
            bail!(
                "{id} is still pending after {}; it stays open (see: sluice review show {id})",
                exact(timeout.as_secs())
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// How a decided review ended, with who decided and the grant when there is one.
fn outcome_line(r: &Review) -> String {
    let by = |verdict: &str| {
        let who = r.reviewers(verdict);
        if who.is_empty() {
            String::new()
        } else {
            format!(" by {}", printable(&who.join(", "), false))
        }
    };
    match r.state.as_str() {
        "approved" => {
            let grant = r
                .grant
                .as_deref()
                .map(|g| format!("; grant {}", printable(g, false)))
                .unwrap_or_default();
            format!("{} approved{}{grant}", r.id, by("approve"))
        }
        "denied" => {
            let comments: Vec<String> = r
                .decisions
                .iter()
                .filter(|d| d.verdict == "deny")
                .filter_map(|d| d.comment.as_deref().map(|c| one_line(c, 200)))
                .collect();
            let why = if comments.is_empty() {
                String::new()
            } else {
                format!(": {}", comments.join("; "))
            };
            format!("{} denied{}{why}", r.id, by("deny"))
        }
        "expired" => format!("{} expired without a decision", r.id),
        state => format!("{} {}", r.id, printable(state, false)),
    }
}

async fn list(
    client: &AdminClient,
    all: bool,
    identity: Option<&str>,
    target: Option<&str>,
    json: bool,
) -> Result<()> {
    let state = if all { "all" } else { "active" };
    let path = format!(
        "/grants{}",
        api::query(&[
            ("state", Some(state)),
            ("identity", identity),
            ("target", target)
        ])
    );
    let grants = api::take_field(client.get(&path).await?, "grants")?;
    if json {
        return api::print_json(&grants);
    }
    let grants: Vec<Grant> = serde_json::from_value(grants)?;
    if grants.is_empty() {
        println!("{}", if all { "no grants" } else { "no active grants" });
        return Ok(());
    }
    print!("{}", grant_table(&grants, OffsetDateTime::now_utc()));
    Ok(())
}

fn grant_table(grants: &[Grant], now: OffsetDateTime) -> String {
    let mut table = Table::new(&[
        "ID",
        "IDENTITY",
        "TARGET",
        "SCOPE",
        "STATE",
        "EXPIRES",
        "APPROVERS",
        "REASON",
    ]);
    for g in grants {
        let approvers = if g.approvers.is_empty() {
            "-".to_owned()
        } else {
            g.approvers.join(",")
        };
        table.row(vec![
            g.id.clone(),
            g.identity.clone(),
            g.target.clone(),
            g.scope.clone(),
            g.state.clone(),
            relative(&g.expires_at, now),
            approvers,
            one_line(&g.reason, 60),
        ]);
    }
    table.render()
}

#[derive(Serialize)]
struct RevokeBody {
    comment: Option<String>,
}

async fn revoke(client: &AdminClient, id: &str, comment: Option<String>) -> Result<()> {
    let id = api::grant_id(id)?;
    let grant: Grant = client
        .post(&format!("/grants/{id}/revoke"), &RevokeBody { comment })
        .await?;
    match grant.state.as_str() {
        "revoked" => println!("{} revoked", grant.id),
        state => println!("{} is {}", grant.id, printable(state, false)),
    }
    Ok(())
}

/// What `GET /grants/stats` answers.
#[derive(serde::Deserialize, Debug)]
struct GrantStats {
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    identities: Vec<IdentityStats>,
}

#[derive(serde::Deserialize, Debug)]
struct IdentityStats {
    identity: String,
    #[serde(default)]
    issued: u64,
    #[serde(default)]
    expired: u64,
    #[serde(default)]
    revoked: u64,
    #[serde(default)]
    active: u64,
}

async fn stats(client: &AdminClient, since: Option<&str>, json: bool) -> Result<()> {
    if let Some(stats) = api::stats::<GrantStats>(client, "/grants/stats", since, json).await? {
        print!("{}", describe_stats(&stats));
    }
    Ok(())
}

fn describe_stats(s: &GrantStats) -> String {
    let window = api::stats_window(s.since.as_deref());
    if s.identities.is_empty() {
        return format!("grants ({window}): none\n");
    }
    let mut table = Table::new(&["IDENTITY", "ISSUED", "EXPIRED", "REVOKED", "ACTIVE"]);
    for i in &s.identities {
        table.row(vec![
            i.identity.clone(),
            i.issued.to_string(),
            i.expired.to_string(),
            i.revoked.to_string(),
            i.active.to_string(),
        ]);
    }
    format!("grants ({window}):\n{}", table.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn grant(json: Value) -> Grant {
        serde_json::from_value(json).unwrap()
    }

    fn review(json: Value) -> Review {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn grants_list_as_a_table() {
        let now = datetime!(2024-05-01 12:00:00 UTC);
        let grants = [
            grant(serde_json::json!({
                "id": "g-7", "identity": "alice", "target": "demo", "scope": "*",
                "reason": "incident\n12", "approvers": ["dana", "erin"], "review": "r-43",
                "created_at": "2024-05-01T11:00:00Z", "expires_at": "2024-05-01T12:45:00Z",
                "state": "active", "revoked_at": null, "revoked_by": null
            })),
            grant(serde_json::json!({
                "id": "g-8", "identity": "bob", "target": "prod", "scope": "read",
                "reason": "policy grants on-call at once", "approvers": [],
                "expires_at": "2024-05-01T10:00:00Z", "state": "expired"
            })),
        ];
        assert_eq!(
            grant_table(&grants, now),
            "ID   IDENTITY  TARGET  SCOPE  STATE    EXPIRES  APPROVERS  REASON\n\
             g-7  alice     demo    *      active   in 45m   dana,erin  incident 12\n\
             g-8  bob       prod    read   expired  2h ago   -          policy grants on-call at once\n"
        );
    }

    #[test]
    fn a_pending_request_names_the_reviewer_command() {
        let r = review(serde_json::json!({
            "id": "r-43", "kind": "access", "state": "pending", "target": "demo",
            "access": {"scope": "*", "duration_seconds": 3600, "reason": "x"},
            "requirements": [{"groups": ["dba"], "approvals": 1}]
        }));
        assert_eq!(
            pending_text(&r),
            "r-43 is pending approval for access to demo (scope *) for 1h\n\
             it needs 1 approval from dba\n\
             a reviewer runs: sluice review approve r-43\n"
        );
    }

    #[test]
    fn outcomes_name_deciders_grant_and_reason() {
        let approved = review(serde_json::json!({
            "id": "r-43", "state": "approved", "grant": "g-7",
            "decisions": [{"reviewer": "dana", "verdict": "approve", "at": "t"}]
        }));
        assert_eq!(outcome_line(&approved), "r-43 approved by dana; grant g-7");
        let denied = review(serde_json::json!({
            "id": "r-44", "state": "denied",
            "decisions": [{"reviewer": "erin", "verdict": "deny", "comment": "too broad", "at": "t"}]
        }));
        assert_eq!(outcome_line(&denied), "r-44 denied by erin: too broad");
        let expired = review(serde_json::json!({"id": "r-45", "state": "expired"}));
        assert_eq!(outcome_line(&expired), "r-45 expired without a decision");
    }

    #[test]
    fn stats_are_a_table_per_identity() {
        let stats: GrantStats = serde_json::from_value(serde_json::json!({
            "since": null,
            "identities": [{"identity": "alice", "issued": 3, "expired": 1, "revoked": 1, "active": 1}]
        }))
        .unwrap();
        assert_eq!(
            describe_stats(&stats),
            "grants (all time):\nIDENTITY  ISSUED  EXPIRED  REVOKED  ACTIVE\nalice     3       1        1        1\n"
        );
    }
}
