//! One client session: decide each request once, audit it before it is forwarded, audit how it
//! ended. The second half of the enforcement sequence.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sluice_audit::AuditEvent;
use sluice_decision::{Decision, PostgresSession, SessionFacts, SessionSection};
use sluice_sql::{Dialect, Lexing, NameContext};
use tokio::io::AsyncWrite;

mod admit;
mod hold;
mod open;

use crate::clock::Tick;
use crate::config::{IdentityConfig, TargetConfig};
use crate::gateway::{Gateway, SessionRequest};
use crate::lineage::{self, RelationName, ResultPlan, SessionLineage, Traced};
use crate::masking::{self, MaskPlan, MaskTally};
pub use admit::Ask;
pub(crate) use hold::Refusal;
pub use hold::{HeldStatement, PendingReview};
mod permit;

use crate::policy::{
    identity_facts, target_facts, ActivePolicy, Subject, Verdicted, RULE_LEXING, RULE_PARSE,
};
use crate::proof::{AuditBatch, Sealed, UpstreamWriter};
use crate::recording::SessionRecording;
use crate::secret::Secret;
use crate::CoreError;
pub use permit::{Outcome, StatementPermit, Status};

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
    /// What the policy sees; replaced when the session changes its search path.
    subject: Mutex<Arc<Subject>>,
    /// Where unqualified names resolved when the session started, restored by a reset
    /// (`RESET search_path`).
    initial_names: NameContext,
    /// `None` when recording is off.
    recording: Option<SessionRecording>,
    /// Cursors and prepared statements declared by SQL, for masking by lineage.
    lineage: SessionLineage,
    /// The token the session opened with; the session ends when it expires or is revoked.
    token: Option<crate::gateway::TokenGrant>,
}

#[derive(Debug)]
pub enum Admission {
    Allowed(StatementPermit),
    /// The policy wants reviewers to approve it first: open its review with
    /// [`Session::open_statement_review`] and wait with [`Session::await_review`], which
    /// turn it into one of the other two.
    Held(HeldStatement),
    Denied(Denial),
    /// Masking must know these relations' columns (and views' definitions) to trace the
    /// request: read them from the target's catalog, give them to
    /// [`Session::learn_relations`] (or [`Session::catalog_unreadable`]), and admit the same
    /// request again.
    NeedsCatalog(Vec<RelationName>),
}

/// Why a request was refused, for the client. Protocols map the kind to their error codes.
#[derive(Debug, Clone)]
pub struct Denial {
    pub kind: DenialKind,
    pub rule: String,
    pub reason: String,
    /// For an unparseable text: where the parser stopped (1-based character position), as
    /// the server reports it for its own syntax errors.
    pub position: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialKind {
    /// The policy said no.
    Policy,
    /// The parser rejected the statement; the server would have too.
    Unparseable,
    /// The text reads differently under the lexing settings it may run under
    /// ([`RULE_LEXING`]).
    Ambiguous,
    /// The request's bytes are not valid in the client's encoding; the server would have
    /// rejected them too ([`Session::refuse_unreadable`]).
    Invalid,
    /// The protocol cannot turn the request into text to analyse, such as text beyond ASCII
    /// in an encoding the analysis cannot follow ([`Session::refuse_unreadable`]).
    Unreadable,
}

impl Denial {
    /// The refusal a denying decision means for the client; `None` when it allows.
    fn of(decision: &Decision) -> Option<Denial> {
        let reason = decision.deny_reason()?;
        Some(Denial {
            kind: match decision.rule.as_str() {
                RULE_PARSE => DenialKind::Unparseable,
                RULE_LEXING => DenialKind::Ambiguous,
                _ => DenialKind::Policy,
            },
            rule: decision.rule.clone(),
            reason: reason.to_owned(),
            position: None,
        })
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            DenialKind::Policy => {
                write!(f, "denied by policy rule {}: {}", self.rule, self.reason)
            }
            DenialKind::Unparseable
            | DenialKind::Ambiguous
            | DenialKind::Invalid
            | DenialKind::Unreadable => f.write_str(&self.reason),
        }
    }
}

/// A decided request, as masking by lineage traces it.
struct TraceRequest<'a> {
    text: &'a str,
    lexing: Lexing,
    verdicted: &'a Verdicted,
    parameters: Option<&'a [Option<String>]>,
}

