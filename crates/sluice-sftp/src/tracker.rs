//! Per-channel state: what each request means for policy, which requests await which
//! response, what each open handle is, and the audit line every operation ends in.

use std::collections::HashMap;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use sluice_decision::facts::{FileAccess, FileOperation, FileVia};
use sluice_record::FileOp;

use crate::codec::*;
use crate::path::normalize;
use crate::request::*;
use crate::response::{ResponseKind, ServerResponse};
use crate::SftpError;

/// Bounds on the tracker's memory, whatever the peers send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Handles open at once. OpenSSH's sftp-server is bounded by its file descriptor limit
    /// (commonly 1024), so a legitimate client does not get further.
    pub max_handles: usize,
    /// Requests forwarded and not yet answered. OpenSSH's client keeps at most 64 reads or
    /// writes in flight per transfer. Each keeps at most two paths of [`MAX_PATH_LEN`]
    /// bytes, so the default bounds the tracker to some tens of MiB in the worst case.
    ///
    /// [`MAX_PATH_LEN`]: crate::codec::MAX_PATH_LEN
    pub max_pending: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_handles: 1024,
            max_pending: 4096,
        }
    }
}

/// What the relay does with a request before forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// No decision needed: the request names no file (INIT, limits, ...) or works on a
    /// handle whose OPEN was decided (READ, WRITE, READDIR, CLOSE, fsync, copy-data).
    Forward,
    /// Decide these facts; forward only if every one is allowed. An OPEN for reading and
    /// writing yields two (the write or create, then the read), so that a file a policy
    /// keeps from being read cannot be opened read-write.
    Decide(Vec<FileAccess>),
    /// Refuse without asking the policy: answer with [`Refusal::answer`].
    Refuse(Refusal),
}

/// Requests refused whatever the policy, because what they do cannot be known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A packet type this crate does not know.
    UnknownType(u8),
    /// An SSH_FXP_EXTENDED request this crate does not know.
    UnknownExtension(String),
    /// A relative path before the session's directory is known: the relay did not send
    /// [`Tracker::probe`], or the server did not answer it with a directory. A client's
    /// own REALPATH(".") is forwarded without a decision and teaches it too.
    DirectoryUnknown,
    /// A `~user` path of expand-path: another user's home is not known here.
    OtherUsersHome,
    /// A handle this session's tracker never saw opened.
    UnknownHandle,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::UnknownType(t) => write!(f, "sftp request type {t} is not relayed"),
            Refusal::UnknownExtension(n) => write!(f, "sftp extension {n:?} is not relayed"),
            Refusal::DirectoryUnknown => {
                f.write_str("relative path before the session's directory is known")
            }
            Refusal::OtherUsersHome => f.write_str("~user paths are not relayed"),
            Refusal::UnknownHandle => f.write_str("unknown handle"),
        }
    }
}

impl Refusal {
    /// The STATUS packet that answers request `id`.
    pub fn answer(&self, id: u32) -> Bytes {
        match self {
            Refusal::UnknownType(_) | Refusal::UnknownExtension(_) => {
                status(id, SSH_FX_OP_UNSUPPORTED, &self.to_string())
            }
            _ => status_denied(id, &self.to_string()),
        }
    }
}

/// The id of the gateway's own REALPATH(".") ([`Tracker::probe`]): clients count their ids
/// up from 0 or 1, so they do not reach it (one that does fails with
/// [`SftpError::DuplicateId`] while the probe is unanswered).
pub const PROBE_ID: u32 = u32::MAX;

/// A request forwarded and awaiting its response.
#[derive(Debug, Clone)]
enum Pending {
    /// The gateway's own REALPATH("."): its answer is the session's directory and is not
    /// the client's.
    Probe,
    /// OPEN or OPENDIR: a handle or a failure.
    Open {
        op: FileOperation,
        path: String,
    },
    Close {
        handle: Bytes,
    },
    Read {
        handle: Bytes,
    },
    Write {
        handle: Bytes,
        len: u64,
    },
    CopyData {
        from: Bytes,
        to: Bytes,
        len: u64,
    },
    /// `learn`: the answer is the session's directory.
    Realpath {
        learn: bool,
    },
    /// An operation recorded as soon as it is answered.
    Op(Started),
    /// Nothing to record or learn.
    Quiet,
}

#[derive(Debug, Clone)]
struct Started {
    op: FileOperation,
    path: String,
    target: Option<String>,
}

