//! Client → target: read, decide, audit, seal, forward.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, ReadHalf, WriteHalf};

use sluice_core::{
    Admission, Ask, AuditBatch, Denial, DenialKind, HeldStatement, Preparation, Prepared, Sealed,
    Session, StatementPermit, UpstreamWriter,
};
use sluice_pgwire::cstr::lossy;
use sluice_pgwire::encode::{self, Report};
use sluice_pgwire::encoding::{self, DecodeError, Encodings};
use sluice_pgwire::frame;
use sluice_pgwire::frontend::{self as fe, Bind, FrontendMessage};
use sluice_sql::Lexing;

use super::expect::{Expect, ExpectQueue};
use super::settings;
use crate::catalog::CatalogReader;
use crate::error::PgError;
use sluice_net::stream::{ClientStream, UpstreamStream};

const READ_CHUNK: usize = 16 * 1024;

pub enum FrontendEnd {
    Terminated,
    Disconnected,
}

/// A bound portal: the prepared statement it runs and, when audit or policy needs them, its
/// parameter values.
struct Portal {
    prepared: Arc<Prepared>,
    parameters: Option<Vec<Option<String>>>,
}

pub struct FrontendHalf<'s> {
    session: &'s Session,
    client: ReadHalf<ClientStream>,
    upstream: UpstreamWriter<WriteHalf<UpstreamStream>>,
    expects: ExpectQueue,
    max_message_bytes: usize,
    buf: BytesMut,
    /// Prepared statements by name, so each Execute is decided and audited with its SQL.
    statements: HashMap<Box<[u8]>, Arc<Prepared>>,
    portals: HashMap<Box<[u8]>, Portal>,
    /// After a refused extended-protocol message, the rest up to Sync is discarded, as the
    /// server itself does after an error.
    discarding_until_sync: bool,
    bytes_read: u64,
    /// Reused from batch to batch so the hot path does not allocate its lists each time.
    plan: Plan,
    /// The reviewers' verdict on the held request at the front of the buffer, used instead of
    /// deciding it again when the buffer is planned after the hold.
    reviewed: Option<Admission>,
    /// The client closed its side while a request was held.
    client_closed: bool,
    /// How the client's CancelRequest reaches a held statement.
    hold_cancel: Arc<crate::cancel::HoldCancel>,
    /// A request allowed since the last moment nothing was in flight may change
    /// `client_encoding` (see `settings`).
    encoding_may_change: bool,
    /// The buffer is to be planned again without reading more (a FunctionCall's function was
    /// just looked up).
    replan: bool,
    /// How many texts the gateway's parser rejected were sent to the target to explain: names
    /// the statements those Parses would create, so that one the target accepts after all
    /// (its parser is another version) is never in the way of the next.
    rejected_texts: u64,
    /// Functions FunctionCall messages named, by OID.
    functions: HashMap<u32, Function>,
    /// The session's own catalog connection for naming them and for the relations masking
    /// traces, opened on first need.
    catalog: CatalogReader,
    /// Catalog reads in a row for the same request (views lead to more relations).
    catalog_reads: u32,
}

/// Reading relations for one request more often than this means the catalog keeps changing
/// under it (or views nest without end): the request is denied instead.
const MAX_CATALOG_READS: u32 = 20;

/// The rule audit names for a request refused because its text could not be decoded.
const RULE_ENCODING: &str = "sluice.encoding";
/// The rule audit names for a FunctionCall whose function could not be named.
const RULE_FUNCTION: &str = "sluice.function";

/// How the target will read one request's text.
struct Reading {
    lexing: Lexing,
    encodings: Encodings,
    /// An allowed request still in flight may change `client_encoding`.
    encoding_may_change: bool,
}

impl Reading {
    /// The text the target will read from `bytes`.
    fn decode<'b>(&self, bytes: &'b [u8]) -> Result<std::borrow::Cow<'b, str>, DecodeError> {
        if self.encoding_may_change && !bytes.is_ascii() {
            return Err(DecodeError::Changing);
        }
        self.encodings.decode(bytes)
    }
}

/// What to do with the messages of one read batch.
#[derive(Default)]
struct Plan {
    audit: AuditBatch,
    expects: Vec<Expect>,
    /// What to forward, in order: byte ranges of the batch (refused messages are cut out) and
    /// messages the gateway adds.
    forward: Vec<Chunk>,
    /// A message the gateway sends just before the one being planned.
    insert_before: Option<Bytes>,
    /// Planning stopped in front of a message that must wait for something first.
    pause: Option<Pause>,
    terminate: bool,
}

