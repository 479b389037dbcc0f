//! Session recordings (docs/recording.md): what each session did and what its client saw,
//! streamed to the recording store as it happens, in sluice-record's format.
//!
//! The relay feeds the recorder from the same messages it sends the client, after masking, so
//! a recording never holds a value the client did not see. Encoding happens on the session's
//! task (cheap, no I/O); a writer task per session appends what was encoded, in order, so a
//! slow disk never stalls the relay, and the recording's SHA-256 is known when the session
//! ends without reading it back.
//!
//! The session hands encoded bytes over by appending them to a shared buffer, and wakes the
//! writer only when the buffer stops being empty (or grows past [`COALESCE_BYTES`]): a busy
//! session relays thousands of batches a second, and a channel message and a writer wakeup per
//! batch cost more than encoding the batch (docs/benchmarks.md).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sluice_decision::CapAction;
use sluice_record::{CapHit, Digest, Header, Limits, RecordedDecision, Recorder, RecordingStore};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// One session's recording.
pub struct SessionRecording {
    recorder: Mutex<Option<Recorder>>,
    /// Encoded bytes on their way to the writer.
    handover: Arc<Handover>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The store refused a write: the session must stop, since what follows would go
    /// unrecorded.
    failed: Arc<AtomicBool>,
    /// At a cap, end the session rather than go on: the configuration's choice, or the connect
    /// decision's.
    end_at_cap: AtomicBool,
    store: Arc<dyn RecordingStore>,
    session: String,
}

impl std::fmt::Debug for SessionRecording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecording")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// How long the writer gathers bytes before one write: a busy session encodes some with every
/// batch it relays (thousands a second), and a write each costs more than the statement. A
/// crash loses at most this much of the recording, never of the audit trail.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(50);
/// A write is not delayed once this many bytes wait.
const COALESCE_BYTES: usize = 256 * 1024;

/// Between the session, which appends, and its writer, which takes.
#[derive(Default)]
struct Handover {
    pending: Mutex<Pending>,
    /// Raised when `pending` stops being empty, grows past [`COALESCE_BYTES`], or closes.
    wake: Notify,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// The session ended: the writer writes what is left and stops.
    closed: bool,
}

impl Handover {
    fn append(&self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        let wake = {
            let mut p = crate::sync::lock(&self.pending);
            let before = p.bytes.len();
            if before == 0 {
                p.bytes = bytes;
            } else {
                p.bytes.extend_from_slice(&bytes);
            }
            before == 0 || (before < COALESCE_BYTES && p.bytes.len() >= COALESCE_BYTES)
        };
        if wake {
            self.wake.notify_one();
        }
    }

    fn close(&self) {
        crate::sync::lock(&self.pending).closed = true;
        self.wake.notify_one();
    }

    /// Whether the writer should write now rather than gather for longer.
    fn urgent(&self) -> bool {
        let p = crate::sync::lock(&self.pending);
        p.closed || p.bytes.len() >= COALESCE_BYTES
    }

    fn take(&self) -> (Vec<u8>, bool) {
        let mut p = crate::sync::lock(&self.pending);
        (std::mem::take(&mut p.bytes), p.closed)
    }

    /// The writer: once bytes wait, gathers for [`COALESCE`] (less when they pile up or the
    /// session ends), then writes them all; until the session ends.
    async fn write_to(&self, store: &dyn RecordingStore, session: &str, failed: &AtomicBool) {
        loop {
            self.wake.notified().await;
            if !self.urgent() {
                tokio::select! {
                    () = tokio::time::sleep(COALESCE) => {}
                    () = self.wake.notified() => {}
                }
            }
            let (bytes, closed) = self.take();
            if !bytes.is_empty() && !failed.load(Ordering::Relaxed) {
                if let Err(e) = store.append(session, &bytes).await {
                    tracing::error!(%session, error = %e, "could not write the session recording; ending the session");
                    failed.store(true, Ordering::Relaxed);
                }
            }
            if closed {
                return;
            }
        }
    }
}

