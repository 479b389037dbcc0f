//! Target → client: pair each response with its request, audit outcomes, relay the bytes.

use std::collections::VecDeque;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, ReadHalf};
use tokio::sync::watch;

use std::sync::Arc;

use sluice_core::{MaskPlan, MaskTally, Outcome, Session};
use sluice_pgwire::backend as be;
use sluice_pgwire::cstr::lossy;
use sluice_pgwire::encode::{self, Report};
use sluice_pgwire::frame;

use super::expect::{Expect, ExpectQueue};
use super::masking::{self, ResultMask};
use super::recording::{self, ResultRecording};
use super::Downstream;
use crate::catalog::{CatalogCache, CatalogReader, Known};
use crate::error::PgError;
use crate::ShutdownPhase;
use sluice_net::stream::UpstreamStream;

const READ_CHUNK: usize = 64 * 1024;
/// A response message at least this large is streamed to the client as it arrives instead of
/// being buffered whole (big rows, COPY data), unless masking or recording must read it; those
/// are buffered up to `max_message_bytes`.
const STREAM_THRESHOLD: usize = 256 * 1024;

pub enum BackendEnd {
    TargetClosed,
    ClientGone,
    Shutdown,
}

/// Results of the statements of one simple Query, accumulated until ReadyForQuery.
#[derive(Default)]
struct SimpleProgress {
    tags: Vec<String>,
    rows: Option<u64>,
    error: Option<(String, String)>,
}

pub struct BackendHalf<'s> {
    session: &'s Session,
    upstream: ReadHalf<UpstreamStream>,
    incoming: ExpectQueue,
    expected: VecDeque<Expect>,
    buf: BytesMut,
    /// What goes to the client instead of the relayed bytes when a batch is not relayed as it
    /// came: messages rewritten (masking, refusals), dropped, or notices spliced in.
    out: BytesMut,
    /// Bytes of a large message still to stream through unread.
    passthrough: usize,
    /// An extended-protocol error was seen; the server skips everything up to Sync.
    pipeline_failed: bool,
    /// An error raised before any Execute of the failed pipeline ran (at Parse or Bind, where
    /// PostgreSQL also plans): it belongs to the pipeline's next Execute.
    pipeline_error: Option<(String, String)>,
    simple: SimpleProgress,
    shutdown: watch::Receiver<ShutdownPhase>,
    /// The phase last seen, updated only when the watch fires, so the loop reads no lock.
    phase: ShutdownPhase,
    shutdown_closed: bool,
    mask: MaskState,
    /// Present when the session is recorded.
    recorded: Option<ResultRecording>,
}

/// What the server half keeps to mask results; idle in sessions whose statements carry no
/// mask plan.
struct MaskState {
    catalog: Arc<CatalogCache>,
    reader: CatalogReader,
    max_message_bytes: usize,
    /// The masking of the result being relayed, from its RowDescription.
    result: Option<ResultMask>,
    /// The plan of the latest masked statement, for messages that belong to no statement
    /// (notifications, notices between statements).
    last_plan: Option<MaskPlan>,
    /// Table OIDs to read from the catalog before the buffered RowDescription can be handled.
    catalog_needed: Option<Vec<u32>>,
    /// The catalog was just read: tables it did not return do not exist for it.
    catalog_read: bool,
    /// Tables the catalog could not be read for (the read failed).
    unnamed: Vec<u32>,
    /// A binary COPY TO STDOUT under masking is swallowed and answered with an error.
    refusing_copy: bool,
    /// The batch's bytes were spliced into `out` (rewritten or dropped messages).
    spliced: bool,
    scratch: BytesMut,
}

/// What masking does with one message.
enum Step {
    Relay,
    /// Relay `scratch` instead, and handle the message as that.
    Replace,
    /// Relay nothing of it.
    Drop,
    /// Stop here until the catalog names the result's tables.
    WaitForCatalog,
}

