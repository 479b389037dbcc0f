//! `AuditLog`: the handle the gateway appends through.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::checkpoint::{CheckpointSigner, CheckpointWritten};
use crate::error::AuditError;
use crate::event::AuditEvent;
use crate::shared::{Shared, Step, Ticket};
use crate::sink::LogFile;
use crate::stats::AuditStats;
use crate::{syncer, tail};

/// When a committed record is considered safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `commit` returns once the record is in the kernel (survives the process
    /// being killed). A background fdatasync every `sync_interval` bounds what
    /// a power failure or kernel crash can lose to roughly the last interval
    /// plus one fdatasync duration.
    Buffered { sync_interval: Duration },
    /// `commit` returns only after an fdatasync covering the record.
    Strict,
}

/// Append-only, hash-chained audit log. Cheap to clone; all clones share one
/// file, one chain and one syncer thread, which stops when the last clone is
/// dropped or on [`AuditLog::close`].
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
    path: PathBuf,
    syncer: Mutex<Option<JoinHandle<()>>>,
}

impl Handle {
    fn stop_syncer(&self) {
        self.shared.shut_down();
        let handle = self
            .syncer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            // Joining makes the final write+sync finish and the file (and its
            // lock) close before drop returns, so a reopen right after works.
            if handle.join().is_err() {
                tracing::error!("audit syncer thread panicked");
            }
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop_syncer();
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens (or creates) the log at `path`, continuing its chain.
    ///
    /// Fails with [`AuditError::Locked`] if another process has it open. A
    /// torn last line left by a crash is cut off and an
    /// [`AuditEvent::AuditRecovered`] record is written in its place.
    ///
    /// Records carry no gateway name; see [`AuditLog::open_named`].
    pub fn open(path: &Path, durability: Durability) -> Result<AuditLog, AuditError> {
        Self::open_named(path, durability, None)
    }

    /// [`AuditLog::open`] for a gateway named `gateway`: every record appended from now on
    /// (the recovery record written at open and checkpoints included) carries it as
    /// `"gateway"`, inside the hashed line.
    ///
    /// A chain belongs to one gateway. Fails with [`AuditError::OtherGateway`] if the trail's
    /// newest record names a different gateway, so a misconfigured data directory cannot make
    /// two gateways write one chain. A trail whose newest record names no gateway (written
    /// before names existed, or by an unnamed gateway) is adopted. `None` writes unnamed
    /// records and checks nothing, as [`AuditLog::open`] always did. Fails with
    /// [`AuditError::InvalidGatewayName`] for an empty name or one with control characters.
    pub fn open_named(
        path: &Path,
        durability: Durability,
        gateway: Option<&str>,
    ) -> Result<AuditLog, AuditError> {
        Self::open_with(path, durability, gateway, |file| Box::new(file))
    }

    /// `open_named` with a hook around the file, so tests can inject I/O failures.
    pub(crate) fn open_with(
        path: &Path,
        durability: Durability,
        gateway: Option<&str>,
        wrap: impl FnOnce(File) -> Box<dyn LogFile>,
    ) -> Result<AuditLog, AuditError> {
        // Checked before the file is touched: a bad name must not create or lock anything.
        let gateway_json = match gateway {
            Some(name) if name.is_empty() || name.chars().any(char::is_control) => {
                return Err(AuditError::InvalidGatewayName(name.to_owned()))
            }
            Some(name) => Some(serde_json::to_vec(name)?),
            None => None,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // The trail holds SQL text and parameters: owner-only.
            options.mode(0o600);
        }
        let file = options.open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(AuditError::Locked),
            Err(TryLockError::Error(err)) => return Err(err.into()),
        }
        let tail = tail::recover(&file)?;
        if let (Some(opener), Some(owner)) = (gateway, tail.gateway.as_deref()) {
            if opener != owner {
                return Err(AuditError::OtherGateway {
                    path: path.display().to_string(),
                    owner: owner.to_owned(),
                    opener: opener.to_owned(),
                });
            }
        }
        // Makes the recovery truncation (if any) and everything the previous
        // run left in the page cache durable before we count it as synced.
        file.sync_data()?;

        let (strict, interval) = match durability {
            Durability::Buffered { sync_interval } => (false, Some(sync_interval)),
            Durability::Strict => (true, None),
        };
        let shared = Arc::new(Shared::new(wrap(file), &tail, strict, gateway_json));
        let syncer = syncer::spawn(Arc::clone(&shared), interval)?;
        let log = AuditLog {
            inner: Arc::new(Handle {
                shared,
                path: path.to_path_buf(),
                syncer: Mutex::new(Some(syncer)),
            }),
        };

        if tail.truncated > 0 {
            tracing::warn!(
                bytes = tail.truncated,
                path = %path.display(),
                "audit log had a torn tail; truncated it"
            );
            let shared = &log.inner.shared;
            let ticket = shared.append(&AuditEvent::AuditRecovered {
                truncated_bytes: tail.truncated,
            })?;
            shared.write_pending_blocking();
            match shared.resolve(ticket) {
                Some(result) => result?,
                None => {
                    return Err(AuditError::WriteFailed(
                        "recovery record was not written".into(),
                    ))
                }
            }
            shared.sync_now()?;
        }
        Ok(log)
    }