/// Why planning stopped in front of a message, left in the buffer to be planned again.
enum Pause {
    /// The policy holds the request for reviewers' approval.
    Held(HeldStatement),
    /// A FunctionCall names a function by OID that must be looked up first.
    Function(u32),
    /// Masking must read these relations from the catalog to trace the request.
    Relations(Vec<(String, String)>),
}

/// A FunctionCall's function, as the catalog names it.
enum Function {
    Named {
        schema: String,
        name: String,
    },
    Missing,
    /// The lookup failed; forgotten once the call is refused.
    Failed(String),
}

enum Chunk {
    Client(Range<usize>),
    Gateway(Bytes),
}

impl<'s> FrontendHalf<'s> {
    pub fn new(
        session: &'s Session,
        client: ReadHalf<ClientStream>,
        upstream: WriteHalf<UpstreamStream>,
        expects: ExpectQueue,
        max_message_bytes: usize,
        hold_cancel: Arc<crate::cancel::HoldCancel>,
    ) -> Self {
        FrontendHalf {
            session,
            client,
            upstream: session.upstream_writer(upstream),
            expects,
            max_message_bytes,
            buf: BytesMut::with_capacity(READ_CHUNK),
            statements: HashMap::new(),
            portals: HashMap::new(),
            discarding_until_sync: false,
            bytes_read: 0,
            plan: Plan::default(),
            reviewed: None,
            client_closed: false,
            hold_cancel,
            encoding_may_change: false,
            replan: false,
            rejected_texts: 0,
            functions: HashMap::new(),
            catalog: CatalogReader::default(),
            catalog_reads: 0,
        }
    }

    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    pub async fn run(&mut self) -> Result<FrontendEnd, PgError> {
        let metrics = self.session.gateway().metrics();
        loop {
            // After a hold, the buffer holds the reviewed request and perhaps more: plan it
            // before reading again.
            if self.reviewed.is_none() && !std::mem::take(&mut self.replan) {
                if self.client_closed {
                    return Ok(FrontendEnd::Disconnected);
                }
                self.expects.room().await;
                if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                    self.buf.reserve(READ_CHUNK);
                }
                let n = self.client.read_buf(&mut self.buf).await?;
                if n == 0 {
                    return Ok(FrontendEnd::Disconnected);
                }
                self.bytes_read += n as u64;
                metrics.bytes_from_clients.add(n as u64);
            }

            let mut plan = std::mem::take(&mut self.plan);
            plan.forward.clear();
            plan.terminate = false;
            // The buffer is lent out while planning so message views can borrow it freely.
            let buf = std::mem::take(&mut self.buf);
            let planned = self.plan_batch(&buf, &mut plan);
            self.buf = buf;
            let (consumed, missing) = match planned {
                Ok(p) => p,
                Err(e) => return Err(self.abandon(plan, e)),
            };
            if missing > 0 {
                // Make room for the whole message now rather than growing in small steps.
                self.buf.reserve(missing);
            }
            // A held request's own record is sealed before its review opens, even when
            // nothing precedes it in the batch.
            if consumed > 0 || matches!(plan.pause, Some(Pause::Held(_))) {
                let sealed = match self.session.seal(&mut plan.audit).await {
                    Ok(sealed) => sealed,
                    Err(e) => return Err(self.abandon(plan, e.into())),
                };
                self.expects.push(plan.expects.drain(..));
                self.forward(sealed, &plan.forward).await?;
                self.buf.advance(consumed);
            }
            let terminate = plan.terminate;
            match plan.pause.take() {
                Some(Pause::Held(held)) => match self.hold(held, &mut plan.audit).await {
                    Ok(admission) => self.reviewed = Some(admission),
                    Err(e) => return Err(self.abandon(plan, e)),
                },
                Some(Pause::Function(oid)) => {
                    let found = match self.catalog.function_name(self.session, oid).await {
                        Ok(Some((schema, name))) => Function::Named { schema, name },
                        Ok(None) => Function::Missing,
                        Err(e) => Function::Failed(e.to_string()),
                    };
                    self.functions.insert(oid, found);
                    self.replan = true;
                }
                Some(Pause::Relations(names)) => {
                    self.read_relations(&names).await;
                    self.replan = true;
                }
                None => self.catalog_reads = 0,
            }
            self.plan = plan;
            if terminate {
                return Ok(FrontendEnd::Terminated);
            }
        }
    }

    /// Reads relations masking must trace a request through; a failure denies the request
    /// when it is admitted again.
    async fn read_relations(&mut self, names: &[(String, String)]) {
        self.catalog_reads += 1;
        if self.catalog_reads > MAX_CATALOG_READS {
            self.session.catalog_unreadable(format!(
                "read {MAX_CATALOG_READS} times for one request and still incomplete"
            ));
            return;
        }
        match self.catalog.relations(self.session, names).await {
            Ok(read) => self.session.learn_relations(read),
            Err(e) => {
                tracing::warn!(error = %e, "the catalog could not be read to trace a masked request; it is denied");
                self.session.catalog_unreadable(e.to_string());
            }
        }
    }

    /// Puts a held request to reviewers, tells the client, and waits for the verdict while
    /// watching the client: if it leaves or cancels the statement (psql's Ctrl-C), the review
    /// is cancelled. What the client sends meanwhile stays buffered behind the held request,
    /// in order.
    async fn hold(
        &mut self,
        held: HeldStatement,
        audit: &mut AuditBatch,
    ) -> Result<Admission, PgError> {
        let pending = self.session.open_statement_review(held).await?;
        let mut notice = BytesMut::new();
        encode::notice_response(
            &mut notice,
            Report {
                severity: "NOTICE",
                code: "00000",
                message: &pending.notice(),
                position: None,
            },
        );
        self.expects.push([Expect::Inject(notice.freeze())]);
        let limit = self.max_message_bytes;
        let (client, buf, bytes_read, closed) = (
            &mut self.client,
            &mut self.buf,
            &mut self.bytes_read,
            &mut self.client_closed,
        );
        let watch_client = async move {
            // Reading is how a closed socket shows; stop reading (and let TCP push back) once
            // a whole message's worth is waiting.
            while buf.len() < limit {
                match client.read_buf(buf).await {
                    Ok(0) | Err(_) => {
                        *closed = true;
                        return;
                    }
                    Ok(n) => *bytes_read += n as u64,
                }
            }
            std::future::pending::<()>().await
        };
        let hold = self.hold_cancel.clone();
        let abandoned = async move {
            let cancelled = hold.cancelled.notified();
            tokio::pin!(cancelled);
            // Registered before the flag is raised, so no cancel falls between the two.
            cancelled.as_mut().enable();
            hold.holding
                .store(true, std::sync::atomic::Ordering::Release);
            tokio::select! {
                () = watch_client => {}
                () = cancelled => {}
            }
        };
        let verdict = self.session.await_review(audit, pending, abandoned).await;
        self.hold_cancel
            .holding
            .store(false, std::sync::atomic::Ordering::Release);
        Ok(verdict?)
    }

    /// Audits the admitted requests of a batch that will not be forwarded because of `error`
    /// (best effort: when the audit trail itself failed, these records may fail too).
    fn abandon(&self, mut plan: Plan, error: PgError) -> PgError {
        for expect in plan.expects.drain(..) {
            if let Expect::SimpleQuery(permit) | Expect::Execute(permit) = expect {
                self.session.finish(
                    permit,
                    sluice_core::Outcome::not_executed(format!("not forwarded: {error}")),
                );
            }
        }
        error
    }

    /// Walks the complete messages in `buf`, deciding each. Returns the bytes consumed and how
    /// many more bytes the next, incomplete message needs.
    fn plan_batch(&mut self, buf: &[u8], plan: &mut Plan) -> Result<(usize, usize), PgError> {
        let mut pos = 0;
        let mut forward_from = 0;
        let mut missing = 0;
        while let Some(f) = frame::peek(&buf[pos..], self.max_message_bytes)? {
            if buf.len() - pos < f.len {
                missing = f.len - (buf.len() - pos);
                break;
            }
            let start = pos;
            pos += f.len;
            let keep = self.plan_message(plan, f.tag, f.body(&buf[start..]))?;
            // A reviewers' verdict belongs to the first message only, whatever that message
            // turned out to need.
            self.reviewed = None;
            if plan.pause.is_some() {
                // Left in the buffer: planned again after the pause (with the reviewers'
                // verdict, or the function's name). Everything before it goes now.
                pos = start;
                break;
            }
            if let Some(inserted) = plan.insert_before.take() {
                plan.forward.push(Chunk::Client(forward_from..start));
                plan.forward.push(Chunk::Gateway(inserted));
                forward_from = start;
            }
            if !keep {
                plan.forward.push(Chunk::Client(forward_from..start));
                forward_from = pos;
            }
            if plan.terminate {
                break;
            }
        }
        plan.forward.push(Chunk::Client(forward_from..pos));
        Ok((pos, missing))
    }

    /// Decides one message; returns whether to forward it.
    fn plan_message(&mut self, plan: &mut Plan, tag: u8, body: &[u8]) -> Result<bool, PgError> {
        if self.discarding_until_sync && tag != fe::SYNC {
            return Ok(false);
        }
        match fe::decode(tag, body)? {
            FrontendMessage::Query { sql } => {
                // A simple query destroys the unnamed statement and portal on the server.
                self.statements.remove(&b""[..]);
                self.portals.remove(&b""[..]);
                let admission = match self.reviewed.take() {
                    Some(reviewed) => reviewed,
                    None => {
                        let reading = self.reading(plan);
                        match reading.decode(sql) {
                            Ok(text) => self.session.admit(
                                &mut plan.audit,
                                Ask::Sql {
                                    text: &text,
                                    lexing: reading.lexing,
                                },
                            )?,
                            Err(e) => Admission::Denied(self.unreadable(plan, sql, e)?),
                        }
                    }
                };
                match admission {
                    Admission::Allowed(permit) => {
                        self.follow(&permit);
                        plan.expects.push(Expect::SimpleQuery(permit))
                    }
                    Admission::Held(held) => {
                        plan.pause = Some(Pause::Held(held));
                        return Ok(false);
                    }
                    Admission::NeedsCatalog(names) => {
                        plan.pause = Some(Pause::Relations(names));
                        return Ok(false);
                    }
                    Admission::Denied(denial) if denial.kind == DenialKind::Unparseable => {
                        self.reject_text(plan, sql, denial_bytes(&denial), true);
                        return Ok(false);
                    }
                    Admission::Denied(denial) => {
                        refuse_query(plan, denial_bytes(&denial));
                        return Ok(false);
                    }
                }
            }
            FrontendMessage::Parse { statement, sql } => {
                if !statement.is_empty() && self.statements.contains_key(statement) {
                    // The server keeps the first definition; replacing ours would audit and
                    // decide executions by text the server does not run.
                    let message = format!(
                        "sluice: prepared statement \"{}\" already exists",
                        lossy(statement)
                    );
                    return Ok(self.refuse_until_sync(plan, error_bytes("42P05", &message)));
                }
                let reading = self.reading(plan);
                let preparation = match reading.decode(sql) {
                    Ok(text) => self
                        .session
                        .prepare(&mut plan.audit, &text, reading.lexing)?,
                    Err(e) => Preparation::Denied(self.unreadable(plan, sql, e)?),
                };
                match preparation {
                    Preparation::Allowed(prepared) => {
                        // Audited with each execution, not here.
                        plan.audit.carries_no_request();
                        self.statements.insert(statement.into(), prepared);
                        plan.expects.push(Expect::Parse);
                    }
                    Preparation::Denied(denial) if denial.kind == DenialKind::Unparseable => {
                        self.reject_text(plan, sql, denial_bytes(&denial), false);
                        self.discarding_until_sync = true;
                        return Ok(false);
                    }
                    Preparation::Denied(denial) => {
                        return Ok(self.refuse_until_sync(plan, denial_bytes(&denial)));
                    }
                }
            }
            FrontendMessage::Bind(bind) => {
                let prepared = match self.statements.get(bind.statement) {
                    Some(p) => p.clone(),
                    None => match self.unknown_statement(plan, bind.statement)? {
                        Some(p) => p,
                        None => return Ok(false),
                    },
                };
                let parameters = if self.session.records_parameters()
                    || self.session.needs_parameters(&prepared)
                {
                    Some(parameter_texts(&bind)?)
                } else {
                    None
                };
                self.portals.insert(
                    bind.portal.into(),
                    Portal {
                        prepared,
                        parameters,
                    },
                );
                plan.audit.carries_no_request();
                plan.expects.push(Expect::Bind);
            }
            FrontendMessage::Execute { portal, .. } => {
                let (prepared, parameters) = match self.portals.get(portal) {
                    Some(p) => (p.prepared.clone(), p.parameters.clone()),
                    // A cursor opened by DECLARE is a portal sluice never saw bound; running it
                    // is a FETCH, decided as one.
                    None => {
                        let fetch = format!("FETCH FORWARD ALL FROM {}", quote_ident(portal));
                        match self
                            .session
                            .prepare(&mut plan.audit, &fetch, Lexing::Standard)?
                        {
                            Preparation::Allowed(p) => (p, None),
                            Preparation::Denied(denial) => {
                                return Ok(self.refuse_until_sync(plan, denial_bytes(&denial)));
                            }
                        }
                    }
                };
                let admission = match self.reviewed.take() {
                    Some(reviewed) => reviewed,
                    None => self
                        .session
                        .admit_execute(&mut plan.audit, &prepared, parameters)?,
                };
                match admission {
                    Admission::Allowed(permit) => {
                        self.follow(&permit);
                        // Execute's rows come without a description; to mask or record them
                        // the gateway asks for the portal's own, which names the columns and
                        // reflects Bind's result formats.
                        if permit.mask().is_some() || self.session.recording().is_some() {
                            let mut describe = BytesMut::new();
                            encode::describe_portal(&mut describe, portal);
                            plan.insert_before = Some(describe.freeze());
                            plan.expects
                                .push(Expect::GatewayDescribe(permit.mask().cloned()));
                        }
                        plan.expects.push(Expect::Execute(permit))
                    }
                    Admission::Held(held) => {
                        plan.pause = Some(Pause::Held(held));
                        return Ok(false);
                    }
                    Admission::NeedsCatalog(names) => {
                        plan.pause = Some(Pause::Relations(names));
                        return Ok(false);
                    }
                    Admission::Denied(denial) => {
                        return Ok(self.refuse_until_sync(plan, denial_bytes(&denial)));
                    }
                }
            }
            FrontendMessage::Describe { .. } => {
                plan.audit.carries_no_request();
                plan.expects.push(Expect::Describe)
            }
            FrontendMessage::Close { kind, name } => {
                plan.audit.carries_no_request();
                if kind == b'S' {
                    self.statements.remove(name);
                } else {
                    self.portals.remove(name);
                }
                plan.expects.push(Expect::Close);
            }
            FrontendMessage::Sync => {
                plan.audit.carries_no_request();
                self.discarding_until_sync = false;
                plan.expects.push(Expect::Sync);
            }
            FrontendMessage::Terminate => {
                plan.audit.carries_no_request();
                plan.terminate = true
            }
            // Copy data belongs to a COPY admitted (and audited) as a Query or an Execute.
            FrontendMessage::Flush
            | FrontendMessage::CopyData
            | FrontendMessage::CopyDone
            | FrontendMessage::CopyFail { .. } => plan.audit.carries_no_request(),
            FrontendMessage::FunctionCall(call) => {
                return self.plan_function_call(plan, call.function_oid, call.arguments.len())
            }
            FrontendMessage::Password(_) => {
                return Err(PgError::ClientUnexpected(
                    "password message after authentication".into(),
                ))
            }
        }
        Ok(true)
    }

    /// A FunctionCall (psql's `\lo_import`), decided as `SELECT schema.name($1, ...)` once
    /// the catalog has named the function its OID stands for. Its result cannot be masked,
    /// so a call whose decision masks is refused; its arguments are not audited.
    fn plan_function_call(
        &mut self,
        plan: &mut Plan,
        oid: u32,
        arguments: usize,
    ) -> Result<bool, PgError> {
        let admission = match self.reviewed.take() {
            Some(reviewed) => reviewed,
            None => {
                let (schema, name) = match self.functions.get(&oid) {
                    None => {
                        plan.pause = Some(Pause::Function(oid));
                        return Ok(false);
                    }
                    Some(Function::Named { schema, name }) => (schema.clone(), name.clone()),
                    Some(Function::Missing) => {
                        let reason = format!("function with OID {oid} does not exist");
                        return self.refuse_call(plan, oid, "42883", reason);
                    }
                    Some(Function::Failed(e)) => {
                        let reason =
                            format!("the function with OID {oid} could not be looked up: {e}");
                        self.functions.remove(&oid);
                        return self.refuse_call(plan, oid, "58000", reason);
                    }
                };
                let placeholders: Vec<String> = (1..=arguments).map(|i| format!("${i}")).collect();
                let text = format!(
                    "SELECT {}.{}({})",
                    quote_ident(schema.as_bytes()),
                    quote_ident(name.as_bytes()),
                    placeholders.join(", ")
                );
                self.session.admit(
                    &mut plan.audit,
                    Ask::Sql {
                        text: &text,
                        lexing: Lexing::Standard,
                    },
                )?
            }
        };
        match admission {
            Admission::Allowed(permit) if permit.mask().is_some() => {
                self.session.finish(
                    permit,
                    sluice_core::Outcome::not_executed("a FunctionCall's result cannot be masked"),
                );
                refuse_query(
                    plan,
                    error_bytes(
                        "0A000",
                        "sluice: the result of a FunctionCall cannot be masked; call the \
                         function with SELECT",
                    ),
                );
                Ok(false)
            }
            Admission::Allowed(permit) => {
                self.follow(&permit);
                // Answered like a simple query: a result or an error, then ReadyForQuery.
                plan.expects.push(Expect::SimpleQuery(permit));
                Ok(true)
            }
            Admission::Held(held) => {
                plan.pause = Some(Pause::Held(held));
                Ok(false)
            }
            Admission::NeedsCatalog(names) => {
                plan.pause = Some(Pause::Relations(names));
                Ok(false)
            }
            Admission::Denied(denial) => {
                refuse_query(plan, denial_bytes(&denial));
                Ok(false)
            }
        }
    }

    /// Refuses and audits a FunctionCall whose function could not be named.
    fn refuse_call(
        &mut self,
        plan: &mut Plan,
        oid: u32,
        code: &str,
        reason: String,
    ) -> Result<bool, PgError> {
        let denial = self.session.refuse_unreadable(
            &mut plan.audit,
            &format!("FunctionCall of the function with OID {oid}"),
            RULE_FUNCTION,
            reason,
            DenialKind::Unreadable,
        )?;
        refuse_query(plan, error_bytes(code, &format!("sluice: {denial}")));
        Ok(false)
    }

    /// A Bind naming a statement sluice never saw parsed: one made with SQL `PREPARE`, whose
    /// execution is decided as `EXECUTE name`, or none at all, which the server will refuse.
    fn unknown_statement(
        &mut self,
        plan: &mut Plan,
        name: &[u8],
    ) -> Result<Option<Arc<Prepared>>, PgError> {
        let text = if name.is_empty() {
            "-- the unnamed statement was not prepared".to_owned()
        } else {
            format!("EXECUTE {}", quote_ident(name))
        };
        match self
            .session
            .prepare(&mut plan.audit, &text, Lexing::Standard)?
        {
            Preparation::Allowed(p) => Ok(Some(p)),
            Preparation::Denied(denial) => {
                self.refuse_until_sync(plan, denial_bytes(&denial));
                Ok(None)
            }
        }
    }

    /// How the target will read the text of the request being planned: certain when every
    /// earlier request has been answered (nothing in flight, nothing before it in this batch),
    /// else unsettled (see `settings`).
    fn reading(&mut self, plan: &Plan) -> Reading {
        let (reported, answered) = self.expects.settings();
        let settled = answered && plan.expects.is_empty();
        if settled {
            self.encoding_may_change = false;
        }
        Reading {
            lexing: if settled {
                Lexing::from_setting(reported.standard_conforming_strings)
            } else {
                Lexing::Unsettled
            },
            encodings: reported.encodings,
            encoding_may_change: self.encoding_may_change,
        }
    }

    /// Notes what an allowed request changes of how the target reads the requests after it.
    fn follow(&mut self, permit: &StatementPermit) {
        if settings::changes_encoding(permit.changed_settings()) {
            self.encoding_may_change = true;
        }
    }

    /// Refuses and audits a request whose text cannot be read as the target will read it,
    /// showing its bytes exactly (`\xNN` for those that are not UTF-8).
    fn unreadable(
        &mut self,
        plan: &mut Plan,
        sql: &[u8],
        e: DecodeError,
    ) -> Result<Denial, PgError> {
        let kind = match e {
            DecodeError::Invalid { .. } => DenialKind::Invalid,
            _ => DenialKind::Unreadable,
        };
        Ok(self.session.refuse_unreadable(
            &mut plan.audit,
            &encoding::escaped(sql),
            RULE_ENCODING,
            e.to_string(),
            kind,
        )?)
    }

    /// Answers an extended-protocol message with an error and, as the server does after an
    /// error, ignores everything up to the next Sync. The target gets a failing Parse in its
    /// place, so a pipeline's implicit transaction (or an open transaction block) fails there
    /// as it would have. Returns `false`: the message is not forwarded.
    fn refuse_until_sync(&mut self, plan: &mut Plan, message: Bytes) -> bool {
        let mut stand_in = BytesMut::new();
        encode::refused_parse(&mut stand_in);
        refuse(plan, stand_in, message, false, false);
        self.discarding_until_sync = true;
        false
    }

    /// Refuses a Query (`simple`) or Parse whose text the gateway's parser rejected, letting
    /// the target explain the error: the target parses the same text as a statement of its
    /// own, never executed ([`encode::rejected_text`]), and its error, with its position, hint
    /// and detail, goes to the client prefixed. Parsing it fails the target's transaction as
    /// the request itself would have. A Query's stand-in ends with a Sync, which answers with
    /// the ReadyForQuery the Query would have.
    fn reject_text(&mut self, plan: &mut Plan, sql: &[u8], message: Bytes, simple: bool) {
        self.rejected_texts += 1;
        let name = format!("sluice_rejected_{}", self.rejected_texts);
        let mut stand_in = BytesMut::new();
        encode::rejected_text(&mut stand_in, name.as_bytes(), sql);
        if simple {
            encode::sync(&mut stand_in);
        }
        refuse(plan, stand_in, message, simple, true);
    }

    /// Writes the planned chunks upstream: only a seal of their batch lets them through.
    async fn forward(&mut self, sealed: Sealed, chunks: &[Chunk]) -> Result<(), PgError> {
        let mut forwarding = self.upstream.forwarding(sealed);
        for chunk in chunks {
            let bytes = match chunk {
                Chunk::Client(r) => &self.buf[r.clone()],
                Chunk::Gateway(b) => &b[..],
            };
            forwarding.write(bytes).await?;
        }
        forwarding.finish().await?;
        Ok(())
    }
}

