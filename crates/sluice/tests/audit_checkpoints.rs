#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Signed audit checkpoints end to end: a gateway seals its trail periodically and at stop,
//! `sluice audit verify` checks the chain and the signatures with the key's `.pub`, and names
//! the record when the file is tampered with afterwards.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use sluice_audit::{AuditEvent, AuditRecord, CheckpointSigner};
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

fn verify(config: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["audit", "verify", "--config"])
        .arg(config)
        .args(extra)
        .output()
        .unwrap()
}

fn records(path: &Path) -> Vec<(String, AuditRecord)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| (l.to_owned(), AuditRecord::from_line(l.as_bytes()).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_seal_the_trail_and_verify_names_a_tampered_record() {
    let h = Harness::start_with_config(|text| {
        format!("{text}\n[audit]\ncheckpoint_interval = \"200ms\"\n")
    })
    .await;
    for n in 1..=3 {
        let out = h.psql("alice", "app", &["-c", &format!("SELECT {n} AS n")]);
        assert!(out.status.success(), "{}", stderr(&out));
        // Long enough for a periodic checkpoint between statements.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let Harness {
        gateway,
        config,
        config_path,
        dir: _dir,
        ..
    } = h;
    gateway.shutdown("test over").await.unwrap();

    // The key was created private, its public half beside it.
    let key_path = config.audit_signing_key_path();
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let pub_path = sluice_core::audit_key::public_key_path(&key_path);
    let public = std::fs::read_to_string(&pub_path).unwrap();
    assert_eq!(public.trim().len(), 64);

    // Periodic checkpoints and a last one right after the stop record.
    let audit_path = config.audit_path();
    let all = records(&audit_path);
    let checkpoints = all
        .iter()
        .filter(|(_, r)| matches!(r.event, AuditEvent::Checkpoint { .. }))
        .count();
    assert!(checkpoints >= 2, "{checkpoints} checkpoints");
    assert!(matches!(
        all[all.len() - 1].1.event,
        AuditEvent::Checkpoint { .. }
    ));
    assert!(matches!(
        all[all.len() - 2].1.event,
        AuditEvent::GatewayStopped { .. }
    ));
    // Never the key itself in the trail.
    let seed = std::fs::read_to_string(&key_path).unwrap();
    assert!(!std::fs::read_to_string(&audit_path)
        .unwrap()
        .contains(seed.trim()));

    let out = verify(&config_path, &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "ok: {} records, chain intact, {checkpoints} checkpoints verified (key ",
            all.len()
        )),
        "{text}"
    );
    assert!(!text.contains("after the last checkpoint"), "{text}");

    // The same trail against another public key: every checkpoint names an unknown key.
    let other = hex::encode(CheckpointSigner::from_seed(&[3; 32]).public_key());
    let out = verify(&config_path, &["--public-key", &other]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("unknown_key: checkpoint at seq"),
        "{}",
        stdout(&out)
    );
    assert_stderr_contains(&out, &format!("not intact: {checkpoints} problems"));

    // Tampering: one audited statement's text edited in place.
    let (index, seq) = all
        .iter()
        .enumerate()
        .find_map(|(i, (_, r))| match &r.event {
            AuditEvent::Statement { text, .. } if text == "SELECT 2 AS n" => Some((i, r.seq)),
            _ => None,
        })
        .unwrap();
    let mut lines: Vec<String> = all.into_iter().map(|(l, _)| l).collect();
    lines[index] = lines[index].replacen("SELECT 2 AS n", "SELECT 7 AS n", 1);
    std::fs::write(&audit_path, lines.join("\n") + "\n").unwrap();

    let out = verify(&config_path, &[]);
    assert!(!out.status.success());
    let line = index + 1;
    assert!(
        stdout(&out).contains(&format!(
            "altered: record at seq {seq} (line {line}) was altered"
        )),
        "{}",
        stdout(&out)
    );
    assert_stderr_contains(&out, "not intact: 1 problem");
}
