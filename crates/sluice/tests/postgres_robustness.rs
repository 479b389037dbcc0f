#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hostile, broken and unlucky clients: garbage, oversized and malformed messages, stalled
//! handshakes, connection limits, failed and revoked authentication, refused startup
//! parameters, and an unreachable target. Each must be refused precisely, audited, and leave
//! other sessions alone.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use sluice_audit::{AuditEvent, AuditRecord, Outcome};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::NoTls;

/// A psql session through the gateway works (the gateway is unaffected by whatever else).
fn assert_psql_works(h: &Harness) {
    let out = h.psql(
        "ci",
        "app",
        &["-A", "-t", "-c", "SELECT count(*) FROM items"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "100\n");
}

async fn connect(conninfo: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(conninfo, NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

fn code(e: &tokio_postgres::Error) -> Option<&str> {
    e.code().map(|c| c.code())
}

/// The server's message of a database error (tokio-postgres displays only "db error").
fn db_message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_else(|| e.to_string())
}

/// Asserts the next thing on `c` is one FATAL ErrorResponse with `sqlstate`, then a close.
async fn expect_fatal(c: &mut RawClient, sqlstate: &str) -> Msg {
    let seen = c.expect_closed(Duration::from_secs(5)).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    let e = seen[0].clone();
    assert_eq!(e.tag, b'E', "{e:?}");
    assert_eq!(e.field(b'S').as_deref(), Some("FATAL"), "{e:?}");
    assert_eq!(e.sqlstate().as_deref(), Some(sqlstate), "{e:?}");
    e
}

fn session_end_reasons(records: &[AuditRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::SessionEnded { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn rejections(records: &[AuditRecord]) -> Vec<(Option<String>, String)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::ConnectionRejected {
                identity, reason, ..
            } => Some((identity.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_before_the_startup_packet() {
    let h = Harness::start().await;
    let garbage: [&[u8]; 5] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        // A zero length field.
        &[0, 0, 0, 0, 1, 2, 3, 4],
        // A plausible length with an unknown request code.
        &[0, 0, 0, 8, 0x12, 0x34, 0x56, 0x78],
        // A startup message whose parameters are not NUL-terminated.
        b"\x00\x00\x00\x0f\x00\x03\x00\x00user\x00al",
        // Looks like a TLS ClientHello (0x16) but is not one.
        &[0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0, 0],
    ];
    let mut open = Vec::new();
    for bytes in garbage {
        let mut c = RawClient::connect(h.port()).await;
        c.send(bytes).await;
        open.push((bytes, c));
    }
    // A real session in the middle of it all.
    assert_psql_works(&h);
    for (bytes, mut c) in open {
        let seen = c.expect_closed(Duration::from_secs(5)).await;
        assert!(seen.len() <= 1, "{seen:?}");
        if let Some(e) = seen.first() {
            assert_eq!(e.tag, b'E', "{}: {e:?}", bytes.escape_ascii());
            // An unknown code is read as a protocol version, as PostgreSQL does: 0A000.
            let code = e.sqlstate();
            assert!(matches!(code.as_deref(), Some("08P01" | "0A000")), "{e:?}");
        }
    }
    // The HTTP request in particular gets a protocol error, like PostgreSQL answers it.
    let mut c = RawClient::connect(h.port()).await;
    c.send(b"GET / HTTP/1.1\r\n\r\n").await;
    let seen = c.expect_closed(Duration::from_secs(5)).await;
    if let Some(e) = seen.first() {
        assert!(e.message().unwrap().contains("invalid message"), "{e:?}");
    }
    assert_psql_works(&h);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_is_fatal_for_that_session_only() {
    let h = Harness::start_with_config(|t| set_in_table(t, "gateway", "max_message_bytes = 4096"))
        .await;
    let bystander = connect(&h.conninfo("ci", "app")).await.unwrap();

    // Just under the limit is fine.
    let (mut c, _) = h.raw_login("alice", "app").await;
    let fits = format!("SELECT '{}'", "a".repeat(3_000));
    c.send(&query_msg(&fits)).await;
    let answer = c.until_ready().await;
    assert!(answer.iter().any(|m| m.tag == b'D'), "{answer:?}");

    let huge = format!("SELECT '{}'", "b".repeat(10_000));
    let msg = query_msg(&huge);
    assert!(msg.len() > 10_000);
    c.try_send(&msg).await;
    let e = expect_fatal(&mut c, "08P01").await;
    assert!(e.message().unwrap().contains("limit"), "{e:?}");

    let n: i64 = bystander
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 100);
    assert_psql_works(&h);
    drop(bystander);
    let records = h.audit().await;
    let reasons = session_end_reasons(&records);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("exceeds the limit of 4096 bytes")),
        "{reasons:?}"
    );
    // The oversized statement itself was never admitted.
    let texts = h.audited_statements().await;
    assert!(texts.iter().all(|t| !t.contains("bbbb")), "{texts:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_after_login_are_fatal() {
    let h = Harness::start().await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("query without NUL", frontend_msg(b'Q', b"SELECT 1")),
        ("length field 2", b"Q\x00\x00\x00\x02".to_vec()),
        ("unknown type z", frontend_msg(b'z', b"")),
        ("password after login", frontend_msg(b'p', b"again\0")),
        (
            "execute with trailing bytes",
            frontend_msg(b'E', b"\0\0\0\0\0extra"),
        ),
        ("describe of kind X", frontend_msg(b'D', b"Xname\0")),
    ];
    for (what, bytes) in &cases {
        let (mut c, _) = h.raw_login("alice", "app").await;
        // A valid query in the same write: admitted, but never forwarded.
        let mut batch = query_msg(&format!("SELECT 'before {what}'"));
        batch.extend_from_slice(bytes);
        c.send(&batch).await;
        let seen = c.expect_closed(Duration::from_secs(5)).await;
        assert_eq!(seen.len(), 1, "{what}: {seen:?}");
        assert_eq!(seen[0].sqlstate().as_deref(), Some("08P01"), "{what}");
        assert_eq!(seen[0].field(b'S').as_deref(), Some("FATAL"), "{what}");
    }
    assert_psql_works(&h);

    let records = h.audit().await;
    let reasons = session_end_reasons(&records);
    let invalid = reasons
        .iter()
        .filter(|r| r.contains("invalid message") || r.contains("unexpected message"))
        .count();
    assert_eq!(invalid, cases.len(), "{reasons:?}");
    // Each "before" statement was audited and then marked as never forwarded.
    let mut texts = std::collections::HashMap::new();
    for r in &records {
        if let AuditEvent::Statement {
            session,
            statement,
            text,
            ..
        } = &r.event
        {
            texts.insert((session.clone(), *statement), text.clone());
        }
    }
    let unforwarded = records
        .iter()
        .filter(|r| {
            matches!(&r.event, AuditEvent::StatementResult { session, statement, outcome: Outcome::NotExecuted { .. }, .. }
                if texts[&(session.clone(), *statement)].starts_with("SELECT 'before"))
        })
        .count();
    assert_eq!(unforwarded, cases.len());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_time_out() {
    let h = Harness::start_with_config(|t| {
        t.replace("handshake_timeout = \"3s\"", "handshake_timeout = \"1s\"")
    })
    .await;
    let started = Instant::now();
    // Nothing at all.
    let mut silent = RawClient::connect(h.port()).await;
    // Half a startup packet.
    let mut partial = RawClient::connect(h.port()).await;
    partial.send(&[0, 0, 0, 40, 0, 3, 0, 0, b'u', b's']).await;
    // A startup message, then silence during SCRAM.
    let mut mute = RawClient::connect(h.port()).await;
    mute.startup((3, 0), &[("user", "alice"), ("database", "app")])
        .await;
    let sasl = mute.recv().await;
    assert_eq!(sasl.auth_code(), Some(10));
    // Meanwhile a real client gets through.
    assert_psql_works(&h);

    for (what, c) in [
        ("silent", &mut silent),
        ("partial", &mut partial),
        ("mute", &mut mute),
    ] {
        // The gateway has read everything these clients sent, so its close is orderly and
        // the FATAL error arrives before it.
        let seen = c.expect_closed(Duration::from_secs(4)).await;
        assert_eq!(seen.len(), 1, "{what}: {seen:?}");
        assert_eq!(seen[0].sqlstate().as_deref(), Some("08P01"), "{what}");
        assert_eq!(
            seen[0].message().as_deref(),
            Some("sluice: handshake timed out"),
            "{what}"
        );
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
    let rejected = rejections(&h.audit().await);
    assert!(
        rejected
            .iter()
            .any(|(i, r)| i.as_deref() == Some("alice") && r.contains("in time")),
        "{rejected:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_refuses_with_53300() {
    let h = Harness::start_with_config(|t| set_in_table(t, "gateway", "max_connections = 2")).await;
    let first = connect(&h.conninfo("alice", "app")).await.unwrap();
    let second = connect(&h.conninfo("ci", "app")).await.unwrap();
    let err = connect(&h.conninfo("alice", "app")).await.unwrap_err();
    assert_eq!(code(&err), Some("53300"), "{err}");
    assert!(db_message(&err).contains("too many connections"), "{err:?}");
    // The two sessions are still fine.
    first.simple_query("SELECT 1").await.unwrap();
    second.simple_query("SELECT 2").await.unwrap();

    drop(first);
    let third = poll_until(Duration::from_secs(5), || async {
        connect(&h.conninfo("alice", "app")).await.ok()
    })
    .await
    .expect("a slot never freed up");
    let n: i64 = third
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 100);
    drop(second);
    drop(third);
    h.stop().await;
}

fn with_password(conninfo: &str, old: &str, new: &str) -> String {
    conninfo.replace(&format!("password={old}"), &format!("password={new}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentication_is_uniform_and_audited() {
    let h = Harness::start().await;
    let alice = h.conninfo("alice", "app");
    let wrong = with_password(&alice, h.token("alice"), "slc_not-a-real-token");
    let err = connect(&wrong).await.unwrap_err();
    assert_eq!(code(&err), Some("28P01"), "{err}");
    let alice_text = err.as_db_error().unwrap().message().to_owned();
    assert_eq!(
        alice_text,
        "password authentication failed for user \"alice\""
    );

    // An identity that is not configured fails the same way, after the same exchange.
    let mallory = wrong.replace("user=alice", "user=mallory");
    let err = connect(&mallory).await.unwrap_err();
    assert_eq!(code(&err), Some("28P01"), "{err}");
    assert_eq!(
        err.as_db_error()
            .unwrap()
            .message()
            .replace("mallory", "alice"),
        alice_text
    );
    // Even alice's real token does not work under another name.
    let borrowed = alice.replace("user=alice", "user=ci");
    assert_eq!(code(&connect(&borrowed).await.unwrap_err()), Some("28P01"));
    let none = wrong.replace("user=alice", "user=no-tokens");
    assert_eq!(code(&connect(&none).await.unwrap_err()), Some("28P01"));

    // Unknown identities get a stable salt and the usual iteration count: no enumeration.
    let server_first = |user: &'static str| {
        let port = h.port();
        async move {
            let mut c = RawClient::connect(port).await;
            c.startup((3, 0), &[("user", user), ("database", "app")])
                .await;
            assert_eq!(c.recv().await.auth_code(), Some(10));
            let mut out = bytes::BytesMut::new();
            sluice_pgwire::encode::sasl_initial_response(
                &mut out,
                "SCRAM-SHA-256",
                b"n,,n=,r=abcdefghijklmnop",
            );
            c.send(&out).await;
            let m = c.recv().await;
            assert_eq!(m.auth_code(), Some(11));
            let text = String::from_utf8(m.body[4..].to_vec()).unwrap();
            let salt = text.split(',').find(|a| a.starts_with("s=")).unwrap();
            let iterations = text.split(',').find(|a| a.starts_with("i=")).unwrap();
            (salt.to_owned(), iterations.to_owned())
        }
    };
    let (a1, ai) = server_first("alice").await;
    let (m1, mi) = server_first("mallory").await;
    let (m2, _) = server_first("mallory").await;
    let (n1, ni) = server_first("no-tokens").await;
    assert_eq!(m1, m2, "an unknown identity's salt must be stable");
    assert_ne!(a1, m1);
    assert_eq!(
        (ai.as_str(), mi.as_str(), ni.as_str()),
        ("i=4096", "i=4096", "i=4096")
    );
    assert_ne!(n1, m1);

    let rejected = rejections(&h.audit().await);
    for who in ["alice", "mallory", "ci", "no-tokens"] {
        assert!(
            rejected
                .iter()
                .any(|(i, r)| i.as_deref() == Some(who) && r.contains("authentication failed")),
            "{who}: {rejected:?}"
        );
    }
    // psql shows the same text.
    let out = Command::new("psql")
        .arg("-X")
        .arg(format!(
            "postgresql://mallory:wrong@127.0.0.1:{}/app?sslmode=disable",
            h.port()
        ))
        .args(["-c", "SELECT 1"])
        .output()
        .unwrap();
    assert_stderr_contains(&out, "password authentication failed for user \"mallory\"");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_expired_tokens_stop_working_at_the_next_connection() {
    let h = Harness::start().await;
    let store = sluice::runtime::open_store(&h.config).await.unwrap();
    let before: Vec<String> = store
        .list_tokens(Some("alice"))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    let secret = sluice::token_cmd::create(&h.config, "alice", None)
        .await
        .unwrap();
    let secret = secret.expose().to_owned();
    let id = store
        .list_tokens(Some("alice"))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .find(|id| !before.contains(id))
        .unwrap();
    let conninfo = with_password(&h.conninfo("alice", "app"), h.token("alice"), &secret);
    let existing = connect(&conninfo).await.unwrap();
    existing.simple_query("SELECT 1").await.unwrap();

    assert!(store
        .revoke_token(&id, sluice_core::gateway::unix_now())
        .await
        .unwrap());
    let err = connect(&conninfo).await.unwrap_err();
    assert_eq!(code(&err), Some("28P01"), "{err}");
    // The session opened before the revocation carries on; alice's other token still works.
    let n: i64 = existing
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 100);
    connect(&h.conninfo("alice", "app")).await.unwrap();
    drop(existing);

    // Expiry. Expiry times have one-second resolution, so a 2 s lifetime leaves at least one
    // full second in which the token must work.
    let short = sluice::token_cmd::create(&h.config, "alice", Some(Duration::from_secs(2)))
        .await
        .unwrap();
    let short = short.expose().to_owned();
    let conninfo = with_password(&h.conninfo("alice", "app"), h.token("alice"), &short);
    let live = connect(&conninfo).await.unwrap();
    let expires_at = store
        .list_tokens(Some("alice"))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|t| t.expires_at)
        .max()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let until_expiry = Duration::from_secs(expires_at as u64).saturating_sub(now);
    assert!(until_expiry <= Duration::from_secs(2));
    tokio::time::sleep(until_expiry + Duration::from_millis(50)).await;
    let err = connect(&conninfo).await.unwrap_err();
    assert_eq!(code(&err), Some("28P01"), "{err}");
    // Expiry, like revocation, is checked at connection time only.
    live.simple_query("SELECT 1").await.unwrap();
    drop(live);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_options_are_followed_and_replication_is_refused() {
    let h = Harness::start().await;
    // PGOPTIONS' settings reach the target, and the analysis resolves names with its path.
    let out = Command::new("psql")
        .arg("-X")
        .arg(h.url("alice", "app"))
        .args([
            "-At",
            "-c",
            "SHOW search_path",
            "-c",
            "SELECT count(*) FROM items",
        ])
        .env("PGOPTIONS", "-c search_path=x,public")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "x,public\n100\n", "{}", stderr(&out));
    let mut config: tokio_postgres::Config = h.conninfo("alice", "app").parse().unwrap();
    config.options("-c search_path=x -F");
    let err = config.connect(NoTls).await.err().unwrap();
    assert_eq!(code(&err), Some("22023"), "{err}");

    // Raw: replication is refused, replication=false is accepted, and so is a forwarded
    // parameter, which reaches the target.
    let mut c = RawClient::connect(h.port()).await;
    c.startup(
        (3, 0),
        &[
            ("user", "alice"),
            ("database", "app"),
            ("replication", "database"),
        ],
    )
    .await;
    let e = expect_fatal(&mut c, "0A000").await;
    assert!(e.message().unwrap().contains("replication"), "{e:?}");
    let mut c = RawClient::connect(h.port()).await;
    c.startup(
        (3, 0),
        &[
            ("user", "alice"),
            ("database", "app"),
            ("replication", "false"),
            ("application_name", "robustness"),
        ],
    )
    .await;
    c.login(h.token("alice")).await.unwrap();
    c.send(&query_msg("SELECT current_setting('application_name')"))
        .await;
    let answer = c.until_ready().await;
    assert!(answer[1].body.ends_with(b"robustness"), "{answer:?}");
    c.send(&terminate_msg()).await;

    let rejected = rejections(&h.audit().await);
    assert!(
        rejected
            .iter()
            .any(|(_, r)| r.contains("invalid startup option")),
        "{rejected:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_is_refused_and_audited() {
    let closed_port = sluice::scratch_pg::free_port().unwrap();
    let h = Harness::start_with(&format!(
        r#"
[[targets]]
name = "down"
kind = "postgres"
host = "127.0.0.1"
port = {closed_port}
database = "app"
user = "sluice_scram"
password_env = "SLUICE_TEST_WRONG_PASSWORD"
tls = "disable"
"#
    ))
    .await;
    let err = connect(&h.conninfo("alice", "down")).await.unwrap_err();
    assert_eq!(code(&err), Some("08006"), "{err}");
    assert!(db_message(&err).contains("unreachable"), "{err:?}");
    // The client learns nothing about where the target lives.
    assert!(
        !format!("{err:?}").contains(&closed_port.to_string()),
        "{err:?}"
    );
    let out = h.psql("alice", "down", &["-c", "SELECT 1"]);
    assert_stderr_contains(&out, "unreachable");

    let records = h.audit().await;
    let started = records
        .iter()
        .filter(
            |r| matches!(&r.event, AuditEvent::SessionStarted { target, .. } if target == "down"),
        )
        .count();
    let ended: Vec<&String> = records
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::SessionEnded { target, reason, .. } if target == "down" => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(started, 2);
    assert_eq!(ended.len(), 2);
    assert!(ended.iter().all(|r| r.contains("unreachable")), "{ended:?}");
    assert_psql_works(&h);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_vanishing_mid_query_is_audited() {
    let h = Harness::start().await;
    let (mut c, _) = h.raw_login("alice", "app").await;
    c.send(&query_msg("SELECT pg_sleep(0.5), 'vanished'")).await;
    drop(c);
    let ended = poll_until(Duration::from_secs(5), || async {
        let records = h.audit().await;
        let reasons = session_end_reasons(&records);
        (!reasons.is_empty()).then_some(records)
    })
    .await
    .expect("session end never audited");
    assert_eq!(session_end_reasons(&ended), vec!["client disconnected"]);
    let outcome = ended
        .iter()
        .find_map(|r| match &r.event {
            AuditEvent::StatementResult { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        matches!(&outcome, Outcome::Interrupted { reason } if reason.contains("session ended")),
        "{outcome:?}"
    );
    assert_psql_works(&h);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_of_pipelined_queries_is_answered_in_order() {
    const N: usize = 3_000;
    let h = Harness::start().await;
    let (c, _) = h.raw_login("ci", "app").await;
    let (mut reader, mut writer) = c.stream.into_split();
    let mut batch = Vec::new();
    for i in 0..N {
        batch.extend(query_msg(&format!("SELECT {i}, repeat('x', 200)")));
    }
    // Write everything while reading concurrently, as a pipelining client does.
    let write = tokio::spawn(async move {
        writer.write_all(&batch).await.unwrap();
        writer
    });
    let mut buf = Vec::new();
    let mut ready = 0;
    let mut rows = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut chunk = vec![0u8; 64 * 1024];
    while ready < N {
        assert!(Instant::now() < deadline, "only {ready} of {N} answered");
        let n = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut chunk))
            .await
            .expect("stalled")
            .unwrap();
        assert!(n > 0, "closed after {ready} answers");
        buf.extend_from_slice(&chunk[..n]);
        let mut pos = 0;
        while buf.len() - pos >= 5 {
            let len = u32::from_be_bytes(buf[pos + 1..pos + 5].try_into().unwrap()) as usize;
            if buf.len() - pos < len + 1 {
                break;
            }
            match buf[pos] {
                b'Z' => ready += 1,
                b'D' => {
                    // DataRow: count, then (len, bytes) for the first column.
                    let body = &buf[pos + 5..pos + 1 + len];
                    let l = i32::from_be_bytes(body[2..6].try_into().unwrap()) as usize;
                    rows.push(String::from_utf8(body[6..6 + l].to_vec()).unwrap());
                }
                b'E' => panic!("error: {:?}", buf[pos..pos + 1 + len].escape_ascii()),
                _ => {}
            }
            pos += len + 1;
        }
        buf.drain(..pos);
    }
    let mut writer = write.await.unwrap();
    let expected: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(rows, expected);
    writer.write_all(&terminate_msg()).await.unwrap();
    let records = h.audit().await;
    let ok = records
        .iter()
        .filter(|r| {
            matches!(
                &r.event,
                AuditEvent::StatementResult {
                    outcome: Outcome::Ok,
                    ..
                }
            )
        })
        .count();
    assert_eq!(ok, N);
    h.stop().await;
}