#[derive(Debug, Clone)]
struct OpenHandle {
    op: FileOperation,
    path: String,
    read: u64,
    written: u64,
    /// The first failed READ or WRITE: the transfer is then incomplete whatever CLOSE says.
    error: Option<String>,
}

impl OpenHandle {
    fn finish(self, outcome_error: Option<String>) -> FileOp {
        let error = self.error.or(outcome_error);
        FileOp {
            op: self.op.as_str().to_string(),
            path: self.path,
            target: None,
            bytes: (self.op != FileOperation::List).then_some(self.read + self.written),
            outcome: if error.is_some() { "error" } else { "ok" }.to_string(),
            message: error.unwrap_or_default(),
        }
    }
}

/// One per sftp channel. Feed it every request the client sends, in order, and every
/// response the server sends, in order; it needs both to follow handles.
#[derive(Debug, Default)]
pub struct Tracker {
    limits: Limits,
    cwd: Option<String>,
    home: Option<String>,
    pending: HashMap<u32, Pending>,
    handles: HashMap<Bytes, OpenHandle>,
}

impl Tracker {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// A tracker that knows the user's home (where sshd starts the subsystem), so relative
    /// paths resolve before the client's first REALPATH("."). The server's answer to that
    /// REALPATH still takes precedence, as it is the directory the server resolves against
    /// (sftp-server `-d` may move it).
    pub fn with_home(limits: Limits, home: &str) -> Self {
        let home = normalize("/", home);
        Self {
            limits,
            cwd: Some(home.clone()),
            home: Some(home),
            ..Self::default()
        }
    }

    /// The directory relative paths are resolved against, once known.
    pub fn cwd(&self) -> Option<&str> {
        self.cwd.as_deref()
    }

    /// A REALPATH(".") of the gateway's own, for the relay to send to the server right after
    /// forwarding the client's INIT when [`Tracker::cwd`] is unknown. Clients need not ask
    /// for it themselves before using relative paths: OpenSSH 9's `scp` (over SFTP) does not.
    /// The relay then holds the server's VERSION back from the client while
    /// [`Tracker::probing`], so that no request is checked before the directory is known,
    /// and drops the answer ([`Tracker::is_probe_answer`]) after passing it to
    /// [`Tracker::server_response`].
    pub fn probe(&mut self) -> Result<Bytes, SftpError> {
        if self.pending.contains_key(&PROBE_ID) {
            return Err(SftpError::DuplicateId(PROBE_ID));
        }
        self.pending.insert(PROBE_ID, Pending::Probe);
        let mut body = BytesMut::with_capacity(10);
        body.put_u8(SSH_FXP_REALPATH);
        body.put_u32(PROBE_ID);
        put_string(&mut body, b".");
        let mut out = BytesMut::with_capacity(4 + body.len());
        out.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
        out.put_slice(&body);
        Ok(out.freeze())
    }

    /// The gateway's own REALPATH(".") is unanswered.
    pub fn probing(&self) -> bool {
        matches!(self.pending.get(&PROBE_ID), Some(Pending::Probe))
    }

    /// `resp` answers the gateway's own REALPATH("."): not to be forwarded to the client.
    pub fn is_probe_answer(&self, resp: &ServerResponse) -> bool {
        resp.id == PROBE_ID && !matches!(resp.kind, ResponseKind::Version { .. }) && self.probing()
    }

    /// Open handles and requests awaiting a response.
    pub fn in_flight(&self) -> (usize, usize) {
        (self.handles.len(), self.pending.len())
    }

    fn resolve(&self, path: &str) -> Result<String, Refusal> {
        if path.starts_with('/') {
            return Ok(normalize("/", path));
        }
        match &self.cwd {
            Some(cwd) => Ok(normalize(cwd, path)),
            None => Err(Refusal::DirectoryUnknown),
        }
    }

    fn handle_path(&self, handle: &Bytes) -> Result<String, Refusal> {
        self.handles
            .get(handle)
            .map(|h| h.path.clone())
            .ok_or(Refusal::UnknownHandle)
    }

    fn known(&self, handle: &Bytes) -> Result<(), Refusal> {
        self.handle_path(handle).map(drop)
    }

    fn one(&self, operation: FileOperation, path: &str) -> Result<Vec<FileAccess>, Refusal> {
        Ok(vec![access(operation, self.resolve(path)?, None)])
    }

    fn on_handle(
        &self,
        operation: FileOperation,
        handle: &Bytes,
    ) -> Result<Vec<FileAccess>, Refusal> {
        Ok(vec![access(operation, self.handle_path(handle)?, None)])
    }