/// A cap was reached and the session is to end (the configuration or its connect decision).
#[derive(Debug)]
pub struct CapReached(pub CapHit);

impl std::fmt::Display for CapReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.0 {
            CapHit::RowCap => "a statement's result reached recording.max_rows_per_statement",
            CapHit::SessionCap => "the session reached recording.max_session_bytes",
            CapHit::None => "no cap",
        };
        write!(f, "{what}, and recording.on_cap ends the session")
    }
}

impl Drop for SessionRecording {
    /// A recording dropped without [`SessionRecording::finish`] still lets its writer write
    /// what was handed over and stop.
    fn drop(&mut self) {
        self.handover.close();
    }
}

impl SessionRecording {
    pub(crate) fn start(
        store: Arc<dyn RecordingStore>,
        header: &Header,
        limits: Limits,
        on_cap: CapAction,
    ) -> SessionRecording {
        let handover = Arc::new(Handover::default());
        let failed = Arc::new(AtomicBool::new(false));
        let writer = {
            let store = store.clone();
            let failed = failed.clone();
            let session = header.session.clone();
            let handover = handover.clone();
            // Unbounded but bounded in practice: the session cap limits what can wait.
            tokio::spawn(async move { handover.write_to(&*store, &session, &failed).await })
        };
        SessionRecording {
            recorder: Mutex::new(Some(if header.kind == sluice_record::KIND_TERMINAL {
                // The screen's size is known only once a client asks for a terminal; until
                // then the classic 80x24, and a resize event when it does.
                let screen = sluice_record::TerminalHeader {
                    width: 80,
                    height: 24,
                    term: String::new(),
                    command: None,
                };
                Recorder::new_terminal(header, &screen, limits)
            } else {
                Recorder::new(header, limits)
            })),
            handover,
            writer: Mutex::new(Some(writer)),
            failed,
            end_at_cap: AtomicBool::new(on_cap == CapAction::EndSession),
            store,
            session: header.session.clone(),
        }
    }

