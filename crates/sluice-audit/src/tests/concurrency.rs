use std::time::Instant;

use super::{log_path, statement};
use crate::{search, verify, AuditLog, Durability, SearchFilter};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_records_share_write_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = AuditLog::open(&path, super::buffered()).unwrap();
    let started = Instant::now();

    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move {
                let identity = format!("user{t}");
                for i in 0..2000 {
                    log.record(&statement(&identity, "db1", i)).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let stats = log.metrics();
    drop(log);

    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 16_000);
    let seqs: Vec<u64> = search(&path, &SearchFilter::default())
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, (1..=16_000).collect::<Vec<_>>());

    assert_eq!(stats.records_appended, 16_000);
    assert!(
        stats.write_batches < stats.records_appended,
        "no group commit: {stats:?}"
    );
    eprintln!(
        "16000 concurrent records in {elapsed:?}, {} write batches ({:.1} records/batch)",
        stats.write_batches,
        16_000.0 / stats.write_batches as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_syncs_before_commit_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = AuditLog::open(&path, Durability::Strict).unwrap();

    let seq = log.record(&statement("alice", "db1", 0)).await.unwrap();
    assert_eq!(seq, 1);
    assert!(log.metrics().syncs >= 1);

    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    log.record(&statement(&format!("u{t}"), "db1", i))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let stats = log.metrics();
    assert!(stats.syncs >= 1 && stats.syncs <= 201, "{stats:?}");
    drop(log);

    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 201);
}
