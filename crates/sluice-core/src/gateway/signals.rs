//! The five self-reflection signals inside the gateway (docs/signals.md): its own audit trail
//! read as it grows, sampled recordings read back, the store's reviews, grants, tokens and
//! heartbeats, the policy repository; computed every `[signals] interval` into a report that
//! the admin API serves, `/metrics` exports and whose changes go to the webhooks.
//!
//! The computation is sluice-signals'; this module only gathers. Everything here runs in the
//! housekeeping task, never on a session's path.

use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use sluice_outbound::tail::AuditTail;
use sluice_signals::{
    Facts, GrantFact, History, Observer, Point, RecordingCheck, Report, RepositoryFacts,
    ReviewFact, SinkLag, TokenFact, VerifyOutcome,
};
use sluice_store::{GrantFilter, ReviewFilter};

use super::cluster::PRESUMED_DEAD;
use super::Gateway;
use crate::approvals::{now_ms, ReviewDetail};
use crate::CoreError;

/// The most audit records read from the trail in one round, so that a gateway starting on a
/// large trail catches up in steps rather than holding the housekeeping task for long.
const RECORDS_PER_ROUND: usize = 200_000;

/// Rounds the history keeps: a day at the default one-minute interval, a few hundred KiB.
const HISTORY_ROUNDS: usize = 1440;

/// What the signals keep between rounds.
pub(crate) struct SignalsState {
    observer: Observer,
    /// The reader of this gateway's own trail, where the last round left it (a new reader
    /// would read the file from its top again).
    tail: Option<AuditTail>,
    /// The seq of the last record read.
    read_through: u64,
    report: Option<Arc<Report>>,
    /// Every round's headline figures since this gateway started (the console's charts).
    history: History,
    last_verify: Option<VerifyOutcome>,
}

impl SignalsState {
    pub(crate) fn new(sample_fraction: f64) -> SignalsState {
        SignalsState {
            observer: Observer::new(sample_fraction),
            tail: None,
            read_through: 0,
            report: None,
            history: History::new(HISTORY_ROUNDS),
            last_verify: None,
        }
    }
}

