//! CancelRequest routing. Clients get the target backend's real process id (so notifications,
//! `pg_backend_pid()` and `pg_terminate_backend` agree with what the client was told) and a
//! secret minted by sluice, never the target's: the registry maps the pair to the backend's
//! real key, and a cancel is forwarded only when the full secret matches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use bytes::BytesMut;
use subtle::ConstantTimeEq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use sha2::{Digest, Sha256};
use sluice_core::config::TargetConfig;
use sluice_core::Gateway;

use crate::upstream;

/// How long a cancel waits for the target to close its cancel connection.
const CANCEL_ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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

/// Keys by process id. Two targets' backends may share a process id, so a process id may have
/// several keys; their secrets differ.
#[derive(Default, Clone)]
pub struct CancelRegistry {
    entries: Arc<Mutex<HashMap<i32, Vec<Entry>>>>,
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
        let mut map = sluice_core::sync::lock(&self.registry.entries);
        if let Some(keys) = map.get_mut(&self.pid) {
            keys.retain(|e| e.secret != self.secret);
            if keys.is_empty() {
                map.remove(&self.pid);
            }
        }
    }
}

impl CancelRegistry {
    /// Mints a key for a session on the backend `backend_pid`: its process id and a fresh
    /// secret of `secret_len` bytes (4 for protocol 3.0, 32 for 3.2).
    pub fn register(
        &self,
        target: Arc<TargetConfig>,
        backend_pid: i32,
        backend_secret: &[u8],
        secret_len: usize,
    ) -> CancelKey {
        let mut map = sluice_core::sync::lock(&self.entries);
        let keys = map.entry(backend_pid).or_default();
        let secret = loop {
            let candidate: Vec<u8> = (0..secret_len).map(|_| rand::random::<u8>()).collect();
            if !keys.iter().any(|e| e.secret == candidate) {
                break candidate;
            }
        };
        let hold = Arc::new(HoldCancel::default());
        keys.push(Entry {
            secret: secret.clone(),
            target,
            backend_pid,
            backend_secret: backend_secret.to_vec(),
            hold: hold.clone(),
        });
        CancelKey {
            registry: self.clone(),
            pid: backend_pid,
            secret,
            hold,
        }
    }

    /// Forwards a cancel to the backend the key belongs to and returns once the target has
    /// closed that connection, so the client's cancel connection is closed only after the
    /// target has taken the cancel, as libpq expects (closing earlier let a cancel land on the
    /// client's next statement). While the session holds a statement for approval, cancels
    /// that instead. A key this gateway does not know may be another's on the same store: it
    /// is passed on to them (`serve_cluster`). Unknown keys are otherwise ignored silently, as
    /// PostgreSQL does, so keys cannot be probed.
    pub async fn cancel(&self, gateway: &Gateway, pid: i32, secret: &[u8]) {
        let found = self.find(pid, |e| {
            e.secret.len() == secret.len() && bool::from(e.secret.ct_eq(secret))
        });
        match found {
            Some(found) => act(gateway, pid, found).await,
            None if gateway.reaches_other_gateways() => {
                // The secret itself never leaves the gateway: its digest identifies the key.
                let body = format!("{pid} {}", hex::encode(Sha256::digest(secret)));
                match gateway.publish(CLUSTER_TOPIC, &body).await {
                    Ok(()) => tracing::info!(pid, "cancel request passed on to the other gateways"),
                    Err(e) => {
                        tracing::warn!(pid, error = %e, "could not pass a cancel request on to the other gateways")
                    }
                }
            }
            None => tracing::info!(pid, "cancel request with an unknown key ignored"),
        }
    }

    /// Runs until the store goes away: cancels that reached another gateway for a key of
    /// this one.
    pub async fn serve_cluster(&self, gateway: &Gateway) {
        let mut messages = gateway.messages(CLUSTER_TOPIC);
        while let Some(body) = messages.next().await {
            let Some((pid, digest)) = body
                .split_once(' ')
                .and_then(|(p, d)| Some((p.parse::<i32>().ok()?, hex::decode(d).ok()?)))
            else {
                continue;
            };
            let found = self.find(pid, |e| {
                bool::from(Sha256::digest(&e.secret).as_slice().ct_eq(&digest))
            });
            if let Some(found) = found {
                tracing::info!(pid, "cancel request from another gateway");
                act(gateway, pid, found).await;
            }
        }
    }

    fn find(&self, pid: i32, matches: impl Fn(&Entry) -> bool) -> Option<Found> {
        let map = sluice_core::sync::lock(&self.entries);
        map.get(&pid).into_iter().flatten().find_map(|e| {
            matches(e).then(|| Found {
                target: e.target.clone(),
                backend_pid: e.backend_pid,
                backend_secret: e.backend_secret.clone(),
                hold: e.hold.clone(),
            })
        })
    }
}

/// Where gateways on one store pass on cancels for keys they do not hold.
const CLUSTER_TOPIC: &str = "pg-cancel";

/// What a cancel needs of a key: where its backend is, and the session's hold.
struct Found {
    target: Arc<TargetConfig>,
    backend_pid: i32,
    backend_secret: Vec<u8>,
    hold: Arc<HoldCancel>,
}

/// Cancels the held statement, or the running one on the target.
async fn act(gateway: &Gateway, pid: i32, found: Found) {
    let Found {
        target,
        backend_pid,
        backend_secret,
        hold,
    } = found;
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
    match upstream::open_transport(gateway, &target).await {
        Ok(mut stream) => {
            if let Err(e) = stream.write_all(&packet).await {
                tracing::warn!(error = %e, "could not forward a cancel request");
                return;
            }
            let _ = stream.flush().await;
            // The target closes the connection once it has signalled the backend; it
            // sends nothing. Bounded, so a target that never closes cannot hold the
            // client's connection open forever.
            let mut sink = [0u8; 64];
            let drained = tokio::time::timeout(CANCEL_ACK_TIMEOUT, async {
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            })
            .await;
            if drained.is_err() {
                tracing::warn!(target = %target.name, "the target did not close the cancel connection in time");
            }
            tracing::info!(target = %target.name, "cancel request forwarded");
        }
        Err(e) => tracing::warn!(error = %e, "could not reach the target to cancel"),
    }
}
