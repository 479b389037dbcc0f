#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Rego policy in the data path, end to end: the example policies enforced on psql and a
//! driver (simple and extended protocol), evasions, denials that leave the session usable,
//! audit records naming rule and version, reload (accepted, rejected, by file change), and the
//! `sluice policy` commands on the real binary.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sluice_audit::AuditEvent;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// A gateway enforcing a copy of the example policies: alice is a developer, the `app` target
/// is production, and `ci` (a service without groups) is bound by the default deny.
async fn gateway(policies: &Path) -> Harness {
    let dir = policies.display().to_string();
    Harness::start_with_config(move |text| {
        text.replace(
            r#"groups = ["dba"]"#,
            r#"groups = ["developers", "admins"]"#,
        )
        .replace(
            r#"tags = { environment = "test" }"#,
            r#"tags = { env = "production" }"#,
        ) + &format!("\n[policy]\ndir = \"{dir}\"\nwatch_interval = \"100ms\"\n")
    })
    .await
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sluice-test-policy-")
        .tempdir()
        .unwrap()
}

fn item_count() -> String {
    pg().psql(DATABASE, "SELECT count(*) FROM items").unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_denied_statements_get_42501_and_the_session_goes_on() {
    let dir = scratch();
    let h = gateway(&copy_example_policies(dir.path())).await;
    let before = item_count();
    let out = h.psql(
        "alice",
        "app",
        &[
            "-v",
            "VERBOSITY=verbose",
            "-c",
            "DELETE FROM items",
            "-c",
            "SELECT 'still here'",
        ],
    );
    let err = stderr(&out);
    assert!(err.contains("42501"), "{err}");
    assert!(err.contains("denied by policy rule"), "{err}");
    assert!(err.contains("WHERE"), "{err}");
    assert!(stdout(&out).contains("still here"), "{}", stdout(&out));
    assert_eq!(item_count(), before);

    let allowed = h.psql("alice", "app", &["-At", "-c", "SELECT count(*) FROM items"]);
    assert_eq!(stdout(&allowed).trim(), "100", "{}", stderr(&allowed));
    h.stop().await;
}

/// Each of these must be denied however it is spelled, and must not touch the table.
const EVASIONS: &[(&str, &str)] = &[
    ("comment and case", "/* hi */ DeLeTe -- x\n FROM \"items\""),
    (
        "cte",
        "WITH d AS (DELETE FROM items RETURNING *) SELECT count(*) FROM d",
    ),
    ("second statement", "SELECT 1; DROP TABLE items"),
    (
        "ddl by a human on production",
        "ALTER TABLE items ADD COLUMN x int",
    ),
    (
        "dollar-quoted DO block",
        "DO $x$ BEGIN EXECUTE 'DELETE FROM items'; END $x$",
    ),
    (
        "qualified dangerous function",
        "SELECT pg_catalog.pg_read_file('/etc/passwd')",
    ),
    ("quoted dangerous function", "SELECT \"pg_ls_dir\"('.')"),
    (
        "set_config search_path",
        "SELECT set_config('search_path', 'pg_temp', false)",
    ),
    ("role change", "SET ROLE postgres"),
    ("unicode escape", "DELETE FROM U&\"\\0069tems\""),
    ("copy to program", "COPY items TO PROGRAM 'cat > /dev/null'"),
];

#[tokio::test(flavor = "multi_thread")]
async fn evasions_are_seen_through() {
    let dir = scratch();
    let h = gateway(&copy_example_policies(dir.path())).await;
    for (name, sql) in EVASIONS {
        let out = h.psql("alice", "app", &["-v", "VERBOSITY=verbose", "-c", sql]);
        let err = stderr(&out);
        assert!(
            err.contains("42501") && err.contains("denied by policy"),
            "{name}: {sql}\n{err}"
        );
    }
    assert_eq!(item_count().trim(), "100");
    let audit = h.audit().await;
    let denied = audit
        .iter()
        .filter(|r| matches!(&r.event, AuditEvent::Statement { decision, .. } if decision.verdict == "deny"))
        .count();
    assert_eq!(denied, EVASIONS.len());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_statement_the_parser_rejects_is_denied_as_a_syntax_error() {
    let dir = scratch();
    let h = gateway(&copy_example_policies(dir.path())).await;
    let out = h.psql(
        "alice",
        "app",
        &["-v", "VERBOSITY=verbose", "-c", "SELEC * FORM items"],
    );
    // As the server words and places it, prefixed to say the gateway answered.
    let err = stderr(&out);
    assert!(
        err.contains("ERROR:  42601: sluice: syntax error at or near \"SELEC\"")
            && err.contains("LINE 1: SELEC * FORM items\n        ^"),
        "{err}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_records_name_the_rule_and_the_policy_version() {
    let dir = scratch();
    let h = gateway(&copy_example_policies(dir.path())).await;
    let version = h.gateway.gateway.policy().current().info.version.clone();
    assert!(version.starts_with("sha256:"), "{version}");
    h.psql(
        "alice",
        "app",
        &["-c", "SELECT 1", "-c", "UPDATE items SET name = name"],
    );
    let audit = h.audit().await;
    let decisions: Vec<_> = audit
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::Statement { text, decision, .. } => Some((text.clone(), decision.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    for (_, d) in &decisions {
        assert_eq!(d.policy, version);
        assert!(!d.rule.is_empty());
    }
    assert_eq!(decisions[0].1.verdict, "allow");
    assert_eq!(decisions[1].1.verdict, "deny");
    assert!(audit.iter().any(|r| matches!(
        &r.event,
        AuditEvent::PolicyLoaded { trigger, version: v, .. } if trigger == "start" && *v == version
    )));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_driver_is_denied_at_parse_and_at_execute_and_carries_on() {
    let dir = scratch();
    let h = gateway(&copy_example_policies(dir.path())).await;
    let (client, connection) =
        tokio_postgres::connect(&h.conninfo("alice", "app"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    let err = client.prepare("DELETE FROM items").await.unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(db.code().code(), "42501", "{db:?}");
    assert!(db.message().contains("denied by policy rule"), "{db:?}");
    // The session goes on: the next statement, pipelined ones included, run.
    let (a, b) = tokio::join!(
        client.query_one("SELECT count(*)::int FROM items WHERE id > $1", &[&50i32]),
        client.query_one("SELECT $1::text", &[&"ok"]),
    );
    assert_eq!(a.unwrap().get::<_, i32>(0), 50);
    assert_eq!(b.unwrap().get::<_, String>(0), "ok");
    let err = client
        .execute("UPDATE items SET name = $1", &[&"x"])
        .await
        .unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "42501");
    assert_eq!(item_count().trim(), "100");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn identities_no_rule_allows_are_denied_by_default() {
    let dir = scratch();
    let h = gateway(&copy_example_policies(dir.path())).await;
    let out = h.psql("ci", "app", &["-c", "SELECT 1"]);
    let err = stderr(&out);
    assert!(err.contains("denied by policy rule"), "{err}");
    h.stop().await;
}

/// Appends a rule to the copy that allows humans one more thing, changing the bundle.
fn add_file(policies: &Path, name: &str, text: &str) {
    std::fs::write(policies.join(name), text).unwrap();
}

/// `POST /policy/reload` on the admin API: the status code and the JSON body.
async fn reload(h: &Harness) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(h.gateway.admin_addr.unwrap())
        .await
        .unwrap();
    let request = format!(
        "POST /policy/reload HTTP/1.1\r\nHost: sluice\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        h.token("alice")
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, serde_json::from_str(body).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_or_failing_bundles_are_rejected_and_the_old_policy_stays() {
    let dir = scratch();
    let policies = copy_example_policies(dir.path());
    let h = gateway(&policies).await;
    let version = h.gateway.gateway.policy().current().info.version.clone();

    add_file(
        &policies,
        "broken.rego",
        "package sluice\n\nthis is not rego\n",
    );
    let (code, body) = reload(&h).await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body["rejected"].as_str().unwrap().contains("broken.rego"),
        "{body}"
    );
    std::fs::remove_file(policies.join("broken.rego")).unwrap();

    add_file(
        &policies,
        "failing_test.rego",
        "package sluice_extra_test\n\nimport rego.v1\n\ntest_that_fails if {\n\tfalse\n}\n",
    );
    let (code, body) = reload(&h).await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body["rejected"]
            .as_str()
            .unwrap()
            .contains("test_that_fails"),
        "{body}"
    );
    std::fs::remove_file(policies.join("failing_test.rego")).unwrap();

    assert_eq!(h.gateway.gateway.policy().current().info.version, version);
    let out = h.psql("alice", "app", &["-c", "DELETE FROM items"]);
    assert_stderr_contains(&out, "denied by policy");
    let audit = h.audit().await;
    let rejected = audit
        .iter()
        .filter(|r| matches!(&r.event, AuditEvent::PolicyRejected { enforced, .. } if *enforced == version))
        .count();
    // The watcher may also have seen the broken files; every rejection kept the old version.
    assert!(rejected >= 2, "{rejected}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_file_is_enforced_without_a_restart() {
    let dir = scratch();
    let policies = copy_example_policies(dir.path());
    let h = gateway(&policies).await;
    let before = h.gateway.gateway.policy().current().info.version.clone();
    assert_stderr_contains(
        &h.psql("ci", "app", &["-c", "SELECT 1"]),
        "denied by policy",
    );

    // A group for `ci` would need a config change; instead grant service identities reads.
    add_file(
        &policies,
        "ci_reads.rego",
        "package sluice\n\nimport rego.v1\n\nallow contains {\"rule\": \"ci_reads\", \"reason\": \"ci may read\"} if {\n\tinput.identity.name == \"ci\"\n\tinput.request.statement.kind == \"read\"\n}\n",
    );
    let loaded = poll_until(Duration::from_secs(10), || async {
        let v = h.gateway.gateway.policy().current().info.version.clone();
        (v != before).then_some(v)
    })
    .await
    .expect("the watcher did not load the changed bundle");
    let out = h.psql("ci", "app", &["-At", "-c", "SELECT 42"]);
    assert_eq!(stdout(&out).trim(), "42", "{}", stderr(&out));
    let audit = h.audit().await;
    assert!(audit.iter().any(|r| matches!(
        &r.event,
        AuditEvent::PolicyLoaded { trigger, version, previous: Some(p), .. }
            if trigger == "file_change" && *version == loaded && *p == before
    )));
    assert!(audit.iter().any(|r| matches!(
        &r.event,
        AuditEvent::Statement { text, decision, .. } if text == "SELECT 42" && decision.policy == loaded
    )));
    h.stop().await;
}

fn sluice(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn policy_test_check_and_eval_on_the_examples() {
    let dir = example_policies();
    let d = dir.to_str().unwrap();
    let out = sluice(&["policy", "test", d]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(" passed, 0 failed"),
        "{}",
        stdout(&out)
    );

    let out = sluice(&["policy", "check", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("version sha256:"), "{}", stdout(&out));

    let scratch = scratch();
    let input = scratch.path().join("input.json");
    std::fs::write(
        &input,
        r#"{"identity": {"name": "alice", "kind": "human", "groups": ["developers"], "attributes": {}},
            "target": {"name": "shop", "kind": "postgres", "tags": {"env": "production"}, "database": "shop"},
            "session": {"id": "s_1", "client_address": "127.0.0.1", "application_name": "psql",
                        "started_at": "2026-11-21T09:00:00Z", "protocol": "postgres", "search_path": ["$user", "public"]},
            "request": {"action": "statement", "index": 0, "count": 1, "parameters": null,
                        "statement": {"text": "DELETE FROM orders", "kind": "write", "command": "DELETE",
                                      "tables_read": [], "tables_written": ["public.orders"], "functions": [],
                                      "unbounded_write": true, "session_change": null, "parameter_count": 0}},
            "time": {"now": "2026-11-21T10:00:00Z", "timezone": "UTC", "weekday": "saturday", "hour": 10},
            "grants": []}"#,
    )
    .unwrap();
    let out = sluice(&["policy", "eval", d, "--input", input.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("deny (rule "), "{text}");
    assert!(text.contains("\"allow\": false"), "{text}");
}

#[test]
fn policy_check_and_test_report_failures() {
    let dir = scratch();
    let policies = copy_example_policies(dir.path());
    let d = policies.to_str().unwrap();
    add_file(
        &policies,
        "bad.rego",
        "package sluice\n\nimport rego.v1\n\nallow contains x if {\n\tx := \n}\n",
    );
    let out = sluice(&["policy", "check", d]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bad.rego:"), "{}", stderr(&out));
    std::fs::remove_file(policies.join("bad.rego")).unwrap();

    add_file(
        &policies,
        "failing_test.rego",
        "package sluice_extra_test\n\nimport rego.v1\n\ntest_fails if {\n\tfalse\n}\n",
    );
    let out = sluice(&["policy", "test", d]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("FAIL sluice_extra_test.test_fails"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains(" passed, 1 failed"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_the_enforced_version_and_drift() {
    let dir = scratch();
    let policies = copy_example_policies(dir.path());
    let mut h = gateway(&policies).await;
    let server = format!("http://{}", h.gateway.admin_addr.unwrap());
    let version = h.gateway.gateway.policy().current().info.version.clone();
    let d = policies.to_str().unwrap().to_owned();
    let token = h.token("alice").to_owned();
    let run = |args: Vec<String>| {
        let server = server.clone();
        let token = token.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut a = vec![
                    "policy".to_owned(),
                    "status".into(),
                    "--server".into(),
                    server,
                ];
                a.extend(args);
                Command::new(BIN)
                    .args(&a)
                    .env_remove("RUST_LOG")
                    .env("SLUICE_TOKEN", token)
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let out = run(vec![]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&version), "{}", stdout(&out));

    let out = run(vec!["--against".into(), d.clone()]).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("no drift"), "{}", stdout(&out));

    // Stop watching so the edit stays drift instead of being loaded.
    h.gateway.stop_policy_watch();
    let first = std::fs::read_dir(&policies)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.to_string_lossy().ends_with("_test.rego"))
        .unwrap();
    let mut text = std::fs::read_to_string(&first).unwrap();
    text.push_str("\n# edited in the checkout\n");
    std::fs::write(&first, text).unwrap();
    let out = run(vec!["--against".into(), d.clone()]).await;
    assert!(!out.status.success());
    let name = first.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        stdout(&out).contains(&format!("changed in checkout: {name}")),
        "{}",
        stdout(&out)
    );
    assert_stderr_contains(&out, "drift");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_real_binary() {
    pg();
    let dir = scratch();
    let policies = copy_example_policies(dir.path());
    let password_file = dir.path().join("target-password");
    std::fs::write(&password_file, TARGET_PASSWORD).unwrap();
    let config = dir.path().join("sluice.toml");
    let text = base_config(&dir.path().join("data"), &password_file, "")
        + &format!(
            "\n[policy]\ndir = \"{}\"\nwatch = false\n",
            policies.display()
        );
    std::fs::write(&config, text).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .env("SLUICE_TEST_WRONG_PASSWORD", "not-the-password")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let audit = |trigger: &'static str| {
        let config = config.clone();
        async move {
            let out = tokio::task::spawn_blocking(move || {
                Command::new(BIN)
                    .args(["audit", "search", "--json", "--config"])
                    .arg(&config)
                    .env("SLUICE_TEST_WRONG_PASSWORD", "not-the-password")
                    .output()
                    .unwrap()
            })
            .await
            .unwrap();
            stdout(&out)
                .lines()
                .any(|l| {
                    l.contains("\"policy_loaded\"")
                        && l.contains(&format!("\"trigger\":\"{trigger}\""))
                })
                .then_some(())
        }
    };
    poll_until(Duration::from_secs(20), || audit("start"))
        .await
        .expect("the gateway did not start");
    add_file(
        &policies,
        "ci_reads.rego",
        "package sluice\n\nimport rego.v1\n\nallow contains {\"rule\": \"ci_reads\", \"reason\": \"ci may read\"} if {\n\tinput.identity.name == \"ci\"\n}\n",
    );
    let pid = child.id().to_string();
    let hup = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(hup.success());
    let reloaded = poll_until(Duration::from_secs(20), || audit("sighup")).await;
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    assert!(reloaded.is_some(), "SIGHUP did not reload the policy");
}

/// A policy that allows everything except reading tables outside `public`, to see how sluice
/// resolves unqualified names.
const PUBLIC_ONLY: &str = r#"package sluice

import rego.v1

default decision := {"allow": true, "rule": "allow_all", "reasons": []}

decision := {"allow": false, "rule": "public_only", "reasons": [sprintf("%v is outside public", [t])]} if {
	some t in input.request.statement.tables_read
	not startswith(t, "public.")
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn unqualified_names_follow_the_sessions_search_path() {
    let dir = scratch();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(policies.join("public_only.rego"), PUBLIC_ONLY).unwrap();
    let h = gateway(&policies).await;
    let out = h.psql(
        "alice",
        "app",
        &[
            "-At",
            "-c",
            "SELECT count(*) FROM items",
            "-c",
            "SET search_path TO elsewhere, public",
            "-c",
            "SELECT count(*) FROM items",
            "-c",
            "RESET search_path",
            "-c",
            "SELECT 'reset', count(*) FROM items",
        ],
    );
    let (out_text, err) = (stdout(&out), stderr(&out));
    assert!(out_text.starts_with("100\n"), "{out_text}{err}");
    assert!(err.contains("elsewhere.items is outside public"), "{err}");
    assert!(out_text.contains("reset|100"), "{out_text}{err}");

    // A change followed by more statements in one string would be read with the old path.
    let out = h.psql(
        "alice",
        "app",
        &[
            "-c",
            "SET search_path TO elsewhere; SELECT count(*) FROM items",
        ],
    );
    assert_stderr_contains(&out, "sluice.search_path");

    // The search_path startup parameter is the session's starting path.
    let mut c = RawClient::connect(h.port()).await;
    c.startup(
        (3, 0),
        &[
            ("user", "alice"),
            ("database", "app"),
            ("search_path", "elsewhere"),
        ],
    )
    .await;
    c.login(h.token("alice")).await.unwrap();
    c.send(&query_msg("SELECT count(*) FROM items")).await;
    let replies = c.until_ready().await;
    let error = replies.iter().find_map(|m| m.message()).unwrap_or_default();
    assert!(
        error.contains("elsewhere.items is outside public"),
        "{replies:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn psycopg_sees_denials_and_carries_on() {
    let dir = scratch();
    let h = gateway(&copy_example_policies(dir.path())).await;
    run_python_driver(
        "psycopg_policy.py",
        h.conninfo("alice", "app"),
        "psycopg policy ok\n",
    )
    .await;
    assert_eq!(item_count().trim(), "100");
    h.stop().await;
}

/// psql's `\lo_import` calls the large-object functions through FunctionCall messages: the
/// gateway names each by its OID and the example policy's `large_objects` rule refuses them
/// to people on production, as it refuses `SELECT lo_creat(-1)`.
#[tokio::test(flavor = "multi_thread")]
async fn large_object_calls_are_decided_whichever_way_they_come() {
    let dir = scratch();
    let h = gateway(&copy_example_policies(dir.path())).await;
    let file = dir.path().join("payload.txt");
    std::fs::write(&file, "not for production").unwrap();
    for command in [
        format!("\\lo_import {}", file.display()),
        "SELECT lo_creat(-1)".to_owned(),
    ] {
        let out = h.psql("alice", "app", &["-c", &command]);
        let err = stderr(&out);
        assert!(
            err.contains("denied by policy rule large_objects"),
            "{command}: {err}"
        );
    }
    let texts = h.audited_statements().await;
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("SELECT \"pg_catalog\".\"lo_")),
        "{texts:?}"
    );
    h.stop().await;
}