impl<'s> BackendHalf<'s> {
    pub fn new(
        session: &'s Session,
        upstream: ReadHalf<UpstreamStream>,
        incoming: ExpectQueue,
        leftover: BytesMut,
        shutdown: watch::Receiver<ShutdownPhase>,
        catalog: Arc<CatalogCache>,
        max_message_bytes: usize,
    ) -> Self {
        let mut buf = leftover;
        buf.reserve(READ_CHUNK);
        let phase = *shutdown.borrow();
        BackendHalf {
            session,
            upstream,
            incoming,
            expected: VecDeque::new(),
            buf,
            out: BytesMut::new(),
            passthrough: 0,
            pipeline_failed: false,
            pipeline_error: None,
            simple: SimpleProgress::default(),
            phase,
            shutdown,
            shutdown_closed: false,
            mask: MaskState {
                catalog,
                reader: CatalogReader::default(),
                max_message_bytes,
                result: None,
                last_plan: None,
                catalog_needed: None,
                catalog_read: false,
                unnamed: Vec::new(),
                refusing_copy: false,
                spliced: false,
                scratch: BytesMut::new(),
            },
            recorded: session.recording().map(|_| ResultRecording::default()),
        }
    }

    pub async fn run(&mut self, client: &mut Downstream<'_>) -> Result<BackendEnd, PgError> {
        // One pinned future per shutdown phase change, not one registration per loop turn.
        let mut phase_change = Box::pin(next_phase(self.shutdown.clone()));
        loop {
            if let Some(end) = self.shutdown_due() {
                return Ok(end);
            }
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            let mut phase_changed = None;
            tokio::select! {
                biased;
                read = self.upstream.read_buf(&mut self.buf) => {
                    if read? == 0 {
                        return Ok(BackendEnd::TargetClosed);
                    }
                    if let Some(end) = self.process(client).await? {
                        return Ok(end);
                    }
                }
                _ = self.incoming.inject_queued() => {
                    self.take_incoming();
                    let queued = self.expected.len();
                    self.emit_injections();
                    self.incoming.answered(queued - self.expected.len());
                    if !self.out.is_empty() {
                        let sent = client.send(&self.out).await;
                        self.out.clear();
                        if sent.is_err() {
                            return Ok(BackendEnd::ClientGone);
                        }
                    }
                    self.flush_recording();
                }
                changed = &mut phase_change, if !self.shutdown_closed => phase_changed = Some(changed),
            }
            match phase_changed {
                Some(Some(rx)) => {
                    self.phase = *rx.borrow();
                    phase_change = Box::pin(next_phase(rx));
                }
                Some(None) => self.shutdown_closed = true,
                None => {}
            }
        }
    }

    /// Relays what the buffer holds; pauses to read the catalog when a result's columns must
    /// be named before its rows can be masked.
    async fn process(
        &mut self,
        client: &mut Downstream<'_>,
    ) -> Result<Option<BackendEnd>, PgError> {
        loop {
            self.take_incoming();
            let queued = self.expected.len();
            let consumed = self.relay_batch()?;
            self.incoming.answered(queued - self.expected.len());
            if self.send(client, consumed).await.is_err() {
                return Ok(Some(BackendEnd::ClientGone));
            }
            self.flush_recording();
            let Some(oids) = self.mask.catalog_needed.take() else {
                return Ok(None);
            };
            let m = &mut self.mask;
            if let Err(e) = m.reader.read(self.session, &m.catalog, &oids).await {
                // The result still goes out: the columns of tables the catalog could not
                // name are masked whole wherever the plan masks any column.
                tracing::warn!(error = %e, "the catalog could not name a masked result's tables; their columns are masked whole");
                m.unnamed = oids;
            }
            m.catalog_read = true;
        }
    }

    /// At shutdown a session ends between requests; once forced, at once.
    fn shutdown_due(&mut self) -> Option<BackendEnd> {
        let phase = self.phase;
        if phase == ShutdownPhase::Draining {
            // Requests forwarded but not yet answered may still sit in the shared queue.
            self.take_incoming();
        }
        match phase {
            ShutdownPhase::Running => None,
            ShutdownPhase::Draining if self.expected.is_empty() && self.passthrough == 0 => {
                Some(BackendEnd::Shutdown)
            }
            ShutdownPhase::Draining => None,
            ShutdownPhase::Forced => Some(BackendEnd::Shutdown),
        }
    }

    /// Moves queued expectations in: the client half queues them before forwarding, so by the
    /// time a response arrives its expectation is at least in the shared queue.
    fn take_incoming(&mut self) {
        self.incoming.take_into(&mut self.expected);
    }

