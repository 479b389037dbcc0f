//! Identity end to end against a real OpenID provider (the harness starts panva's
//! oidc-provider and a GitHub-Actions-shaped workload issuer beside it), the gateway in process
//! and real clients (psql, tokio-postgres, HTTP): device and PKCE sign-in through the admin
//! API, with the provider's groups (alone, or joined with declared ones) deciding statements;
//! token exchange for a per-task credential that reaches only its targets, names its task in
//! every record and ends its open session when it expires; a per-task credential revoked from
//! the CLI ending its open session; every forged or stale token refused with its own reason;
//! key rotation mid-run; failed logins rate-limited per address and per identity on the
//! PostgreSQL listener; the admin API behind a credential and the policy.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use sluice_audit::AuditEvent;
use support::oidc::{self, MintRequest, OidcProvider, ProviderSetup};
use support::{stderr, stdout, Harness};

const AUDIENCE: &str = "https://sluice.test";

/// Workloads of corp/shop get `app` for at most 10 minutes; people sign in and mint per-task
/// credentials; readers and developers (groups from the provider's claims) may read, developers
/// who are also DBAs (alice: `dba` declared, `developers` from the provider) may do anything;
/// admin calls are for people.
const POLICY: &str = r#"package sluice

import rego.v1

default decision := {"allow": false, "rule": "default_deny", "reasons": ["nothing allows it"]}

decision := {
	"allow": true, "rule": "ci_exchange", "reasons": ["corp/shop CI"],
	"token": {"targets": ["app", "web"], "ttl_seconds": 600},
} if {
	input.request.action == "token"
	input.request.token.purpose == "exchange"
	input.identity.claims.repository == "corp/shop"
} else := {"allow": true, "rule": "people_sign_in", "reasons": ["people sign in"]} if {
	input.request.action == "token"
	input.request.token.purpose == "login"
	input.identity.kind == "human"
} else := {"allow": true, "rule": "task_credential", "reasons": ["a person's task"]} if {
	input.request.action == "token"
	input.request.token.purpose == "task"
	input.identity.kind == "human"
	count(input.request.token.targets) > 0
} else := {"allow": true, "rule": "admin_people", "reasons": ["people"]} if {
	input.request.action == "admin"
	input.identity.kind == "human"
} else := {"allow": true, "rule": "connect", "reasons": ["anyone"]} if {
	input.request.action == "connect"
} else := {"allow": true, "rule": "ci_http_read", "reasons": ["CI reads the web service"]} if {
	input.request.kind == "http"
	input.request.http.method == "GET"
	input.identity.kind == "service"
} else := {"allow": true, "rule": "readers_read", "reasons": ["readers read"]} if {
	input.request.action == "statement"
	"readers" in input.identity.groups
	input.request.statement.kind == "read"
} else := {"allow": true, "rule": "developers_read", "reasons": ["developers read"]} if {
	input.request.action == "statement"
	"developers" in input.identity.groups
	input.request.statement.kind == "read"
} else := {"allow": true, "rule": "dba_developers", "reasons": ["developers who are DBAs"]} if {
	input.request.action == "statement"
	"developers" in input.identity.groups
	"dba" in input.identity.groups
}
"#;

struct Setup {
    h: Harness,
    idp: OidcProvider,
    admin: String,
    _policy: tempfile::TempDir,
}

