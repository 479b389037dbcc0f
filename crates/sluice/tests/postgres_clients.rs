#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Real clients through the gateway against a real PostgreSQL: psql, pgbench in every query
//! mode, and the tokio-postgres driver.

mod support;

use std::process::Command;

use sluice_audit::{AuditEvent, Outcome};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_runs_queries_and_every_statement_is_audited() {
    let h = Harness::start().await;
    let out = h.psql(
        "alice",
        "app",
        &[
            "-A",
            "-t",
            "-c",
            "select count(*) from items",
            "-c",
            "select name from items where id = 7",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "100\nitem 7\n");

    let records = h.audit().await;
    let started = records.iter().find_map(|r| match &r.event {
        AuditEvent::SessionStarted {
            identity,
            target,
            database,
            ..
        } => Some((identity.clone(), target.clone(), database.clone())),
        _ => None,
    });
    assert_eq!(started, Some(("alice".into(), "app".into(), "app".into())));
    let results: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::StatementResult {
                outcome,
                rows,
                command_tag,
                ..
            } => Some((outcome.clone(), *rows, command_tag.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        results,
        vec![
            (Outcome::Ok, Some(1), Some("SELECT 1".into())),
            (Outcome::Ok, Some(1), Some("SELECT 1".into()))
        ]
    );
    assert_eq!(
        h.audited_statements().await,
        vec![
            "select count(*) from items",
            "select name from items where id = 7"
        ]
    );
    let ended = records.iter().any(|r| matches!(&r.event, AuditEvent::SessionEnded { statements: 2, reason, .. } if reason == "client terminated the session"));
    assert!(ended, "session end not audited: {records:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_relayed_and_audited_with_their_sqlstate() {
    let h = Harness::start().await;
    let out = h.psql("alice", "app", &["-c", "select * from missing_table"]);
    assert!(!out.status.success());
    assert_stderr_contains(&out, "relation \"missing_table\" does not exist");
    let errors: Vec<_> = h
        .audit()
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::StatementResult {
                outcome: Outcome::Error { sqlstate, .. },
                ..
            } => Some(sqlstate),
            _ => None,
        })
        .collect();
    assert_eq!(errors, vec!["42P01"]);
    h.stop().await;
}

fn pgbench(h: &Harness, mode: &str, extra: &[&str]) -> std::process::Output {
    Command::new("pgbench")
        .args(["-n", "-M", mode, "-t", "50", "-c", "2", "-j", "2"])
        .args(extra)
        .arg(h.url("ci", "app"))
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_simple_extended_and_prepared_modes() {
    let h = Harness::start().await;
    let script = h.dir.path().join("select.sql");
    std::fs::write(
        &script,
        "\\set id random(1, 100)\nSELECT name FROM items WHERE id = :id;\n",
    )
    .unwrap();
    let script = format!("--file={}", script.display());
    for mode in ["simple", "extended", "prepared"] {
        let out = pgbench(&h, mode, &[&script]);
        assert!(
            out.status.success(),
            "pgbench -M {mode}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(
            stdout(&out).contains("number of transactions actually processed: 100/100"),
            "{}",
            stdout(&out)
        );
    }
    let records = h.audit().await;
    let statements = records
        .iter()
        .filter(|r| matches!(r.event, AuditEvent::Statement { .. }))
        .count();
    let ok = records
        .iter()
        .filter(|r| {
            matches!(
                &r.event,
                AuditEvent::StatementResult {
                    outcome: Outcome::Ok,
                    rows: Some(1),
                    ..
                }
            )
        })
        .count();
    assert_eq!(statements, 300);
    assert_eq!(ok, 300);
    // Prepared mode audits each Execute with the SQL text from its Parse.
    assert!(h
        .audited_statements()
        .await
        .iter()
        .all(|t| t.starts_with("SELECT name FROM items WHERE id = ")));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_driver_extended_protocol_and_transactions() {
    let h = Harness::start().await;
    let (client, conn) =
        tokio_postgres::connect(&h.conninfo("alice", "app"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one("SELECT name FROM items WHERE id = $1", &[&42i32])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "item 42");
    let stmt = client
        .prepare("SELECT count(*) FROM items WHERE id <= $1")
        .await
        .unwrap();
    for n in [1i32, 10, 50] {
        let c: i64 = client.query_one(&stmt, &[&n]).await.unwrap().get(0);
        assert_eq!(c, i64::from(n));
    }
    client
        .batch_execute("CREATE TEMP TABLE t (v int); BEGIN; INSERT INTO t VALUES (1), (2); COMMIT")
        .await
        .unwrap();
    let err = client.query_one("SELECT 1/0", &[]).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("22012"));
    // The connection stays usable after an error in the extended protocol.
    let n: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    drop(client);
    let texts = h.audited_statements().await;
    assert!(
        texts
            .iter()
            .any(|t| t == "SELECT name FROM items WHERE id = $1"),
        "{texts:?}"
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| *t == "SELECT count(*) FROM items WHERE id <= $1")
            .count(),
        3
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_database_selection_and_unknown_targets() {
    let h = Harness::start().await;
    let out = h.psql(
        "alice",
        "app/postgres",
        &["-A", "-t", "-c", "select current_database()"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "postgres\n");
    let out = h.psql("alice", "app/template1", &["-c", "select 1"]);
    assert!(!out.status.success());
    assert_stderr_contains(&out, "does not exist or is not available");
    let out = h.psql("alice", "nope", &["-c", "select 1"]);
    assert_stderr_contains(&out, "target \"nope\" does not exist");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_md5_and_cleartext_logins() {
    let h = Harness::start().await;
    for target in ["app-md5", "app-cleartext"] {
        let out = h.psql("alice", target, &["-A", "-t", "-c", "select current_user"]);
        assert!(out.status.success(), "{target}: {}", stderr(&out));
    }
    let out = h.psql("alice", "app-wrong-password", &["-c", "select 1"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("refused the gateway's credential"), "{err}");
    assert!(
        !err.contains("not-the-password"),
        "credential leaked: {err}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_tls_require_and_verify_full() {
    let ca = tokio::task::spawn_blocking(|| support::pg_ca().to_owned())
        .await
        .unwrap();
    let port = support::pg().port;
    let target = |name: &str, tls: &str, ca: &std::path::Path| {
        format!(
            "\n[[targets]]\nname = \"{name}\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {port}\ndatabase = \"app\"\nuser = \"sluice_scram\"\npassword_env = \"SLUICE_TEST_TARGET_PASSWORD\"\ntls = \"{tls}\"\ntls_ca = \"{}\"\n",
            ca.display()
        )
    };
    std::env::set_var("SLUICE_TEST_TARGET_PASSWORD", TARGET_PASSWORD);
    let extra = format!(
        "{}{}",
        target("tls-require", "require", &ca),
        target("tls-verify", "verify-full", &ca)
    );
    let h = Harness::start_with(&extra).await;
    let ssl_in_use = "select ssl from pg_stat_ssl where pid = pg_backend_pid()";
    for name in ["tls-require", "tls-verify", "app-md5"] {
        let out = h.psql("alice", name, &["-A", "-t", "-c", ssl_in_use]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), "t\n", "{name} did not use TLS upstream");
    }
    let out = h.psql("alice", "app", &["-A", "-t", "-c", ssl_in_use]);
    assert_eq!(stdout(&out), "f\n", "tls = disable must not use TLS");
    h.stop().await;

    // verify-full refuses a certificate its CA did not sign: the gateway's own certificate is
    // a different self-signed one.
    let other_ca = h_gateway_cert().await;
    let h = Harness::start_with(&target("tls-wrong-ca", "verify-full", &other_ca)).await;
    let out = h.psql("alice", "tls-wrong-ca", &["-c", "select 1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("08006") || stderr(&out).contains("TLS failure"),
        "{}",
        stderr(&out)
    );
    h.stop().await;
}

/// A self-signed certificate that did not sign the target's: a gateway's generated one.
async fn h_gateway_cert() -> std::path::PathBuf {
    let h = Harness::start().await;
    let cert = h.config.gateway.data_dir.join("tls/server.crt");
    let copy = h
        .dir
        .path()
        .parent()
        .unwrap()
        .join(format!("sluice-other-ca-{}.pem", std::process::id()));
    std::fs::copy(&cert, &copy).unwrap();
    h.stop().await;
    copy
}
