//! Identity end to end against a real OpenID provider's workload issuer (the harness starts
//! panva's oidc-provider and a GitHub-Actions-shaped issuer beside it): token exchange for a
//! per-task credential that reaches only its targets, names its task in every record and ends
//! its open session when it expires; every forged or stale token refused with its own reason;
//! key rotation mid-run; groups from claims deciding statements; failed logins rate-limited on
//! the PostgreSQL listener; the admin API behind a credential and the policy.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use sluice_audit::AuditEvent;
use support::oidc::{MintRequest, OidcProvider, ProviderSetup};
use support::{stderr, stdout, Harness};

const AUDIENCE: &str = "https://sluice.test";

/// Workloads of corp/shop get `app` for at most 10 minutes; readers (a groups claim) may read;
/// people may do anything; admin calls are for people.
const POLICY: &str = r#"package sluice

import rego.v1

default decision := {"allow": false, "rule": "default_deny", "reasons": ["nothing allows it"]}

decision := {
	"allow": true, "rule": "ci_exchange", "reasons": ["corp/shop CI"],
	"token": {"targets": ["app"], "ttl_seconds": 600},
} if {
	input.request.action == "token"
	input.request.token.purpose == "exchange"
	input.identity.claims.repository == "corp/shop"
} else := {"allow": true, "rule": "admin_people", "reasons": ["people"]} if {
	input.request.action == "admin"
	input.identity.kind == "human"
} else := {"allow": true, "rule": "connect", "reasons": ["anyone"]} if {
	input.request.action == "connect"
} else := {"allow": true, "rule": "readers_read", "reasons": ["readers read"]} if {
	input.request.action == "statement"
	"readers" in input.identity.groups
	input.request.statement.kind == "read"
} else := {"allow": true, "rule": "people", "reasons": ["people"]} if {
	input.request.action == "statement"
	input.identity.kind == "human"
}
"#;

struct Setup {
    h: Harness,
    idp: OidcProvider,
    admin: String,
    _policy: tempfile::TempDir,
}

async fn setup(auth: &str) -> Setup {
    let idp = tokio::task::spawn_blocking(|| OidcProvider::start(ProviderSetup::standard()))
        .await
        .unwrap();
    let policy = tempfile::tempdir().unwrap();
    std::fs::write(policy.path().join("policy.rego"), POLICY).unwrap();
    let extra = format!(
        r#"
[[identity_providers]]
name = "ci"
issuer = "{issuer}"
audiences = ["{AUDIENCE}"]
kind = "service"
identities = "dynamic"
name_prefix = "ci:"
clock_skew = "5s"
[identity_providers.claims]
name = "repository"

[auth]
revocation_poll = "200ms"
{auth}

[policy]
dir = "{policy}"
watch = false
"#,
        issuer = idp.workload_issuer(),
        policy = policy.path().display(),
    );
    let h = Harness::start_with(&extra).await;
    let admin = format!("http://{}", h.gateway.admin_addr.unwrap());
    Setup {
        h,
        idp,
        admin,
        _policy: policy,
    }
}

fn ci_claims(extra: Value) -> Value {
    let mut claims = json!({
        "repository": "corp/shop",
        "ref": "refs/heads/main",
        "run_id": "4711",
        "workflow": "deploy",
        "groups": ["readers"],
    });
    if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
        // GitHub's subject names the repository and the ref; every workload token has one.
        if !c.contains_key("sub") {
            let sub = format!("repo:{}:ref:{}", c["repository"], c["ref"]).replace('"', "");
            c.insert("sub".into(), json!(sub));
        }
    }
    claims
}

impl Setup {
    async fn exchange(&self, jwt: &str, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut form = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ("subject_token", jwt),
        ];
        form.extend_from_slice(extra);
        let answer = reqwest::Client::new()
            .post(format!("{}/v1/token/exchange", self.admin))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn mint(&self, request: MintRequest) -> String {
        self.idp.mint(request).await
    }

    async fn ci_token(&self) -> String {
        self.mint(MintRequest::new(AUDIENCE, ci_claims(json!({}))))
            .await
    }

    async fn refusal_reasons(&self) -> Vec<String> {
        self.h
            .audit()
            .await
            .into_iter()
            .filter_map(|r| match r.event {
                AuditEvent::CredentialRefused { reason, .. } => Some(reason),
                _ => None,
            })
            .collect()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> u16 {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.admin));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send().await.unwrap().status().as_u16()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workloads_token_becomes_a_task_credential_for_its_targets_only() {
    let s = setup("").await;
    let jwt = s.ci_token().await;
    let (status, answer) = s
        .exchange(&jwt, &[("resource", "app"), ("task", "deploy 4711")])
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["identity"], "ci:corp/shop");
    assert_eq!(answer["targets"], json!(["app"]));
    assert_eq!(answer["token_type"], "Bearer");
    assert!(answer["expires_in"].as_i64().unwrap() <= 600, "{answer}");
    let token = answer["access_token"].as_str().unwrap().to_owned();
    let task = answer["task"].as_str().unwrap().to_owned();
    assert!(task.starts_with("deploy 4711 (ci:"), "{task}");

