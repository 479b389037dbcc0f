use std::time::{Duration, Instant};

use super::{log_path, statement};
use crate::{verify, AuditLog, Durability};

/// Run with `cargo test -p sluice-audit --release -- --ignored --nocapture`.
#[test]
#[ignore = "micro benchmark"]
fn bench_record_single_threaded() {
    const N: u32 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = AuditLog::open(
            &path,
            Durability::Buffered {
                sync_interval: Duration::from_secs(1),
            },
        )
        .unwrap();
        let event = statement("alice", "db1", 1);
        let started = Instant::now();
        for _ in 0..N {
            log.record(&event).await.unwrap();
        }
        let record_elapsed = started.elapsed();

        let started = Instant::now();
        for _ in 0..N {
            log.append(&event).unwrap();
        }
        let append_elapsed = started.elapsed();
        log.flush().await.unwrap();
        let stats = log.metrics();
        eprintln!(
            "record(): {:.2} us/call over {N} calls; append() alone: {:.2} us/call; \
             mean write {:.2} us, max write {} us, {} syncs",
            record_elapsed.as_secs_f64() * 1e6 / f64::from(N),
            append_elapsed.as_secs_f64() * 1e6 / f64::from(N),
            stats.write_latency_us_total as f64 / stats.write_batches as f64,
            stats.write_latency_us_max,
            stats.syncs,
        );
    });
    let report = verify(&path).unwrap();
    assert!(report.is_intact());
    assert_eq!(report.records, 2 * u64::from(N));
}