    /// The facts `req` needs decided (see [`Check`]). Paths are absolute and normalised;
    /// handle operations name the path their handle was opened with.
    pub fn check(&self, req: &ClientRequest) -> Check {
        match self.facts(req) {
            Ok(facts) if facts.is_empty() => Check::Forward,
            Ok(facts) => Check::Decide(facts),
            Err(r) => Check::Refuse(r),
        }
    }

    fn facts(&self, req: &ClientRequest) -> Result<Vec<FileAccess>, Refusal> {
        use FileOperation as Op;
        match &req.kind {
            RequestKind::Init { .. } => Ok(Vec::new()),
            RequestKind::Open { path, pflags, .. } => {
                let path = self.resolve(path)?;
                let mut facts = Vec::with_capacity(2);
                if pflags & (SSH_FXF_CREAT | SSH_FXF_TRUNC) != 0 {
                    facts.push(access(Op::Create, path.clone(), None));
                } else if pflags & (SSH_FXF_WRITE | SSH_FXF_APPEND) != 0 {
                    facts.push(access(Op::Write, path.clone(), None));
                }
                // No access flag at all opens read-only in sftp-server (O_RDONLY is 0).
                if pflags & SSH_FXF_READ != 0 || facts.is_empty() {
                    facts.push(access(Op::Read, path, None));
                }
                Ok(facts)
            }
            RequestKind::Close { .. } => Ok(Vec::new()),
            RequestKind::Read { handle, .. }
            | RequestKind::Write { handle, .. }
            | RequestKind::Readdir { handle } => self.known(handle).map(|()| Vec::new()),
            RequestKind::Fstat { handle } => self.on_handle(Op::Stat, handle),
            RequestKind::Fsetstat { handle, .. } => self.on_handle(Op::Setstat, handle),
            RequestKind::Lstat { path } | RequestKind::Stat { path } => self.one(Op::Stat, path),
            RequestKind::Setstat { path, .. } => self.one(Op::Setstat, path),
            RequestKind::Opendir { path } => self.one(Op::List, path),
            RequestKind::Remove { path } => self.one(Op::Remove, path),
            RequestKind::Mkdir { path, .. } => self.one(Op::Mkdir, path),
            RequestKind::Rmdir { path } => self.one(Op::Rmdir, path),
            RequestKind::Realpath { path } => {
                if self.cwd.is_none() && is_here(path) {
                    Ok(Vec::new())
                } else {
                    // It tells whether a path exists and where links lead.
                    self.one(Op::Stat, path)
                }
            }
            RequestKind::Rename { old, new } => self.rename(old, new),
            RequestKind::Readlink { path } => self.one(Op::Readlink, path),
            RequestKind::Symlink { target, link } => {
                let link = self.resolve(link)?;
                // A relative target is relative to the link's directory, not to ours.
                let target = normalize(parent(&link), target);
                Ok(vec![access(Op::Symlink, link, Some(target))])
            }
            RequestKind::Extended { name, request } => self.extension_facts(name, request),
            RequestKind::Unknown(t) => Err(Refusal::UnknownType(*t)),
        }
    }

    fn rename(&self, old: &str, new: &str) -> Result<Vec<FileAccess>, Refusal> {
        let old = self.resolve(old)?;
        let new = self.resolve(new)?;
        Ok(vec![access(FileOperation::Rename, old, Some(new))])
    }

    fn extension_facts(&self, name: &str, ext: &Extension) -> Result<Vec<FileAccess>, Refusal> {
        use FileOperation as Op;
        match ext {
            Extension::PosixRename { old, new } => self.rename(old, new),
            Extension::Statvfs { path } => self.one(Op::Stat, path),
            Extension::Fstatvfs { handle } => self.on_handle(Op::Stat, handle),
            // A hard link makes `new` reach `old`'s content as a symbolic link would, so it
            // is decided as one (the facts have no operation of its own for it).
            Extension::Hardlink { old, new } => {
                let old = self.resolve(old)?;
                let new = self.resolve(new)?;
                Ok(vec![access(Op::Symlink, new, Some(old))])
            }
            Extension::Fsync { handle } => self.known(handle).map(|()| Vec::new()),
            Extension::Lsetstat { path, .. } => self.one(Op::Setstat, path),
            Extension::Limits | Extension::HomeDirectory { .. } | Extension::UsersGroupsById => {
                Ok(Vec::new())
            }
            Extension::ExpandPath { path } => {
                let expanded = self.expand_home(path)?;
                self.one(Op::Stat, &expanded)
            }
            Extension::CopyData {
                read_handle,
                write_handle,
                ..
            } => {
                self.known(read_handle)?;
                self.known(write_handle).map(|()| Vec::new())
            }
            Extension::Other => Err(Refusal::UnknownExtension(name.to_string())),
        }
    }

