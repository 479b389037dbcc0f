//! The chain's and checkpoints' status on the audit page: `sluice audit verify` of this
//! gateway's trail, run on the first visit after start and then only when someone asks
//! ("Verify now"). The walk reads the whole trail, so page loads show the last result with
//! its time instead of repeating it; requests that arrive while one runs share its result.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_core::audit_key::{self, OwnTrailCheck};
use sluice_core::Gateway;

/// One verification: when it finished, how long it took, and what it found (or why it
/// could not run).
pub(crate) struct Verified {
    /// RFC 3339, UTC.
    pub at: String,
    pub took: Duration,
    pub check: Result<OwnTrailCheck, String>,
    finished: Instant,
}

/// The last verification of this gateway's trail.
#[derive(Default)]
pub(crate) struct VerifyCache {
    last: Mutex<Option<Arc<Verified>>>,
    /// Held while a verification runs, so that a second request waits and reuses it.
    running: tokio::sync::Mutex<()>,
}

impl VerifyCache {
    pub fn last(&self) -> Option<Arc<Verified>> {
        sluice_core::sync::lock(&self.last).clone()
    }

    /// The last result when there is one, else a verification now.
    pub async fn last_or_run(&self, gateway: &Gateway) -> Arc<Verified> {
        match self.last() {
            Some(last) => last,
            None => self.run(gateway).await,
        }
    }

    /// A verification that started after this call: a fresh one, or one that another request
    /// started while this one waited.
    pub async fn run(&self, gateway: &Gateway) -> Arc<Verified> {
        let asked = Instant::now();
        let _one_at_a_time = self.running.lock().await;
        if let Some(last) = self.last().filter(|l| l.finished > asked) {
            return last;
        }
        let config = gateway.config().clone();
        let started = Instant::now();
        let check = tokio::task::spawn_blocking(move || audit_key::verify_own_trail(&config))
            .await
            .map_err(|e| format!("the verification task failed: {e}"))
            .and_then(|r| r.map_err(|e| e.to_string()));
        let at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let verified = Arc::new(Verified {
            at,
            took: started.elapsed(),
            check,
            finished: Instant::now(),
        });
        *sluice_core::sync::lock(&self.last) = Some(verified.clone());
        verified
    }
}