    /// Processes the complete messages in the buffer; returns how many bytes to relay.
    fn relay_batch(&mut self) -> Result<usize, PgError> {
        let start = self.passthrough.min(self.buf.len());
        self.passthrough -= start;
        let mut relayed_upto = 0;
        // The buffer is lent out so message views can borrow it while `self` changes.
        let buf = std::mem::take(&mut self.buf);
        let scanned = self.scan(&buf, start, &mut relayed_upto);
        self.buf = buf;
        let pos = scanned?;
        if self.mask.spliced || !self.out.is_empty() {
            self.out.extend_from_slice(&self.buf[relayed_upto..pos]);
            self.mask.spliced = true;
        }
        Ok(pos)
    }

    fn scan(
        &mut self,
        buf: &[u8],
        mut pos: usize,
        relayed_upto: &mut usize,
    ) -> Result<usize, PgError> {
        while pos < buf.len() {
            let Some(f) = frame::peek(&buf[pos..], usize::MAX).map_err(bad)? else {
                break;
            };
            let recorded_whole = self.recorded.is_some()
                && recording::reads(f.tag)
                && f.len <= self.mask.max_message_bytes;
            let read_whole = inspected(f.tag) || self.masks(f.tag) || recorded_whole;
            if buf.len() - pos < f.len {
                if read_whole && f.len > self.mask.max_message_bytes && self.masks(f.tag) {
                    return Err(PgError::Masking(format!(
                        "a message of {} bytes from the target exceeds gateway.max_message_bytes \
                         and cannot be masked",
                        f.len
                    )));
                }
                if f.len >= STREAM_THRESHOLD && !read_whole {
                    if f.tag == be::DATA_ROW {
                        self.record_unread_row(f.len)?;
                    }
                    self.passthrough = f.len - (buf.len() - pos);
                    pos = buf.len();
                }
                break;
            }
            let body = f.body(&buf[pos..]);
            if f.tag == be::PARAMETER_STATUS {
                // As the target reported it, before masking rewrites anything.
                self.incoming.report_setting(body);
            }
            let step = if self.answers_refusal(f.tag) {
                self.refusal(f.tag, body)?
            } else if self.answers_gateway_describe(f.tag) {
                self.gateway_describe(f.tag, body)?
            } else if self.masks(f.tag) {
                self.mask_message(f.tag, body)?
            } else {
                Step::Relay
            };
            match step {
                Step::Relay => self.on_message(f.tag, body)?,
                Step::Replace => {
                    let replacement = std::mem::take(&mut self.mask.scratch);
                    self.splice(buf, relayed_upto, pos, pos + f.len, &replacement);
                    let handled = frame::peek(&replacement, usize::MAX)
                        .map_err(bad)?
                        .map(|r| self.on_message(r.tag, r.body(&replacement)));
                    self.mask.scratch = replacement;
                    self.mask.scratch.clear();
                    handled.transpose()?;
                }
                Step::Drop => self.splice(buf, relayed_upto, pos, pos + f.len, &[]),
                Step::WaitForCatalog => break,
            }
            pos += f.len;
            self.emit_injections_after(buf, relayed_upto, pos);
        }
        Ok(pos)
    }

    /// Relays `replacement` in place of `buf[start..end]`.
    fn splice(
        &mut self,
        buf: &[u8],
        relayed_upto: &mut usize,
        start: usize,
        end: usize,
        replacement: &[u8],
    ) {
        self.out.extend_from_slice(&buf[*relayed_upto..start]);
        self.out.extend_from_slice(replacement);
        *relayed_upto = end;
        self.mask.spliced = true;
    }

    /// Whether the message is the target's answer to what the gateway sent in place of a
    /// refused request.
    fn answers_refusal(&self, tag: u8) -> bool {
        matches!(tag, be::ERROR_RESPONSE | be::PARSE_COMPLETE)
            && matches!(self.expected.front(), Some(Expect::Refused { .. }))
    }

    /// The client gets the refusal instead of the target's error for the gateway's stand-in;
    /// for a text the gateway's parser rejected, the target's own explanation, prefixed.
    fn refusal(&mut self, tag: u8, body: &[u8]) -> Result<Step, PgError> {
        let Some(Expect::Refused {
            message, explained, ..
        }) = self.expected.front_mut()
        else {
            return Ok(Step::Relay);
        };
        if tag == be::PARSE_COMPLETE {
            // The target parsed what the gateway's parser rejected: the stand-in after it
            // fails instead, and its error is replaced by the gateway's.
            *explained = false;
            return Ok(Step::Drop);
        }
        if *explained {
            let fields: Vec<(u8, Vec<u8>)> = be::all_fields(tag, body)
                .map_err(bad)?
                .into_iter()
                .map(|(code, value)| match code {
                    b'M' => (code, [&b"sluice: "[..], value].concat()),
                    _ => (code, value.to_vec()),
                })
                .collect();
            let fields: Vec<(u8, &[u8])> = fields.iter().map(|(c, v)| (*c, &v[..])).collect();
            encode::fields_message(&mut self.mask.scratch, tag, &fields);
        } else {
            self.mask.scratch.extend_from_slice(message);
        }
        Ok(Step::Replace)
    }

