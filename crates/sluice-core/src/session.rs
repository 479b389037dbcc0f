//! One client session: decide each request once, audit it before it is forwarded, audit how it
//! ended. The second half of the enforcement sequence.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use sluice_audit::{AuditEvent, Ticket};
use sluice_decision::{Decision, SessionFacts, StatementFacts};

use crate::config::{IdentityConfig, TargetConfig};
use crate::gateway::{Gateway, SessionRequest};
use crate::secret::Secret;
use crate::CoreError;

/// A live session. Cheap to clone: the protocol's two relay halves each hold one.
#[derive(Clone)]
pub struct Session {
    inner: Arc<SessionInner>,
}

struct SessionInner {
    gateway: Gateway,
    id: String,
    identity: IdentityConfig,
    target: TargetConfig,
    database: String,
    client_addr: String,
    protocol: &'static str,
    started: Instant,
    /// Numbers statements within the session; also the count reported at the end.
    statements: AtomicU64,
}

/// The audit records of one batch of requests, appended but not yet durable.
#[derive(Default)]
pub struct AuditBatch {
    tickets: Vec<Ticket>,
}

impl AuditBatch {
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }
}

/// Proof that every audit record appended so far is durable; required to forward bytes upstream.
#[derive(Debug)]
pub struct Sealed(());

/// An allowed statement whose record is in the batch. It travels with the request until the
/// response arrives and is consumed by [`Session::finish`].
#[derive(Debug)]
pub struct StatementPermit {
    statement: u64,
    started: Instant,
}

#[derive(Debug)]
pub enum Admission {
    Allowed(StatementPermit),
    Denied { reason: String },
}

/// How a statement ended, as the target reported it.
#[derive(Debug)]
pub enum Outcome {
    Ok {
        command_tag: String,
        rows: Option<u64>,
    },
    Error {
        sqlstate: String,
        message: String,
    },
    /// Forwarded but never run, e.g. skipped after an earlier error in the same pipeline, or
    /// the session ended first.
    /// Forwarded, but the session ended before its result arrived: it may have run.
    Interrupted {
        reason: String,
    },
    NotExecuted {
        reason: String,
    },
}

/// Bytes each way, counted by the protocol's relay.
#[derive(Debug, Default, Clone, Copy)]
pub struct Traffic {
    pub from_client: u64,
    pub to_client: u64,
}

impl Session {
    pub(crate) fn new(
        gateway: Gateway,
        identity: IdentityConfig,
        target: TargetConfig,
        database: String,
        request: &SessionRequest<'_>,
    ) -> Session {
        Session {
            inner: Arc::new(SessionInner {
                gateway,
                id: new_session_id(),
                identity,
                target,
                database,
                client_addr: request.client_addr.clone(),
                protocol: request.protocol,
                started: Instant::now(),
                statements: AtomicU64::new(0),
            }),
        }
    }

    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub fn identity(&self) -> &IdentityConfig {
        &self.inner.identity
    }

    pub fn target(&self) -> &TargetConfig {
        &self.inner.target
    }

    pub fn database(&self) -> &str {
        &self.inner.database
    }

    /// The held credential for the target; only the upstream login may read it.
    pub fn upstream_password(&self) -> Option<&Secret> {
        self.inner.gateway.target_password(&self.inner.target.name)
    }

    pub fn records_parameters(&self) -> bool {
        self.inner.gateway.config().audit.record_parameters
    }

    pub fn gateway(&self) -> &Gateway {
        &self.inner.gateway
    }