impl<'a> TraceRequest<'a> {
    fn new(
        text: &'a str,
        lexing: Lexing,
        verdicted: &'a Verdicted,
        parameters: Option<&'a [Option<String>]>,
    ) -> Self {
        TraceRequest {
            text,
            lexing,
            verdicted,
            parameters,
        }
    }
}

/// A statement the client prepared (extended protocol Parse), with what the policy saw at
/// Parse. Executions are decided again, from the same analysis.
pub struct Prepared {
    pub text: Arc<str>,
    /// How the server reads the text, for tracing its lineage at each execution.
    lexing: Lexing,
    verdicted: Arc<Verdicted>,
    /// The last execution's decision and what it was made under, so repeated executions in
    /// the same circumstances reuse it.
    memo: Mutex<Option<Memo>>,
}

struct Memo {
    policy: Arc<ActivePolicy>,
    subject: Arc<Subject>,
    bucket: u32,
    decision: Decision,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("text", &self.text)
            .finish()
    }
}

/// The answer to a Parse.
pub enum Preparation {
    Allowed(Arc<Prepared>),
    Denied(Denial),
}

/// What a request's audit record and recording line say it asked.
pub(crate) struct Asked<'a> {
    /// A SQL statement's text, or for a request of another kind its one-line summary.
    text: &'a str,
    /// A request of another kind, recorded as a `request` line; a hold shows reviewers its
    /// facts.
    request: Option<&'a sluice_decision::Request<'a>>,
    /// Bound values, when they are recorded.
    parameters: Option<Vec<Option<String>>>,
}

impl<'a> Asked<'a> {
    fn sql(text: &'a str) -> Self {
        Asked {
            text,
            request: None,
            parameters: None,
        }
    }
}

