//! The background thread that turns "in the kernel" into "on disk".
//!
//! A plain OS thread rather than a tokio task because fdatasync can block for
//! tens of milliseconds and must never occupy a runtime worker.

use std::io;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::shared::Shared;

/// Floor for the buffered sync interval so a zero interval cannot spin.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// In strict mode the syncer is woken by writes; this only bounds how long a
/// record appended without commit can sit in memory.
const STRICT_HOUSEKEEPING: Duration = Duration::from_secs(1);

pub(crate) fn spawn(shared: Arc<Shared>, interval: Option<Duration>) -> io::Result<JoinHandle<()>> {
    let period = interval.map_or(STRICT_HOUSEKEEPING, |i| i.max(MIN_INTERVAL));
    thread::Builder::new()
        .name("sluice-audit-sync".into())
        .spawn(move || run(&shared, period))
}

fn run(shared: &Shared, period: Duration) {
    // A failed sync makes the log unusable and every later sync repeats the
    // same error; log it once rather than every period.
    let mut reported = false;
    while let Some(timed_out) = shared.wait_for_sync_work(period) {
        if timed_out {
            // Records appended without a commit (e.g. statement results) get
            // written here at the latest.
            shared.write_pending_blocking();
        }
        if let Err(err) = shared.sync_now() {
            if !reported {
                tracing::error!(error = %err, "audit sync failed");
                reported = true;
            }
        }
    }
    shared.write_pending_blocking();
    if let Err(err) = shared.sync_now() {
        tracing::error!(error = %err, "final audit sync failed");
    }
}
