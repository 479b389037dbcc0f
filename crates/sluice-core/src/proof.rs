//! The proofs that order the enforcement sequence for every protocol: a request's audit record
//! is appended to an [`AuditBatch`], [`Session::seal`](crate::Session::seal) turns the batch
//! into a [`Sealed`] once the records are durable, and the only way to write to a target is
//! [`UpstreamWriter::forwarding`], which consumes one.
//!
//! A protocol crate cannot make any of these itself: the fields are private, `Sealed` has no
//! public constructor and is neither `Clone` nor `Copy`, and the writer is handed out by
//! [`Session::upstream_writer`](crate::Session::upstream_writer). So bytes reach a target only
//! after a seal, and each seal lets one write through.

use std::io;

use sluice_audit::Ticket;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The audit records of one batch of requests, appended but not yet durable.
#[derive(Default)]
pub struct AuditBatch {
    pub(crate) tickets: Vec<Ticket>,
    /// Bytes of this batch that are not covered by its tickets are accounted for: the
    /// protocol declared them request-free, or their record was made durable earlier.
    accounted: bool,
}

impl AuditBatch {
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }

    /// Declares that bytes forwarded with this batch include protocol messages that carry no
    /// request of their own: they complete, describe or pace requests already decided and
    /// audited (PostgreSQL's Bind, Describe, Sync, CopyData of an admitted COPY; SSH's window
    /// adjustments). Without a record or this declaration, a non-empty write is refused.
    pub fn carries_no_request(&mut self) {
        self.accounted = true;
    }

    /// A request of this batch had its record made durable before (a held statement, whose
    /// record is sealed before its review opens, approved now).
    pub(crate) fn audited_before(&mut self) {
        self.accounted = true;
    }

    /// Whether bytes beyond the tickets are accounted for; used up by the seal.
    pub(crate) fn take_accounted(&mut self) -> bool {
        std::mem::take(&mut self.accounted)
    }
}

/// Proof that the records of one batch are durable, bound to the session and to what it
/// sealed; consumed by the one write it allows.
#[must_use = "bytes reach the target only through UpstreamWriter::forwarding with a Sealed"]
#[derive(Debug)]
pub struct Sealed {
    session: usize,
    records: usize,
    accounted: bool,
}

impl Sealed {
    pub(crate) fn new(session: usize, records: usize, accounted: bool) -> Sealed {
        Sealed {
            session,
            records,
            accounted,
        }
    }

    /// How many audit records the seal made durable.
    pub fn records(&self) -> usize {
        self.records
    }
}

/// The session's write side towards its target, usable only with a [`Sealed`].
pub struct UpstreamWriter<W> {
    writer: W,
    session: usize,
    /// The small parts of one sealed write, sent with one `write(2)` at its end: on loopback
    /// every send also pays the receiver's TCP processing and wakeup, which made a
    /// PostgreSQL Bind, the gateway's own Describe and Execute-Sync cost three sends instead
    /// of one (docs/benchmarks.md). Emptied at every finish; kept small between batches.
    gather: Vec<u8>,
}

/// Parts up to this size are gathered; a larger part is written as it is, after what was
/// gathered before it, so a big COPY or bulk insert is not copied.
const GATHER_PART_MAX: usize = 16 * 1024;

impl<W: AsyncWrite + Unpin> UpstreamWriter<W> {
    pub(crate) fn new(writer: W, session: usize) -> Self {
        UpstreamWriter {
            writer,
            session,
            gather: Vec::new(),
        }
    }

    /// Starts the one write `sealed` allows.
    pub fn forwarding(&mut self, sealed: Sealed) -> Forwarding<'_, W> {
        let refusal = if sealed.session != self.session {
            Some("sluice: a seal of another session cannot forward this session's bytes")
        } else if sealed.records == 0 && !sealed.accounted {
            Some(
                "sluice: bytes reached the target's writer with no audit record and no \
                 declaration that they carry no request; the session ends rather than forward \
                 them",
            )
        } else {
            None
        };
        // A write abandoned before its finish (an error on the way) leaves its parts here;
        // they belong to that seal, never to this one.
        self.gather.clear();
        Forwarding {
            writer: &mut self.writer,
            gather: &mut self.gather,
            refusal,
            wrote: false,
        }
    }
}

/// One sealed write in progress: the parts of a batch, in order, then one flush. Small parts
/// are only gathered until [`Forwarding::finish`], which must be called.
#[must_use = "gathered parts reach the target only at Forwarding::finish"]
pub struct Forwarding<'w, W> {
    writer: &'w mut W,
    gather: &'w mut Vec<u8>,
    /// Why the seal lets no bytes through; an empty part is still fine.
    refusal: Option<&'static str>,
    wrote: bool,
}

impl<W: AsyncWrite + Unpin> Forwarding<'_, W> {
    pub async fn write(&mut self, part: &[u8]) -> io::Result<()> {
        if part.is_empty() {
            return Ok(());
        }
        if let Some(why) = self.refusal {
            return Err(io::Error::other(why));
        }
        self.wrote = true;
        if part.len() <= GATHER_PART_MAX {
            self.gather.extend_from_slice(part);
            return Ok(());
        }
        self.write_gathered().await?;
        self.writer.write_all(part).await
    }

    async fn write_gathered(&mut self) -> io::Result<()> {
        if !self.gather.is_empty() {
            self.writer.write_all(self.gather).await?;
            self.gather.clear();
        }
        Ok(())
    }

    /// Writes what was gathered and flushes, if anything was written.
    pub async fn finish(mut self) -> io::Result<()> {
        if self.wrote {
            self.write_gathered().await?;
            self.writer.flush().await?;
        }
        if self.gather.capacity() > 4 * GATHER_PART_MAX {
            // Many parts in one batch (a pipelined burst): give the memory back.
            *self.gather = Vec::new();
        }
        Ok(())
    }
}