async fn setup(auth: &str) -> Setup {
    setup_with(auth, r#"identities = "dynamic""#, ProviderSetup::standard()).await
}

/// `people` is more of the sign-in provider's settings (`identities`, `allowed_domains`).
async fn setup_with(auth: &str, people: &str, provider: ProviderSetup) -> Setup {
    let idp = tokio::task::spawn_blocking(|| OidcProvider::start(provider))
        .await
        .unwrap();
    let policy = tempfile::tempdir().unwrap();
    std::fs::write(policy.path().join("policy.rego"), POLICY).unwrap();
    let secret = policy.path().join("client-secret");
    std::fs::write(&secret, oidc::CLIENT_SECRET).unwrap();
    let extra = format!(
        r#"
[[identity_providers]]
name = "corp"
issuer = "{people_issuer}"
client_id = "{client_id}"
client_secret_file = "{secret}"
{people}

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
        people_issuer = idp.issuer(),
        client_id = oidc::CLIENT_ID,
        secret = secret.display(),
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
        "sub": "repo:corp/shop:ref:refs/heads/main",
        "repository": "corp/shop",
        "ref": "refs/heads/main",
        "run_id": "4711",
        "workflow": "deploy",
        "groups": ["readers"],
    });
    if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
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

    /// A JSON call to the admin API, with a bearer credential or none.
    async fn call(&self, path: &str, body: Value, token: Option<&str>) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.admin))
            .json(&body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn whoami(&self, token: &str) -> (u16, Value) {
        let answer = reqwest::Client::new()
            .get(format!("{}/v1/whoami", self.admin))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    /// The device flow as the CLI runs it: start, see it pending, let `user` approve it at the
    /// provider, poll (bounded) until the gateway answers with anything but "pending".
    async fn device_login(&self, user: &str, password: &str) -> (u16, Value) {
        let (status, started) = self
            .call("/v1/login/device", json!({"provider": "corp"}), None)
            .await;
        assert_eq!(status, 200, "{started}");
        let login_id = json!({"login_id": started["login_id"]});
        let (status, pending) = self
            .call("/v1/login/device/poll", login_id.clone(), None)
            .await;
        assert_eq!(status, 202, "{pending}");
        assert_eq!(pending["status"], "authorization_pending");
        self.idp
            .complete_device(
                started["verification_uri"].as_str().unwrap(),
                started["user_code"].as_str().unwrap(),
                user,
                password,
            )
            .await;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut interval = started["interval"].as_u64().unwrap_or(1);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "the sign-in never finished"
            );
            tokio::time::sleep(Duration::from_secs(interval)).await;
            let (status, answer) = self
                .call("/v1/login/device/poll", login_id.clone(), None)
                .await;
            if status != 202 {
                return (status, answer);
            }
            interval = answer["interval"].as_u64().unwrap_or(interval);
        }
    }

    /// A credential from the device flow.
    async fn sign_in(&self, user: &str, password: &str) -> Value {
        let (status, credential) = self.device_login(user, password).await;
        assert_eq!(status, 200, "{credential}");
        credential
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

    let out =
        s.h.psql_as("ci:corp/shop", &token, "app", &["-At", "-c", "SELECT 42"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "42");
    // Another target is refused, whatever the policy would say.
    let out =
        s.h.psql_as("ci:corp/shop", &token, "app-md5", &["-c", "SELECT 1"]);
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
                assert_eq!(task.as_deref(), Some(task_of(&audit).as_str()));
                Some(session.clone())
            }
            _ => None,
        })
        .unwrap();
    // The session's end is written as psql goes; wait (bounded) for it.
    let audit = support::poll_until(Duration::from_secs(5), || async {
        let audit = s.h.audit().await;
        audit
            .iter()
            .any(|r| {
                matches!(&r.event, AuditEvent::SessionEnded { session: id, .. } if *id == session)
            })
            .then_some(audit)
    })
    .await
    .expect("the session's end is recorded");
    let mut kinds = std::collections::BTreeSet::new();
    for r in &audit {
        if r.event.session() == Some(session.as_str()) {
            let (kind, task) = match &r.event {
                AuditEvent::SessionStarted { task, .. } => ("started", task),
                AuditEvent::SessionEnded { task, .. } => ("ended", task),
                AuditEvent::Statement { task, .. } => ("statement", task),
                AuditEvent::StatementResult { task, .. } => ("result", task),
                _ => continue,
            };
            kinds.insert(kind);
            assert_eq!(task.as_deref(), Some(task_of(&audit).as_str()), "{r:?}");
        }
    }
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    let issued = audit
        .iter()
        .find_map(|r| match &r.event {
            AuditEvent::CredentialIssued {
                purpose,
                claims,
                rule,
                subject,
                ..
            } => Some((
                purpose.clone(),
                claims.clone(),
                rule.clone(),
                subject.clone(),
            )),
            _ => None,
        })
        .unwrap();
    assert_eq!(issued.0, "exchange");
    assert_eq!(issued.1.unwrap()["run_id"], "4711");
    assert_eq!(issued.2, "ci_exchange");
    assert!(issued.3.is_some());

    // Asking for a target the policy does not give leaves nothing to issue.
    let (status, answer) = s
        .exchange(&s.ci_token().await, &[("resource", "app-md5")])
        .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"], "access_denied");
    assert_eq!(
        s.refusal_reasons().await.last().map(String::as_str),
        Some("no_targets")
    );
    // Malformed asks are the caller's mistake: no such target, longer than a task may live.
    for extra in [[("resource", "no-such-target")], [("ttl", "30d")]] {
        let (status, answer) = s.exchange(&s.ci_token().await, &extra).await;
        assert_eq!(status, 400, "{extra:?}: {answer}");
        assert_eq!(answer["error"], "invalid_request", "{extra:?}: {answer}");
    }

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