    /// Whether the message answers a Describe the gateway sent itself.
    fn answers_gateway_describe(&self, tag: u8) -> bool {
        matches!(tag, be::ROW_DESCRIPTION | be::NO_DATA)
            && matches!(self.expected.front(), Some(Expect::GatewayDescribe(_)))
    }

    /// The answer to the gateway's own Describe of a portal about to run: its columns go to
    /// the recording and to masking; the client never sees it.
    fn gateway_describe(&mut self, tag: u8, body: &[u8]) -> Result<Step, PgError> {
        if let Some(recorded) = self.recorded.as_mut() {
            recorded.describe(tag, body)?;
        }
        if self.plan().is_some() {
            // Masking pops the expectation itself, once the catalog has named the columns.
            return self.mask_message(tag, body);
        }
        self.expected.pop_front();
        Ok(Step::Drop)
    }

    /// The plan the message at the head of the stream is masked under, if any.
    fn plan(&self) -> Option<&MaskPlan> {
        match self.expected.front() {
            Some(Expect::SimpleQuery(p) | Expect::Execute(p)) => p.mask(),
            Some(Expect::GatewayDescribe(plan)) => plan.as_ref(),
            _ => None,
        }
    }

    /// Whether masking must read a message of this type now. Sessions without masked
    /// statements answer false for everything but the cheap checks.
    fn masks(&self, tag: u8) -> bool {
        match tag {
            be::DATA_ROW => self.mask.result.is_some(),
            be::NOTIFICATION_RESPONSE | be::PARAMETER_STATUS => self.mask.last_plan.is_some(),
            be::ERROR_RESPONSE | be::NOTICE_RESPONSE => {
                self.plan().is_some() || self.mask.last_plan.is_some()
            }
            be::COPY_DATA | be::COPY_DONE => self.mask.refusing_copy || self.plan().is_some(),
            _ => self.mask.refusing_copy || self.plan().is_some(),
        }
    }

    /// A RowDescription: which columns of the rows after it to mask, once the catalog has
    /// named their tables. The answer to the gateway's own Describe is not relayed.
    fn mask_description(&mut self, body: &[u8]) -> Result<Step, PgError> {
        // The k-th result of a simple query is its k-th statement's; an Execute has one.
        let (plan, index) = match self.expected.front() {
            Some(Expect::SimpleQuery(p)) => (p.mask().cloned(), p.results_seen()),
            Some(Expect::GatewayDescribe(plan)) => (plan.clone(), 0),
            _ => (None, 0),
        };
        let Some(plan) = plan else {
            return Ok(Step::Relay);
        };
        let ttl = self.session.gateway().masking().catalog_ttl();
        let session = self.session;
        let m = &mut self.mask;
        let catalog = m.catalog.clone();
        let just_read = m.catalog_read;
        let unnamed = std::mem::take(&mut m.unnamed);
        let names = |oid| match catalog.get(session, oid, ttl) {
            Known::Unknown if unnamed.contains(&oid) => Known::Unnamed,
            Known::Unknown if just_read => Known::NoSuchTable,
            known => known,
        };
        let unknown = ResultMask::unknown_tables(body, names)?;
        if !unknown.is_empty() {
            m.catalog_needed = Some(unknown);
            return Ok(Step::WaitForCatalog);
        }
        m.catalog_read = false;
        m.result = ResultMask::new(&plan, index, body, names)?;
        if let Some(Expect::SimpleQuery(p)) = self.expected.front_mut() {
            p.saw_result();
        }
        if matches!(self.expected.front(), Some(Expect::GatewayDescribe(_))) {
            self.expected.pop_front();
            return Ok(Step::Drop);
        }
        Ok(Step::Relay)
    }

