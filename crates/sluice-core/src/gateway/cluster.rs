//! The gateway among others on one store: its name, readiness and draining, the store's
//! change notifications turned into wakeups, messages between gateways, and which sessions
//! are open anywhere (for recording retention).
//!
//! Changes propagate by notification: the store tells every gateway of each review, grant
//! and revocation it commits (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite). Polling is
//! kept only as the fallback for when the store cannot tell us everything: its notification
//! connection is down, or other processes write a SQLite file it cannot hear about
//! ([`Gateway::store_tells_all`]).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sluice_store::{OpenSession, StoreChange};
use tokio::sync::broadcast::error::RecvError;

use super::Gateway;
use crate::approvals::now_ms;
use crate::CoreError;

/// How often a gateway tells the store it is alive.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// A gateway not heard from for this long is gone: its open sessions no longer count.
pub(super) const PRESUMED_DEAD: Duration = Duration::from_secs(60);

/// The gateways on this gateway's store, as the admin API's `GET /cluster` shows them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterView {
    /// This gateway's name.
    pub gateway: String,
    /// `sqlite` or `postgres`.
    pub store: &'static str,
    /// Whether the store's change notifications reach this gateway now.
    pub notified: bool,
    /// Every gateway that has beaten a heartbeat on the store, by name.
    pub gateways: Vec<GatewaySeen>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct GatewaySeen {
    pub name: String,
    /// RFC 3339.
    pub last_seen: String,
    /// Heard from within the last minute: its open sessions count for retention.
    pub alive: bool,
    /// The policy version it enforced at its last heartbeat.
    pub policy: Option<String>,
}

/// Why the gateway should not be sent new connections now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady(pub String);

/// Messages other gateways published on one topic (and this one: publishers hear themselves).
pub struct Messages {
    topic: &'static str,
    changes: tokio::sync::broadcast::Receiver<StoreChange>,
}

