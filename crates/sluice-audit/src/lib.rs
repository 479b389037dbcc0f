//! Tamper-evident, append-only, hash-chained audit trail for the sluice gateway.
//!
//! Every record is one JSON line carrying `seq`, a microsecond UTC `time`,
//! `prev`, the SHA-256 of the previous line's exact bytes, and (for a named
//! gateway, see [`AuditLog::open_named`]) `gateway`, so editing, deleting or
//! reordering any line breaks the chain at the next one and [`verify`] names
//! where. Each gateway writes its own chain; [`verify_trails`] and
//! [`MergedTrails`] take several gateways' chains together.
//!
//! The log sits on the hot path of every SQL statement. [`AuditLog::append`]
//! only chains the record into memory under a short mutex; [`AuditLog::commit`]
//! does group commit: the first committer that finds no write in flight writes
//! every pending record of every session in one write(2), inline, and the
//! others wait for it. No lock is held across a syscall. A background thread
//! fdatasyncs, either on an interval ([`Durability::Buffered`]) or after every
//! write with commits waiting for it ([`Durability::Strict`]).
//!
//! A failed write (disk full, EIO) truncates the file back to the last good
//! record, fails exactly the records in flight with
//! [`AuditError::WriteFailed`], and the chain continues from the last good
//! record, so the caller can fail those statements closed and carry on.
//!
//! # Layout
//!
//! - `event.rs`: [`AuditEvent`] and its parts ([`Decision`], [`Outcome`]).
//! - `record.rs`: [`AuditRecord`], line encoding and hashing.
//! - `log.rs`: [`AuditLog`], [`Durability`], open (named or not)/append/commit/flush.
//! - `shared.rs`: state shared by clones; the group-commit leader step.
//! - `syncer.rs`: the fdatasync background thread.
//! - `tail.rs`: resuming the chain at open and cutting a torn tail.
//! - `sink.rs`: the file operations, behind a trait for fault injection.
//! - `stats.rs`: [`AuditStats`] counters.
//! - `lines.rs`: streaming lines with their exact bytes.
//! - `checkpoint.rs`: [`CheckpointSigner`] / [`CheckpointVerifier`], Ed25519-signed
//!   checkpoints of the chain head, written by [`AuditLog::checkpoint`].
//! - `verify.rs`: [`verify`] / [`verify_with_key`], the offline check of the chain and its
//!   checkpoints, reporting every [`Finding`].
//! - `search.rs`: [`search`] with a [`SearchFilter`].
//! - `sessions.rs`: [`sessions`] from their records, and [`RecordingSeal::check`] of a stored
//!   recording against its seal.
//! - `trails.rs`: several gateways' chains together: [`verify_trails`] checks a set (and that
//!   no two files claim one gateway), [`MergedTrails`] reads them merged in time order.
//! - `error.rs`: [`AuditError`].

mod checkpoint;
mod error;
mod event;
mod lines;
mod log;
mod record;
mod search;
mod sessions;
mod shared;
mod sink;
mod stats;
mod syncer;
mod tail;
mod trails;
mod verify;

#[cfg(test)]
mod tests;

pub use checkpoint::{
    checkpoint_message, key_id, CheckpointInvalid, CheckpointSigner, CheckpointVerifier,
    CheckpointWritten, CHECKPOINT_DOMAIN,
};
pub use error::AuditError;
pub use event::{AuditEvent, Decision, Masked, Outcome, RecordingSeal};
pub use log::{AuditLog, Durability};
pub use record::{hash_line, AuditRecord, GENESIS_PREV};
pub use search::{search, SearchFilter};
pub use sessions::{sessions, SealCheck, SessionSummary};
pub use shared::Ticket;
pub use stats::AuditStats;
pub use trails::{verify_trails, MergedRecord, MergedTrails, TrailReport};
pub use verify::{
    verify, verify_with_key, verify_with_keys, BrokenLink, Finding, FindingKind, VerifyReport,
};