    /// Masks one message (docs/masking.md). Rewritten bytes go to `mask.scratch`.
    fn mask_message(&mut self, tag: u8, body: &[u8]) -> Result<Step, PgError> {
        if let Some(plan) = self.plan() {
            if !self
                .mask
                .last_plan
                .as_ref()
                .is_some_and(|p| p.same_rules(plan))
            {
                self.mask.last_plan = Some(plan.clone());
            }
        }
        match tag {
            be::ROW_DESCRIPTION => return self.mask_description(body),
            be::NO_DATA if matches!(self.expected.front(), Some(Expect::GatewayDescribe(_))) => {
                self.mask.result = None;
                self.expected.pop_front();
                return Ok(Step::Drop);
            }
            _ => {}
        }
        let m = &mut self.mask;
        let mut spare = MaskTally::default();
        let tally_ref: &mut MaskTally = match self.expected.front_mut() {
            Some(Expect::SimpleQuery(p) | Expect::Execute(p)) => p.tally(),
            _ => &mut spare,
        };
        match tag {
            be::DATA_ROW => {
                let rewritten = match m.result.as_mut() {
                    Some(result) => result.mask_row(body, tally_ref, &mut m.scratch)?,
                    None => false,
                };
                Ok(if rewritten {
                    Step::Replace
                } else {
                    Step::Relay
                })
            }
            be::PARAMETER_STATUS => {
                let Some(plan) = m.last_plan.as_ref() else {
                    return Ok(Step::Relay);
                };
                let rewritten =
                    masking::mask_parameter_status(plan, body, tally_ref, &mut m.scratch)?;
                Ok(if rewritten {
                    Step::Replace
                } else {
                    Step::Relay
                })
            }
            be::ERROR_RESPONSE | be::NOTICE_RESPONSE | be::NOTIFICATION_RESPONSE => {
                if tag == be::ERROR_RESPONSE {
                    if let Some(mut result) = m.result.take() {
                        result.flush(tally_ref);
                    }
                    m.refusing_copy = false;
                }
                let Some(plan) = m.last_plan.as_ref() else {
                    return Ok(Step::Relay);
                };
                let rewritten = if tag == be::NOTIFICATION_RESPONSE {
                    masking::mask_notification(plan, body, tally_ref, &mut m.scratch)?
                } else {
                    masking::mask_report(plan, tag, body, tally_ref, &mut m.scratch)?
                };
                Ok(if rewritten {
                    Step::Replace
                } else {
                    Step::Relay
                })
            }
            be::COPY_OUT_RESPONSE => {
                if be::copy_out_is_binary(body).map_err(bad)? {
                    m.refusing_copy = true;
                    return Ok(Step::Drop);
                }
                Ok(Step::Relay)
            }
            be::COPY_DATA | be::COPY_DONE if m.refusing_copy => Ok(Step::Drop),
            be::COPY_DATA => {
                let Some(plan) = m.last_plan.as_ref() else {
                    return Ok(Step::Relay);
                };
                let rewritten = masking::mask_copy_data(plan, body, tally_ref, &mut m.scratch)?;
                Ok(if rewritten {
                    Step::Replace
                } else {
                    Step::Relay
                })
            }
            be::COMMAND_COMPLETE | be::EMPTY_QUERY_RESPONSE | be::PORTAL_SUSPENDED => {
                if let Some(mut result) = m.result.take() {
                    result.flush(tally_ref);
                }
                if m.refusing_copy && tag == be::COMMAND_COMPLETE {
                    m.refusing_copy = false;
                    encode::error_response(
                        &mut m.scratch,
                        Report {
                            severity: "ERROR",
                            code: "0A000",
                            message: "sluice: binary COPY output cannot be masked; use the \
                                      text or CSV format",
                            position: None,
                        },
                    );
                    return Ok(Step::Replace);
                }
                Ok(Step::Relay)
            }
            be::READY_FOR_QUERY => {
                m.result = None;
                m.refusing_copy = false;
                Ok(Step::Relay)
            }
            _ => Ok(Step::Relay),
        }
    }

    /// If handling a message made injections due, splice the relayed bytes so far before them.
    fn emit_injections_after(&mut self, buf: &[u8], relayed_upto: &mut usize, pos: usize) {
        let mark = self.out.len();
        self.emit_injections();
        if self.out.len() > mark {
            let injected = self.out.split_off(mark);
            self.out.extend_from_slice(&buf[*relayed_upto..pos]);
            self.out.extend_from_slice(&injected);
            *relayed_upto = pos;
            self.mask.spliced = true;
        }
    }

