use std::io::Write;

use super::{lines, log_path, open, statement};
use crate::{verify, AuditError, AuditEvent, AuditLog, AuditRecord, GENESIS_PREV};

async fn write_records(path: &std::path::Path, n: u64) {
    let log = open(path);
    for i in 0..n {
        log.record(&statement("alice", "db1", i)).await.unwrap();
    }
}

#[tokio::test]
async fn chain_continues_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 3).await;
    write_records(&path, 2).await;

    let all = lines(&path);
    assert_eq!(all.len(), 5);
    let first = AuditRecord::from_line(all[0].as_bytes()).unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(first.prev, GENESIS_PREV);
    let fourth = AuditRecord::from_line(all[3].as_bytes()).unwrap();
    assert_eq!(fourth.seq, 4);
    assert_eq!(
        fourth.prev,
        hex::encode(crate::hash_line(all[2].as_bytes()))
    );

    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 5);
    assert_eq!(report.last_seq, Some(5));
    assert_eq!(
        report.last_hash,
        Some(hex::encode(crate::hash_line(all[4].as_bytes())))
    );
}

#[tokio::test]
async fn edited_byte_breaks_the_next_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 5).await;

    let mut all = lines(&path);
    all[2] = all[2].replacen("alice", "alicf", 1);
    std::fs::write(&path, all.join("\n") + "\n").unwrap();

    // The next record's prev no longer matches: the edited record (seq 3, line 3) is named.
    let report = verify(&path).unwrap();
    let broken = report.broken.clone().unwrap();
    assert_eq!(broken.line, 3);
    assert_eq!(broken.seq, Some(3));
    assert!(broken.reason.contains("was altered"), "{}", broken.reason);
    assert_eq!(report.problems().count(), 1, "{report:?}");
    // The walk goes on to the end.
    assert_eq!(report.records, 5);
    assert_eq!(report.last_seq, Some(5));
}

#[tokio::test]
async fn deleted_line_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 5).await;

    let mut all = lines(&path);
    all.remove(2);
    std::fs::write(&path, all.join("\n") + "\n").unwrap();

    let broken = verify(&path).unwrap().broken.unwrap();
    assert_eq!(broken.line, 3);
    assert_eq!(broken.seq, Some(3));
    assert!(
        broken.reason.contains("record 3 was removed"),
        "{}",
        broken.reason
    );
}

#[tokio::test]
async fn torn_tail_is_cut_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 3).await;
    let torn = br#"{"seq":4,"time":"2024-01-01T00:00:00.000000Z","prev":"ab"#;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(torn)
        .unwrap();
    assert!(!verify(&path).unwrap().is_intact());

    let log = open(&path);
    let seq = log.record(&statement("bob", "db1", 0)).await.unwrap();
    assert_eq!(seq, 5);
    drop(log);

    let all = lines(&path);
    assert_eq!(all.len(), 5);
    let recovered = AuditRecord::from_line(all[3].as_bytes()).unwrap();
    assert_eq!(recovered.seq, 4);
    assert_eq!(
        recovered.event,
        AuditEvent::AuditRecovered {
            truncated_bytes: torn.len() as u64
        }
    );
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 5);
}

#[tokio::test]
async fn unparsable_complete_last_line_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 2).await;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"\0\0garbage\n")
        .unwrap();

    drop(open(&path));
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 3);
    let all = lines(&path);
    assert!(all[2].contains(r#""type":"audit_recovered","truncated_bytes":10"#));
}

#[tokio::test]
async fn second_open_is_locked_until_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = open(&path);
    log.record(&statement("alice", "db1", 0)).await.unwrap();
    assert!(matches!(
        AuditLog::open(&path, super::buffered()),
        Err(AuditError::Locked)
    ));
    drop(log);
    let reopened = open(&path);
    assert_eq!(
        reopened
            .record(&statement("alice", "db1", 1))
            .await
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn uncommitted_appends_are_written_on_drop_and_by_the_syncer() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = open(&path);
    log.append(&statement("alice", "db1", 0)).unwrap();
    // The 20 ms syncer picks it up without any commit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while lines(&path).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(lines(&path).len(), 1);

    log.append(&statement("alice", "db1", 1)).unwrap();
    drop(log);
    assert_eq!(lines(&path).len(), 2);
    assert!(verify(&path).unwrap().is_intact());
}

#[tokio::test]
async fn close_flushes_and_rejects_later_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = open(&path);
    log.append(&statement("alice", "db1", 0)).unwrap();
    log.close().await.unwrap();
    assert_eq!(lines(&path).len(), 1);
    assert!(log.metrics().syncs >= 1);
    assert!(matches!(
        log.append(&statement("alice", "db1", 1)),
        Err(AuditError::Closed)
    ));
}
