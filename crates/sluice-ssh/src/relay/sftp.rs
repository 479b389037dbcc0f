//! The SFTP subsystem, decided per file operation: sluice-sftp reads the packets both ways;
//! each client request that touches a file is decided (every fact of it must be allowed)
//! before it is forwarded, a refused one is answered by the gateway with SFTP's "permission
//! denied", and each operation's outcome and byte counts finish its audit record and are
//! recorded as a `file` line. What cannot be read is refused, never forwarded.
//!
//! The steps are synchronous so that the channel's two directions can share this state
//! without holding it across a decision or a write.

use std::collections::HashMap;

use bytes::Bytes;
use sluice_core::{Outcome, Session, StatementPermit};
use sluice_decision::FileAccess;
use sluice_record::FileOp;
use sluice_sftp::{
    status_denied, status_failure, Check, ClientRequest, Framer, Packet, RequestKind, ResponseKind,
    ServerResponse, Tracker,
};

use crate::error::SshError;

/// What to do with one client request.
pub(crate) enum Step {
    /// Answer the client with these bytes; nothing goes to the target.
    Answer(Bytes),
    /// Forward it: its file was decided when it was opened, or it touches none.
    Forward(ClientRequest, Packet),
    /// Decide these facts first; all must be allowed.
    Decide(ClientRequest, Packet, Vec<FileAccess>),
}

#[derive(Default)]
pub(crate) struct SftpRelay {
    up: Framer,
    down: Framer,
    tracker: Tracker,
    /// The server's VERSION, held until the gateway's own REALPATH(".") is answered, so that
    /// no relative path is decided before the directory it is relative to is known.
    held_version: Option<Bytes>,
    /// Permits of forwarded requests, by request id, until their answer arrives.
    pending: HashMap<u32, Vec<StatementPermit>>,
    /// Permits of open files and directories, by handle, until they are closed.
    open: HashMap<Bytes, Vec<StatementPermit>>,
    /// CLOSE requests in flight: their id to the handle they close.
    closing: HashMap<u32, Bytes>,
    /// The request number file lines are recorded under (the subsystem's).
    pub n: u64,
}

impl SftpRelay {
    /// The whole requests in `data` (with what came before), each with what to do.
    pub fn client_data(&mut self, session: &Session, data: &[u8]) -> Result<Vec<Step>, SshError> {
        self.up.push(data);
        let mut steps = Vec::new();
        while let Some(packet) = self.up.next_packet().map_err(sftp)? {
            let Ok(req) = ClientRequest::parse(&packet) else {
                let id = packet.request_id().unwrap_or(0);
                steps.push(Step::Answer(status_failure(
                    id,
                    "sluice: malformed SFTP request",
                )));
                continue;
            };
            steps.push(match self.tracker.check(&req) {
                Check::Forward => Step::Forward(req, packet),
                Check::Decide(facts) => Step::Decide(req, packet, facts),
                Check::Refuse(refusal) => {
                    self.record(
                        session,
                        &FileOp {
                            op: "refused".into(),
                            path: String::new(),
                            target: None,
                            bytes: None,
                            outcome: "denied".into(),
                            message: refusal.to_string(),
                        },
                    );
                    Step::Answer(refusal.answer(req.id))
                }
            });
        }
        Ok(steps)
    }

    /// A request goes to the target: what it opens or closes is followed, its permits wait for
    /// its answer. Returns the gateway's own REALPATH(".") to send after it, if one is due.
    pub fn forwarded(
        &mut self,
        req: &ClientRequest,
        permits: Vec<StatementPermit>,
    ) -> Result<Option<Bytes>, SshError> {
        self.tracker.forwarded(req).map_err(sftp)?;
        if let RequestKind::Close { handle } = &req.kind {
            self.closing.insert(req.id, handle.clone());
        }
        if !permits.is_empty() {
            self.pending.insert(req.id, permits);
        }
        if matches!(req.kind, RequestKind::Init { .. }) && self.tracker.cwd().is_none() {
            return Ok(Some(self.tracker.probe().map_err(sftp)?));
        }
        Ok(None)
    }

    /// A request the policy refused: recorded, and the answer for the client.
    pub fn refused(&mut self, session: &Session, req: &ClientRequest, why: &str) -> Bytes {
        if let Some(op) = self.tracker.denied(req, why) {
            self.record(session, &op);
        }
        status_denied(req.id, why)
    }

    /// Target bytes: returns what goes on to the client.
    pub fn target_data(&mut self, session: &Session, data: &[u8]) -> Result<Vec<u8>, SshError> {
        self.down.push(data);
        let mut out = Vec::new();
        while let Some(packet) = self.down.next_packet().map_err(sftp)? {
            let resp = ServerResponse::parse(&packet).map_err(sftp)?;
            let own = self.tracker.is_probe_answer(&resp);
            let op = self.tracker.server_response(&resp).map_err(sftp)?;
            self.settle(session, &resp, op);
            if matches!(resp.kind, ResponseKind::Version { .. }) && self.tracker.probing() {
                self.held_version = Some(packet.into_raw());
                continue;
            }
            if !own {
                out.extend_from_slice(packet.raw());
            }
            if !self.tracker.probing() {
                if let Some(version) = self.held_version.take() {
                    out.extend_from_slice(&version);
                }
            }
        }
        Ok(out)
    }

    /// Finishes the permits an answer settles, and records the operation it completed.
    fn settle(&mut self, session: &Session, resp: &ServerResponse, op: Option<FileOp>) {
        if let Some(permits) = self.pending.remove(&resp.id) {
            match &resp.kind {
                ResponseKind::Handle(handle) => {
                    self.open.insert(handle.clone(), permits);
                }
                kind => {
                    let outcome = outcome_of(kind, op.as_ref());
                    for permit in permits {
                        session.finish(permit, outcome.clone());
                    }
                }
            }
        }
        if let Some(handle) = self.closing.remove(&resp.id) {
            if let Some(permits) = self.open.remove(&handle) {
                let outcome = outcome_of(&resp.kind, op.as_ref());
                for permit in permits {
                    session.finish(permit, outcome.clone());
                }
            }
        }
        if let Some(op) = op {
            self.record(session, &op);
        }
    }

    fn record(&self, session: &Session, op: &FileOp) {
        if let Some(r) = session.recording() {
            let _ = r.file(self.n, op);
            r.flush();
        }
    }

    /// At the channel's end: what was still open is recorded; its permits audit themselves
    /// as interrupted when dropped.
    pub fn end(&mut self, session: &Session) {
        for op in self.tracker.finish() {
            self.record(session, &op);
        }
        self.pending.clear();
        self.open.clear();
    }
}

fn outcome_of(kind: &ResponseKind, op: Option<&FileOp>) -> Outcome {
    match (kind, op) {
        (_, Some(op)) if op.outcome == "ok" => match op.bytes {
            Some(b) => Outcome::ok(format!("{b} bytes"), Some(b)),
            None => Outcome::ok("ok", None),
        },
        (_, Some(op)) => Outcome::error("sftp", op.message.clone()),
        (ResponseKind::Status { code: 0, .. }, None) => Outcome::ok("ok", None),
        (ResponseKind::Status { code, message }, None) => {
            Outcome::error(code.to_string(), message.clone())
        }
        (_, None) => Outcome::ok("answered", None),
    }
}

fn sftp(e: sluice_sftp::SftpError) -> SshError {
    SshError::Refused(format!("SFTP: {e}"))
}