    async fn send(&mut self, client: &mut Downstream<'_>, consumed: usize) -> std::io::Result<()> {
        let result = if !self.mask.spliced {
            client.send(&self.buf[..consumed]).await
        } else if self.out.is_empty() {
            Ok(())
        } else {
            let r = client.send(&self.out).await;
            self.out.clear();
            r
        };
        self.mask.spliced = false;
        self.buf.advance(consumed);
        result
    }

    /// Hands what the recording encoded to its writer, once per relayed batch.
    fn flush_recording(&self) {
        if let Some(recording) = self.session.recording() {
            recording.flush();
        }
    }

    fn record_unread_row(&self, bytes: usize) -> Result<(), PgError> {
        match (&self.recorded, self.session.recording()) {
            (Some(recorded), Some(recording)) => {
                recorded.unread_row(recording, self.expected.front(), bytes)
            }
            _ => Ok(()),
        }
    }

    /// Writes the notices sluice sends itself that have reached the head of the queue.
    fn emit_injections(&mut self) {
        while let Some(Expect::Inject(_)) = self.expected.front() {
            let Some(Expect::Inject(message)) = self.expected.pop_front() else {
                break;
            };
            self.record_injected(&message);
            self.out.extend_from_slice(&message);
        }
    }

    /// The refusals and notices sluice writes itself go into the recording too: the client
    /// saw them. A cap reached here ends nothing: the refusal itself ran nothing.
    fn record_injected(&mut self, message: &[u8]) {
        let (Some(recorded), Some(recording)) = (&mut self.recorded, self.session.recording())
        else {
            return;
        };
        if let Ok(Some(f)) = frame::peek(message, usize::MAX) {
            let _ = recorded.message(recording, None, f.tag, f.body(message));
        }
    }

    fn on_message(&mut self, tag: u8, body: &[u8]) -> Result<(), PgError> {
        if let (Some(recorded), Some(recording)) = (&mut self.recorded, self.session.recording()) {
            recorded.message(recording, self.expected.front(), tag, body)?;
        }
        match tag {
            be::COMMAND_COMPLETE => {
                let tag = be::command_tag(body).map_err(bad)?;
                let rows = be::rows_of_tag(tag);
                match self.expected.front() {
                    Some(Expect::SimpleQuery(_)) => {
                        self.simple.completed(lossy(tag).into_owned(), rows)
                    }
                    Some(Expect::Execute(_)) => {
                        self.finish_execute(Outcome::ok(lossy(tag).into_owned(), rows))
                    }
                    _ => {}
                }
            }
            be::EMPTY_QUERY_RESPONSE => match self.expected.front() {
                Some(Expect::SimpleQuery(_)) => self.simple.completed("EMPTY".into(), None),
                Some(Expect::Execute(_)) => self.finish_execute(Outcome::ok("EMPTY", None)),
                _ => {}
            },
            // The answer to an allowed FunctionCall, queued like a simple query.
            be::FUNCTION_CALL_RESPONSE => {
                if let Some(Expect::SimpleQuery(_)) = self.expected.front() {
                    self.simple.completed("FUNCTION CALL".into(), None);
                }
            }
            be::PORTAL_SUSPENDED => self.finish_execute(Outcome::ok("SUSPENDED", None)),
            be::ERROR_RESPONSE => {
                let f = be::error_fields(body).map_err(bad)?;
                let (code, message) = (lossy(f.code).into_owned(), lossy(f.message).into_owned());
                match self.expected.front() {
                    Some(Expect::SimpleQuery(_)) => self.simple.error = Some((code, message)),
                    // Finished by the ReadyForQuery after it.
                    Some(Expect::Refused { simple: true, .. }) => {}
                    Some(Expect::Refused { simple: false, .. }) => {
                        self.expected.pop_front();
                        self.pipeline_failed = true;
                    }
                    Some(Expect::Execute(_)) => {
                        self.finish_execute(Outcome::error(code, message));
                        self.pipeline_failed = true;
                    }
                    // The gateway's own Describe before an Execute fails exactly when the
                    // Execute would (no such portal, an aborted transaction): the client gets
                    // the error as the Execute's, as it would directly.
                    Some(
                        Expect::Parse
                        | Expect::Bind
                        | Expect::Describe
                        | Expect::GatewayDescribe(_)
                        | Expect::Close,
                    ) => {
                        self.expected.pop_front();
                        self.pipeline_failed = true;
                        self.pipeline_error = Some((code, message));
                    }
                    // An error at Sync (a failed implicit commit), or unsolicited (FATAL).
                    _ => {}
                }
            }
            be::READY_FOR_QUERY => {
                if self.pipeline_failed {
                    self.skip_failed_pipeline();
                }
                match self.expected.pop_front() {
                    Some(Expect::SimpleQuery(permit)) => {
                        let progress = std::mem::take(&mut self.simple);
                        self.session.finish(permit, progress.outcome());
                    }
                    Some(Expect::Sync | Expect::Refused { simple: true, .. }) | None => {}
                    Some(other) => {
                        return Err(bad(format!(
                            "ReadyForQuery arrived while expecting {other:?}"
                        )));
                    }
                }
            }
            be::PARSE_COMPLETE => self.pop_if(|e| matches!(e, Expect::Parse)),
            be::BIND_COMPLETE => self.pop_if(|e| matches!(e, Expect::Bind)),
            be::CLOSE_COMPLETE => self.pop_if(|e| matches!(e, Expect::Close)),
            be::ROW_DESCRIPTION | be::NO_DATA => self.pop_if(|e| matches!(e, Expect::Describe)),
            _ => {}
        }
        Ok(())
    }

