//! CancelRequest routing. Clients get a cancel key minted by sluice, never the target's: the
//! registry maps it to the target backend's real key, and a cancel is forwarded only when the
//! full secret matches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    /// Tells the session a cancel arrived: a statement held for approval is not running on
    /// the target, so only the session can cancel it (by cancelling its review).
    cancelled: Arc<Notify>,
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
    /// Notified on every accepted cancel of this session.
    pub cancelled: Arc<Notify>,
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
        let cancelled = Arc::new(Notify::new());
        map.insert(
            pid,
            Entry {
                secret: secret.clone(),
                target,
                backend_pid,
                backend_secret: backend_secret.to_vec(),
                cancelled: cancelled.clone(),
            },
        );
        CancelKey {
            registry: self.clone(),
            pid,
            secret,
            cancelled,
        }
    }

    /// Forwards a cancel to the backend the key belongs to. Unknown keys are ignored silently,
    /// as PostgreSQL does, so keys cannot be probed.
    pub async fn cancel(&self, pid: i32, secret: &[u8]) {
        let found = {
            let Ok(map) = self.entries.lock() else { return };
            map.get(&pid).and_then(|e| {
                let same: bool =
                    e.secret.len() == secret.len() && bool::from(e.secret.ct_eq(secret));
                same.then(|| {
                    // `notify_waiters`: only a session holding a statement is listening, and a
                    // cancel sent while nothing was held must not cancel a later hold.
                    e.cancelled.notify_waiters();
                    (e.target.clone(), e.backend_pid, e.backend_secret.clone())
                })
            })
        };
        let Some((target, backend_pid, backend_secret)) = found else {
            tracing::info!(pid, "cancel request with an unknown key ignored");
            return;
        };
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
