//! Counters the caller exports as metrics; relaxed atomics because they are
//! only ever read as a loose snapshot.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of the log's counters since open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditStats {
    pub records_appended: u64,
    pub bytes_written: u64,
    /// Number of write(2) batches; `records_appended / write_batches` is the
    /// group-commit factor.
    pub write_batches: u64,
    pub write_latency_us_total: u64,
    pub write_latency_us_max: u64,
    pub syncs: u64,
    pub write_failures: u64,
    pub sync_failures: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    records_appended: AtomicU64,
    bytes_written: AtomicU64,
    write_batches: AtomicU64,
    write_latency_us_total: AtomicU64,
    write_latency_us_max: AtomicU64,
    syncs: AtomicU64,
    write_failures: AtomicU64,
    sync_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn appended(&self) {
        self.records_appended.fetch_add(1, Relaxed);
    }

    pub(crate) fn wrote(&self, bytes: u64, latency_us: u64) {
        self.bytes_written.fetch_add(bytes, Relaxed);
        self.write_batches.fetch_add(1, Relaxed);
        self.write_latency_us_total.fetch_add(latency_us, Relaxed);
        self.write_latency_us_max.fetch_max(latency_us, Relaxed);
    }

    pub(crate) fn write_failed(&self) {
        self.write_failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn synced(&self) {
        self.syncs.fetch_add(1, Relaxed);
    }

    pub(crate) fn sync_failed(&self) {
        self.sync_failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> AuditStats {
        AuditStats {
            records_appended: self.records_appended.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
            write_batches: self.write_batches.load(Relaxed),
            write_latency_us_total: self.write_latency_us_total.load(Relaxed),
            write_latency_us_max: self.write_latency_us_max.load(Relaxed),
            syncs: self.syncs.load(Relaxed),
            write_failures: self.write_failures.load(Relaxed),
            sync_failures: self.sync_failures.load(Relaxed),
        }
    }
}
