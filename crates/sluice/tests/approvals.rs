#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Just-in-time approval end to end: statements held by policy inside live psql and
//! tokio-postgres sessions, released, denied, timed out or cancelled by what reviewers (the
//! real `sluice review` CLI and the admin API) and clients do; time-bound grants that lift the
//! hold and lapse mid-session; signed webhooks to a local receiver; and the evidence in audit,
//! `review stats` and /metrics.

mod support;

use std::process::Output;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use sluice_audit::AuditEvent;
use support::api::{http, raw_get, webhook_receiver};
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// DELETE waits for one dba (and is masked, so reviewers see its text masked); UPDATE waits
/// for two; a grant of scope `write` lifts both; requests for access wait for one dba.
const POLICY: &str = r#"package sluice

import rego.v1

command := input.request.statement.command if input.request.action == "statement"

write_grant if {
	some g in input.grants
	g.scope == "write"
}

decision := {
	"allow": true,
	"rule": "delete_needs_dba",
	"reasons": ["deleting rows"],
	"approval": {"groups": ["dba"]},
	"mask": {"content": [{"detector": "*", "strategy": "redact"}]},
} if {
	command == "DELETE"
	not write_grant
} else := {
	"allow": true,
	"rule": "update_needs_two",
	"reasons": ["updating rows"],
	"approval": {"groups": ["dba"], "approvals": 2},
} if {
	command == "UPDATE"
	not write_grant
} else := {
	"allow": false,
	"rule": "no_root_scope",
	"reasons": ["nobody gets scope root"],
} if {
	input.request.action == "access"
	input.request.scope == "root"
} else := {
	"allow": true,
	"rule": "access_needs_dba",
	"reasons": ["a window of access"],
	"approval": {"groups": ["dba"]},
} if {
	input.request.action == "access"
} else := {"allow": true, "rule": "allow_all", "reasons": []}
"#;

const PEOPLE: [(&str, &str); 4] = [
    ("rita", "developers"),
    ("dana", "dba"),
    ("dave", "dba"),
    ("otto", "analysts"),
];

struct Approvals {
    h: Harness,
    admin: String,
    table: String,
}

impl std::ops::Deref for Approvals {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.h
    }
}

impl Approvals {
    /// A gateway enforcing [`POLICY`] with `extra` configuration, and a table of its own.
    async fn start(name: &str, extra: &str) -> Approvals {
        let dir = tempfile::Builder::new()
            .prefix("sluice-approvals-policy-")
            .tempdir()
            .unwrap()
            .keep();
        std::fs::write(dir.join("policy.rego"), POLICY).unwrap();
        let mut people = String::new();
        for (who, group) in PEOPLE {
            people.push_str(&format!(
                "\n[[identities]]\nname = \"{who}\"\nkind = \"human\"\ngroups = [\"{group}\"]\n"
            ));
        }
        let extra = extra.to_owned();
        let mut h = Harness::start_with_config(move |text| {
            text + &people
                + &format!(
                    "\n[policy]\ndir = \"{}\"\nwatch = false\n{extra}\n",
                    dir.display()
                )
        })
        .await;
        h.add_tokens(&PEOPLE.map(|(who, _)| who)).await;
        let admin = h.admin_url();
        let table = format!("approvals_{name}");
        let pg = pg();
        pg.psql(
            "app",
            &format!(
                "SET ROLE sluice_scram; DROP TABLE IF EXISTS {table};\n\
                 CREATE TABLE {table} (id int PRIMARY KEY, note text);\n\
                 INSERT INTO {table} SELECT g, 'row ' || g || ' of ada@example.com' FROM generate_series(1, 20) g;"
            ),
        )
        .unwrap();
        Approvals { h, admin, table }
    }

    /// psql as `who` running `sql` on `app`, in the background.
    fn psql_bg(&self, who: &str, sql: &str) -> tokio::task::JoinHandle<Output> {
        self.h.psql_bg(who, "app", sql)
    }

