//! The state every `AuditLog` clone and the syncer thread share, and the
//! group-commit leader step.
//!
//! Invariant: the mutex is never held across a syscall. Appends only touch
//! memory; the one caller that finds no write in flight becomes the leader,
//! takes the whole pending buffer, and writes it with the lock released.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use time::OffsetDateTime;
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

use crate::checkpoint::{CheckpointSigner, CheckpointWritten};
use crate::error::AuditError;
use crate::event::AuditEvent;
use crate::record::{encode_body, encode_line, format_time};
use crate::sink::LogFile;
use crate::stats::Counters;
use crate::tail::Tail;

/// Proof of an append, redeemed with `AuditLog::commit`.
///
/// Seqs are reused after a failed write (the chain restarts from the last good
/// record), so the generation tells a discarded record from its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub(crate) seq: u64,
    pub(crate) generation: u64,
}

impl Ticket {
    /// The seq the record was given.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

/// Failed generations remembered so late committers learn their fate; older
/// ones are answered with a (fail-closed) error.
const ENDED_GENERATIONS_KEPT: usize = 1024;

struct EndedGeneration {
    generation: u64,
    /// Everything up to here in that generation reached the file.
    written_seq: u64,
    reason: String,
}

struct State {
    // Chain head for the next append.
    next_seq: u64,
    prev_hash: [u8; 32],
    generation: u64,
    /// The newest appended record is a checkpoint: another one would seal nothing new.
    last_is_checkpoint: bool,
    /// Encoded lines not yet handed to write(2).
    pending: Vec<u8>,
    /// The previous batch's buffer, kept so steady state allocates nothing.
    spare: Vec<u8>,
    writer_active: bool,
    // What is known to be in the file.
    written_seq: u64,
    written_len: u64,
    written_hash: [u8; 32],
    synced_seq: u64,
    ended: VecDeque<EndedGeneration>,
    /// Set when the file's contents can no longer be trusted (a truncate or
    /// fdatasync failed); every later operation fails closed.
    fatal: Option<String>,
    closed: bool,
    shutdown: bool,
}

impl State {
    fn resolve(&self, ticket: Ticket) -> Option<Result<(), AuditError>> {
        if ticket.generation == self.generation {
            if ticket.seq <= self.written_seq {
                return Some(Ok(()));
            }
            return self
                .fatal
                .as_ref()
                .map(|reason| Err(AuditError::WriteFailed(reason.clone())));
        }
        Some(
            match self
                .ended
                .iter()
                .find(|g| g.generation == ticket.generation)
            {
                Some(g) if ticket.seq <= g.written_seq => Ok(()),
                Some(g) => Err(AuditError::WriteFailed(g.reason.clone())),
                None => Err(AuditError::WriteFailed(
                    "record belongs to a failed write batch too old to confirm".into(),
                )),
            },
        )
    }
}

pub(crate) enum Step {
    Done(Result<(), AuditError>),
    Wait,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    /// Woken after every batch write (success or failure).
    pub(crate) written: Notify,
    /// Woken after every fdatasync (success or failure).
    pub(crate) synced: Notify,
    /// Wakes the syncer thread (it is not async, so it cannot use `Notify`).
    pub(crate) sync_cv: Condvar,
    file: Box<dyn LogFile>,
    pub(crate) counters: Counters,
    pub(crate) strict: bool,
    /// The gateway's name as a JSON string, spliced into every line; fixed for the log's
    /// life so one chain never names two gateways.
    gateway: Option<Vec<u8>>,
}

impl Shared {
    pub(crate) fn new(
        file: Box<dyn LogFile>,
        tail: &Tail,
        strict: bool,
        gateway: Option<Vec<u8>>,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                next_seq: tail.last_seq + 1,
                prev_hash: tail.last_hash,
                generation: 0,
                last_is_checkpoint: false,
                pending: Vec::with_capacity(64 * 1024),
                spare: Vec::with_capacity(64 * 1024),
                writer_active: false,
                written_seq: tail.last_seq,
                written_len: tail.len,
                written_hash: tail.last_hash,
                synced_seq: tail.last_seq,
                ended: VecDeque::new(),
                fatal: None,
                closed: false,
                shutdown: false,
            }),
            written: Notify::new(),
            synced: Notify::new(),
            sync_cv: Condvar::new(),
            file,
            counters: Counters::default(),
            strict,
            gateway,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock, and the state is consistent
        // between statements anyway, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn append(&self, event: &AuditEvent) -> Result<Ticket, AuditError> {
        // Serializing the event is the bulk of the CPU cost and needs no lock.
        let mut body = Vec::with_capacity(512);
        encode_body(event, &mut body)?;
        let mut st = self.lock();
        if st.closed {
            return Err(AuditError::Closed);
        }
        if let Some(reason) = &st.fatal {
            return Err(AuditError::WriteFailed(reason.clone()));
        }
        let seq = st.next_seq;
        let prev = st.prev_hash;
        let hash = encode_line(
            &mut st.pending,
            seq,
            OffsetDateTime::now_utc(),
            &prev,
            self.gateway.as_deref(),
            &body,
        )?;
        st.prev_hash = hash;
        st.next_seq += 1;
        st.last_is_checkpoint = false;
        self.counters.appended();
        Ok(Ticket {
            seq,
            generation: st.generation,
        })
    }

    /// Appends a checkpoint signing the current chain head; `None` when the log is empty or
    /// its newest record is already a checkpoint.
    ///
    /// The event is built and signed inside the critical section that assigns seq and prev:
    /// the head it signs must be exactly the `prev` it is chained with, and outside the lock
    /// another session's append could slip in between reading the head and chaining the
    /// checkpoint. Signing takes tens of microseconds and happens once per checkpoint
    /// interval, so holding the lock for it costs the statement path nothing measurable.
    pub(crate) fn append_checkpoint(
        &self,
        signer: &CheckpointSigner,
    ) -> Result<Option<(Ticket, CheckpointWritten)>, AuditError> {
        let mut body = Vec::with_capacity(512);
        let mut st = self.lock();
        if st.closed {
            return Err(AuditError::Closed);
        }
        if let Some(reason) = &st.fatal {
            return Err(AuditError::WriteFailed(reason.clone()));
        }
        if st.next_seq <= 1 || st.last_is_checkpoint {
            return Ok(None);
        }
        let seq = st.next_seq;
        let prev = st.prev_hash;
        // One instant for the record's `time` and the signed `sealed_at`, so they are equal.
        let now = OffsetDateTime::now_utc();
        let head = hex::encode(prev);
        let event = signer.sign(seq - 1, &head, &format_time(now));
        encode_body(&event, &mut body)?;
        let hash = encode_line(
            &mut st.pending,
            seq,
            now,
            &prev,
            self.gateway.as_deref(),
            &body,
        )?;
        st.prev_hash = hash;
        st.next_seq += 1;
        st.last_is_checkpoint = true;
        self.counters.appended();
        let ticket = Ticket {
            seq,
            generation: st.generation,
        };
        let written = CheckpointWritten {
            seq,
            count: seq - 1,
            head,
        };
        Ok(Some((ticket, written)))
    }

    /// The newest appended record, written or not.
    pub(crate) fn last_ticket(&self) -> Ticket {
        let st = self.lock();
        Ticket {
            seq: st.next_seq - 1,
            generation: st.generation,
        }
    }

    /// One step of commit: done, or become the leader and write, or register
    /// `notified` (under the lock, so no wakeup is lost) and wait.
    pub(crate) fn commit_step(&self, ticket: Ticket, notified: Pin<&mut Notified<'_>>) -> Step {
        let mut st = self.lock();
        loop {
            if let Some(result) = st.resolve(ticket) {
                return Step::Done(result);
            }
            if st.writer_active {
                notified.enable();
                return Step::Wait;
            }
            st = self.write_batch(st);
        }
    }

    /// Strict mode: done once an fdatasync has covered `seq`.
    pub(crate) fn sync_step(&self, seq: u64, notified: Pin<&mut Notified<'_>>) -> Step {
        let st = self.lock();
        if st.synced_seq >= seq {
            return Step::Done(Ok(()));
        }
        if let Some(reason) = &st.fatal {
            return Step::Done(Err(AuditError::WriteFailed(reason.clone())));
        }
        notified.enable();
        self.sync_cv.notify_one();
        Step::Wait
    }

    /// Writes the pending buffer if nobody else is; for callers that cannot
    /// await (the syncer thread, open).
    pub(crate) fn write_pending_blocking(&self) {
        let st = self.lock();
        if !st.writer_active && !st.pending.is_empty() {
            drop(self.write_batch(st));
        }
    }

    /// Confirms a ticket without waiting; `None` while still in flight.
    pub(crate) fn resolve(&self, ticket: Ticket) -> Option<Result<(), AuditError>> {
        self.lock().resolve(ticket)
    }

    /// The leader's job: one write(2) for everything pending. Called with the
    /// lock held and no writer active; returns with the lock re-taken.
    fn write_batch<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        st.writer_active = true;
        let spare = std::mem::take(&mut st.spare);
        let mut batch = std::mem::replace(&mut st.pending, spare);
        let batch_last_seq = st.next_seq - 1;
        let batch_last_hash = st.prev_hash;
        let good_len = st.written_len;
        drop(st);

        let started = Instant::now();
        let result = self.file.append(&batch);
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        // A partial write leaves half a line; cut it before anyone appends
        // after it, still outside the lock.
        let repair = match &result {
            Ok(()) => Ok(()),
            Err(_) => self.file.truncate(good_len),
        };

        let mut st = self.lock();
        match result {
            Ok(()) => {
                st.written_seq = batch_last_seq;
                st.written_len += batch.len() as u64;
                st.written_hash = batch_last_hash;
                self.counters.wrote(batch.len() as u64, latency_us);
            }
            Err(err) => {
                self.counters.write_failed();
                let reason = format!("audit write failed: {err}");
                tracing::error!(error = %err, "audit log write failed; discarding in-flight records");
                if let Err(repair_err) = repair {
                    tracing::error!(error = %repair_err, "could not truncate audit log after failed write");
                    st.fatal = Some(format!(
                        "{reason}; truncating the torn batch also failed: {repair_err}"
                    ));
                }
                // Everything appended since the last good write chains onto
                // records that are not in the file: drop it all and restart
                // the chain from the last record that is.
                let ended = EndedGeneration {
                    generation: st.generation,
                    written_seq: st.written_seq,
                    reason,
                };
                if st.ended.len() == ENDED_GENERATIONS_KEPT {
                    st.ended.pop_front();
                }
                st.ended.push_back(ended);
                st.generation += 1;
                st.next_seq = st.written_seq + 1;
                st.prev_hash = st.written_hash;
                // The last good record may or may not be a checkpoint; sealing it twice is
                // harmless, not sealing it is not.
                st.last_is_checkpoint = false;
                st.pending.clear();
            }
        }
        batch.clear();
        st.spare = batch;
        st.writer_active = false;
        self.written.notify_waiters();
        if self.strict {
            self.sync_cv.notify_one();
        }
        st
    }

    /// fdatasync whatever has been written and not yet synced.
    pub(crate) fn sync_now(&self) -> Result<(), AuditError> {
        let target = {
            let st = self.lock();
            if let Some(reason) = &st.fatal {
                return Err(AuditError::WriteFailed(reason.clone()));
            }
            if st.synced_seq >= st.written_seq {
                return Ok(());
            }
            st.written_seq
        };
        let result = self.file.sync_data();
        let mut st = self.lock();
        let outcome = match result {
            Ok(()) => {
                st.synced_seq = st.synced_seq.max(target);
                self.counters.synced();
                Ok(())
            }
            Err(err) => {
                // After a failed fdatasync the kernel may have dropped the
                // dirty pages, so a retry can "succeed" over lost data: treat
                // the log as unusable rather than believe it.
                self.counters.sync_failed();
                let reason = format!("audit fdatasync failed: {err}");
                tracing::error!(error = %err, "audit log fdatasync failed; log is now unusable");
                st.fatal = Some(reason.clone());
                Err(AuditError::WriteFailed(reason))
            }
        };
        drop(st);
        self.synced.notify_waiters();
        outcome
    }

    /// Stops new appends; the syncer notices `shutdown` and exits.
    pub(crate) fn shut_down(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.shutdown = true;
        drop(st);
        self.sync_cv.notify_all();
    }

    /// Blocks the syncer until it has work. Returns `None` on shutdown, else
    /// whether the wait ended by timeout (time for housekeeping).
    pub(crate) fn wait_for_sync_work(&self, period: std::time::Duration) -> Option<bool> {
        let deadline = Instant::now() + period;
        let mut st = self.lock();
        loop {
            if st.shutdown {
                return None;
            }
            if self.strict && st.written_seq > st.synced_seq && st.fatal.is_none() {
                return Some(false);
            }
            let now = Instant::now();
            if now >= deadline {
                return Some(true);
            }
            st = self
                .sync_cv
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}