impl Gateway {
    /// Recomputes the signals every `[signals] interval`, forever (or never, at `0s`).
    pub async fn run_signals(&self) {
        let interval = self.config().signals.interval;
        if interval.is_zero() {
            return std::future::pending().await;
        }
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.refresh_signals().await {
                tracing::warn!(error = %e, "could not compute the self-reflection signals");
            }
        }
    }

    /// The last report computed, if any.
    pub fn signals(&self) -> Option<Arc<Report>> {
        crate::sync::lock(&self.inner.signals).report.clone()
    }

    /// The rounds computed since this gateway started, oldest first, each reduced to its
    /// headline figures.
    pub fn signal_history(&self) -> Vec<Point> {
        crate::sync::lock(&self.inner.signals)
            .history
            .points()
            .cloned()
            .collect()
    }

    /// The outcome of an `audit verify` run by the binary's periodic verify, for the
    /// completeness signal.
    pub fn note_verify(&self, outcome: VerifyOutcome) {
        crate::sync::lock(&self.inner.signals).last_verify = Some(outcome);
    }

    /// Reads what is new, computes the report, tells the webhooks what changed, and returns it.
    ///
    /// Runs as a task of its own, so that a caller that goes away (an admin request whose
    /// client disconnects) cannot drop it halfway and lose the observer it holds.
    pub async fn refresh_signals(&self) -> Result<Arc<Report>, CoreError> {
        let gateway = self.clone();
        tokio::spawn(async move { gateway.refresh_signals_now().await })
            .await
            .map_err(|e| CoreError::Config(format!("computing the signals: {e}")))?
    }

    async fn refresh_signals_now(&self) -> Result<Arc<Report>, CoreError> {
        // The observer leaves the lock while files and the store are read, so `signals()`
        // (the admin API, /metrics) never waits on I/O; the refresh lock keeps a second
        // refresh from starting meanwhile.
        let _one = self.inner.signals_refresh.lock().await;
        let (observer, tail, read_through, last_verify, previous) = {
            let mut s = crate::sync::lock(&self.inner.signals);
            (
                std::mem::take(&mut s.observer),
                s.tail.take(),
                s.read_through,
                s.last_verify.clone(),
                s.report.clone(),
            )
        };
        let config = &self.config().signals;
        let now = now_ms();
        let tail = tail.unwrap_or_else(|| AuditTail::new(self.config().audit_path(), read_through));
        let restore = |observer: Observer, tail: Option<AuditTail>, read_through: u64| {
            let mut s = crate::sync::lock(&self.inner.signals);
            s.observer = observer;
            s.tail = tail;
            s.read_through = read_through;
        };
        let (mut observer, tail, read_through) =
            match read_trail(tail, observer, read_through).await {
                Ok(read) => read,
                Err(e) => {
                    // The task that held the observer is gone: the next round reads the
                    // trail from its start into a new one.
                    restore(Observer::new(config.sample_fraction), None, 0);
                    return Err(e);
                }
            };
        self.check_recordings(&mut observer).await;
        observer.prune(now - config.window.as_millis() as i64);
        let facts = match self.signal_facts(now, read_through, last_verify).await {
            Ok(f) => f,
            Err(e) => {
                restore(observer, tail, read_through);
                return Err(e);
            }
        };
        let report = Arc::new(sluice_signals::compute(&observer, &facts, config));
        restore(observer, tail, read_through);
        {
            let mut s = crate::sync::lock(&self.inner.signals);
            s.history.record(now, &report);
            s.report = Some(report.clone());
        }
        for t in report.transitions(previous.as_deref()) {
            self.announce_signal(&t);
        }
        Ok(report)
    }

    /// Reads back the sampled sessions' recordings that ended since the last round: each
    /// against its seal, and its results through the masking sampler.
    async fn check_recordings(&self, observer: &mut Observer) {
        let to_check = observer.take_recordings_to_check();
        let Some(store) = self.recordings().cloned() else {
            return;
        };
        let detectors = self.masking().detectors().clone();
        for checked in to_check {
            let (check, found) = match store.read(&checked.session).await {
                Err(_) => (RecordingCheck::Missing, Vec::new()),
                Ok(bytes) => {
                    let sha256 = hex::encode(Sha256::digest(&bytes));
                    if sha256 != checked.seal.sha256 || bytes.len() as u64 != checked.seal.bytes {
                        (RecordingCheck::Altered, Vec::new())
                    } else {
                        let found = sluice_record::parse(&bytes)
                            .map(|rec| {
                                sluice_signals::sample_recording(&rec, &detectors, &checked).0
                            })
                            .unwrap_or_default();
                        (RecordingCheck::Intact, found)
                    }
                }
            };
            observer.recording_checked(&checked, check, found);
        }
    }

    async fn signal_facts(
        &self,
        now: i64,
        last_seq: u64,
        last_verify: Option<VerifyOutcome>,
    ) -> Result<Facts, CoreError> {
        let config = self.config();
        let since = now - config.signals.window.as_millis() as i64;
        let store = self.store();
        let mut reviews = store
            .list_reviews(&ReviewFilter {
                since_ms: Some(since),
                ..ReviewFilter::default()
            })
            .await?;
        // Pending reviews older than the window are the most overdue of all.
        let old_pending = store
            .list_reviews(&ReviewFilter {
                state: Some("pending".into()),
                until_ms: Some(since),
                ..ReviewFilter::default()
            })
            .await?;
        reviews.extend(old_pending);
        let grants = store
            .list_grants(&GrantFilter {
                since_ms: Some(since),
                ..GrantFilter::default()
            })
            .await?;
        let tokens = store.list_tokens(None).await?;
        let live_gateways = if self.store_is_shared() {
            store
                .gateways()
                .await?
                .into_iter()
                .filter(|g| now - g.last_seen_ms < PRESUMED_DEAD.as_millis() as i64)
                .map(|g| (g.name, g.policy))
                .collect()
        } else {
            Vec::new()
        };
        let declared_rules = self.policy().current().declared_rules.clone();
        let repository = self.policy_repository().await;
        let sinks = config
            .audit_sinks
            .iter()
            .map(|s| {
                let cursor =
                    sluice_outbound::sinks::Cursor::new(&config.gateway.data_dir, s.name());
                SinkLag {
                    sink: s.name().to_owned(),
                    records: last_seq.saturating_sub(cursor.load().unwrap_or(0)),
                }
            })
            .collect();
        Ok(Facts {
            now_ms: now,
            repository,
            declared_rules,
            live_gateways,
            reviews: reviews.iter().map(review_fact).collect(),
            grants: grants
                .into_iter()
                .map(|g| GrantFact {
                    id: crate::approvals::grant_id(g.id),
                    identity: g.identity,
                    target: g.target,
                    created_ms: g.created_at_ms,
                    expires_ms: g.expires_at_ms,
                    revoked_ms: g.revoked_at_ms,
                })
                .collect(),
            tokens: tokens
                .into_iter()
                .map(|t| TokenFact {
                    id: t.id,
                    identity: t.identity,
                    purpose: t.scope.purpose,
                    created_ms: t.created_at * 1000,
                    last_used_ms: t.last_used_at.map(|s| s * 1000),
                })
                .collect(),
            recording_enabled: self.recordings().is_some(),
            // Validated non-zero at load: checkpoints are always on.
            checkpoint_interval_ms: Some(config.audit.checkpoint_interval.as_millis() as i64),
            sinks,
            last_verify,
        })
    }

    /// The git repository the policy is checked out from: `[signals] repository`, else the
    /// policy directory's own. Read off the runtime: it walks the repository's objects.
    async fn policy_repository(&self) -> Option<RepositoryFacts> {
        let dir: PathBuf = self
            .config()
            .signals
            .repository
            .clone()
            .or_else(|| self.config().policy.dir.clone())?;
        let state = tokio::task::spawn_blocking(move || crate::policy::repository_state(&dir))
            .await
            .ok()?;
        match state {
            Ok(Some(s)) => Some(RepositoryFacts {
                commit: s.commit,
                branch: s.branch,
                head_digest: s.head_digest,
                worktree_digest: s.worktree_digest,
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the policy repository");
                None
            }
        }
    }

    fn announce_signal(&self, t: &sluice_signals::Transition) {
        let key = t.signal.key();
        let (event, summary) = if t.firing {
            (
                "signal.firing",
                format!("sluice signal {key} is firing: {}", t.reasons.join("; ")),
            )
        } else {
            (
                "signal.resolved",
                format!("sluice signal {key} is ok again"),
            )
        };
        if t.firing {
            tracing::warn!(signal = key, reasons = %t.reasons.join("; "), "signal firing");
        } else {
            tracing::info!(signal = key, "signal resolved");
        }
        self.notifier()
            .notify(sluice_outbound::webhooks::Notification {
                event,
                summary,
                url: None,
                data: serde_json::json!({
                    "signal": key,
                    "firing": t.firing,
                    "reasons": t.reasons,
                    "gateway": self.name(),
                }),
            });
    }
}