    let out = s
        .h
        .psql_as("ci:corp/shop", &token, "app", &["-At", "-c", "SELECT 42"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "42");
    // Another target is refused, whatever the policy would say.
    let out = s
        .h
        .psql_as("ci:corp/shop", &token, "app-md5", &["-c", "SELECT 1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("limited to other targets"),
        "{}",
        stderr(&out)
    );

    // Every record of the session names the task; the issue names the claims and the rule.
    let audit = s.h.audit().await;
    let session = audit
        .iter()
        .find_map(|r| match &r.event {
            AuditEvent::SessionStarted {
                session,
                identity,
                task,
                ..
            } if identity == "ci:corp/shop" => {
                assert_eq!(task.as_deref(), Some(task_ref(&task_of(&audit))));
                Some(session.clone())
            }
            _ => None,
        })
        .unwrap();
    for r in &audit {
        if r.event.session() == Some(session.as_str()) {
            let task = match &r.event {
                AuditEvent::SessionStarted { task, .. }
                | AuditEvent::SessionEnded { task, .. }
                | AuditEvent::Statement { task, .. }
                | AuditEvent::StatementResult { task, .. } => task.clone(),
                _ => continue,
            };
            assert_eq!(task.as_deref(), Some(task_ref(&task_of(&audit))), "{r:?}");
        }
    }
    let issued = audit
        .iter()
        .find_map(|r| match &r.event {
            AuditEvent::CredentialIssued {
                purpose,
                claims,
                rule,
                subject,
                ..
            } => Some((purpose.clone(), claims.clone(), rule.clone(), subject.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(issued.0, "exchange");
    assert_eq!(issued.1.unwrap()["run_id"], "4711");
    assert_eq!(issued.2, "ci_exchange");
    assert!(issued.3.is_some());

    // Another repository's CI gets nothing.
    let other = s
        .mint(MintRequest::new(
            AUDIENCE,
            ci_claims(json!({"repository": "corp/other"})),
        ))
        .await;
    let (status, answer) = s.exchange(&other, &[]).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"], "access_denied");
    assert!(s.refusal_reasons().await.contains(&"denied".to_owned()));

    // A per-task credential reaches targets, not the admin API (beyond itself).
    assert_eq!(s.get("/policy", Some(&token)).await, 403);
    assert_eq!(s.get("/v1/whoami", Some(&token)).await, 200);
}

fn task_of(audit: &[sluice_audit::AuditRecord]) -> String {
    audit
        .iter()
        .find_map(|r| match &r.event {
            AuditEvent::CredentialIssued { task: Some(t), .. } => Some(t.clone()),
            _ => None,
        })
        .unwrap()
}

/// What the server said (tokio-postgres' own Display is only "db error").
fn server_message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| format!("{}: {}", d.code().code(), d.message()))
        .unwrap_or_else(|| format!("{e:?}"))
}

fn task_ref(task: &str) -> &str {
    task
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_session_ends_when_its_credential_expires() {
    let s = setup("").await;
    let jwt = s.ci_token().await;
    let (status, answer) = s.exchange(&jwt, &[("resource", "app"), ("ttl", "3")]).await;
    assert_eq!(status, 200, "{answer}");
    let token = answer["access_token"].as_str().unwrap();
    let conninfo = format!(
        "host=127.0.0.1 port={} user=ci:corp/shop password={token} dbname=app sslmode=disable",
        s.h.port()
    );
    let (client, connection) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let row = client.query_one("SELECT 1::int4", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    let started = std::time::Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(15), connection)
        .await
        .expect("the gateway ended the session")
        .unwrap();
    // About 3 s after issue, not at the end of the test.
    assert!(started.elapsed() < Duration::from_secs(10));
    let error = server_message(&ended.expect_err("ended by the gateway"));
    assert!(error.contains("credential expired"), "{error}");
    let reason = support::poll_until(Duration::from_secs(5), || async {
        s.h.audit().await.into_iter().find_map(|r| match r.event {
            AuditEvent::SessionEnded { reason, task, .. } if reason.contains("expired") => {
                assert!(task.is_some());
                Some(reason)
            }
            _ => None,
        })
    })
    .await;
    assert!(reason.is_some());
    // And it no longer logs in.
    let out = s
        .h
        .psql_as("ci:corp/shop", token, "app", &["-c", "SELECT 1"]);
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_stale_tokens_are_refused_each_for_its_reason() {
    let s = setup("max_failures_per_address = 100").await;
    let base = || MintRequest::new(AUDIENCE, ci_claims(json!({})));
    let cases: Vec<(&str, MintRequest)> = vec![
        (
            "unknown_issuer",
            MintRequest {
                iss: Some("https://evil.example".into()),
                ..base()
            },
        ),
        (
            "wrong_audience",
            MintRequest::new("https://someone-else.example", ci_claims(json!({}))),
        ),
        (
            "bad_signature",
            MintRequest {
                tamper: true,
                ..base()
            },
        ),
        (
            "algorithm_not_allowed",
            MintRequest {
                alg: Some("none".into()),
                ..base()
            },
        ),
        (
            "algorithm_not_allowed",
            MintRequest {
                alg: Some("HS256".into()),
                ..base()
            },
        ),
        (
            "expired",
            MintRequest {
                exp_in: Some(-60),
                ..base()
            },
        ),
        (
            "not_yet_valid",
            MintRequest {
                nbf_in: Some(120),
                ..base()
            },
        ),
        (
            "unknown_key",
            MintRequest {
                unpublished_key: true,
                ..base()
            },
        ),
    ];
    for (reason, request) in cases {
        let jwt = s.mint(request).await;
        let (status, answer) = s.exchange(&jwt, &[]).await;
        assert_eq!(status, 400, "{reason}: {answer}");
        assert_eq!(answer["error"], "invalid_grant", "{reason}: {answer}");
        let reasons = s.refusal_reasons().await;
        assert_eq!(reasons.last().map(String::as_str), Some(reason), "{reasons:?}");
    }
    // Not a JWT at all.
    let (status, _) = s.exchange("slc_not-a-jwt", &[]).await;
    assert_eq!(status, 400);
    assert_eq!(
        s.refusal_reasons().await.last().map(String::as_str),
        Some("malformed")
    );
    // A genuine one still works after all that.
    let (status, answer) = s.exchange(&s.ci_token().await, &[]).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_signing_key_is_picked_up_mid_run() {
    let s = setup("").await;
    let (status, _) = s.exchange(&s.ci_token().await, &[]).await;
    assert_eq!(status, 200);
    // The gateway refetches keys on an unknown key id at most every 10 s.
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let kid = s.idp.rotate(false).await;
    let jwt = s.ci_token().await;
    assert_eq!(support::oidc::jwt_header(&jwt)["kid"], kid);
    let (status, answer) = s.exchange(&jwt, &[]).await;
    assert_eq!(status, 200, "{answer}");
    // The old key withdrawn: tokens of the new one still verify.
    s.idp.rotate(true).await;
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let (status, answer) = s.exchange(&s.ci_token().await, &[]).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_from_the_providers_claims_decide_statements() {
    let s = setup("").await;
    let credential = |groups: Value| {
        let s = &s;
        async move {
            let jwt = s
                .mint(MintRequest::new(
                    AUDIENCE,
                    ci_claims(json!({ "groups": groups })),
                ))
                .await;
            let (status, answer) = s.exchange(&jwt, &[]).await;
            assert_eq!(status, 200, "{answer}");
            answer["access_token"].as_str().unwrap().to_owned()
        }
    };
    let reader = credential(json!(["readers"])).await;
    let out = s
        .h
        .psql_as("ci:corp/shop", &reader, "app", &["-At", "-c", "SELECT 7"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let writer = credential(json!("writers")).await;
    let out = s
        .h
        .psql_as("ci:corp/shop", &writer, "app", &["-At", "-c", "SELECT 7"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("default_deny"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn guessing_tokens_on_the_postgres_listener_is_rate_limited() {
    let s = setup("max_failures_per_address = 3").await;
    for _ in 0..3 {
        let out = s.h.psql_as(
            "alice",
            "slc_000000000000_not-the-token",
            "app",
            &["-c", "SELECT 1"],
        );
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("password authentication failed"),
            "{}",
            stderr(&out)
        );
    }
    // Now even the right token is refused unchecked, with a clear message.
    let out = s.h.psql("alice", "app", &["-c", "SELECT 1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("too many failed authentications"),
        "{}",
        stderr(&out)
    );
    let metrics = reqwest::get(format!("{}/metrics", s.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let limited = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sluice_auth_rate_limited_total "))
        .unwrap();
    assert!(limited.trim().parse::<u64>().unwrap() >= 1, "{limited}");
    let failures = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sluice_auth_failures_total "))
        .unwrap();
    assert!(failures.trim().parse::<u64>().unwrap() >= 3, "{failures}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_needs_a_credential_and_the_policys_word() {
    let s = setup("").await;
    assert_eq!(s.get("/healthz", None).await, 200);
    assert_eq!(s.get("/metrics", None).await, 200);
    assert_eq!(s.get("/policy", None).await, 401);
    assert_eq!(s.get("/reviews", None).await, 401);
    assert_eq!(s.get("/policy", Some("slc_000000000000_nope")).await, 401);
    // alice is a person (admin_people); ci is a service the policy gives no admin rule.
    assert_eq!(s.get("/policy", Some(s.h.token("alice"))).await, 200);
    assert_eq!(s.get("/policy", Some(s.h.token("ci"))).await, 403);
    let refused = s.h.audit().await.into_iter().any(|r| {
        matches!(&r.event, AuditEvent::AdminRefused { identity, operation, .. }
            if identity == "ci" && operation == "policy.read")
    });
    assert!(refused);
    let whoami: Value = reqwest::Client::new()
        .get(format!("{}/v1/whoami", s.admin))
        .bearer_auth(s.h.token("alice"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["identity"], "alice");
    assert_eq!(whoami["kind"], "human");
}
