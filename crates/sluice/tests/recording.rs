#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Session recordings end to end: a psql session with masked results is recorded as the
//! client saw it and replayed from the recording alone; its seal in the audit trail matches
//! its bytes; tokio-postgres' binary results are recorded as such; caps leave explicit
//! markers, or end the session when configured to; retention deletes recordings and audits
//! each deletion; `sessions search` finds statements.

mod support;

use std::process::Output;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sluice_audit::AuditEvent;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// Allows everything; alice's results are masked by content detectors, and her sessions end
/// at a recording cap whatever the configuration says.
const POLICY: &str = r#"package sluice

import rego.v1

default decision := {"allow": true, "rule": "allow_all", "reasons": []}

decision := {"allow": true, "rule": "masked", "reasons": [], "mask": {"content": [{"detector": "*", "strategy": "redact"}]}} if {
	input.request.action == "statement"
	input.identity.name == "alice"
}

decision := {"allow": true, "rule": "recorded_strictly", "reasons": [], "recording": {"on_cap": "end_session"}} if {
	input.request.action == "connect"
	input.identity.name == "alice"
}
"#;

async fn start(name: &str, recording: &str) -> (Harness, String) {
    let dir = tempfile::Builder::new()
        .prefix("sluice-recording-policy-")
        .tempdir()
        .unwrap()
        .keep();
    std::fs::write(dir.join("policy.rego"), POLICY).unwrap();
    let recording = recording.to_owned();
    let h = Harness::start_with_config(move |text| {
        text + &format!(
            "\n[policy]\ndir = \"{}\"\nwatch = false\n\n[recording]\n{recording}\n",
            dir.display()
        )
    })
    .await;
    let table = format!("recorded_{name}");
    pg().psql(
        "app",
        &format!(
            "SET ROLE sluice_scram; DROP TABLE IF EXISTS {table};\n\
             CREATE TABLE {table} (id int PRIMARY KEY, contact text, amount numeric);\n\
             INSERT INTO {table} SELECT g, 'user' || g || '@example.com', g * 1.5 FROM generate_series(1, 20) g;"
        ),
    )
    .unwrap();
    (h, table)
}

fn sessions(h: &Harness, args: &[&str]) -> Output {
    std::process::Command::new(BIN)
        .arg("sessions")
        .args(args)
        .arg("--config")
        .arg(&h.config_path)
        .output()
        .unwrap()
}

/// The session ids of ended sessions, oldest first, with their end records.
async fn ended(h: &Harness) -> Vec<(String, Option<sluice_audit::RecordingSeal>, String)> {
    h.audit()
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::SessionEnded {
                session,
                recording,
                reason,
                ..
            } => Some((session, recording, reason)),
            _ => None,
        })
        .collect()
}