    /// `~` and `~/x` are the home: the one given to [`Tracker::with_home`], else the
    /// session's directory, which is the home unless sftp-server was started with `-d`.
    fn expand_home(&self, path: &str) -> Result<String, Refusal> {
        let Some(rest) = path.strip_prefix('~') else {
            return Ok(path.to_string());
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            return Err(Refusal::OtherUsersHome);
        }
        let home = self
            .home
            .as_deref()
            .or(self.cwd.as_deref())
            .ok_or(Refusal::DirectoryUnknown)?;
        Ok(normalize(home, rest.trim_start_matches('/')))
    }

    /// Records that `req` was forwarded to the server. Call it before forwarding, so that
    /// the response can never arrive first.
    pub fn forwarded(&mut self, req: &ClientRequest) -> Result<(), SftpError> {
        if matches!(req.kind, RequestKind::Init { .. }) {
            return Ok(());
        }
        if self.pending.contains_key(&req.id) {
            return Err(SftpError::DuplicateId(req.id));
        }
        if self.pending.len() >= self.limits.max_pending {
            return Err(SftpError::TooManyPending(self.limits.max_pending));
        }
        let facts = self.facts(req).ok();
        let first = facts.as_ref().and_then(|f| f.first());
        let pending = match (&req.kind, first) {
            (RequestKind::Open { .. } | RequestKind::Opendir { .. }, Some(f)) => Pending::Open {
                op: f.operation,
                path: f.path.clone(),
            },
            (RequestKind::Close { handle }, _) => Pending::Close {
                handle: handle.clone(),
            },
            (RequestKind::Read { handle, .. }, _) => Pending::Read {
                handle: handle.clone(),
            },
            (RequestKind::Write { handle, len, .. }, _) => Pending::Write {
                handle: handle.clone(),
                len: u64::from(*len),
            },
            (
                RequestKind::Extended {
                    request:
                        Extension::CopyData {
                            read_handle,
                            write_handle,
                            len,
                            ..
                        },
                    ..
                },
                _,
            ) => Pending::CopyData {
                from: read_handle.clone(),
                to: write_handle.clone(),
                len: *len,
            },
            (RequestKind::Realpath { path }, _) => Pending::Realpath {
                learn: is_here(path),
            },
            (
                RequestKind::Extended {
                    request: Extension::ExpandPath { .. },
                    ..
                },
                _,
            ) => Pending::Quiet,
            (_, Some(f)) => Pending::Op(Started {
                op: f.operation,
                path: f.path.clone(),
                target: f.target_path.clone(),
            }),
            (_, None) => Pending::Quiet,
        };
        self.pending.insert(req.id, pending);
        Ok(())
    }

    /// Records that the gateway answered `req` itself, refused; the audit line of the
    /// refusal, when the request names a file.
    pub fn denied(&self, req: &ClientRequest, message: &str) -> Option<FileOp> {
        let facts = self.facts(req).ok()?;
        let f = facts.into_iter().next()?;
        Some(FileOp {
            op: f.operation.as_str().to_string(),
            path: f.path,
            target: f.target_path,
            bytes: None,
            outcome: "denied".to_string(),
            message: message.to_string(),
        })
    }

