//! The gateway's name in every record: written inside the hashed line, fixed per chain.

use std::io::Write;
use std::path::Path;

use super::{buffered, lines, log_path, open, statement};
use crate::{
    hash_line, verify, verify_with_key, AuditError, AuditEvent, AuditLog, AuditRecord,
    CheckpointSigner, FindingKind, GENESIS_PREV,
};

fn open_named(path: &Path, name: &str) -> Result<AuditLog, AuditError> {
    AuditLog::open_named(path, buffered(), Some(name))
}

/// A chain built by hand, each record naming the gateway given with it, so tests can write
/// what a running log never would (two names in one chain).
pub(crate) fn hand_chain(path: &Path, records: &[(Option<&str>, &str)]) -> Vec<String> {
    let mut prev = GENESIS_PREV.to_owned();
    let mut out = Vec::new();
    for (i, (gateway, time)) in records.iter().enumerate() {
        let record = AuditRecord {
            seq: i as u64 + 1,
            time: (*time).to_owned(),
            prev: prev.clone(),
            gateway: gateway.map(str::to_owned),
            event: statement("alice", "db1", i as u64),
        };
        let line = serde_json::to_string(&record).unwrap();
        prev = hex::encode(hash_line(line.as_bytes()));
        out.push(line);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let text: String = out.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
    out
}

#[tokio::test]
async fn every_record_and_checkpoint_carries_the_name_and_the_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let signer = CheckpointSigner::from_seed(&[5; 32]);
    let log = open_named(&path, "gw-east").unwrap();
    for i in 0..3 {
        log.record(&statement("alice", "db1", i)).await.unwrap();
    }
    log.checkpoint(&signer).await.unwrap().unwrap();
    log.record(&statement("bob", "db1", 9)).await.unwrap();
    drop(log);

    let all = lines(&path);
    assert_eq!(all.len(), 5);
    for line in &all {
        // Right after `prev`, as the record type serializes it.
        assert!(
            line.contains("\",\"gateway\":\"gw-east\",\"type\":"),
            "{line}"
        );
        let record = AuditRecord::from_line(line.as_bytes()).unwrap();
        assert_eq!(record.gateway.as_deref(), Some("gw-east"));
        assert_eq!(serde_json::to_string(&record).unwrap(), *line);
    }
    assert!(matches!(
        AuditRecord::from_line(all[3].as_bytes()).unwrap().event,
        AuditEvent::Checkpoint { .. }
    ));

    let report = verify_with_key(&path, Some(&signer.public_key())).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.gateways, vec!["gw-east".to_owned()]);
    assert_eq!(report.gateway(), Some("gw-east"));
    assert_eq!(report.checkpoints_verified, 1);
}

#[tokio::test]
async fn the_name_is_covered_by_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = open_named(&path, "gw-a").unwrap();
    for i in 0..3 {
        log.record(&statement("alice", "db1", i)).await.unwrap();
    }
    drop(log);
    let mut all = lines(&path);
    all[1] = all[1].replacen("\"gw-a\"", "\"gw-b\"", 1);
    std::fs::write(&path, all.join("\n") + "\n").unwrap();
    let report = verify(&path).unwrap();
    let broken = report.broken.clone().unwrap();
    assert_eq!(broken.seq, Some(2), "{report:?}");
}

#[tokio::test]
async fn another_gateway_cannot_open_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = open_named(&path, "gw-a").unwrap();
    log.record(&statement("alice", "db1", 1)).await.unwrap();
    drop(log);
    let before = std::fs::read(&path).unwrap();

    let err = open_named(&path, "gw-b").unwrap_err();
    assert!(
        matches!(&err, AuditError::OtherGateway { owner, opener, .. } if owner == "gw-a" && opener == "gw-b"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("belongs to gateway gw-a, not gw-b"),
        "{message}"
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert_eq!(std::fs::read(&path).unwrap(), before);

    // Its owner still can, and the chain goes on.
    let log = open_named(&path, "gw-a").unwrap();
    log.record(&statement("alice", "db1", 2)).await.unwrap();
    drop(log);
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 2);
}

#[tokio::test]
async fn a_trail_without_names_is_adopted_and_its_old_lines_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = open(&path);
    for i in 0..2 {
        log.record(&statement("alice", "db1", i)).await.unwrap();
    }
    drop(log);
    let old = lines(&path);
    assert!(old.iter().all(|l| !l.contains("\"gateway\"")), "{old:?}");

    let log = open_named(&path, "gw-a").unwrap();
    log.record(&statement("alice", "db1", 2)).await.unwrap();
    drop(log);
    let all = lines(&path);
    assert_eq!(&all[..2], &old[..]);
    assert!(all[2].contains("\"gateway\":\"gw-a\""));
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.gateways, vec!["gw-a".to_owned()]);
}

#[test]
fn an_old_line_without_the_field_parses_and_round_trips() {
    let line = r#"{"seq":1,"time":"2024-01-01T00:00:00.000000Z","prev":"0000000000000000000000000000000000000000000000000000000000000000","type":"gateway_stopped","reason":"x"}"#;
    let record = AuditRecord::from_line(line.as_bytes()).unwrap();
    assert_eq!(record.gateway, None);
    assert_eq!(serde_json::to_string(&record).unwrap(), line);
}

#[test]
fn old_hand_written_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    hand_chain(
        &path,
        &[
            (None, "2024-01-01T00:00:00.000000Z"),
            (None, "2024-01-01T00:00:01.000000Z"),
        ],
    );
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert!(report.gateways.is_empty());
    assert_eq!(report.gateway(), None);
}

#[test]
fn a_chain_naming_two_gateways_is_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    hand_chain(
        &path,
        &[
            (None, "2024-01-01T00:00:00.000000Z"),
            (Some("gw-a"), "2024-01-01T00:00:01.000000Z"),
            (Some("gw-a"), "2024-01-01T00:00:02.000000Z"),
            (Some("gw-b"), "2024-01-01T00:00:03.000000Z"),
            (Some("gw-a"), "2024-01-01T00:00:04.000000Z"),
        ],
    );
    let report = verify(&path).unwrap();
    assert!(!report.is_intact());
    let problems: Vec<_> = report.problems().collect();
    assert_eq!(problems.len(), 1, "{report:?}");
    assert_eq!(problems[0].kind, FindingKind::MixedGateways);
    assert_eq!(problems[0].seq, Some(4));
    assert!(problems[0]
        .message
        .contains("names gateway gw-b, but the chain belongs to gateway gw-a"));
    assert_eq!(report.gateways, vec!["gw-a".to_owned(), "gw-b".to_owned()]);
}

#[test]
fn bad_names_are_refused_before_the_file_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    for name in ["", "gw\na", "gw\u{7f}"] {
        let err = open_named(&path, name).unwrap_err();
        assert!(matches!(err, AuditError::InvalidGatewayName(_)), "{err:?}");
    }
    assert!(!path.exists());
}

#[tokio::test]
async fn the_recovery_record_carries_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = open_named(&path, "gw-a").unwrap();
    log.record(&statement("alice", "db1", 1)).await.unwrap();
    drop(log);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(br#"{"seq":2,"time":"#)
        .unwrap();
    drop(open_named(&path, "gw-a").unwrap());
    let all = lines(&path);
    let recovered = AuditRecord::from_line(all[1].as_bytes()).unwrap();
    assert!(matches!(recovered.event, AuditEvent::AuditRecovered { .. }));
    assert_eq!(recovered.gateway.as_deref(), Some("gw-a"));
    assert!(verify(&path).unwrap().is_intact());
}