    fn pop_if(&mut self, expected: impl Fn(&Expect) -> bool) {
        if self.expected.front().is_some_and(expected) {
            self.expected.pop_front();
        }
    }

    fn finish_execute(&mut self, outcome: Outcome) {
        if let Some(Expect::Execute(_)) = self.expected.front() {
            if let Some(Expect::Execute(permit)) = self.expected.pop_front() {
                self.session.finish(permit, outcome);
            }
        }
    }

    /// After an extended-protocol error the server ignored everything up to Sync.
    fn skip_failed_pipeline(&mut self) {
        while let Some(front) = self.expected.front() {
            if matches!(front, Expect::Sync) {
                break;
            }
            match (self.expected.pop_front(), self.pipeline_error.take()) {
                (Some(Expect::Execute(permit)), Some((sqlstate, message))) => {
                    self.session
                        .finish(permit, Outcome::error(sqlstate, message));
                }
                (Some(e), error) => {
                    self.pipeline_error = error;
                    self.abandon(e, || {
                        Outcome::not_executed(
                            "skipped: an earlier message in the same pipeline failed",
                        )
                    });
                }
                (None, _) => break,
            }
        }
        self.pipeline_failed = false;
        self.pipeline_error = None;
    }

    /// Audits a request that will get no result: `outcome` says why.
    fn abandon(&self, e: Expect, outcome: impl Fn() -> Outcome) {
        if let Expect::SimpleQuery(permit) | Expect::Execute(permit) = e {
            self.session.finish(permit, outcome());
        }
    }

    /// Audits every request still waiting for a response when the session ends. They were all
    /// forwarded, so they may have run: `interrupted`, never `not_executed`.
    pub fn abandon_pending(&mut self, reason: &str) {
        self.take_incoming();
        let reason = format!("no result: the session ended first ({reason})");
        while let Some(e) = self.expected.pop_front() {
            self.abandon(e, || Outcome::interrupted(reason.clone()));
        }
    }
}

/// Resolves at the next shutdown phase change, handing the receiver back; `None` if the
/// gateway dropped its sender.
async fn next_phase(
    mut rx: watch::Receiver<ShutdownPhase>,
) -> Option<watch::Receiver<ShutdownPhase>> {
    rx.changed().await.ok().map(|_| rx)
}

impl SimpleProgress {
    fn completed(&mut self, tag: String, rows: Option<u64>) {
        self.tags.push(tag);
        if let Some(r) = rows {
            self.rows = Some(self.rows.unwrap_or(0) + r);
        }
    }

    fn outcome(self) -> Outcome {
        match self.error {
            Some((sqlstate, message)) => Outcome::error(sqlstate, message),
            None => Outcome::ok(self.tags.join("; "), self.rows),
        }
    }
}

/// Messages whose content sluice reads; they are always buffered whole.
fn inspected(tag: u8) -> bool {
    matches!(
        tag,
        be::COMMAND_COMPLETE
            | be::EMPTY_QUERY_RESPONSE
            | be::PORTAL_SUSPENDED
            | be::ERROR_RESPONSE
            | be::READY_FOR_QUERY
    )
}

fn bad(e: impl std::fmt::Display) -> PgError {
    PgError::UpstreamProtocol(e.to_string())
}