    /// Takes a server response; the audit line of the operation it completes, if any
    /// (a CLOSE completes its handle's transfer).
    pub fn server_response(&mut self, resp: &ServerResponse) -> Result<Option<FileOp>, SftpError> {
        if let ResponseKind::Version { version, .. } = resp.kind {
            return match version {
                3 => Ok(None),
                v => Err(SftpError::UnsupportedVersion(v)),
            };
        }
        let pending = self
            .pending
            .remove(&resp.id)
            .ok_or(SftpError::UnknownId(resp.id))?;
        let failure = failure(&resp.kind);
        match pending {
            Pending::Open { op, path } => match &resp.kind {
                ResponseKind::Handle(h) => {
                    if !self.handles.contains_key(h)
                        && self.handles.len() >= self.limits.max_handles
                    {
                        return Err(SftpError::TooManyHandles(self.limits.max_handles));
                    }
                    let open = OpenHandle {
                        op,
                        path,
                        read: 0,
                        written: 0,
                        error: None,
                    };
                    // A server reuses a handle only once it is closed; if it does earlier,
                    // the old transfer ends here.
                    Ok(self
                        .handles
                        .insert(h.clone(), open)
                        .map(|old| old.finish(Some("handle reused by the server".into()))))
                }
                _ => Ok(Some(FileOp {
                    op: op.as_str().to_string(),
                    path,
                    target: None,
                    bytes: None,
                    outcome: "error".to_string(),
                    message: failure.unwrap_or_else(|| "no handle returned".to_string()),
                })),
            },
            Pending::Close { handle } => {
                Ok(self.handles.remove(&handle).map(|h| h.finish(failure)))
            }
            Pending::Read { handle } => {
                if let Some(h) = self.handles.get_mut(&handle) {
                    match &resp.kind {
                        ResponseKind::Data { len } => h.read += u64::from(*len),
                        ResponseKind::Status { code, .. } if *code == SSH_FX_EOF => {}
                        _ => {
                            h.error = h.error.take().or(failure);
                        }
                    }
                }
                Ok(None)
            }
            Pending::Write { handle, len } => {
                if let Some(h) = self.handles.get_mut(&handle) {
                    match failure {
                        None => h.written += len,
                        Some(e) => h.error = h.error.take().or(Some(e)),
                    }
                }
                Ok(None)
            }
            Pending::CopyData { from, to, len } => {
                if failure.is_none() {
                    if let Some(h) = self.handles.get_mut(&from) {
                        h.read += len;
                    }
                    if let Some(h) = self.handles.get_mut(&to) {
                        h.written += len;
                    }
                }
                Ok(None)
            }
            Pending::Probe | Pending::Realpath { learn: true } => {
                if let ResponseKind::Name {
                    first: Some(dir), ..
                } = &resp.kind
                {
                    if dir.starts_with('/') {
                        self.cwd = Some(normalize("/", dir));
                    }
                }
                Ok(None)
            }
            Pending::Realpath { learn: false } => Ok(None),
            Pending::Op(s) => Ok(Some(FileOp {
                op: s.op.as_str().to_string(),
                path: s.path,
                target: s.target,
                bytes: None,
                outcome: if failure.is_some() { "error" } else { "ok" }.to_string(),
                message: failure.unwrap_or_default(),
            })),
            Pending::Quiet => Ok(None),
        }
    }

    /// The channel closed: every open handle's transfer and every unanswered operation
    /// ends as an error, in path order.
    pub fn finish(&mut self) -> Vec<FileOp> {
        let mut out: Vec<FileOp> = self
            .handles
            .drain()
            .map(|(_, h)| h.finish(Some("channel closed with the file open".into())))
            .collect();
        for (_, p) in self.pending.drain() {
            let (op, path, target) = match p {
                Pending::Open { op, path } => (op, path, None),
                Pending::Op(s) => (s.op, s.path, s.target),
                _ => continue,
            };
            out.push(FileOp {
                op: op.as_str().to_string(),
                path,
                target,
                bytes: None,
                outcome: "error".to_string(),
                message: "channel closed before the server answered".to_string(),
            });
        }
        out.sort_by(|a, b| (&a.path, &a.op).cmp(&(&b.path, &b.op)));
        out
    }
}

fn access(operation: FileOperation, path: String, target_path: Option<String>) -> FileAccess {
    FileAccess {
        operation,
        path,
        target_path,
        via: FileVia::Sftp,
    }
}

fn is_here(path: &str) -> bool {
    matches!(path, "" | "." | "./")
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The failure a response reports, `None` for success (any answer but a STATUS other
/// than OK).
fn failure(kind: &ResponseKind) -> Option<String> {
    match kind {
        ResponseKind::Status { code, .. } if *code == SSH_FX_OK => None,
        ResponseKind::Status { code, message } if message.is_empty() => {
            Some(status_name(*code).to_string())
        }
        ResponseKind::Status { message, .. } => Some(message.clone()),
        ResponseKind::Unknown(t) => Some(format!("unexpected response type {t}")),
        _ => None,
    }
}

fn status_name(code: u32) -> &'static str {
    match code {
        SSH_FX_EOF => "end of file",
        SSH_FX_NO_SUCH_FILE => "no such file",
        SSH_FX_PERMISSION_DENIED => "permission denied",
        SSH_FX_FAILURE => "failure",
        SSH_FX_BAD_MESSAGE => "bad message",
        6 => "no connection",
        7 => "connection lost",
        SSH_FX_OP_UNSUPPORTED => "operation unsupported",
        _ => "error",
    }
}