fn recording_bytes(h: &Harness, session: &str) -> Vec<u8> {
    std::fs::read(h.config.recording_dir().join(format!("{session}.jsonl"))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masked_psql_session_is_recorded_sealed_and_replayed_as_seen() {
    let (h, table) = start("replay", "").await;
    let out = h.psql(
        "alice",
        "app",
        &[
            "-c",
            &format!("SELECT id, contact, amount FROM {table} WHERE id <= 3 ORDER BY id"),
            "-c",
            &format!("UPDATE {table} SET amount = amount WHERE id = 1"),
            "-c",
            "SELECT 1/0",
        ],
    );
    let seen = stdout(&out);
    assert!(seen.contains("****"), "{seen}");
    assert!(!seen.contains("user1@example.com"));

    let ended = ended(&h).await;
    let (session, seal, _) = ended.last().unwrap();
    let seal = seal
        .as_ref()
        .expect("the session end carries the recording's seal");
    let bytes = recording_bytes(&h, session);
    assert_eq!(seal.sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(seal.bytes, bytes.len() as u64);
    // What was recorded is what the client saw: masked.
    let text = String::from_utf8(bytes).unwrap();
    assert!(!text.contains("@example.com"), "{text}");

    let replay = sessions(&h, &["replay", session]);
    assert!(replay.status.success(), "{}", stderr(&replay));
    let replayed = stdout(&replay);
    // psql's own aligned rendering of the result, line for line.
    let table_lines: Vec<&str> = seen.lines().take(6).collect();
    for line in &table_lines {
        assert!(
            replayed.contains(line),
            "replay lacks {line:?}:\n{replayed}"
        );
    }
    assert!(replayed.contains("UPDATE 1"), "{replayed}");
    assert!(replayed.contains("ERROR:  division by zero"), "{replayed}");
    assert!(!replayed.contains("@example.com"));

    let show = sessions(&h, &["show", session]);
    assert!(stdout(&show).contains("masked"), "{}", stdout(&show));
    let list = sessions(&h, &["list", "--identity", "alice"]);
    assert!(
        stdout(&list).contains(session.as_str()),
        "{}",
        stdout(&list)
    );
    let found = sessions(&h, &["search", "set amount"]);
    assert!(
        stdout(&found).contains(session.as_str()),
        "{}",
        stdout(&found)
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_results_are_recorded_as_hex() {
    let (h, table) = start("binary", "").await;
    let (client, connection) =
        tokio_postgres::connect(&h.conninfo("ci", "app"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    // Two statements prepared (each described) before the first runs: its rows must be
    // recorded under its own columns, not the last ones described.
    let first = client
        .prepare(&format!("SELECT id FROM {table} WHERE id = $1"))
        .await
        .unwrap();
    let second = client
        .prepare(&format!(
            "SELECT contact, amount FROM {table} WHERE id = $1"
        ))
        .await
        .unwrap();
    let rows = client.query(&first, &[&7i32]).await.unwrap();
    assert_eq!(rows[0].get::<_, i32>(0), 7);
    client.query(&second, &[&8i32]).await.unwrap();
    drop(client);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (session, _, _) = ended(&h).await.pop().unwrap();
    let text = String::from_utf8(recording_bytes(&h, &session)).unwrap();
    // int4 7 in binary, as tokio-postgres asked for it.
    assert!(text.contains(r#"["\\x00000007"]"#), "{text}");
    let recording = sluice_record::parse(text.as_bytes()).unwrap();
    let executed: Vec<&sluice_record::Statement> = recording
        .statements()
        .filter(|s| !s.rows.is_empty())
        .collect();
    assert_eq!(executed.len(), 2, "{text}");
    let names = |s: &sluice_record::Statement| -> Vec<String> {
        s.columns.iter().flatten().map(|c| c.name.clone()).collect()
    };
    assert_eq!(names(executed[0]), ["id"]);
    assert_eq!(names(executed[1]), ["contact", "amount"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_leave_explicit_markers() {
    let (h, table) = start(
        "caps",
        "max_rows_per_statement = 5\nmax_session_bytes = 4000\n",
    )
    .await;
    let out = h.psql(
        "ci",
        "app",
        &["-At", "-c", &format!("SELECT id FROM {table} ORDER BY id")],
    );
    assert_eq!(
        stdout(&out).lines().count(),
        20,
        "the client gets every row"
    );
    let out = h.psql(
        "ci",
        "app",
        &[
            "-At",
            "-c",
            &format!("SELECT repeat('y', 3000) FROM {table} WHERE id <= 3"),
            "-c",
            "SELECT 'after the cap'",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ended = ended(&h).await;
    let rows_capped = String::from_utf8(recording_bytes(&h, &ended[0].0)).unwrap();
    assert_eq!(
        rows_capped.matches(r#""reason":"row_cap""#).count(),
        1,
        "{rows_capped}"
    );
    assert!(ended[0].1.as_ref().unwrap().truncated);
    let replay = stdout(&sessions(&h, &["replay", &ended[0].0]));
    assert!(replay.contains("-- recording truncated"), "{replay}");

    let session_capped = recording_bytes(&h, &ended[1].0);
    let text = String::from_utf8_lossy(&session_capped);
    assert_eq!(
        text.matches(r#""reason":"session_cap""#).count(),
        1,
        "{text}"
    );
    assert!(
        !text.contains("after the cap"),
        "nothing is recorded after the session cap"
    );
    assert!(text.trim_end().ends_with('}') && text.contains(r#""type":"end""#));
    assert!(
        session_capped.len() < 4000 + 1000,
        "{} bytes",
        session_capped.len()
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_can_end_the_session_instead() {
    let (h, table) = start(
        "endcap",
        "max_rows_per_statement = 5\non_cap = \"end_session\"\n",
    )
    .await;
    let out = h.psql(
        "ci",
        "app",
        &["-At", "-c", &format!("SELECT id FROM {table} ORDER BY id")],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("recording.on_cap ends the session"),
        "{}",
        stderr(&out)
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_decision_can_end_the_session_at_a_cap() {
    // The configuration truncates; the policy ends alice's sessions instead, not ci's.
    let (h, table) = start("policycap", "max_rows_per_statement = 5\n").await;
    let query = format!("SELECT id FROM {table} ORDER BY id");
    let out = h.psql("ci", "app", &["-At", "-c", &query]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = h.psql("alice", "app", &["-At", "-c", &query]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("recording.on_cap ends the session"),
        "{}",
        stderr(&out)
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_recordings_and_audits_it() {
    let (h, _) = start("retention", "retention = \"2s\"\n").await;
    let out = h.psql("ci", "app", &["-At", "-c", "SELECT 'kept briefly'"]);
    assert!(out.status.success());
    let (session, _, _) = ended(&h).await.pop().unwrap();
    let path = h.config.recording_dir().join(format!("{session}.jsonl"));
    assert!(path.exists());
    let gone = poll_until(Duration::from_secs(15), || async {
        (!path.exists()).then_some(())
    })
    .await;
    assert!(gone.is_some(), "the recording outlived its retention");
    let deleted = poll_until(Duration::from_secs(5), || async {
        h.audit().await.into_iter().find_map(|r| match r.event {
            AuditEvent::RecordingDeleted { session: s, reason } if s == session => Some(reason),
            _ => None,
        })
    })
    .await
    .expect("the deletion was not audited");
    assert!(deleted.contains("retention"), "{deleted}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_an_altered_or_missing_recording() {
    let (h, _) = start("verify", "").await;
    for i in 0..2 {
        let out = h.psql("ci", "app", &["-At", "-c", &format!("SELECT {i}")]);
        assert!(out.status.success());
    }
    let ended = ended(&h).await;
    let config_path = h.config_path.clone();
    let config = h.config.clone();
    // Stopped, but its directory (config, trail, recordings) kept for the CLI.
    let Harness { gateway, dir, .. } = h;
    gateway.shutdown("test over").await.unwrap();
    let verify = || {
        std::process::Command::new(BIN)
            .args(["audit", "verify", "--config"])
            .arg(&config_path)
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(ok.status.success(), "{}{}", stdout(&ok), stderr(&ok));
    assert!(
        stdout(&ok).contains("2 recordings match their seals"),
        "{}",
        stdout(&ok)
    );

    let altered = config.recording_dir().join(format!("{}.jsonl", ended[0].0));
    let text = std::fs::read_to_string(&altered)
        .unwrap()
        .replace("SELECT 0", "SELECT 9");
    std::fs::write(&altered, text).unwrap();
    std::fs::remove_file(config.recording_dir().join(format!("{}.jsonl", ended[1].0))).unwrap();
    let bad = verify();
    assert!(!bad.status.success());
    let report = stdout(&bad);
    assert!(
        report.contains(&format!(
            "the recording of session {} was altered",
            ended[0].0
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "the recording of session {} is missing",
            ended[1].0
        )),
        "{report}"
    );
    drop(dir);
}