/// Bytes each way, counted by the protocol's relay.
#[derive(Debug, Default, Clone, Copy)]
pub struct Traffic {
    pub from_client: u64,
    pub to_client: u64,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        gateway: Gateway,
        token: Option<crate::gateway::TokenGrant>,
        identity: IdentityConfig,
        target: TargetConfig,
        database: String,
        request: &SessionRequest<'_>,
        dialect: &'static dyn Dialect,
        names: NameContext,
    ) -> Session {
        let id = new_session_id();
        let recording = gateway.recordings().map(|store| {
            let config = &gateway.config().recording;
            SessionRecording::start(
                store.clone(),
                &sluice_record::Header {
                    session: id.clone(),
                    identity: identity.name.clone(),
                    target: target.name.clone(),
                    database: database.clone(),
                    protocol: request.protocol.to_owned(),
                    client_addr: request.client_addr.clone(),
                    started_at: sluice_record::format_started_at(std::time::SystemTime::now()),
                    kind: target.kind.recording_kind().to_owned(),
                },
                sluice_record::Limits {
                    max_rows_per_statement: config.max_rows_per_statement,
                    max_session_bytes: config.max_session_bytes,
                },
                config.on_cap,
            )
        });
        let grants = gateway.approvals().grants.snapshot(
            &identity.name,
            &target.name,
            crate::approvals::now_ms(),
        );
        let subject = Subject::new(
            identity_facts(&identity),
            target_facts(&target, &database),
            SessionFacts {
                id: id.clone(),
                client_address: client_ip(&request.client_addr),
                application_name: request.application_name.clone(),
                started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                protocol: request.protocol.to_owned(),
                // Only PostgreSQL has a section of its own so far; MySQL and SSH sessions'
                // facts are the neutral ones (a MySQL database is `target.database`).
                section: match target.kind {
                    crate::config::TargetKind::Postgres => {
                        SessionSection::Postgres(PostgresSession {
                            search_path: Vec::new(),
                            settings: request.settings.clone(),
                        })
                    }
                    crate::config::TargetKind::Mysql
                    | crate::config::TargetKind::Ssh
                    | crate::config::TargetKind::Http
                    | crate::config::TargetKind::Kubernetes => SessionSection::None,
                },
            },
            dialect,
            names.clone(),
            grants,
        );
        Session {
            inner: Arc::new(SessionInner {
                gateway,
                id,
                identity,
                target,
                database,
                client_addr: request.client_addr.clone(),
                protocol: request.protocol,
                started: Instant::now(),
                statements: AtomicU64::new(0),
                subject: Mutex::new(Arc::new(subject)),
                initial_names: names,
                recording,
                lineage: SessionLineage::default(),
                token,
            }),
        }
    }

    /// Resolves when the session's credential has ended (expired, or revoked anywhere that
    /// shares the store) and `[auth] session_grace` has passed, with the reason to tell the
    /// client and audit; never for a session opened without a token (an SSH key). Protocols
    /// race their relay against it, so a session cannot outlive its credential.
    pub async fn credential_ended(&self) -> String {
        let Some(token) = &self.inner.token else {
            return std::future::pending().await;
        };
        let gateway = &self.inner.gateway;
        let grace = gateway.config().auth.session_grace;
        let mut revocations = gateway.revocations();
        let expiry = token.expires_at.map(|at| {
            let left = u64::try_from(at - crate::gateway::unix_now()).unwrap_or(0);
            tokio::time::Instant::now() + std::time::Duration::from_secs(left)
        });
        let expired = async {
            match expiry {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expired);
        let reason = loop {
            if revocations.borrow_and_update().contains(&token.id) {
                break "the credential was revoked";
            }
            tokio::select! {
                () = &mut expired => break "the credential expired",
                changed = revocations.changed() => {
                    if changed.is_err() {
                        // The gateway is going away; its shutdown ends the session.
                        return std::future::pending().await;
                    }
                }
            }
        };
        if !grace.is_zero() {
            tokio::time::sleep(grace).await;
        }
        gateway.metrics().sessions_credential_ended.inc();
        format!("{reason} ({})", token.id)
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

    /// How the session's SQL is read.
    pub fn dialect(&self) -> &'static dyn Dialect {
        self.subject().dialect
    }

    /// The protocol the session speaks, as audit records and the policy input name it.
    pub fn protocol(&self) -> &'static str {
        self.inner.protocol
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

    /// Where the relay records what the client was sent; `None` when recording is off.
    pub fn recording(&self) -> Option<&SessionRecording> {
        self.inner.recording.as_ref()
    }

    /// The facts the policy sees now. Grants are read again when one was issued, revoked or
    /// has expired since they were last read, so a grant stops counting on time even in the
    /// middle of a session.
    fn subject(&self) -> Arc<Subject> {
        let book = &self.inner.gateway.approvals().grants;
        let mut subject = crate::sync::lock(&self.inner.subject);
        let now = crate::approvals::now_ms();
        if subject.grants_stale(book.generation(), now) {
            let grants = book.snapshot(&self.inner.identity.name, &self.inner.target.name, now);
            *subject = Arc::new(subject.with_grants(grants));
        }
        subject.clone()
    }

    /// May this session open at all? Asked once, before the session's start is audited.
    pub(crate) fn decide_connect(&self) -> Decision {
        let gateway = &self.inner.gateway;
        gateway
            .policy()
            .current()
            .decide_connect(&self.subject(), &gateway.clock().now())
    }

    pub(crate) async fn audit_start(
        &self,
        request: &SessionRequest<'_>,
        rule: &str,
    ) -> Result<(), CoreError> {
        let i = &self.inner;
        if i.recording.is_some() {
            // From here on the session ends through `end`, which closes it again.
            i.gateway.recording_opened(&i.id);
        }
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
            settings: request.settings.clone(),
            task: self.inner.identity.task.clone(),
            rule: Some(rule.to_owned()),
        };
        self.audited(i.gateway.audit().record(&event).await.map(drop))
    }

    /// Decides a simple-protocol query string (every statement in it), read as the server will
    /// read it under `lexing`, and appends its audit record to `batch`. Nothing may be
    /// forwarded for it until the batch is sealed.
    pub(crate) fn admit_query(
        &self,
        batch: &mut AuditBatch,
        text: &str,
        lexing: Lexing,
    ) -> Result<Admission, CoreError> {
        let (subject, tick) = self.now();
        let verdicted = self.decide_text(&subject, &tick, text, lexing);
        let statements = verdicted.analysis.as_deref().ok();
        let traced = TraceRequest::new(text, lexing, &verdicted, None);
        let (decision, results) = match self.trace(&subject, &tick, &traced, &verdicted.decision) {
            Traced::NeedCatalog(relations) => return Ok(Admission::NeedsCatalog(relations)),
            Traced::Done { decision, results } => (decision, results),
        };
        let decision = decision.as_ref().unwrap_or(&verdicted.decision);
        let admission = self.record(batch, Asked::sql(text), decision, statements, results)?;
        Ok(match admission {
            Admission::Allowed(permit) => {
                self.follow_session_changes(&verdicted);
                Admission::Allowed(permit)
            }
            Admission::Held(mut held) => {
                held.verdicted = Some(verdicted);
                Admission::Held(held)
            }
            Admission::Denied(denial) => Admission::Denied(Denial {
                position: verdicted.parse_position(),
                ..denial
            }),
            needs @ Admission::NeedsCatalog(_) => needs,
        })
    }

    /// Decides an extended-protocol Parse, read as the server will read it under `lexing`.
    /// An allowed statement is remembered for its executions and audited when it runs; a
    /// denied one is audited now.
    pub fn prepare(
        &self,
        batch: &mut AuditBatch,
        text: &str,
        lexing: Lexing,
    ) -> Result<Preparation, CoreError> {
        let (subject, tick) = self.now();
        let verdicted = self.decide_text(&subject, &tick, text, lexing);
        if let Some(denial) = Denial::of(&verdicted.decision) {
            self.record(batch, Asked::sql(text), &verdicted.decision, None, None)?;
            return Ok(Preparation::Denied(Denial {
                position: verdicted.parse_position(),
                ..denial
            }));
        }
        Ok(Preparation::Allowed(Arc::new(Prepared {
            text: Arc::from(text),
            lexing,
            verdicted,
            memo: Mutex::new(None),
        })))
    }

    /// Decides one execution of a prepared statement and appends its audit record. The
    /// decision is made again because the policy, the hour or the session's facts may have
    /// changed since Parse, and with the bound values when the policy reads `parameters`.
    /// `parameters` are recorded only when the configuration asks for it.
    pub fn admit_execute(
        &self,
        batch: &mut AuditBatch,
        prepared: &Prepared,
        parameters: Option<Vec<Option<String>>>,
    ) -> Result<Admission, CoreError> {
        let (subject, tick) = self.now();
        let decision = self.decide_execution(&subject, &tick, prepared, parameters.as_deref());
        let statements = prepared.verdicted.analysis.as_deref().ok();
        let request = TraceRequest::new(
            &prepared.text,
            prepared.lexing,
            &prepared.verdicted,
            parameters.as_deref(),
        );
        let (traced, results) = match self.trace(&subject, &tick, &request, &decision) {
            Traced::NeedCatalog(relations) => return Ok(Admission::NeedsCatalog(relations)),
            Traced::Done { decision, results } => (decision, results),
        };
        let decision = traced.unwrap_or(decision);
        let recorded = if self.records_parameters() {
            parameters.clone()
        } else {
            None
        };
        let asked = Asked {
            parameters: recorded,
            ..Asked::sql(&prepared.text)
        };
        let admission = self.record(batch, asked, &decision, statements, results)?;
        Ok(match admission {
            Admission::Allowed(permit) => {
                self.follow_session_changes(&prepared.verdicted);
                Admission::Allowed(permit)
            }
            // Reviewers see the bound values whether or not audit records them: they decide
            // what the statement will do.
            Admission::Held(mut held) => {
                held.verdicted = Some(prepared.verdicted.clone());
                held.parameters = parameters;
                Admission::Held(held)
            }
            other @ (Admission::Denied(_) | Admission::NeedsCatalog(_)) => other,
        })
    }

    /// Who decides and when, read once per request.
    fn now(&self) -> (Arc<Subject>, Tick) {
        (self.subject(), self.inner.gateway.clock().now())
    }

    /// Masking by lineage (crate::lineage) of a decided request; the caller records the
    /// decision it returns.
    fn trace(
        &self,
        subject: &Arc<Subject>,
        tick: &Tick,
        request: &TraceRequest<'_>,
        decision: &Decision,
    ) -> Traced {
        // The common case, first: nothing to trace.
        if decision.mask.as_ref().is_none_or(|m| m.columns.is_empty()) {
            return Traced::unchanged();
        }
        // Lineage reads PostgreSQL's catalog and parse trees. MySQL names each result
        // column's source table in its column definitions, and its relay masks by those
        // (docs/mysql-connection.md).
        if subject.dialect.name() != sluice_decision::SqlDialect::Postgresql {
            return Traced::unchanged();
        }
        let Ok(statements) = &request.verdicted.analysis else {
            return Traced::unchanged();
        };
        let i = &self.inner;
        // Bound values the policy reads make the outcome the execution's own.
        let reads_values =
            request.parameters.is_some() && i.gateway.policy().current().uses_parameters;
        let masking = i.gateway.masking();
        let lineage_request = lineage::Request {
            text: request.text,
            lexing: request.lexing,
            search_path: subject.names.search_path(),
            statements,
            database: (&i.target.name, &i.database),
            ttl: masking.catalog_ttl(),
            subject: subject.cache_key(),
            bucket: tick.bucket,
        };
        lineage::trace(
            masking.relations(),
            &i.lineage,
            &lineage_request,
            decision,
            (!reads_values).then_some(&request.verdicted.traced),
            |decided| {
                let policy = i.gateway.policy().current();
                policy.decide_statements(subject, tick, decided, request.parameters)
            },
        )
    }

    /// Relations the protocol read from the target's catalog after
    /// [`Admission::NeedsCatalog`]: their columns, and views' definitions.
    pub fn learn_relations(
        &self,
        read: impl IntoIterator<Item = (RelationName, sluice_sql::lineage::CatalogRelation)>,
    ) {
        let i = &self.inner;
        i.gateway
            .masking()
            .relations()
            .store((&i.target.name, &i.database), read);
    }

    /// The catalog could not be read after [`Admission::NeedsCatalog`]: the request, admitted
    /// again, is denied (masking cannot trace it).
    pub fn catalog_unreadable(&self, why: String) {
        self.inner.lineage.catalog_unreadable(why);
    }

    /// Whether executions of `prepared` need their bound values decoded: for the policy, or
    /// for reviewers when the statement was held at Parse.
    pub fn needs_parameters(&self, prepared: &Prepared) -> bool {
        prepared.verdicted.takes_parameters()
            && (self.inner.gateway.policy().current().uses_parameters
                || prepared.verdicted.decision.approval().is_some())
    }

    /// Refuses a request the protocol could not turn into text to analyse (`kind`: bytes
    /// invalid in the client's encoding, or an encoding the analysis cannot follow), auditing
    /// it under `rule` with `text` as the protocol can show it.
    pub fn refuse_unreadable(
        &self,
        batch: &mut AuditBatch,
        text: &str,
        rule: &str,
        reason: String,
        kind: DenialKind,
    ) -> Result<Denial, CoreError> {
        let policy = self.inner.gateway.policy().current();
        let decision = Decision::deny(rule, policy.info.version.as_str(), reason.clone());
        self.record(batch, Asked::sql(text), &decision, None, None)?;
        Ok(Denial {
            kind,
            rule: rule.to_owned(),
            reason,
            position: None,
        })
    }

    fn decide_text(
        &self,
        subject: &Subject,
        tick: &Tick,
        text: &str,
        lexing: Lexing,
    ) -> Arc<Verdicted> {
        let gateway = &self.inner.gateway;
        let metrics = gateway.metrics();
        let started = Instant::now();
        let (verdicted, cached) = gateway
            .policy()
            .current()
            .decide_text(subject, tick, text, lexing);
        if cached {
            metrics.decision_cache_hits.inc();
        } else {
            metrics.decision_cache_misses.inc();
            metrics
                .decision_latency
                .observe_us(started.elapsed().as_micros() as u64);
        }
        verdicted
    }

    fn decide_execution(
        &self,
        subject: &Arc<Subject>,
        tick: &Tick,
        prepared: &Prepared,
        parameters: Option<&[Option<String>]>,
    ) -> Decision {
        let gateway = &self.inner.gateway;
        let policy = gateway.policy().current();
        let Ok(statements) = &prepared.verdicted.analysis else {
            // Parse refused it, so the client cannot execute it; decide the same again.
            return prepared.verdicted.decision.clone();
        };
        if policy.uses_parameters && prepared.verdicted.takes_parameters() {
            return match parameters {
                Some(values) => policy.decide_statements(subject, tick, statements, Some(values)),
                // Bound before a reload to a policy that reads them: deciding on `null` could
                // let through what the values would have denied.
                None => policy.unavailable_parameters(),
            };
        }
        let mut memo = crate::sync::lock(&prepared.memo);
        if let Some(m) = memo.as_ref().filter(|m| {
            Arc::ptr_eq(&m.policy, &policy)
                && Arc::ptr_eq(&m.subject, subject)
                && m.bucket == tick.bucket
        }) {
            gateway.metrics().decision_cache_hits.inc();
            return m.decision.clone();
        }
        gateway.metrics().decision_cache_misses.inc();
        let decision = policy.decide_statements(subject, tick, statements, None);
        *memo = Some(Memo {
            policy: arc_swap::Guard::into_inner(policy),
            subject: subject.clone(),
            bucket: tick.bucket,
            decision: decision.clone(),
        });
        decision
    }

    /// Keeps the policy's view of where names resolve in step with an allowed change
    /// (`SET search_path` or `RESET`), so later unqualified names resolve as the server will
    /// resolve them.
    pub(crate) fn follow_session_changes(&self, verdicted: &Verdicted) {
        let Ok(statements) = &verdicted.analysis else {
            return;
        };
        for change in statements.iter().filter_map(|s| s.session_change.as_ref()) {
            let mut subject = crate::sync::lock(&self.inner.subject);
            let next = subject
                .dialect
                .follow(&subject.names, &self.inner.initial_names, change);
            if let Some(names) = next {
                *subject = Arc::new(subject.with_names(names));
            }
        }
    }

    /// Appends the statement's audit record (and for a denial, its result) to `batch`. An
    /// allow whose masking this gateway cannot carry out is recorded as the denial it becomes.
    fn record(
        &self,
        batch: &mut AuditBatch,
        asked: Asked<'_>,
        decision: &Decision,
        statements: Option<&[sluice_decision::SqlStatement]>,
        results: Option<Arc<ResultPlan>>,
    ) -> Result<Admission, CoreError> {
        let Asked {
            text,
            request,
            parameters,
        } = asked;
        let i = &self.inner;
        if i.recording.as_ref().is_some_and(SessionRecording::failed) {
            // Nothing more is forwarded, so nothing more is audited as if it might run.
            return Err(CoreError::Recording(
                "the recording store failed; the session cannot go on unrecorded".into(),
            ));
        }
        let refused = masking::enforceable(i.gateway.masking(), decision);
        let decision = refused.as_ref().unwrap_or(decision);
        let statement = i.statements.fetch_add(1, Ordering::Relaxed) + 1;
        let event = AuditEvent::Statement {
            session: i.id.clone(),
            identity: i.identity.name.clone(),
            client_addr: i.client_addr.clone(),
            target: i.target.name.clone(),
            database: i.database.clone(),
            statement,
            text: text.to_owned(),
            parameters,
            decision: audit_decision(decision),
            task: self.inner.identity.task.clone(),
        };
        batch
            .tickets
            .push(self.audited(i.gateway.audit().append(&event))?);
        i.gateway.metrics().statements.inc();
        if let Some(recording) = &i.recording {
            let recorded = sluice_record::RecordedDecision {
                verdict: decision.verdict_name().to_owned(),
                rule: decision.rule.clone(),
                policy: decision.policy.clone(),
            };
            match request {
                Some(r) => recording.request(statement, r.action(), text, &recorded),
                None => recording.statement(statement, text, &recorded),
            }
            .map_err(|cap| CoreError::RecordingCap(cap.to_string()))?;
        }
        if decision.approval().is_some() {
            return Ok(Admission::Held(HeldStatement {
                statement,
                text: Arc::from(text),
                parameters: None,
                decision: decision.clone(),
                verdicted: None,
                results,
                request: request.and_then(|r| serde_json::to_string(r).ok()),
            }));
        }
        let permit = self
            .permit(statement, decision, results)
            .changing(statements);
        let Some(denial) = Denial::of(decision) else {
            return Ok(Admission::Allowed(permit));
        };
        i.gateway.metrics().statements_denied.inc();
        let mut permit = permit;
        let result = self.result_event(
            &mut permit,
            sluice_audit::Outcome::Denied {
                reason: denial.reason.clone(),
            },
            None,
            None,
        );
        batch
            .tickets
            .push(self.audited(i.gateway.audit().append(&result))?);
        Ok(Admission::Denied(denial))
    }

    /// The permit statement number `statement` runs under once `decision` lets it.
    pub(crate) fn permit(
        &self,
        statement: u64,
        decision: &Decision,
        results: Option<Arc<ResultPlan>>,
    ) -> StatementPermit {
        let mut permit = self.unmasked_permit(statement);
        permit.mask = self.mask_plan(decision, results);
        permit.reveal_secrets = decision.reveal_secrets;
        permit
    }

    /// A permit whose results are relayed as they are.
    pub(crate) fn unmasked_permit(&self, statement: u64) -> StatementPermit {
        StatementPermit {
            statement,
            started: Instant::now(),
            mask: None,
            tally: MaskTally::default(),
            results_seen: 0,
            settings: None,
            relations_read: Arc::from([]),
            reveal_secrets: false,
            unfinished: Some(self.clone()),
        }
    }

    /// The masking a decision's results get; a denial has none.
    pub(crate) fn mask_plan(
        &self,
        decision: &Decision,
        results: Option<Arc<ResultPlan>>,
    ) -> Option<MaskPlan> {
        decision
            .mask
            .as_ref()
            .filter(|_| decision.deny_reason().is_none())
            .map(|rules| {
                MaskPlan::new(rules.clone(), self.inner.gateway.masking().clone(), results)
            })
    }

    /// Records the end of a held statement that will not run.
    pub(crate) fn refuse_held(
        &self,
        batch: &mut AuditBatch,
        permit: StatementPermit,
        refusal: &Refusal,
    ) -> Result<(), CoreError> {
        let outcome = match refusal {
            Refusal::Denied(reason) => {
                self.inner.gateway.metrics().statements_denied.inc();
                sluice_audit::Outcome::Denied {
                    reason: reason.clone(),
                }
            }
            Refusal::NotRun(reason) => sluice_audit::Outcome::NotExecuted {
                reason: reason.clone(),
            },
        };
        let mut permit = permit;
        let result = self.result_event(&mut permit, outcome, None, None);
        batch
            .tickets
            .push(self.audited(self.inner.gateway.audit().append(&result))?);
        Ok(())
    }

    /// Waits until every record in `batch` is durable (per the configured durability) and
    /// returns the proof that forwarding may proceed. An empty batch seals at once; its seal
    /// forwards bytes only if they are accounted for otherwise
    /// ([`AuditBatch::carries_no_request`]).
    pub async fn seal(&self, batch: &mut AuditBatch) -> Result<Sealed, CoreError> {
        let accounted = batch.take_accounted();
        let records = batch.tickets.len();
        if records == 0 {
            return Ok(Sealed::new(self.key(), 0, accounted));
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
        Ok(Sealed::new(self.key(), records, accounted))
    }

    /// The only writer towards the target a protocol gets for relaying: it writes for a
    /// [`Sealed`] of this session and nothing else.
    pub fn upstream_writer<W: AsyncWrite + Unpin>(&self, writer: W) -> UpstreamWriter<W> {
        UpstreamWriter::new(writer, self.key())
    }

    /// Tells this session's seals from another's.
    fn key(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// Audits how an allowed statement ended. The record rides along with the next commit; the
    /// statement's own record is already durable, so a crash can lose only the outcome.
    pub fn finish(&self, mut permit: StatementPermit, outcome: Outcome) {
        let metrics = self.inner.gateway.metrics();
        let Outcome {
            status,
            code,
            message,
            count,
        } = outcome;
        let (outcome, tag, rows) = match status {
            Status::Ok => (sluice_audit::Outcome::Ok, Some(message), count),
            Status::Error => {
                metrics.statement_errors.inc();
                let sqlstate = code.unwrap_or_default();
                (
                    sluice_audit::Outcome::Error { sqlstate, message },
                    None,
                    None,
                )
            }
            Status::Interrupted => (
                sluice_audit::Outcome::Interrupted { reason: message },
                None,
                None,
            ),
            Status::NotExecuted => (
                sluice_audit::Outcome::NotExecuted { reason: message },
                None,
                None,
            ),
        };
        let event = self.result_event(&mut permit, outcome, tag, rows);
        self.append_result(&event);
    }

    /// Audits a permit dropped without a finish: the request may have reached the target.
    pub(crate) fn finish_dropped(&self, permit: &mut StatementPermit) {
        let outcome = sluice_audit::Outcome::Interrupted {
            reason: "the session stopped relaying the statement before its outcome was known"
                .to_owned(),
        };
        let event = self.result_event(permit, outcome, None, None);
        self.append_result(&event);
    }

    fn append_result(&self, event: &AuditEvent) {
        if let Err(e) = self.inner.gateway.audit().append(event) {
            self.inner.gateway.metrics().audit_failures.inc();
            tracing::error!(error = %e, "could not audit a statement result");
        }
    }

    /// The record of how a permit's request ended; the permit needs no other.
    fn result_event(
        &self,
        permit: &mut StatementPermit,
        outcome: sluice_audit::Outcome,
        command_tag: Option<String>,
        rows: Option<u64>,
    ) -> AuditEvent {
        permit.unfinished = None;
        let i = &self.inner;
        let masked = permit.mask.as_ref().map(|plan| {
            let masked = permit.tally.to_audit(plan);
            i.gateway.metrics().masking.record(&masked);
            masked
        });
        AuditEvent::StatementResult {
            session: i.id.clone(),
            identity: i.identity.name.clone(),
            target: i.target.name.clone(),
            statement: permit.statement,
            outcome,
            command_tag,
            rows,
            duration_us: permit.started.elapsed().as_micros() as u64,
            masked,
            task: self.inner.identity.task.clone(),
        }
    }

    /// Audits the end of the session and waits until that record is durable.
    pub async fn end(&self, reason: &str, traffic: Traffic) {
        let i = &self.inner;
        let metrics = i.gateway.metrics();
        let recording = match &i.recording {
            Some(r) => {
                let digest = r.finish(reason).await;
                i.gateway.recording_closed(&i.id);
                digest
            }
            None => None,
        };
        let event = AuditEvent::SessionEnded {
            session: i.id.clone(),
            identity: i.identity.name.clone(),
            target: i.target.name.clone(),
            bytes_from_client: traffic.from_client,
            bytes_to_client: traffic.to_client,
            statements: i.statements.load(Ordering::Relaxed),
            reason: reason.to_owned(),
            duration_ms: i.started.elapsed().as_millis() as u64,
            recording: recording.map(|d| sluice_audit::RecordingSeal {
                sha256: d.sha256,
                bytes: d.bytes,
                truncated: d.truncated,
            }),
            task: self.inner.identity.task.clone(),
        };
        if let Err(e) = i.gateway.audit().record(&event).await {
            metrics.audit_failures.inc();
            tracing::error!(error = %e, "could not audit the end of a session");
        }
        // Active until its end is recorded, so whoever waits for sessions to end finds
        // their end records.
        metrics.sessions_active.dec();
    }

    /// Counts audit failures on the way out, so every failure shows up in metrics.
    fn audited<T>(&self, r: Result<T, sluice_audit::AuditError>) -> Result<T, CoreError> {
        r.map_err(|e| {
            self.inner.gateway.metrics().audit_failures.inc();
            CoreError::Audit(e)
        })
    }
}

/// The address without its port: policies match networks, not ephemeral ports.
fn client_ip(addr: &str) -> String {
    addr.parse::<std::net::SocketAddr>()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| addr.to_owned())
}

fn audit_decision(d: &Decision) -> sluice_audit::Decision {
    sluice_audit::Decision {
        verdict: d.verdict_name().to_owned(),
        reason: d.deny_reason().map(str::to_owned),
        rule: d.rule.clone(),
        policy: d.policy.clone(),
    }
}

/// Session ids are random rather than sequential so they do not reveal traffic volume.
fn new_session_id() -> String {
    format!("s_{}", hex::encode(crate::token::random_bytes::<8>()))
}