/// Feeds the observer the records appended since the tail's position (at most
/// [`RECORDS_PER_ROUND`]), off the runtime: a busy gateway's minute is hundreds of thousands
/// of records. Returns the observer, the tail to keep (`None` after an error: the next round
/// starts a reader afresh) and the last seq observed.
async fn read_trail(
    tail: AuditTail,
    mut observer: Observer,
    after: u64,
) -> Result<(Observer, Option<AuditTail>, u64), CoreError> {
    tokio::task::spawn_blocking(move || {
        let mut last = after;
        let mut tail = Some(tail);
        for _ in 0..RECORDS_PER_ROUND {
            let Some(reader) = tail.as_mut() else { break };
            match reader.next_record() {
                Ok(Some(r)) => {
                    observer.observe_line(&r.line);
                    last = last.max(r.seq);
                }
                Ok(None) => break,
                Err(e) => {
                    // The records before the bad line count; the next round starts over
                    // from there and stops at it again, until an operator looks (`sluice
                    // audit verify` names it).
                    tracing::warn!(error = %e, "the signals cannot read past a line of the audit trail");
                    tail = None;
                }
            }
        }
        (observer, tail, last)
    })
    .await
    .map_err(|e| CoreError::Config(format!("reading the audit trail: {e}")))
}

/// A review as the signals read it: its reviewer groups and, for access, the scope asked.
fn review_fact(r: &sluice_store::ReviewRecord) -> ReviewFact {
    let detail = ReviewDetail::parse(r).unwrap_or_default();
    ReviewFact {
        id: crate::approvals::review_id(r.id),
        kind: r.kind.clone(),
        requester: r.requester.clone(),
        target: r.target.clone(),
        groups: detail
            .requirements
            .iter()
            .flat_map(|req| req.groups.iter().cloned())
            .collect(),
        scope: detail.access.map(|a| a.scope),
        created_ms: r.created_at_ms,
        decided_ms: r.decided_at_ms,
        state: r.state.clone(),
        decisions: r
            .decisions
            .iter()
            .map(|d| (d.reviewer.clone(), d.approve))
            .collect(),
    }
}