impl Messages {
    /// The next message's body; `None` once the store is gone. Messages missed while this
    /// receiver lagged are skipped: they are requests that are retried or moot by now.
    pub async fn next(&mut self) -> Option<String> {
        loop {
            match self.changes.recv().await {
                Ok(StoreChange::Message { topic, body }) if topic == self.topic => {
                    return Some(body)
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

impl Gateway {
    /// This gateway's name among those sharing the store.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// From now on `/readyz` answers "draining"; everything is still served.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }

    /// Whether new connections should come here: not draining, the store answers, the
    /// audit trail takes writes. A policy is always loaded: a gateway without one does not
    /// start, and a rejected reload keeps the one in force.
    pub async fn readiness(&self) -> Result<(), NotReady> {
        if self.inner.draining.load(Ordering::Acquire) {
            return Err(NotReady("draining: the gateway is stopping".to_owned()));
        }
        if self.audit().metrics().sync_failures > 0 {
            return Err(NotReady("the audit trail failed".to_owned()));
        }
        self.store()
            .ping()
            .await
            .map_err(|e| NotReady(format!("the store is unreachable: {e}")))
    }

    /// Whether the store tells this gateway of every change, so nothing needs polling: it
    /// notifies across processes and its notification connection is up.
    pub(crate) fn store_tells_all(&self) -> bool {
        let store = self.store();
        store.notifies_across_processes() && store.listening()
    }

    /// Whether the store is shared with other processes that serve sessions.
    pub(super) fn store_is_shared(&self) -> bool {
        self.store().notifies_across_processes()
    }

    /// Sends `body` to every gateway on the store, this one included.
    pub async fn publish(&self, topic: &str, body: &str) -> Result<(), CoreError> {
        Ok(self.store().publish(topic, body).await?)
    }

    /// Whether a message published here reaches other gateways at all.
    pub fn reaches_other_gateways(&self) -> bool {
        self.store_is_shared()
    }

    /// What gateways publish on `topic` from now on.
    pub fn messages(&self, topic: &'static str) -> Messages {
        Messages {
            topic,
            changes: self.store().subscribe(),
        }
    }

    /// Runs forever: turns the store's change notifications into wakeups of held sessions,
    /// fresh grants and ended sessions of revoked tokens; with a shared store, also keeps
    /// this gateway's heartbeat.
    pub async fn follow_store(&self) {
        if self.store_is_shared() {
            // Whatever this gateway had open before a crash is over.
            if let Err(e) = self.store().sessions_of_gateway_ended(self.name()).await {
                tracing::warn!(error = %e, "could not clear this gateway's sessions from before its start");
            }
        }
        tokio::join!(self.dispatch_changes(), self.heartbeat());
    }

    async fn dispatch_changes(&self) {
        let mut changes = self.store().subscribe();
        loop {
            match changes.recv().await {
                Ok(StoreChange::Review(id)) => self.approvals().wake(id),
                Ok(StoreChange::Grant(_)) => {
                    if let Err(e) = self.refresh_grants().await {
                        tracing::warn!(error = %e, "could not read grants after a change");
                    }
                }
                Ok(StoreChange::TokenRevoked(id)) => {
                    for id in self.note_revoked([id]) {
                        self.audit_revoked_elsewhere(&id).await;
                    }
                }
                Ok(StoreChange::Message { .. }) => {}
                // Changes may have been missed: everyone waiting reads the store again.
                Ok(StoreChange::Resync) | Err(RecvError::Lagged(_)) => self.resync().await,
                Err(RecvError::Closed) => return,
            }
        }
    }

    async fn resync(&self) {
        tracing::info!(
            "store notifications resumed; reading reviews, grants and revocations again"
        );
        self.approvals().wake_all();
        if let Err(e) = self.refresh_grants().await {
            tracing::warn!(error = %e, "could not read grants after a resync");
        }
        self.check_revocations_once().await;
    }

    async fn heartbeat(&self) {
        if !self.store_is_shared() {
            return;
        }
        let mut ticks = tokio::time::interval(HEARTBEAT);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let policy = self.policy().current().info.version.clone();
            if let Err(e) = self
                .store()
                .gateway_heartbeat(self.name(), now_ms(), &policy)
                .await
            {
                tracing::warn!(error = %e, "could not write this gateway's heartbeat");
            }
        }
    }

    /// A session began writing its recording: with a shared store, every gateway's retention
    /// learns it is open. Off the session's path: a slow store delays nothing.
    pub(crate) fn announce_open_session(&self, session: &str) {
        if !self.store_is_shared() {
            return;
        }
        let gateway = self.clone();
        let open = OpenSession {
            id: session.to_owned(),
            gateway: self.name().to_owned(),
            started_at_ms: now_ms(),
        };
        tokio::spawn(async move {
            if let Err(e) = gateway.store().session_opened(&open).await {
                tracing::warn!(error = %e, session = %open.id, "could not note an open session in the store");
            }
        });
    }

    pub(crate) fn announce_closed_session(&self, session: &str) {
        if !self.store_is_shared() {
            return;
        }
        let gateway = self.clone();
        let id = session.to_owned();
        tokio::spawn(async move {
            if let Err(e) = gateway.store().session_closed(&id).await {
                tracing::warn!(error = %e, session = %id, "could not note a closed session in the store");
            }
        });
    }

    /// This gateway and the others on its store.
    pub async fn cluster(&self) -> Result<ClusterView, CoreError> {
        let now = now_ms();
        let gateways = self
            .store()
            .gateways()
            .await?
            .into_iter()
            .map(|g| GatewaySeen {
                alive: now - g.last_seen_ms < PRESUMED_DEAD.as_millis() as i64,
                last_seen: crate::approvals::rfc3339_ms(g.last_seen_ms),
                name: g.name,
                policy: g.policy,
            })
            .collect();
        Ok(ClusterView {
            gateway: self.name().to_owned(),
            store: self.store().backend(),
            notified: self.store_tells_all(),
            gateways,
        })
    }

    /// Sessions open on other live gateways sharing the store; empty with a store of one's own.
    pub(crate) async fn sessions_open_elsewhere(&self) -> Result<HashSet<String>, CoreError> {
        if !self.store_is_shared() {
            return Ok(HashSet::new());
        }
        let alive_since = now_ms() - PRESUMED_DEAD.as_millis() as i64;
        Ok(self
            .store()
            .open_sessions(alive_since)
            .await?
            .into_iter()
            .filter(|s| s.gateway != self.name())
            .map(|s| s.id)
            .collect())
    }
}