    /// Whether the store failed: the session must end rather than go on unrecorded.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    fn with(&self, f: impl FnOnce(&mut Recorder) -> CapHit) -> Result<(), CapReached> {
        let hit = match crate::sync::lock(&self.recorder).as_mut() {
            Some(r) => f(r),
            None => CapHit::None,
        };
        match hit {
            CapHit::None => Ok(()),
            _ if !self.end_at_cap.load(Ordering::Relaxed) => Ok(()),
            hit => Err(CapReached(hit)),
        }
    }

    /// The policy's choice for this session, from its connect decision.
    pub(crate) fn set_on_cap(&self, on_cap: CapAction) {
        self.end_at_cap
            .store(on_cap == CapAction::EndSession, Ordering::Relaxed);
    }

    pub(crate) fn statement(
        &self,
        n: u64,
        text: &str,
        decision: &RecordedDecision,
    ) -> Result<(), CapReached> {
        self.with(|r| r.statement(n, text, decision))
    }

    /// A request of a kind other than SQL (a command, a channel, a file operation, an HTTP or
    /// Kubernetes request), in one line.
    pub(crate) fn request(
        &self,
        n: u64,
        action: &str,
        summary: &str,
        decision: &RecordedDecision,
    ) -> Result<(), CapReached> {
        self.with(|r| r.request(n, action, summary, decision))
    }

    /// Output a terminal client saw (asciicast `o`), after masking.
    pub fn terminal_output(&self, n: Option<u64>, data: &[u8]) -> Result<(), CapReached> {
        self.with(|r| r.terminal_output(n, data))
    }

    /// Input a terminal client typed (asciicast `i`): a Kubernetes exec's stdin.
    pub fn terminal_input(&self, n: Option<u64>, data: &[u8]) -> Result<(), CapReached> {
        self.with(|r| r.terminal_input(n, data))
    }

    /// One HTTP exchange once its response ended (or broke off).
    pub fn http(&self, n: u64, exchange: &sluice_record::HttpExchange) -> Result<(), CapReached> {
        self.with(|r| r.http(n, exchange))
    }

    pub fn terminal_resize(
        &self,
        n: Option<u64>,
        width: u16,
        height: u16,
    ) -> Result<(), CapReached> {
        self.with(|r| r.terminal_resize(n, width, height))
    }

    /// A labelled point in a terminal recording: a command line typed, a denial.
    pub fn terminal_marker(&self, n: Option<u64>, label: &str) -> Result<(), CapReached> {
        self.with(|r| r.terminal_marker(n, label))
    }

    /// A file operation (SFTP, SCP) once its outcome is known.
    pub fn file(&self, n: u64, op: &sluice_record::FileOp) -> Result<(), CapReached> {
        self.with(|r| r.file(n, op))
    }

    pub fn columns(&self, n: u64, columns: &[(&str, u32)]) -> Result<(), CapReached> {
        self.with(|r| r.columns(n, columns))
    }

    pub fn row(&self, n: u64, values: &[Option<&[u8]>], binary: &[bool]) -> Result<(), CapReached> {
        self.with(|r| r.row(n, values, binary))
    }

    pub fn complete(&self, n: u64, tag: &str, duration_us: u64) -> Result<(), CapReached> {
        self.with(|r| r.complete(n, tag, duration_us))
    }

    pub fn error(&self, n: Option<u64>, sqlstate: &str, message: &str) -> Result<(), CapReached> {
        self.with(|r| r.error(n, sqlstate, message))
    }

    pub fn notice(
        &self,
        n: Option<u64>,
        severity: &str,
        sqlstate: &str,
        message: &str,
    ) -> Result<(), CapReached> {
        self.with(|r| r.notice(n, severity, sqlstate, message))
    }

    /// Hands what was encoded since the last flush to the writer. The relay calls it once per
    /// batch it relays, so a recording is on its way to disk as the session goes.
    pub fn flush(&self) {
        let bytes = match crate::sync::lock(&self.recorder).as_mut() {
            Some(r) => r.take(),
            None => return,
        };
        self.handover.append(bytes);
    }

    /// Writes the end, waits for the writer, and closes the recording. `None` when it was
    /// finished already or could not be written whole.
    pub(crate) async fn finish(&self, reason: &str) -> Option<Digest> {
        let recorder = crate::sync::lock(&self.recorder).take()?;
        let (bytes, digest) = recorder.finish(reason);
        self.handover.append(bytes);
        self.handover.close();
        let writer = crate::sync::lock(&self.writer).take();
        if let Some(writer) = writer {
            let _ = writer.await;
        }
        if let Err(e) = self.store.finish(&self.session).await {
            tracing::error!(session = %self.session, error = %e, "could not close the session recording");
            return None;
        }
        (!self.failed()).then_some(digest)
    }
}

/// How often retention runs: every minute, or every tenth of the retention if shorter, so a
/// recording outlives its retention by at most that.
pub(crate) fn retention_period(retention: std::time::Duration) -> std::time::Duration {
    (retention / 10).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(60),
    )
}

/// Deletes recordings in `store` older than `retention`, auditing each deletion, except those
/// `open` says are still being written.
pub(crate) async fn retention_pass(
    retention: std::time::Duration,
    store: &dyn sluice_record::RecordingStore,
    audit: &sluice_audit::AuditLog,
    metrics: &crate::metrics::Metrics,
    open: impl Fn(&str) -> bool,
) {
    let Some(cutoff) = std::time::SystemTime::now().checked_sub(retention) else {
        return;
    };
    // Sessions still open are skipped: an idle session's file is old by its time, and still
    // being written.
    match sluice_record::delete_older_than(store, cutoff, &open).await {
        Ok(deleted) => {
            for session in deleted {
                let event = sluice_audit::AuditEvent::RecordingDeleted {
                    session,
                    reason: format!(
                        "older than recording.retention ({})",
                        humantime::format_duration(retention)
                    ),
                };
                if let Err(e) = audit.record(&event).await {
                    metrics.audit_failures.inc();
                    tracing::error!(error = %e, "could not audit a recording's deletion");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "recording retention failed; retrying"),
    }
}