    /// The file this log writes to.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Chains the event into the in-memory buffer; no syscall. The record is
    /// not durable until [`AuditLog::commit`] (or a later commit or flush, or
    /// the syncer) writes it.
    pub fn append(&self, event: &AuditEvent) -> Result<Ticket, AuditError> {
        self.inner.shared.append(event)
    }

    /// Waits until the ticket's record is safe per the log's [`Durability`].
    ///
    /// Group commit: if no write is in flight this caller writes every
    /// pending record (all sessions') in one write(2), inline; otherwise it
    /// waits for the writer in flight and re-checks. Returns
    /// [`AuditError::WriteFailed`] if the batch holding the record failed.
    pub async fn commit(&self, ticket: Ticket) -> Result<(), AuditError> {
        self.wait_written(ticket).await?;
        if self.inner.shared.strict {
            self.wait_synced(ticket.seq).await?;
        }
        Ok(())
    }

    /// `append` + `commit`; returns the record's seq.
    pub async fn record(&self, event: &AuditEvent) -> Result<u64, AuditError> {
        let ticket = self.append(event)?;
        self.commit(ticket).await?;
        Ok(ticket.seq)
    }

    /// Appends an [`AuditEvent::Checkpoint`] signing the chain head (the newest record,
    /// written or not) and waits until it is on disk; returns what it sealed, or `None` when
    /// there was nothing new to seal (empty log, or the newest record is already a
    /// checkpoint).
    ///
    /// Waits for an fdatasync whatever the durability mode: a checkpoint is evidence, written
    /// rarely. The fdatasync is the syncer thread's (in buffered mode its next one, within
    /// `sync_interval`), so the caller's runtime thread never blocks on the disk.
    pub async fn checkpoint(
        &self,
        signer: &CheckpointSigner,
    ) -> Result<Option<CheckpointWritten>, AuditError> {
        let Some((ticket, written)) = self.inner.shared.append_checkpoint(signer)? else {
            return Ok(None);
        };
        self.wait_written(ticket).await?;
        self.wait_synced(ticket.seq).await?;
        Ok(Some(written))
    }

    /// Writes everything appended so far and fdatasyncs it, whatever the
    /// durability mode.
    pub async fn flush(&self) -> Result<(), AuditError> {
        let shared = &self.inner.shared;
        self.wait_written(shared.last_ticket()).await?;
        // Inline: flush is for shutdown and other paths that chose to wait.
        shared.sync_now()
    }

    /// Flushes, then stops the syncer. Later appends fail with
    /// [`AuditError::Closed`]. The file lock is released when the last clone
    /// is dropped.
    pub async fn close(&self) -> Result<(), AuditError> {
        let flushed = self.flush().await;
        self.inner.stop_syncer();
        flushed
    }

    /// A snapshot of the log's counters.
    pub fn metrics(&self) -> AuditStats {
        self.inner.shared.counters.snapshot()
    }

    async fn wait_written(&self, ticket: Ticket) -> Result<(), AuditError> {
        let shared = &*self.inner.shared;
        loop {
            let mut notified = pin!(shared.written.notified());
            match shared.commit_step(ticket, notified.as_mut()) {
                Step::Done(result) => return result,
                Step::Wait => notified.await,
            }
        }
    }

    async fn wait_synced(&self, seq: u64) -> Result<(), AuditError> {
        let shared = &*self.inner.shared;
        loop {
            let mut notified = pin!(shared.synced.notified());
            match shared.sync_step(seq, notified.as_mut()) {
                Step::Done(result) => return result,
                Step::Wait => notified.await,
            }
        }
    }
}