    fn facts(&self) -> SessionFacts<'_> {
        let i = &self.inner;
        session_facts(
            &i.identity,
            &i.target,
            &i.database,
            &i.client_addr,
            i.protocol,
        )
    }

    pub(crate) async fn audit_start(&self, request: &SessionRequest<'_>) -> Result<(), CoreError> {
        let i = &self.inner;
        let event = AuditEvent::SessionStarted {
            session: i.id.clone(),
            identity: i.identity.name.clone(),
            identity_kind: i.identity.kind.as_str().to_owned(),
            client_addr: i.client_addr.clone(),
            target: i.target.name.clone(),
            database: i.database.clone(),
            protocol: i.protocol.to_owned(),
            tls: request.tls,
            application_name: request.application_name.clone(),
        };
        self.audited(i.gateway.audit().record(&event).await.map(drop))
    }

    /// Decides one statement and appends its audit record to `batch`. Nothing may be forwarded
    /// for it until the batch is sealed.
    pub fn admit(
        &self,
        batch: &mut AuditBatch,
        text: &str,
        parameters: Option<Vec<Option<String>>>,
    ) -> Result<Admission, CoreError> {
        let i = &self.inner;
        let statement = i.statements.fetch_add(1, Ordering::Relaxed) + 1;
        let decision = i
            .gateway
            .policy()
            .decide_statement(&self.facts(), &StatementFacts { text });
        let denial = decision.deny_reason().map(str::to_owned);
        let event = AuditEvent::Statement {
            session: i.id.clone(),
            identity: i.identity.name.clone(),
            client_addr: i.client_addr.clone(),
            target: i.target.name.clone(),
            database: i.database.clone(),
            statement,
            text: text.to_owned(),
            parameters,
            decision: audit_decision(&decision),
        };
        batch
            .tickets
            .push(self.audited(i.gateway.audit().append(&event))?);
        i.gateway.metrics().statements.inc();
        let permit = StatementPermit {
            statement,
            started: Instant::now(),
        };
        match denial {
            None => Ok(Admission::Allowed(permit)),
            Some(reason) => {
                i.gateway.metrics().statements_denied.inc();
                let result = self.result_event(
                    permit,
                    sluice_audit::Outcome::Denied {
                        reason: reason.clone(),
                    },
                    None,
                    None,
                );
                batch
                    .tickets
                    .push(self.audited(i.gateway.audit().append(&result))?);
                Ok(Admission::Denied { reason })
            }
        }
    }

    /// Waits until every record in `batch` is durable (per the configured durability) and
    /// returns the proof that forwarding may proceed. An empty batch seals at once.
    pub async fn seal(&self, batch: &mut AuditBatch) -> Result<Sealed, CoreError> {
        if batch.tickets.is_empty() {
            return Ok(Sealed(()));
        }
        let started = Instant::now();
        // Sessions on a worker run one at a time, so without this the first to commit always
        // writes alone. Yielding once lets the sessions already woken on this worker append
        // their records first; the first to commit then writes them all with one write(2).
        // A lone session has nobody to share with and would only pay for the extra turn.
        // `yield_now` resumes only after the next I/O driver poll, so sessions whose data
        // arrives meanwhile join the batch too: a plain re-queue measured 2.4 transactions
        // per write against about 6 (docs/benchmarks.md).
        if self.inner.gateway.metrics().sessions_active.get() > 1 {
            tokio::task::yield_now().await;
        }
        let audit = self.inner.gateway.audit();
        for ticket in batch.tickets.drain(..) {
            self.audited(audit.commit(ticket).await)?;
        }
        self.inner
            .gateway
            .metrics()
            .audit_commit_latency
            .observe_us(started.elapsed().as_micros() as u64);
        Ok(Sealed(()))
    }

    /// Audits how an allowed statement ended. The record rides along with the next commit; the
    /// statement's own record is already durable, so a crash can lose only the outcome.
    pub fn finish(&self, permit: StatementPermit, outcome: Outcome) {
        let metrics = self.inner.gateway.metrics();
        let (outcome, tag, rows) = match outcome {
            Outcome::Ok { command_tag, rows } => {
                (sluice_audit::Outcome::Ok, Some(command_tag), rows)
            }
            Outcome::Error { sqlstate, message } => {
                metrics.statement_errors.inc();
                (
                    sluice_audit::Outcome::Error { sqlstate, message },
                    None,
                    None,
                )
            }
            Outcome::Interrupted { reason } => {
                (sluice_audit::Outcome::Interrupted { reason }, None, None)
            }
            Outcome::NotExecuted { reason } => {
                (sluice_audit::Outcome::NotExecuted { reason }, None, None)
            }
        };
        let event = self.result_event(permit, outcome, tag, rows);
        if let Err(e) = self.inner.gateway.audit().append(&event) {
            metrics.audit_failures.inc();
            tracing::error!(error = %e, "could not audit a statement result");
        }
    }

    fn result_event(
        &self,
        permit: StatementPermit,
        outcome: sluice_audit::Outcome,
        command_tag: Option<String>,
        rows: Option<u64>,
    ) -> AuditEvent {
        let i = &self.inner;
        AuditEvent::StatementResult {
            session: i.id.clone(),
            identity: i.identity.name.clone(),
            target: i.target.name.clone(),
            statement: permit.statement,
            outcome,
            command_tag,
            rows,
            duration_us: permit.started.elapsed().as_micros() as u64,
        }
    }

    /// Audits the end of the session and waits until that record is durable.
    pub async fn end(&self, reason: &str, traffic: Traffic) {
        let i = &self.inner;
        let metrics = i.gateway.metrics();
        metrics.sessions_active.dec();
        let event = AuditEvent::SessionEnded {
            session: i.id.clone(),
            identity: i.identity.name.clone(),
            target: i.target.name.clone(),
            bytes_from_client: traffic.from_client,
            bytes_to_client: traffic.to_client,
            statements: i.statements.load(Ordering::Relaxed),
            reason: reason.to_owned(),
            duration_ms: i.started.elapsed().as_millis() as u64,
        };
        if let Err(e) = i.gateway.audit().record(&event).await {
            metrics.audit_failures.inc();
            tracing::error!(error = %e, "could not audit the end of a session");
        }
    }

    /// Counts audit failures on the way out, so every failure shows up in metrics.
    fn audited<T>(&self, r: Result<T, sluice_audit::AuditError>) -> Result<T, CoreError> {
        r.map_err(|e| {
            self.inner.gateway.metrics().audit_failures.inc();
            CoreError::Audit(e)
        })
    }
}

/// The facts the policy sees about a session, built in one place for session and statements.
pub(crate) fn session_facts<'a>(
    identity: &'a IdentityConfig,
    target: &'a TargetConfig,
    database: &'a str,
    client_addr: &'a str,
    protocol: &'a str,
) -> SessionFacts<'a> {
    SessionFacts {
        identity: sluice_decision::IdentityFacts {
            name: &identity.name,
            kind: identity.kind.as_str(),
            groups: &identity.groups,
        },
        target: sluice_decision::TargetFacts {
            name: &target.name,
            kind: target.kind.as_str(),
            database,
            tags: &target.tags,
        },
        client_addr,
        protocol,
    }
}

fn audit_decision(d: &Decision) -> sluice_audit::Decision {
    sluice_audit::Decision {
        verdict: if d.is_allowed() { "allow" } else { "deny" }.to_owned(),
        reason: d.deny_reason().map(str::to_owned),
        rule: d.rule.clone(),
        policy: d.policy.clone(),
    }
}

/// Session ids are random rather than sequential so they do not reveal traffic volume.
fn new_session_id() -> String {
    format!("s_{}", hex::encode(crate::token::random_bytes::<8>()))
}