#[tokio::test(flavor = "multi_thread")]
async fn an_open_session_ends_when_its_credential_expires() {
    let s = setup("").await;
    let jwt = s.ci_token().await;
    let issued = std::time::Instant::now();
    let (status, answer) = s.exchange(&jwt, &[("resource", "app"), ("ttl", "3")]).await;
    assert_eq!(status, 200, "{answer}");
    // The expiry is a whole second and `expires_in` what is left of it when the answer is
    // written: a second boundary crossed in between (a loaded machine) leaves 2.
    let expires_in = answer["expires_in"].as_i64().unwrap();
    assert!((2..=3).contains(&expires_in), "{answer}");
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
    let ended = tokio::time::timeout(Duration::from_secs(15), connection)
        .await
        .expect("the gateway ended the session")
        .unwrap();
    // About 3 s after issue (expiry is kept in whole seconds), not before, not much later.
    let lived = issued.elapsed();
    assert!(
        lived >= Duration::from_secs(2) && lived < Duration::from_secs(6),
        "{lived:?}"
    );
    let error = ended.expect_err("ended by the gateway");
    let db = error.as_db_error().expect("a FATAL from the gateway");
    assert_eq!(db.code().code(), "57P01");
    assert!(
        db.message().contains("credential expired"),
        "{}",
        db.message()
    );
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
    let out =
        s.h.psql_as("ci:corp/shop", token, "app", &["-c", "SELECT 1"]);
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
            "issued_in_future",
            MintRequest {
                iat_in: Some(120),
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
        assert_eq!(
            reasons.last().map(String::as_str),
            Some(reason),
            "{reasons:?}"
        );
    }
    // Within the configured clock skew (5 s) a token is still good.
    for (exp_in, nbf_in) in [(Some(-2), None), (None, Some(2))] {
        let jwt = s
            .mint(MintRequest {
                exp_in,
                nbf_in,
                ..base()
            })
            .await;
        let (status, answer) = s.exchange(&jwt, &[]).await;
        assert_eq!(status, 200, "exp_in {exp_in:?} nbf_in {nbf_in:?}: {answer}");
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
    let first = s.ci_token().await;
    let old_kid = support::oidc::jwt_header(&first)["kid"].clone();
    let (status, _) = s.exchange(&first, &[]).await;
    assert_eq!(status, 200);
    // The gateway refetches keys on an unknown key id at most every 10 s.
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let kid = s.idp.rotate(false).await;
    let jwt = s.ci_token().await;
    assert_eq!(support::oidc::jwt_header(&jwt)["kid"], kid);
    let (status, answer) = s.exchange(&jwt, &[]).await;
    assert_eq!(status, 200, "{answer}");
    // The old key withdrawn: once the gateway refetches (a token naming a kid it does not know
    // makes it; a known kid does not), the old kid is unknown too and tokens of the new key
    // still verify.
    s.idp.rotate(true).await;
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    for kid in ["made-up", old_kid.as_str().unwrap()] {
        let stale = s
            .mint(MintRequest {
                kid: Some(kid.to_owned()),
                ..MintRequest::new(AUDIENCE, ci_claims(json!({})))
            })
            .await;
        let (status, answer) = s.exchange(&stale, &[]).await;
        assert_eq!(status, 400, "{kid}: {answer}");
        assert_eq!(
            s.refusal_reasons().await.last().map(String::as_str),
            Some("unknown_key"),
            "{kid}"
        );
    }
    let (status, answer) = s.exchange(&s.ci_token().await, &[]).await;
    assert_eq!(status, 200, "{answer}");
    let issued =
        s.h.audit()
            .await
            .iter()
            .filter(|r| matches!(r.event, AuditEvent::CredentialIssued { .. }))
            .count();
    assert_eq!(issued, 3);
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
    let out =
        s.h.psql_as("ci:corp/shop", &reader, "app", &["-At", "-c", "SELECT 7"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let writer = credential(json!("writers")).await;
    let out =
        s.h.psql_as("ci:corp/shop", &writer, "app", &["-At", "-c", "SELECT 7"]);
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
    let conninfo = format!(
        "host=127.0.0.1 port={} user=alice password={} dbname=app sslmode=disable",
        s.h.port(),
        s.h.token("alice")
    );
    let refused = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
        .await
        .err()
        .expect("refused while the address is limited");
    assert_eq!(
        refused.code().map(|c| c.code()),
        Some("53300"),
        "{}",
        server_message(&refused)
    );
    assert!(
        server_message(&refused).contains("too many failed authentications"),
        "{}",
        server_message(&refused)
    );
    // The same address asking the admin API for a credential is slowed down too.
    let (status, answer) = s.exchange(&s.ci_token().await, &[]).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["error"], "slow_down");
    // And so is its admin API call, however good the credential.
    assert_eq!(s.get("/policy", Some(s.h.token("alice"))).await, 429);
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
    assert_eq!(s.get("/v1/whoami", None).await, 401);
    assert_eq!(s.call("/v1/logout", json!({}), None).await.0, 401);
    // A service may know who it is, but minting credentials is for people.
    assert_eq!(s.get("/v1/whoami", Some(s.h.token("ci"))).await, 200);
    let (status, answer) = s
        .call(
            "/v1/tokens",
            json!({"task": "t", "targets": ["app"]}),
            Some(s.h.token("ci")),
        )
        .await;
    assert_eq!(status, 403, "{answer}");
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

fn token_of(credential: &Value) -> &str {
    credential["token"].as_str().unwrap()
}

/// Each statement's text and the rule that decided it, for one identity.
async fn decisions(h: &Harness, identity: &str) -> Vec<(String, String, String)> {
    h.audit()
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::Statement {
                identity: who,
                text,
                decision,
                ..
            } if who == identity => Some((text, decision.verdict, decision.rule)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn device_sign_in_with_groups_from_the_provider_deciding_statements() {
    let s = setup("").await;
    // alice is declared (groups = ["dba"]); the provider says she is in developers.
    let alice = s.sign_in(oidc::ALICE, oidc::ALICE_PASSWORD).await;
    assert_eq!(alice["identity"], "alice", "{alice}");
    assert_eq!(alice["kind"], "human");
    let alice_token = token_of(&alice);
    assert!(alice_token.starts_with("slc_"), "{alice}");
    let (status, me) = s.whoami(alice_token).await;
    assert_eq!(status, 200, "{me}");
    let groups = me["groups"].to_string();
    assert!(
        groups.contains("dba") && groups.contains("developers"),
        "declared and provider groups merged: {me}"
    );
    // bob is not in sluice.toml: the dynamic provider makes him from his claims.
    let bob = s.sign_in(oidc::BOB, oidc::BOB_PASSWORD).await;
    assert_eq!(bob["identity"], "bob", "{bob}");
    let bob_groups = bob["groups"].to_string();
    assert!(bob_groups.contains("ops"), "{bob}");

    // psql: user = the identity, password = the credential.
    let read = "SELECT count(*) FROM items";
    let out =
        s.h.psql_as("alice", alice_token, "app", &["-At", "-c", read]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "100");
    // Only the join of both sources lets alice write (developers and dba).
    let write = "CREATE TEMP TABLE scratch (x int)";
    let out = s.h.psql_as("alice", alice_token, "app", &["-c", write]);
    assert!(out.status.success(), "{}", stderr(&out));
    // bob's groups (ops, dba) give him no read.
    let out =
        s.h.psql_as("bob", token_of(&bob), "app", &["-At", "-c", read]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("default_deny"), "{}", stderr(&out));

    let alice_decisions = decisions(&s.h, "alice").await;
    assert!(
        alice_decisions
            .iter()
            .any(|(t, v, r)| t == read && v == "allow" && r == "developers_read"),
        "{alice_decisions:?}"
    );
    assert!(
        alice_decisions
            .iter()
            .any(|(t, v, r)| t == write && v == "allow" && r == "dba_developers"),
        "{alice_decisions:?}"
    );
    let bob_decisions = decisions(&s.h, "bob").await;
    assert!(
        bob_decisions
            .iter()
            .any(|(t, v, r)| t == read && v == "deny" && r == "default_deny"),
        "{bob_decisions:?}"
    );
    let issued: Vec<(String, Option<String>, String, String)> =
        s.h.audit()
            .await
            .into_iter()
            .filter_map(|r| match r.event {
                AuditEvent::CredentialIssued {
                    identity,
                    provider,
                    purpose,
                    rule,
                    ..
                } => Some((identity, provider, purpose, rule)),
                _ => None,
            })
            .collect();
    for who in ["alice", "bob"] {
        assert!(
            issued.iter().any(|(i, p, purpose, rule)| i == who
                && p.as_deref() == Some("corp")
                && purpose == "login"
                && rule == "people_sign_in"),
            "{who}: {issued:?}"
        );
    }

    // Logout revokes the presenting credential, and says so in the audit trail.
    let (status, answer) = s.call("/v1/logout", json!({}), Some(token_of(&bob))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["revoked"], bob["token_id"]);
    assert_eq!(s.whoami(token_of(&bob)).await.0, 401);
    let out =
        s.h.psql_as("bob", token_of(&bob), "app", &["-c", "SELECT 1"]);
    assert!(!out.status.success());
    assert!(s.h.audit().await.iter().any(|r| matches!(&r.event,
        AuditEvent::CredentialRevoked { token_id, identity, .. }
            if identity == "bob" && Some(token_id.as_str()) == bob["token_id"].as_str())));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declared_only_provider_signs_in_declared_people_only() {
    let s = setup_with("", r#"identities = "declared""#, ProviderSetup::standard()).await;
    let alice = s.sign_in(oidc::ALICE, oidc::ALICE_PASSWORD).await;
    assert_eq!(alice["identity"], "alice");
    let groups = alice["groups"].to_string();
    assert!(
        groups.contains("dba") && groups.contains("developers"),
        "{alice}"
    );
    let out = s.h.psql_as(
        "alice",
        token_of(&alice),
        "app",
        &["-At", "-c", "SELECT count(*) FROM items"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // bob signs in at the provider, but sluice.toml does not declare him.
    let (status, answer) = s.device_login(oidc::BOB, oidc::BOB_PASSWORD).await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        s.refusal_reasons()
            .await
            .contains(&"undeclared_identity".to_owned()),
        "{:?}",
        s.refusal_reasons().await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_sign_in_with_pkce_through_a_loopback_redirect() {
    let s = setup("").await;
    let (verifier, challenge) = oidc::pkce_pair();
    let redirect = "http://127.0.0.1:47123/callback";
    let start = |redirect_uri: &str, challenge: &str| {
        s.call(
            "/v1/login/pkce",
            json!({"provider": "corp", "redirect_uri": redirect_uri,
                   "code_challenge": challenge, "code_challenge_method": "S256"}),
            None,
        )
    };
    // Only the person's own machine may receive the code.
    for elsewhere in [
        "https://evil.example/callback",
        "http://evil.example:47123/callback",
        "http://127.0.0.1.evil.example/callback",
    ] {
        let (status, answer) = start(elsewhere, &challenge).await;
        assert_eq!(status, 400, "{elsewhere}: {answer}");
    }
    let (status, answer) = start(redirect, "plain-not-a-challenge").await;
    assert_eq!(status, 400, "{answer}");

    let (status, started) = start(redirect, &challenge).await;
    assert_eq!(status, 200, "{started}");
    let callback = s
        .idp
        .authorize(
            started["authorization_url"].as_str().unwrap(),
            oidc::ALICE,
            oidc::ALICE_PASSWORD,
        )
        .await;
    assert!(callback.starts_with(redirect), "{callback}");
    let callback = reqwest::Url::parse(&callback).unwrap();
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {name} in {callback}"))
    };
    let (code, state) = (param("code"), param("state"));
    assert_eq!(state, started["state"].as_str().unwrap());
    // A state that is not the sign-in's is refused (and spends the sign-in).
    let (status, credential) = s
        .call(
            "/v1/login/pkce/finish",
            json!({"login_id": started["login_id"], "code": code, "state": "forged",
                   "code_verifier": verifier}),
            None,
        )
        .await;
    assert_eq!(status, 400, "{credential}");

    // Signs in again; the finish call to make with `verifier`.
    let again = |verifier: String| {
        let s = &s;
        let start = &start;
        let challenge = &challenge;
        async move {
            let (status, started) = start(redirect, challenge).await;
            assert_eq!(status, 200, "{started}");
            let callback = s
                .idp
                .authorize(
                    started["authorization_url"].as_str().unwrap(),
                    oidc::ALICE,
                    oidc::ALICE_PASSWORD,
                )
                .await;
            let callback = reqwest::Url::parse(&callback).unwrap();
            let param = |name: &str| {
                callback
                    .query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
                    .unwrap()
            };
            json!({"login_id": started["login_id"], "code": param("code"),
                   "state": param("state"), "code_verifier": verifier})
        }
    };
    // A code is worth nothing without the verifier of its challenge: the provider refuses it.
    let (other_verifier, _) = oidc::pkce_pair();
    let finish = again(other_verifier).await;
    let (status, answer) = s.call("/v1/login/pkce/finish", finish, None).await;
    assert_eq!(status, 401, "{answer}");

    let finish = again(verifier.clone()).await;
    let (status, credential) = s.call("/v1/login/pkce/finish", finish.clone(), None).await;
    assert_eq!(status, 200, "{credential}");
    assert_eq!(credential["identity"], "alice");
    let out = s.h.psql_as(
        "alice",
        token_of(&credential),
        "app",
        &["-At", "-c", "SELECT count(*) FROM items"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "100");
    // A sign-in is finished once.
    let (status, answer) = s.call("/v1/login/pkce/finish", finish, None).await;
    assert_eq!(status, 404, "{answer}");
    assert!(s.h.audit().await.iter().any(|r| matches!(&r.event,
        AuditEvent::CredentialIssued { identity, purpose, provider: Some(p), .. }
            if identity == "alice" && purpose == "login" && p == "corp")));
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_a_task_credential_ends_its_open_session() {
    let s = setup("").await;
    let alice = s.sign_in(oidc::ALICE, oidc::ALICE_PASSWORD).await;
    let (status, task) = s
        .call(
            "/v1/tokens",
            json!({"task": "nightly report", "targets": ["app"], "ttl_seconds": 600}),
            Some(token_of(&alice)),
        )
        .await;
    assert_eq!(status, 200, "{task}");
    let task_token = task["token"].as_str().unwrap().to_owned();
    let token_id = task["token_id"].as_str().unwrap().to_owned();
    let (status, me) = s.whoami(&task_token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["task"], "nightly report", "{me}");
    assert_eq!(me["targets"], json!(["app"]), "{me}");
    // The person's name and groups, and the kind of what holds it: an agent.
    assert_eq!(me["identity"], "alice", "{me}");
    assert_eq!(me["kind"], "agent", "{me}");
    // A per-task credential mints no further ones.
    let (status, answer) = s
        .call(
            "/v1/tokens",
            json!({"task": "more", "targets": ["app"]}),
            Some(&task_token),
        )
        .await;
    assert_eq!(status, 403, "{answer}");

    let conninfo = format!(
        "host=127.0.0.1 port={} user=alice password={task_token} dbname=app sslmode=disable",
        s.h.port()
    );
    let (client, connection) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let n: i64 = client
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 100);

    // `sluice token revoke` beside the running gateway: the store is shared.
    let revoke = tokio::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["token", "revoke", "--config"])
        .arg(&s.h.config_path)
        .arg(&token_id)
        .env_remove("SLUICE_CONFIG")
        .output();
    let revoke = tokio::time::timeout(Duration::from_secs(30), revoke)
        .await
        .unwrap()
        .unwrap();
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    let revoked = std::time::Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the gateway ended the session")
        .unwrap();
    // revocation_poll is 200ms.
    assert!(
        revoked.elapsed() < Duration::from_secs(3),
        "{:?}",
        revoked.elapsed()
    );
    let error = server_message(&ended.expect_err("ended by the gateway"));
    assert!(error.contains("credential was revoked"), "{error}");

    let ended = support::poll_until(Duration::from_secs(5), || async {
        s.h.audit().await.into_iter().find_map(|r| match r.event {
            AuditEvent::SessionEnded { reason, task, .. } if reason.contains("revoked") => {
                Some((reason, task))
            }
            _ => None,
        })
    })
    .await
    .expect("a SessionEnded record");
    assert!(ended.0.contains(&token_id), "{ended:?}");
    assert_eq!(ended.1.as_deref(), Some("nightly report"));
    let audit = s.h.audit().await;
    // The CLI revoked it on the store; the gateway whose session it ended records that.
    assert!(audit.iter().any(|r| matches!(&r.event,
        AuditEvent::CredentialRevoked { token_id: id, identity, by }
            if *id == token_id && identity == "alice" && by.contains("another process"))));
    assert!(audit.iter().any(|r| matches!(&r.event,
        AuditEvent::Statement { task: Some(t), identity, .. }
            if t == "nightly report" && identity == "alice")));
    assert!(audit.iter().any(|r| matches!(&r.event,
        AuditEvent::CredentialIssued { purpose, task: Some(t), token_id: id, .. }
            if purpose == "task" && t == "nightly report" && *id == token_id)));
    // Gone for new connections too; alice's own credential is untouched.
    let out =
        s.h.psql_as("alice", &task_token, "app", &["-c", "SELECT 1"]);
    assert!(!out.status.success());
    assert_eq!(s.whoami(token_of(&alice)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn guessing_one_identitys_token_locks_that_identity_for_the_window() {
    let s = setup(
        "max_failures_per_address = 100\nmax_failures_per_identity = 3\nfailure_window = \"3s\"",
    )
    .await;
    let conninfo = |identity: &str, password: &str| {
        format!(
            "host=127.0.0.1 port={} user={identity} password={password} dbname=app \
             sslmode=disable connect_timeout=10",
            s.h.port()
        )
    };
    let connect = |info: String| async move {
        tokio_postgres::connect(&info, tokio_postgres::NoTls)
            .await
            .map(|(client, connection)| {
                tokio::spawn(connection);
                client
            })
    };
    let started = std::time::Instant::now();
    for _ in 0..3 {
        let e = connect(conninfo("alice", "slc_000000000000_wrong"))
            .await
            .expect_err("a wrong token is refused");
        assert_eq!(
            e.code().map(|c| c.code()),
            Some("28P01"),
            "{}",
            server_message(&e)
        );
    }
    // alice is locked out, even with her token; ci, from the same address, is not.
    let e = connect(conninfo("alice", s.h.token("alice")))
        .await
        .expect_err("alice is limited");
    assert_eq!(
        e.code().map(|c| c.code()),
        Some("53300"),
        "{}",
        server_message(&e)
    );
    assert!(
        server_message(&e).contains("for this identity"),
        "{}",
        server_message(&e)
    );
    connect(conninfo("ci", s.h.token("ci")))
        .await
        .expect("another identity from the same address");
    // The window over, alice's own token works again.
    let back = support::poll_until(Duration::from_secs(8), || async {
        connect(conninfo("alice", s.h.token("alice"))).await.ok()
    })
    .await;
    assert!(back.is_some(), "still limited after the window");
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_limited_to_domains_refuses_other_addresses() {
    let mut provider = ProviderSetup::standard();
    provider.users.push(oidc::UserSetup::new(
        "mallory",
        "mallory@elsewhere.example",
        "Mallory",
        &["developers"],
        "mallory-pw-5e1a",
    ));
    let s = setup_with(
        "",
        "identities = \"dynamic\"\nallowed_domains = [\"CORP.example\"]",
        provider,
    )
    .await;
    // Domains compare without case.
    let alice = s.sign_in(oidc::ALICE, oidc::ALICE_PASSWORD).await;
    assert_eq!(alice["identity"], "alice");
    let (status, answer) = s.device_login("mallory", "mallory-pw-5e1a").await;
    assert_eq!(status, 401, "{answer}");
    let refused = s.h.audit().await.into_iter().find_map(|r| match r.event {
        AuditEvent::CredentialRefused {
            reason,
            purpose,
            provider,
            ..
        } => Some((reason, purpose, provider)),
        _ => None,
    });
    assert_eq!(
        refused,
        Some((
            "domain_not_allowed".to_owned(),
            "login".to_owned(),
            Some("corp".to_owned())
        ))
    );
}

/// A CI job sends its own OIDC token as the bearer to the HTTPS listener: the gateway trades
/// it for a credential (the policy's `exchange` decision, audited) and the request goes
/// through under the workload's identity; a token of another audience is 401.
#[tokio::test(flavor = "multi_thread")]
async fn a_workloads_oidc_token_is_its_bearer_on_the_https_listener() {
    let web = sluice::scratch_http::ScratchHttp::start().await.unwrap();
    let listener = format!(
        "\n[[listeners]]\nprotocol = \"http\"\nlisten = \"127.0.0.1:0\"\n\n\
         [[targets]]\nname = \"web\"\nkind = \"http\"\nurl = \"{}\"\n",
        web.url()
    );
    let s = setup(&listener).await;
    let jwt = s.ci_token().await;
    let base = format!("https://{}/web", s.h.gateway.http_addr.unwrap());
    let ca = s.h.config.gateway.data_dir.join("tls/server.crt");
    let curl = |token: &str, path: &str| {
        std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&ca)
            .arg("-H")
            .arg(format!("Authorization: Bearer {token}"))
            .arg(format!("{base}{path}"))
            .output()
            .unwrap()
    };
    let ok = curl(&jwt, "/echo");
    assert_eq!(stdout(&ok), "200", "{}", stderr(&ok));
    let seen = web.requests();
    let echo = seen.iter().find(|r| r.path == "/echo").unwrap();
    assert!(
        echo.header("authorization").is_none(),
        "the caller's JWT is not forwarded"
    );
    let audit = format!("{:?}", s.h.audit().await);
    assert!(audit.contains("ci:corp/shop"), "{audit}");
    assert!(audit.contains("ci_exchange"), "{audit}");
    assert!(audit.contains("ci_http_read"), "{audit}");
    assert!(!audit.contains(&jwt));
    let other = s
        .mint(MintRequest::new(
            "https://elsewhere.test",
            ci_claims(json!({})),
        ))
        .await;
    let refused = curl(&other, "/echo");
    assert_eq!(stdout(&refused), "401");
}
