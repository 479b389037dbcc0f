//! The SFTP subsystem, decided per file operation: sluice-sftp reads the packets both ways;
//! each client request that touches a file is decided (every fact of it must be allowed)
//! before it is forwarded, a refused one is answered here with SFTP's "permission denied",
//! and each operation's outcome and byte counts finish its audit record and are recorded as
//! a `file` line. What cannot be read is refused, never forwarded.

use std::collections::HashMap;

use bytes::Bytes;
use sluice_core::{AuditBatch, Outcome, Session, StatementPermit};
use sluice_decision::Request;
use sluice_record::FileOp;
use sluice_sftp::{
    status_denied, status_failure, Check, ClientRequest, Framer, RequestKind, ResponseKind,
    ServerResponse, Tracker,
};

use super::session::TargetWriter;
use crate::decide::{decide_now, Verdict};
use crate::error::SshError;

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
    /// Client bytes: forwards what is allowed, returns the gateway's own answers for the
    /// client (refusals).
    pub async fn client_data(
        &mut self,
        session: &Session,
        data: &[u8],
        writer: &mut TargetWriter,
    ) -> Result<Vec<u8>, SshError> {
        self.up.push(data);
        let mut answers = Vec::new();
        while let Some(packet) = self.up.next_packet().map_err(sftp)? {
            let Ok(req) = ClientRequest::parse(&packet) else {
                let id = packet.request_id().unwrap_or(0);
                answers.extend_from_slice(&status_failure(id, "sluice: malformed SFTP request"));
                continue;
            };
            let mut batch = AuditBatch::default();
            let mut permits = Vec::new();
            let mut sealed = None;
            match self.tracker.check(&req) {
                // Reads and writes through an open handle, CLOSE, INIT: their file's
                // decision was made at OPEN.
                Check::Forward => {
                    batch.carries_no_request();
                    sealed = Some(session.seal(&mut batch).await?);
                }
                Check::Decide(facts) => {
                    let mut refused = None;
                    for file in &facts {
                        let summary = match &file.target_path {
                            Some(to) => format!("{} {} -> {to} (sftp)", file.operation.as_str(), file.path),
                            None => format!("{} {} (sftp)", file.operation.as_str(), file.path),
                        };
                        match decide_now(session, Request::File { file }, &summary).await? {
                            Verdict::Allowed { permit, sealed: s } => {
                                permits.push(permit);
                                sealed = Some(s);
                            }
                            Verdict::Refused(why) => {
                                refused = Some(why);
                                break;
                            }
                        }
                    }
                    if let Some(why) = refused {
                        for permit in permits.drain(..) {
                            session.finish(permit, Outcome::not_executed("another part of the operation was refused"));
                        }
                        if let Some(op) = self.tracker.denied(&req, &why) {
                            self.record(session, &op);
                        }
                        answers.extend_from_slice(&status_denied(req.id, &why));
                        continue;
                    }
                }
                Check::Refuse(refusal) => {
                    let op = FileOp {
                        op: "refused".into(),
                        path: String::new(),
                        target: None,
                        bytes: None,
                        outcome: "denied".into(),
                        message: refusal.to_string(),
                    };
                    self.record(session, &op);
                    answers.extend_from_slice(&refusal.answer(req.id));
                    continue;
                }
            }
            let Some(sealed) = sealed else { continue };
            self.tracker.forwarded(&req).map_err(sftp)?;
            if let RequestKind::Close { handle } = &req.kind {
                self.closing.insert(req.id, handle.clone());
            }
            if !permits.is_empty() {
                self.pending.insert(req.id, permits);
            }
            let mut forwarding = writer.forwarding(sealed);
            forwarding.write(packet.raw()).await?;
            if matches!(req.kind, RequestKind::Init { .. }) && self.tracker.cwd().is_none() {
                // The gateway's own REALPATH("."), part of the admitted subsystem.
                let probe = self.tracker.probe().map_err(sftp)?;
                forwarding.write(&probe).await?;
            }
            forwarding.finish().await?;
        }
        Ok(answers)
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
        (_, Some(op)) if op.outcome == "ok" => {
            let bytes = op.bytes;
            match bytes {
                Some(b) => Outcome::ok(format!("{b} bytes"), Some(b)),
                None => Outcome::ok("ok", None),
            }
        }
        (_, Some(op)) => Outcome::error("sftp", op.message.clone()),
        (ResponseKind::Status { code: 0, .. }, None) => Outcome::ok("ok", None),
        (ResponseKind::Status { code, message }, None) => {
            Outcome::error(code.to_string(), message.clone())
        }
        (_, None) => Outcome::ok("answered", None),
    }
}

fn sftp(e: sluice_sftp::SftpError) -> SshError {
    SshError::Refused(format!("sluice: SFTP: {e}"))
}