    /// `sluice review|access ...` as `who`.
    async fn cli(&self, who: &str, args: &[&str]) -> Output {
        tokio::process::Command::new(BIN)
            .args(args)
            .env("SLUICE_SERVER", &self.admin)
            .env("SLUICE_TOKEN", self.token(who))
            .output()
            .await
            .unwrap()
    }

    /// One admin API call as `who`: status and JSON body.
    async fn api(&self, who: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        http(&self.admin, method, path, Some(self.token(who)), body).await
    }

    /// Waits for the one pending review and returns it.
    async fn pending_review(&self) -> Value {
        poll_until(Duration::from_secs(10), || async {
            let (status, body) = self.api("dana", "GET", "/reviews", None).await;
            assert_eq!(status, 200, "{body}");
            body["reviews"].as_array().unwrap().first().cloned()
        })
        .await
        .expect("no review was opened")
    }

    async fn review_state(&self, id: &str) -> String {
        let (_, body) = self
            .api("dana", "GET", &format!("/reviews/{id}"), None)
            .await;
        body["state"].as_str().unwrap().to_owned()
    }
}

fn both(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_delete_runs_once_approved_and_returns_rows() {
    let a = Approvals::start("approved", "").await;
    let sql = format!(
        "DELETE FROM {} WHERE id = 1 AND note <> 'call 555-867-5309' RETURNING id, note",
        a.table
    );
    let client = a.psql_bg("rita", &sql);
    let review = a.pending_review().await;
    let id = review["id"].as_str().unwrap().to_owned();
    assert_eq!(review["requester"], "rita");
    assert_eq!(review["kind"], "statement");
    assert_eq!(review["rule"], "delete_needs_dba");
    assert_eq!(review["requirements"][0]["groups"], json!(["dba"]));
    // Reviewers see the text masked by the decision's own rules.
    let shown = review["statement"].as_str().unwrap();
    assert!(!shown.contains("555-867-5309"), "{shown}");
    assert!(shown.starts_with("DELETE FROM"), "{shown}");
    // The protocol-neutral view says the same: a one-line summary and the request as JSON,
    // masked alike.
    assert_eq!(review["protocol"], "postgres");
    let summary = review["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("DELETE FROM") && !summary.contains('\n'),
        "{summary}"
    );
    assert!(!summary.contains("555-867-5309"), "{summary}");
    assert_eq!(review["request"]["kind"], "sql");
    assert_eq!(review["request"]["dialect"], "postgresql");
    assert_eq!(review["request"]["statement"], review["statement"]);
    assert!(review["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/reviews/{id}")));

    // The CLI lists and shows it.
    let list = a.cli("dana", &["review", "list"]).await;
    assert!(list.status.success(), "{}", both(&list));
    assert!(stdout(&list).contains(&id), "{}", both(&list));
    let show = a.cli("dana", &["review", "show", &id, "--json"]).await;
    assert!(show.status.success(), "{}", both(&show));

    let approved = Instant::now();
    let out = a
        .cli(
            "dana",
            &["review", "approve", &id, "--comment", "looks fine"],
        )
        .await;
    assert!(out.status.success(), "{}", both(&out));
    let out = client.await.unwrap();
    let released = approved.elapsed();
    assert!(out.status.success(), "{}", both(&out));
    // Run as the policy decided it: results masked by the same decision.
    assert_eq!(stdout(&out), "1|row 1 of ****\nDELETE 1\n");
    assert!(
        stderr(&out).contains(&format!(
            "statement held for approval as review {id}; approve with \"sluice review approve {id}\""
        )),
        "{}",
        stderr(&out)
    );
    // Includes the CLI's own run and psql's exit; the release itself is a wakeup.
    assert!(
        released < Duration::from_secs(3),
        "released after {released:?}"
    );

    // The evidence: the statement record held, the review requested, decided and settled,
    // and the statement's result.
    let audit = a.audit().await;
    let mut seen = Vec::new();
    for r in &audit {
        match &r.event {
            AuditEvent::Statement { text, decision, .. } if text == &sql => {
                assert_eq!(decision.verdict, "hold");
                seen.push("statement");
            }
            AuditEvent::ReviewRequested {
                review,
                summary,
                requirements,
                ..
            } if review == &id => {
                assert!(!summary.contains("555-867-5309"));
                assert_eq!(requirements, &["1 of dba"]);
                seen.push("requested");
            }
            AuditEvent::ReviewerDecided {
                review,
                reviewer,
                verdict,
                comment,
            } if review == &id => {
                assert_eq!((reviewer.as_str(), verdict.as_str()), ("dana", "approve"));
                assert_eq!(comment.as_deref(), Some("looks fine"));
                seen.push("decided");
            }
            AuditEvent::ReviewSettled {
                review,
                state,
                approvers,
                ..
            } if review == &id => {
                assert_eq!(state, "approved");
                assert_eq!(approvers, &["dana"]);
                seen.push("settled");
            }
            AuditEvent::StatementResult {
                identity,
                rows,
                outcome,
                ..
            } if identity == "rita" && seen.contains(&"settled") => {
                assert_eq!(*outcome, sluice_audit::Outcome::Ok);
                assert_eq!(*rows, Some(1));
                seen.push("result");
            }
            _ => {}
        }
    }
    assert_eq!(
        seen,
        ["statement", "requested", "decided", "settled", "result"]
    );

    // Stats and metrics carry the latency.
    let stats = a.cli("dana", &["review", "stats", "--json"]).await;
    assert!(stats.status.success(), "{}", both(&stats));
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["approved"], 1);
    assert_eq!(stats["latency_seconds"]["count"], 1);
    let (_, metrics) = raw_get(&a.admin, "/metrics").await;
    assert!(
        metrics.contains("sluice_approval_latency_seconds_count 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_reviews_settled_total{kind=\"statement\",state=\"approved\"} 1"),
        "{metrics}"
    );
    a.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_review_refuses_with_the_comment_and_the_session_goes_on() {
    let a = Approvals::start("denied", "").await;
    let client = a.psql_bg(
        "rita",
        &format!(
            "DELETE FROM {} WHERE id = 2; SELECT count(*) FROM {};",
            a.table, a.table
        ),
    );
    let id = a.pending_review().await["id"].as_str().unwrap().to_owned();
    let (status, body) = a
        .api(
            "dana",
            "POST",
            &format!("/reviews/{id}/deny"),
            Some(json!({"comment": "not during the sale"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "denied");
    let out = client.await.unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("review {id} denied by dana: not during the sale")),
        "{}",
        stderr(&out)
    );
    // Nothing was deleted, and the session carries on (psql without -c string errors stops;
    // a fresh statement in a new session proves the row is there).
    let out = a.psql(
        "rita",
        "app",
        &[
            "-At",
            "-c",
            &format!("SELECT count(*) FROM {} WHERE id = 2", a.table),
        ],
    );
    assert_eq!(stdout(&out), "1\n", "{}", both(&out));
    // A decided review cannot be decided again.
    let (status, body) = a
        .api("dave", "POST", &format!("/reviews/{id}/approve"), None)
        .await;
    assert_eq!(status, 409, "{body}");
    a.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecided_review_times_out() {
    let a = Approvals::start("timeout", "[approvals]\ntimeout = \"2s\"\n").await;
    let started = Instant::now();
    let out = a
        .psql_bg("rita", &format!("DELETE FROM {} WHERE id = 3", a.table))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("was not decided within 2s"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let (_, body) = a.api("dana", "GET", "/reviews?state=all", None).await;
    assert_eq!(body["reviews"][0]["state"], "expired");
    a.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requester_and_outsiders_cannot_approve_and_the_driver_gets_its_rows() {
    let a = Approvals::start("driver", "").await;
    let (client, connection) =
        tokio_postgres::connect(&a.conninfo("rita", "app"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    let table = a.table.clone();
    // Extended protocol: Parse, Bind with a parameter, Execute; held at Execute.
    let query = tokio::spawn(async move {
        client
            .query(
                &format!("DELETE FROM {table} WHERE id = $1 RETURNING id"),
                &[&4i32],
            )
            .await
            .map(|rows| rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>())
    });
    let review = a.pending_review().await;
    let id = review["id"].as_str().unwrap().to_owned();
    // Reviewers see the bound values (tokio-postgres binds in binary: hex).
    assert_eq!(review["parameters"], json!(["\\x00000004"]));

    let own = a.cli("rita", &["review", "approve", &id]).await;
    assert!(!own.status.success());
    assert!(both(&own).contains("cannot decide it"), "{}", both(&own));
    // Someone who can neither decide it nor asked for it does not see it at all.
    let (status, _) = a.api("otto", "GET", &format!("/reviews/{id}"), None).await;
    assert_eq!(status, 404);
    let (_, body) = a.api("otto", "GET", "/reviews", None).await;
    assert_eq!(body["reviews"], json!([]));
    let (status, _) = a.api("rita", "GET", &format!("/reviews/{id}"), None).await;
    assert_eq!(status, 200);
    let (status, body) = a
        .api("otto", "POST", &format!("/reviews/{id}/approve"), None)
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("in none of those groups"));
    let (status, _) = http(&a.admin, "GET", "/reviews", Some("slc_not-a-token"), None).await;
    assert_eq!(status, 401);
    let (status, _) = http(&a.admin, "GET", "/reviews", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(a.review_state(&id).await, "pending");

    let (status, body) = a
        .api("dana", "POST", &format!("/reviews/{id}/approve"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(query.await.unwrap().unwrap(), vec![4]);
    a.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_distinct_approvals_are_required() {
    let a = Approvals::start("two", "").await;
    let client = a.psql_bg(
        "rita",
        &format!(
            "UPDATE {} SET note = 'x' WHERE id = 5 RETURNING note",
            a.table
        ),
    );
    let id = a.pending_review().await["id"].as_str().unwrap().to_owned();
    let first = a.cli("dana", &["review", "approve", &id]).await;
    assert!(first.status.success(), "{}", both(&first));
    assert_eq!(a.review_state(&id).await, "pending");
    let again = a.cli("dana", &["review", "approve", &id]).await;
    assert!(!again.status.success());
    assert!(both(&again).contains("already decided"), "{}", both(&again));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!client.is_finished(), "released after one approval");
    let second = a.cli("dave", &["review", "approve", &id]).await;
    assert!(second.status.success(), "{}", both(&second));
    let out = client.await.unwrap();
    assert_eq!(stdout(&out), "x\nUPDATE 1\n", "{}", both(&out));
    let (_, body) = a.api("dana", "GET", &format!("/reviews/{id}"), None).await;
    assert_eq!(body["state"], "approved");
    assert_eq!(body["decisions"].as_array().unwrap().len(), 2);
    a.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_cancels_the_review() {
    let a = Approvals::start("disconnect", "").await;
    let (mut c, _) = a.raw_login("rita", "app").await;
    c.send(&query_msg(&format!("DELETE FROM {} WHERE id = 6", a.table)))
        .await;
    let notice = c.recv().await;
    assert_eq!(notice.tag, b'N');
    let id = a.pending_review().await["id"].as_str().unwrap().to_owned();
    assert!(notice.message().unwrap().contains(&id));
    drop(c);
    let state = poll_until(Duration::from_secs(5), || async {
        let s = a.review_state(&id).await;
        (s != "pending").then_some(s)
    })
    .await;
    assert_eq!(state.as_deref(), Some("cancelled"));
    let (status, _) = a
        .api("dana", "POST", &format!("/reviews/{id}/approve"), None)
        .await;
    assert_eq!(status, 409);
    let out = a.psql(
        "rita",
        "app",
        &[
            "-At",
            "-c",
            &format!("SELECT count(*) FROM {} WHERE id = 6", a.table),
        ],
    );
    assert_eq!(stdout(&out), "1\n");
    a.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_request_cancels_the_review_and_the_session_goes_on() {
    let a = Approvals::start("cancel", "").await;
    let (mut c, greeting) = a.raw_login("rita", "app").await;
    let key = greeting.iter().find(|m| m.tag == b'K').unwrap();
    c.send(&query_msg(&format!(
        "DELETE FROM {} WHERE id = 12",
        a.table
    )))
    .await;
    assert_eq!(c.recv().await.tag, b'N');
    let id = a.pending_review().await["id"].as_str().unwrap().to_owned();
    // psql's Ctrl-C: a CancelRequest on a connection of its own, with the session's key.
    let mut cancel = RawClient::connect(a.port()).await;
    cancel.send(&startup_packet(80877102, &key.body)).await;
    let answer = c.until_ready().await;
    let error = answer.iter().find(|m| m.tag == b'E').unwrap();
    assert_eq!(error.sqlstate().as_deref(), Some("42501"));
    assert!(
        error.message().unwrap().contains("cancelled"),
        "{:?}",
        error.message()
    );
    assert_eq!(a.review_state(&id).await, "cancelled");
    // The session is still usable.
    c.send(&query_msg("SELECT 1")).await;
    let answer = c.until_ready().await;
    assert!(answer.iter().any(|m| m.tag == b'D'));
    a.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_lifts_the_hold_and_expires_mid_session() {
    let a = Approvals::start("grant", "").await;
    let out = a
        .cli(
            "rita",
            &[
                "access",
                "request",
                "app",
                "--duration",
                "4s",
                "--scope",
                "write",
                "--reason",
                "incident 7",
                "--json",
            ],
        )
        .await;
    assert!(out.status.success(), "{}", both(&out));
    let review = a.pending_review().await;
    assert_eq!(review["kind"], "access");
    assert_eq!(review["protocol"], "api");
    assert_eq!(review["request"]["kind"], "access");
    let id = review["id"].as_str().unwrap().to_owned();

    // One session, open before the grant: the next statement is decided with it.
    let (client, connection) =
        tokio_postgres::connect(&a.conninfo("rita", "app"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    let (status, body) = a
        .api("dana", "POST", &format!("/reviews/{id}/approve"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let grant = body["grant"].as_str().unwrap().to_owned();
    let list = a.cli("rita", &["access", "list", "--json"]).await;
    assert!(stdout(&list).contains(&grant), "{}", both(&list));

    let deleted = client
        .execute(
            &format!("DELETE FROM {} WHERE id = 7", a.table) as &str,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        deleted, 1,
        "the grant should have let the DELETE through unheld"
    );

    // After the expiry, the same session's next DELETE is held again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let table = a.table.clone();
    let held = tokio::spawn(async move {
        client
            .execute(&format!("DELETE FROM {table} WHERE id = 8") as &str, &[])
            .await
    });
    let review = a.pending_review().await;
    assert_eq!(review["kind"], "statement");
    let (status, _) = a
        .api(
            "dana",
            "POST",
            &format!("/reviews/{}/deny", review["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let err = held.await.unwrap().unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );

    // Churn: one issued, now expired, and its expiry audited.
    let churn = poll_until(Duration::from_secs(5), || async {
        let (_, body) = a.api("dana", "GET", "/grants/stats", None).await;
        (body["identities"][0]["expired"] == 1).then_some(body)
    })
    .await
    .expect("the expiry was not counted");
    assert_eq!(churn["identities"][0]["identity"], "rita");
    assert_eq!(churn["identities"][0]["issued"], 1);
    let audit = a.audit().await;
    assert!(audit
        .iter()
        .any(|r| matches!(&r.event, AuditEvent::GrantIssued { grant: g, .. } if g == &grant)));
    assert!(audit
        .iter()
        .any(|r| matches!(&r.event, AuditEvent::GrantExpired { grant: g, .. } if g == &grant)));
    a.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_grant_stops_counting_at_once() {
    let a = Approvals::start("revoke", "").await;
    let (status, body) = a
        .api(
            "rita",
            "POST",
            "/access",
            Some(
                json!({"target": "app", "duration": "1h", "scope": "write", "reason": "backfill"}),
            ),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["review"]["id"].as_str().unwrap().to_owned();
    let (_, body) = a
        .api("dana", "POST", &format!("/reviews/{id}/approve"), None)
        .await;
    let grant = body["grant"].as_str().unwrap().to_owned();
    let out = a.psql(
        "rita",
        "app",
        &[
            "-At",
            "-c",
            &format!("DELETE FROM {} WHERE id = 9", a.table),
        ],
    );
    assert!(out.status.success(), "{}", both(&out));
    let revoke = a
        .cli("dana", &["access", "revoke", &grant, "--comment", "done"])
        .await;
    assert!(revoke.status.success(), "{}", both(&revoke));
    let (status, _) = a
        .api("otto", "POST", &format!("/grants/{grant}/revoke"), None)
        .await;
    assert_eq!(status, 403);
    // A request the policy refuses outright is refused and audited.
    let (status, body) = a
        .api(
            "rita",
            "POST",
            "/access",
            Some(json!({"target": "app", "duration": "1h", "scope": "root", "reason": "x"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("no_root_scope"),
        "{body}"
    );
    let (status, _) = a
        .api(
            "rita",
            "POST",
            "/access",
            Some(json!({"target": "app", "duration": "90d", "reason": "x"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(a.audit().await.iter().any(
        |r| matches!(&r.event, AuditEvent::AccessRefused { rule, .. } if rule == "no_root_scope")
    ));
    let held = a.psql_bg("rita", &format!("DELETE FROM {} WHERE id = 10", a.table));
    let review = a.pending_review().await;
    a.api(
        "dana",
        "POST",
        &format!("/reviews/{}/deny", review["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert!(!held.await.unwrap().status.success());
    a.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_receive_signed_review_events() {
    let (url, received) = webhook_receiver().await;
    let secret_dir = tempfile::tempdir().unwrap();
    let secret_file = secret_dir.path().join("webhook.key");
    std::fs::write(&secret_file, "hook-secret\n").unwrap();
    let a = Approvals::start(
        "webhook",
        &format!(
            "[[webhooks]]\nurl = \"{url}\"\nsecret_file = \"{}\"\n",
            secret_file.display()
        ),
    )
    .await;
    let client = a.psql_bg("rita", &format!("DELETE FROM {} WHERE id = 11", a.table));
    let id = a.pending_review().await["id"].as_str().unwrap().to_owned();
    a.api("dana", "POST", &format!("/reviews/{id}/approve"), None)
        .await;
    assert!(client.await.unwrap().status.success());

    let events = poll_until(Duration::from_secs(10), || async {
        let got = received.lock().unwrap().clone();
        (got.len() >= 2).then_some(got)
    })
    .await
    .expect("the webhook did not receive two events");
    let mut names = Vec::new();
    for (headers, body) in &events {
        let timestamp = &headers["x-sluice-timestamp"];
        let mut mac = Hmac::<Sha256>::new_from_slice(b"hook-secret").unwrap();
        mac.update(format!("{timestamp}.{body}").as_bytes());
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            headers["x-sluice-signature"], expected,
            "bad signature on {body}"
        );
        let value: Value = serde_json::from_str(body).unwrap();
        assert_eq!(value["data"]["id"], id.as_str());
        names.push(value["event"].as_str().unwrap().to_owned());
        assert_eq!(headers["x-sluice-event"], value["event"].as_str().unwrap());
    }
    assert_eq!(names, ["review.created", "review.decided"]);
    let (_, metrics) = raw_get(&a.admin, "/metrics").await;
    assert!(
        metrics.contains("sluice_webhook_deliveries_total{webhook=\"0\",result=\"delivered\"} 2"),
        "{metrics}"
    );
    a.h.stop().await;
}
