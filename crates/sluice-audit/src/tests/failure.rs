use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{log_path, statement};
use crate::sink::LogFile;
use crate::{verify, AuditError, AuditLog};

/// A file whose appends can be made to fail like a full disk, after writing
/// half the batch (the worst case: a torn line in the file).
struct FlakyFile {
    inner: File,
    fail: Arc<AtomicBool>,
}

impl LogFile for FlakyFile {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            self.inner.append(&buf[..buf.len() / 2])?;
            // Slow enough that other sessions queue up behind this leader.
            std::thread::sleep(std::time::Duration::from_millis(50));
            return Err(io::Error::from_raw_os_error(28));
        }
        self.inner.append(buf)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
}

#[tokio::test]
async fn failed_batch_fails_its_committers_and_the_chain_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let fail = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&fail);
    let log = AuditLog::open_with(&path, super::buffered(), None, move |inner| {
        Box::new(FlakyFile { inner, fail: flag })
    })
    .unwrap();

    for i in 0..3 {
        log.record(&statement("alice", "db1", i)).await.unwrap();
    }

    fail.store(true, Ordering::SeqCst);
    let a = log.append(&statement("alice", "db1", 3)).unwrap();
    let b = log.append(&statement("bob", "db1", 0)).unwrap();
    assert_eq!((a.seq(), b.seq()), (4, 5));
    assert!(matches!(
        log.commit(a).await,
        Err(AuditError::WriteFailed(_))
    ));
    assert!(matches!(
        log.commit(b).await,
        Err(AuditError::WriteFailed(_))
    ));
    // The torn half-batch was cut off again.
    assert_eq!(verify(&path).unwrap().records, 3);
    assert!(verify(&path).unwrap().is_intact());

    fail.store(false, Ordering::SeqCst);
    let c = log.append(&statement("carol", "db1", 0)).unwrap();
    // Seq 4 again, but a new generation: the old ticket stays failed.
    assert_eq!(c.seq(), 4);
    log.commit(c).await.unwrap();
    assert!(matches!(
        log.commit(a).await,
        Err(AuditError::WriteFailed(_))
    ));
    assert_eq!(log.record(&statement("carol", "db1", 1)).await.unwrap(), 5);

    let stats = log.metrics();
    assert_eq!(stats.write_failures, 1);
    log.flush().await.unwrap();
    drop(log);

    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 5);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("bob"));
    assert!(text.contains("carol"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_waiting_on_a_failed_leader_fail_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let fail = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&fail);
    let log = AuditLog::open_with(&path, super::buffered(), None, move |inner| {
        Box::new(FlakyFile { inner, fail: flag })
    })
    .unwrap();
    log.record(&statement("alice", "db1", 0)).await.unwrap();

    fail.store(true, Ordering::SeqCst);
    let leader = {
        let log = log.clone();
        tokio::spawn(async move { log.record(&statement("alice", "db1", 1)).await })
    };
    // Let the leader get into its (slow, failing) write.
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let waiter = log.record(&statement("bob", "db1", 0)).await;
    assert!(
        matches!(waiter, Err(AuditError::WriteFailed(_))),
        "{waiter:?}"
    );
    assert!(matches!(
        leader.await.unwrap(),
        Err(AuditError::WriteFailed(_))
    ));

    fail.store(false, Ordering::SeqCst);
    assert_eq!(log.record(&statement("carol", "db1", 0)).await.unwrap(), 2);
    drop(log);
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 2);
}
