//! CancelRequest routing. Clients get a cancel key minted by sluice, never the target's: the
//! registry maps it to the target backend's real key, and a cancel is forwarded only when the
//! full secret matches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use bytes::BytesMut;
use subtle::ConstantTimeEq;
use tokio::io::AsyncWriteExt;

use sluice_core::config::TargetConfig;

use crate::upstream;

/// The real key of one backend and how to reach its server.
struct Entry {
    secret: Vec<u8>,
    target: Arc<TargetConfig>,
    backend_pid: i32,
    backend_secret: Vec<u8>,
    hold: Arc<HoldCancel>,
}

/// How a cancel reaches a statement held for approval: it is not running on the target, so
/// only the session can cancel it, by cancelling its review.
#[derive(Default)]
pub struct HoldCancel {
    /// The session is waiting on a review: a cancel is for that, and must not reach the
    /// target, where it could cancel the next statement instead.
    pub holding: AtomicBool,
    /// Notified on a cancel while holding.
    pub cancelled: Notify,
}

#[derive(Default, Clone)]
pub struct CancelRegistry {
    entries: Arc<Mutex<HashMap<i32, Entry>>>,
}

/// Removes the key when the session ends, so a stale key cannot cancel a later session.
pub struct CancelKey {
    registry: CancelRegistry,
    pub pid: i32,
    pub secret: Vec<u8>,
    pub hold: Arc<HoldCancel>,
}

impl Drop for CancelKey {
    fn drop(&mut self) {
        if let Ok(mut map) = self.registry.entries.lock() {
            map.remove(&self.pid);
        }
    }
}

impl CancelRegistry {
    /// Mints a key for a session: `secret_len` is 4 for protocol 3.0 and 32 for 3.2.
    pub fn register(
        &self,
        target: Arc<TargetConfig>,
        backend_pid: i32,
        backend_secret: &[u8],
        secret_len: usize,
    ) -> CancelKey {
        let secret: Vec<u8> = (0..secret_len).map(|_| rand::random::<u8>()).collect();
        let mut map = match self.entries.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let pid = loop {
            let candidate = rand::random::<i32>() & i32::MAX;
            if candidate != 0 && !map.contains_key(&candidate) {
                break candidate;
            }
        };
        let hold = Arc::new(HoldCancel::default());
        map.insert(
            pid,
            Entry {
                secret: secret.clone(),
                target,
                backend_pid,
                backend_secret: backend_secret.to_vec(),
                hold: hold.clone(),
            },
        );
        CancelKey {
            registry: self.clone(),
            pid,
            secret,
            hold,
        }
    }

    /// Forwards a cancel to the backend the key belongs to, or, while the session holds a
    /// statement for approval, cancels that instead. Unknown keys are ignored silently, as
    /// PostgreSQL does, so keys cannot be probed.
    pub async fn cancel(&self, pid: i32, secret: &[u8]) {
        let found = {
            let Ok(map) = self.entries.lock() else { return };
            map.get(&pid).and_then(|e| {
                let same: bool =
                    e.secret.len() == secret.len() && bool::from(e.secret.ct_eq(secret));
                same.then(|| {
                    (
                        e.target.clone(),
                        e.backend_pid,
                        e.backend_secret.clone(),
                        e.hold.clone(),
                    )
                })
            })
        };
        let Some((target, backend_pid, backend_secret, hold)) = found else {
            tracing::info!(pid, "cancel request with an unknown key ignored");
            return;
        };
        if hold.holding.load(Ordering::Acquire) {
            // `notify_waiters`: only the waiting hold listens; a cancel must not linger and
            // cancel a later hold.
            hold.cancelled.notify_waiters();
            tracing::info!(
                pid,
                "cancel request cancels the statement held for approval"
            );
            return;
        }
        let mut packet = BytesMut::new();
        sluice_pgwire::encode::cancel_request(&mut packet, backend_pid, &backend_secret);
        match upstream::open_transport(&target).await {
            Ok(mut stream) => {
                if let Err(e) = stream.write_all(&packet).await {
                    tracing::warn!(error = %e, "could not forward a cancel request");
                }
                let _ = stream.shutdown().await;
                tracing::info!(target = %target.name, "cancel request forwarded");
            }
            Err(e) => tracing::warn!(error = %e, "could not reach the target to cancel"),
        }
    }
}