/// Answers a simple Query (or FunctionCall) with `message`; the target gets a failing Query in
/// its place, so an open transaction block fails there as it would have.
fn refuse_query(plan: &mut Plan, message: Bytes) {
    let mut stand_in = BytesMut::new();
    encode::refused_query(&mut stand_in);
    refuse(plan, stand_in, message, true, false);
}

/// Sends the target `stand_in` in place of the message being planned and queues its
/// `Refused` expectation (see there for `simple` and `explained`).
fn refuse(plan: &mut Plan, stand_in: BytesMut, message: Bytes, simple: bool, explained: bool) {
    // The stand-in is the gateway's own failing message, not the client's request.
    plan.audit.carries_no_request();
    plan.insert_before = Some(stand_in.freeze());
    plan.expects.push(Expect::Refused {
        message,
        simple,
        explained,
    });
}

fn error_bytes(code: &str, message: &str) -> Bytes {
    let mut out = BytesMut::new();
    encode::error_response(
        &mut out,
        Report {
            severity: "ERROR",
            code,
            message,
            position: None,
        },
    );
    out.freeze()
}

/// The error a client gets for a refused request, with the SQLSTATE the server gives the
/// same kind of error, and the parser's position for a text it rejected.
fn denial_bytes(denial: &Denial) -> Bytes {
    let code = match denial.kind {
        DenialKind::Policy => "42501",
        DenialKind::Unparseable => "42601",
        DenialKind::Ambiguous => "22P06",
        DenialKind::Invalid => "22021",
        DenialKind::Unreadable => "0A000",
    };
    let mut out = BytesMut::new();
    encode::error_response(
        &mut out,
        Report {
            severity: "ERROR",
            code,
            message: &format!("sluice: {denial}"),
            position: denial.position,
        },
    );
    out.freeze()
}

/// Bound values as text for audit and policy; binary ones as `\x` hex.
fn parameter_texts(bind: &Bind<'_>) -> Result<Vec<Option<String>>, PgError> {
    Ok(bind
        .parameters()?
        .into_iter()
        .map(|v| {
            v.value.map(|bytes| {
                if v.binary {
                    format!("\\x{}", hex::encode(bytes))
                } else {
                    lossy(bytes).into_owned()
                }
            })
        })
        .collect())
}

/// A name as a double-quoted SQL identifier, so any bytes a client chose stay one identifier.
fn quote_ident(name: &[u8]) -> String {
    format!("\"{}\"", lossy(name).replace('"', "\"\""))
}
