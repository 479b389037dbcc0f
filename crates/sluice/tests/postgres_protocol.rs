#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Protocol features through the gateway: COPY, LISTEN/NOTIFY, notices, cancel routing,
//! extended-protocol pipelines, version negotiation, GSSENC refusal, FunctionCall refusal, TLS.

mod support;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sluice_audit::{AuditEvent, AuditRecord, Outcome};
use support::*;
use tokio_postgres::{AsyncMessage, NoTls};

use sluice_pgwire::startup::{CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE};

/// Statement text → (outcome, command tag, rows), paired by session and statement number.
fn results_by_text(records: &[AuditRecord]) -> Vec<(String, Outcome, Option<String>, Option<u64>)> {
    let mut texts = HashMap::new();
    for r in records {
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
    records
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::StatementResult {
                session,
                statement,
                outcome,
                command_tag,
                rows,
                ..
            } => Some((
                texts
                    .get(&(session.clone(), *statement))
                    .cloned()
                    .unwrap_or_else(|| panic!("result without statement: {r:?}")),
                outcome.clone(),
                command_tag.clone(),
                *rows,
            )),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_and_out_through_psql_is_relayed_and_audited() {
    let h = Harness::start().await;
    let csv = "1,one\n2,two\n3,\"three, with a comma\"\n";
    let file = h.dir.path().join("rows.csv");
    std::fs::write(&file, csv).unwrap();
    let copy_in = format!("\\copy copied from '{}' with (format csv)", file.display());
    let out = h.psql(
        "alice",
        "app",
        &[
            "-q",
            "-c",
            "CREATE TEMP TABLE copied (id int, name text)",
            "-c",
            &copy_in,
            "-c",
            "COPY copied TO STDOUT (FORMAT csv)",
            "-c",
            "COPY (SELECT g FROM generate_series(1, 10000) g) TO STDOUT",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = stdout(&out);
    assert!(stdout.starts_with(csv), "{stdout}");
    let numbers: Vec<&str> = stdout[csv.len()..].lines().collect();
    assert_eq!(numbers.len(), 10_000);
    assert_eq!((numbers[0], numbers[9_999]), ("1", "10000"));

    let results = results_by_text(&h.audit().await);
    let copy_from = results
        .iter()
        .find(|(t, ..)| t.contains("FROM STDIN"))
        .unwrap_or_else(|| panic!("COPY FROM STDIN not audited: {results:?}"));
    assert!(copy_from.0.contains("copied"), "{copy_from:?}");
    assert_eq!(
        (&copy_from.1, copy_from.2.as_deref(), copy_from.3),
        (&Outcome::Ok, Some("COPY 3"), Some(3))
    );
    let copy_to = results
        .iter()
        .find(|(t, ..)| t == "COPY copied TO STDOUT (FORMAT csv)")
        .unwrap_or_else(|| panic!("COPY TO STDOUT not audited: {results:?}"));
    assert_eq!(
        (&copy_to.1, copy_to.2.as_deref(), copy_to.3),
        (&Outcome::Ok, Some("COPY 3"), Some(3))
    );
    assert!(
        results.iter().any(|(_, o, tag, rows)| *o == Outcome::Ok
            && tag.as_deref() == Some("COPY 10000")
            && *rows == Some(10_000)),
        "{results:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_stdin_failure_is_relayed_and_session_continues() {
    let h = Harness::start().await;
    let file = h.dir.path().join("bad.csv");
    std::fs::write(&file, "1,ok\nnot-a-number,bad\n").unwrap();
    let copy_in = format!("\\copy copied from '{}' with (format csv)", file.display());
    let out = h.psql(
        "alice",
        "app",
        &[
            "-q",
            "-A",
            "-t",
            "-c",
            "CREATE TEMP TABLE copied (id int, name text)",
            "-c",
            &copy_in,
            "-c",
            "SELECT count(*) FROM copied",
        ],
    );
    // psql stops at the failed \copy unless ON_ERROR_STOP is off (the default): it continues.
    assert_stderr_contains(&out, "invalid input syntax for type integer");
    assert_eq!(stdout(&out), "0\n");
    let results = results_by_text(&h.audit().await);
    assert!(
        results.iter().any(|(t, o, ..)| t.contains("FROM STDIN")
            && matches!(o, Outcome::Error { sqlstate, .. } if sqlstate == "22P02")),
        "{results:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_notify_across_two_sessions() {
    let h = Harness::start().await;
    let (listener, mut conn) = tokio_postgres::connect(&h.conninfo("alice", "app"), NoTls)
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    let _ = tx.send((n.channel().to_owned(), n.payload().to_owned()));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    listener.batch_execute("LISTEN sluice_ch").await.unwrap();

    let (notifier, conn) = tokio_postgres::connect(&h.conninfo("ci", "app"), NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    notifier
        .batch_execute("NOTIFY sluice_ch, 'first'")
        .await
        .unwrap();
    notifier
        .query("SELECT pg_notify('sluice_ch', $1)", &[&"second"])
        .await
        .unwrap();
    // Notifications arrive while the listening session is idle: nothing asks for them.
    for expected in ["first", "second"] {
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("notification not relayed within 5 s")
            .unwrap();
        assert_eq!(got, ("sluice_ch".to_owned(), expected.to_owned()));
    }
    // The listening session still works after the asynchronous messages.
    let n: i64 = listener
        .query_one("SELECT 7::int8", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 7);
    drop(listener);
    drop(notifier);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_are_relayed() {
    let h = Harness::start().await;
    let out = h.psql(
        "alice",
        "app",
        &[
            "-c",
            "DO $$ BEGIN RAISE NOTICE 'hello from plpgsql'; END $$",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_stderr_contains(&out, "NOTICE:  hello from plpgsql");
    h.stop().await;
}

/// Waits until a statement whose text contains `marker` is active on the target.
async fn wait_active(observer: &tokio_postgres::Client, marker: &str) {
    let pattern = format!("%{marker}%");
    let seen = poll_until(Duration::from_secs(10), || async {
        let n: i64 = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()",
                &[&pattern],
            )
            .await
            .unwrap()
            .get(0);
        (n > 0).then_some(())
    })
    .await;
    assert!(seen.is_some(), "statement {marker} never became active");
}

async fn send_cancel(port: u16, pid: i32, secret: &[u8]) {
    let mut payload = pid.to_be_bytes().to_vec();
    payload.extend_from_slice(secret);
    let mut c = RawClient::connect(port).await;
    c.send(&startup_packet(CANCEL_REQUEST_CODE, &payload)).await;
    // The gateway answers a cancel request with nothing and closes.
    let seen = c.expect_closed(Duration::from_secs(5)).await;
    assert!(seen.is_empty(), "cancel request answered: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_requests_are_routed_with_the_gateway_key() {
    let h = Harness::start().await;
    let (observer, conn) = tokio_postgres::connect(&h.conninfo("ci", "app"), NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);

    // A driver's cancel goes to the gateway, which forwards it to the right backend.
    let (client, conn) = tokio_postgres::connect(&h.conninfo("alice", "app"), NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let token = client.cancel_token();
    let started = Instant::now();
    let running = tokio::spawn(async move {
        client
            .simple_query("SELECT pg_sleep(30) /* driver-cancel */")
            .await
            .map(|_| ())
    });
    wait_active(&observer, "driver-cancel").await;
    token.cancel_query(NoTls).await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("cancelled query did not end")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // Raw, protocol 3.2: a 32-byte key. Anything but the full secret cancels nothing.
    let mut c = RawClient::connect(h.port()).await;
    c.startup((3, 2), &[("user", "alice"), ("database", "app")])
        .await;
    let greeting = c.login(h.token("alice")).await.unwrap();
    let key = greeting.iter().find(|m| m.tag == b'K').unwrap();
    assert_eq!(key.body.len(), 4 + 32);
    let pid = i32::from_be_bytes(key.body[..4].try_into().unwrap());
    let secret = key.body[4..].to_vec();

    c.send(&query_msg("SELECT pg_sleep(1.2), 'raw-a'")).await;
    wait_active(&observer, "raw-a").await;
    let mut wrong = secret.clone();
    wrong[31] ^= 0x01;
    send_cancel(h.port(), pid, &wrong).await;
    send_cancel(h.port(), pid, &secret[..4]).await;
    send_cancel(h.port(), pid.wrapping_add(1), &secret).await;
    let answer = c.until_ready().await;
    assert!(
        answer.iter().all(|m| m.tag != b'E'),
        "a wrong key cancelled the query: {answer:?}"
    );
    assert!(answer.iter().any(|m| m.tag == b'D'), "{answer:?}");

    c.send(&query_msg("SELECT pg_sleep(30), 'raw-b'")).await;
    wait_active(&observer, "raw-b").await;
    let started = Instant::now();
    send_cancel(h.port(), pid, &secret).await;
    let answer = c.until_ready().await;
    let error = answer.iter().find(|m| m.tag == b'E').unwrap();
    assert_eq!(error.sqlstate().as_deref(), Some("57014"));
    assert!(started.elapsed() < Duration::from_secs(10));
    c.send(&terminate_msg()).await;
    drop(observer);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_protocol_pipeline_with_a_failing_execute() {
    let h = Harness::start().await;
    let (mut c, _) = h.raw_login("alice", "app").await;
    let failing = "SELECT 1 / g FROM generate_series(0, 0) g";
    let mut batch = Vec::new();
    batch.extend(parse_msg("s1", "SELECT 1"));
    batch.extend(bind_msg("p1", "s1", &[]));
    batch.extend(execute_msg("p1"));
    batch.extend(parse_msg("s2", failing));
    batch.extend(bind_msg("p2", "s2", &[]));
    batch.extend(execute_msg("p2"));
    batch.extend(parse_msg("s3", "SELECT 3"));
    batch.extend(bind_msg("p3", "s3", &[]));
    batch.extend(execute_msg("p3"));
    batch.extend(bind_msg("p4", "s1", &[]));
    batch.extend(execute_msg("p4"));
    batch.extend(sync_msg());
    c.send(&batch).await;
    let answer = c.until_ready().await;
    let tags: Vec<char> = answer.iter().map(|m| char::from(m.tag)).collect();
    assert_eq!(
        tags,
        vec!['1', '2', 'D', 'C', '1', '2', 'E', 'Z'],
        "{answer:?}"
    );
    assert_eq!(answer[6].sqlstate().as_deref(), Some("22012"));
    // Nothing else arrives for the skipped messages.
    assert!(matches!(
        c.recv_within(Duration::from_millis(300)).await,
        Received::Timeout
    ));
    // The session is usable after Sync.
    c.send(&query_msg("SELECT 42")).await;
    let answer = c.until_ready().await;
    let tags: Vec<char> = answer.iter().map(|m| char::from(m.tag)).collect();
    assert_eq!(tags, vec!['T', 'D', 'C', 'Z']);
    c.send(&terminate_msg()).await;

    let results = results_by_text(&h.audit().await);
    let summary: Vec<(String, String)> = results
        .iter()
        .map(|(t, o, ..)| {
            let o = match o {
                Outcome::Ok => "ok".to_owned(),
                Outcome::Error { sqlstate, .. } => format!("error {sqlstate}"),
                Outcome::NotExecuted { .. } => "not executed".to_owned(),
                Outcome::Interrupted { .. } => "interrupted".to_owned(),
                Outcome::Denied { .. } => "denied".to_owned(),
            };
            (t.clone(), o)
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("SELECT 1", "ok"),
        (failing, "error 22012"),
        ("SELECT 3", "not executed"),
        ("SELECT 1", "not executed"),
        ("SELECT 42", "ok"),
    ]
    .iter()
    .map(|(t, o)| (t.to_string(), o.to_string()))
    .collect();
    assert_eq!(summary, expected);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_at_bind_is_audited_on_its_execute() {
    let h = Harness::start().await;
    let (mut c, _) = h.raw_login("alice", "app").await;
    // The parameter makes the planner fold 1/0 while binding: the error comes at Bind.
    let mut batch = Vec::new();
    batch.extend(parse_msg("", "SELECT 1 / $1::int"));
    batch.extend(bind_msg("", "", &[Some("0")]));
    batch.extend(execute_msg(""));
    batch.extend(sync_msg());
    c.send(&batch).await;
    let answer = c.until_ready().await;
    let tags: Vec<char> = answer.iter().map(|m| char::from(m.tag)).collect();
    assert_eq!(tags, vec!['1', 'E', 'Z'], "{answer:?}");
    assert_eq!(answer[1].sqlstate().as_deref(), Some("22012"));
    c.send(&terminate_msg()).await;
    let results = results_by_text(&h.audit().await);
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(
        matches!(&results[0].1, Outcome::Error { sqlstate, .. } if sqlstate == "22012"),
        "{results:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_version_negotiation() {
    let h = Harness::start().await;
    let password = h.token("alice").to_owned();

    // 3.2: the gateway's key has a 32-byte secret.
    let mut c = RawClient::connect(h.port()).await;
    c.startup((3, 2), &[("user", "alice"), ("database", "app")])
        .await;
    let greeting = c.login(&password).await.unwrap();
    assert!(greeting.iter().all(|m| m.tag != b'v'), "{greeting:?}");
    let key = greeting.iter().find(|m| m.tag == b'K').unwrap();
    assert_eq!(key.body.len() + 4, 4 + 4 + 32);
    c.send(&query_msg("SELECT 1")).await;
    assert_eq!(c.until_ready().await.len(), 4);

    // 3.0: a 4-byte secret.
    let mut c = RawClient::connect(h.port()).await;
    c.startup((3, 0), &[("user", "alice"), ("database", "app")])
        .await;
    let greeting = c.login(&password).await.unwrap();
    let key = greeting.iter().find(|m| m.tag == b'K').unwrap();
    assert_eq!(key.body.len() + 4, 4 + 4 + 4);

    // 3.5 with a protocol option: NegotiateProtocolVersion first, then authentication.
    let mut c = RawClient::connect(h.port()).await;
    c.startup(
        (3, 5),
        &[("user", "alice"), ("database", "app"), ("_pq_.foo", "bar")],
    )
    .await;
    let greeting = c.login(&password).await.unwrap();
    let first = &greeting[0];
    assert_eq!(first.tag, b'v', "{greeting:?}");
    let mut expected = 2i32.to_be_bytes().to_vec();
    expected.extend_from_slice(&1i32.to_be_bytes());
    expected.extend_from_slice(b"_pq_.foo\0");
    assert_eq!(first.body, expected);
    assert_eq!(greeting[1].auth_code(), Some(10));
    let key = greeting.iter().find(|m| m.tag == b'K').unwrap();
    assert_eq!(key.body.len(), 4 + 32, "3.5 is served as 3.2");
    c.send(&query_msg("SELECT 1")).await;
    assert_eq!(c.until_ready().await.len(), 4);

    // 3.0 with a protocol option only: the option is listed, the version stays.
    let mut c = RawClient::connect(h.port()).await;
    c.startup(
        (3, 0),
        &[("user", "alice"), ("database", "app"), ("_pq_.bar", "1")],
    )
    .await;
    let first = c.recv().await;
    assert_eq!(first.tag, b'v');
    assert_eq!(&first.body[..8], &[0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(&first.body[8..], b"_pq_.bar\0");

    // 4.0: refused with a FATAL error, and the connection is closed.
    let mut c = RawClient::connect(h.port()).await;
    c.startup((4, 0), &[("user", "alice"), ("database", "app")])
        .await;
    let seen = c.expect_closed(Duration::from_secs(5)).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].tag, b'E');
    assert_eq!(seen[0].field(b'S').as_deref(), Some("FATAL"));
    h.stop().await;
}

/// PostgreSQL answers a StartupMessage with an unsupported major version with 0A000
/// ("unsupported frontend protocol"); handshake.rs has that branch, but the startup decoder
/// only recognises major version 3 and reports any other code as an unknown request (08P01),
/// so the branch is never reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_major_version_is_refused_with_0a000() {
    let h = Harness::start().await;
    for version in [(4, 0), (2, 0)] {
        let mut c = RawClient::connect(h.port()).await;
        c.startup(version, &[("user", "alice"), ("database", "app")])
            .await;
        let seen = c.expect_closed(Duration::from_secs(5)).await;
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].sqlstate().as_deref(), Some("0A000"), "{seen:?}");
        assert!(
            seen[0]
                .message()
                .unwrap()
                .contains("unsupported frontend protocol"),
            "{seen:?}"
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gssenc_request_is_declined_and_startup_continues() {
    let h = Harness::start().await;
    let mut c = RawClient::connect(h.port()).await;
    c.send(&startup_packet(GSSENC_REQUEST_CODE, &[])).await;
    assert_eq!(c.read_byte().await, b'N');
    c.startup((3, 0), &[("user", "alice"), ("database", "app")])
        .await;
    c.login(h.token("alice")).await.unwrap();
    c.send(&query_msg("SELECT 'after gssenc'")).await;
    let answer = c.until_ready().await;
    assert_eq!(answer[1].tag, b'D');
    assert!(answer[1].body.ends_with(b"after gssenc"));

    // libpq's gssencmode=prefer falls back the same way.
    let url = h
        .url("alice", "app")
        .replace("sslmode=disable", "gssencmode=prefer&sslmode=disable");
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", &url, "-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1\n");
    h.stop().await;
}

fn psql_url(url: &str, args: &[&str]) -> std::process::Output {
    Command::new("psql")
        .arg("-X")
        .arg(url)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_psql_and_require_tls() {
    let h = Harness::start().await;
    let tls_url = h
        .url("alice", "app")
        .replace("sslmode=disable", "sslmode=require");
    let out = psql_url(&tls_url, &["-A", "-t", "-c", "SELECT 'over tls'"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "over tls\n");
    let tls_flags: Vec<bool> = h
        .audit()
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::SessionStarted { tls, .. } => Some(tls),
            _ => None,
        })
        .collect();
    assert_eq!(tls_flags, vec![true]);
    h.stop().await;

    let h = Harness::start_with_config(|t| set_in_table(t, "postgres", "require_tls = true")).await;
    let out = h.psql("alice", "app", &["-c", "SELECT 1"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("FATAL") && err.contains("TLS"), "{err}");
    let tls_url = h
        .url("alice", "app")
        .replace("sslmode=disable", "sslmode=require");
    let out = psql_url(&tls_url, &["-A", "-t", "-c", "SELECT 'still over tls'"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "still over tls\n");
    // sslmode=prefer negotiates TLS and is admitted.
    let prefer_url = h
        .url("alice", "app")
        .replace("sslmode=disable", "sslmode=prefer");
    let out = psql_url(&prefer_url, &["-A", "-t", "-c", "SELECT 1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_rows_are_streamed_intact() {
    let h = Harness::start().await;
    let (client, conn) = tokio_postgres::connect(&h.conninfo("alice", "app"), NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    // Rows far above the gateway's 256 KiB streaming threshold, then a normal query.
    let rows = client
        .query(
            "SELECT g, repeat(chr(65 + g), 3000000) FROM generate_series(0, 2) g",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for (i, row) in rows.iter().enumerate() {
        let s: String = row.get(1);
        assert_eq!(s.len(), 3_000_000);
        assert!(s.bytes().all(|b| b == b'A' + i as u8));
    }
    let big = "y".repeat(2_000_000);
    let len: i32 = client
        .query_one("SELECT length($1::text)", &[&big])
        .await
        .unwrap()
        .get(0);
    assert_eq!(len, 2_000_000);
    drop(client);
    let results = results_by_text(&h.audit().await);
    assert_eq!(results[0].2.as_deref(), Some("SELECT 3"), "{results:?}");
    h.stop().await;
}
