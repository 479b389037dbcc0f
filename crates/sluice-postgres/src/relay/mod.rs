//! The relay of an authenticated session: two halves joined in one task.
//!
//! The client half reads client messages, decides and audits each request, seals the audit
//! batch, and only then writes the bytes upstream. The server half reads the target's
//! responses, pairs them with the expected responses the client half queued, audits each
//! statement's outcome, and relays the bytes. Each half reads and writes independently, so a
//! client that floods requests without reading cannot deadlock the gateway against the target.
//! Bytes are relayed as received, one write per read batch, never re-encoded.

mod backend;
mod expect;
mod frontend;
mod masking;
mod recording;
mod settings;

use bytes::BytesMut;
use tokio::io::{AsyncWriteExt, WriteHalf};
use tokio::sync::watch;

use sluice_core::sequence::Relayed;
use sluice_core::{Session, Traffic};

use crate::error::PgError;
use crate::upstream::Upstream;
use crate::ShutdownPhase;
use sluice_net::stream::{ClientStream, UpstreamStream};

pub use backend::BackendEnd;
use backend::BackendHalf;
use frontend::{FrontendEnd, FrontendHalf};

/// The writing side toward the client, shared by the server half and the final error report.
/// Every byte sent to the client goes through [`Downstream::send`], which counts it.
pub struct Downstream<'s> {
    writer: WriteHalf<ClientStream>,
    metrics: &'s sluice_core::metrics::Metrics,
    /// True while a write is in progress: a write cut short leaves a partial message, after
    /// which nothing more may be sent.
    mid_write: bool,
    bytes: u64,
}

impl Downstream<'_> {
    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.mid_write = true;
        self.writer.write_all(bytes).await?;
        self.writer.flush().await?;
        self.mid_write = false;
        self.bytes += bytes.len() as u64;
        self.metrics.bytes_to_clients.add(bytes.len() as u64);
        Ok(())
    }

    /// Sends a last FATAL error if the stream is at a message boundary.
    pub async fn send_fatal(&mut self, error: &PgError) {
        if self.mid_write {
            return;
        }
        let mut out = BytesMut::new();
        error.write_fatal(&mut out);
        let _ = self.send(&out).await;
    }
}

pub struct RelaySettings {
    pub max_message_bytes: usize,
    pub shutdown: watch::Receiver<ShutdownPhase>,
    pub catalog: std::sync::Arc<crate::catalog::CatalogCache>,
    /// How the client's CancelRequest reaches a statement held for approval.
    pub hold_cancel: std::sync::Arc<crate::cancel::HoldCancel>,
}

/// Runs the session until either side ends it and audits every statement still in flight;
/// the session's end is the sequence's to audit.
pub async fn run(
    session: &Session,
    client: ClientStream,
    upstream: Upstream,
    settings: RelaySettings,
) -> Relayed<Closing, PgError> {
    let (client_reader, client_writer) = tokio::io::split(client);
    let (upstream_reader, upstream_writer) = tokio::io::split::<UpstreamStream>(upstream.stream);
    let queue = expect::ExpectQueue::new(settings::ServerSettings::from_announcements(
        &upstream.announcements,
    ));
    let mut downstream = Downstream {
        writer: client_writer,
        metrics: session.gateway().metrics(),
        mid_write: false,
        bytes: 0,
    };
    let mut front = FrontendHalf::new(
        session,
        client_reader,
        upstream_writer,
        queue.clone(),
        settings.max_message_bytes,
        settings.hold_cancel,
    );
    let mut back = BackendHalf::new(
        session,
        upstream_reader,
        queue,
        upstream.leftover,
        settings.shutdown,
        settings.catalog,
        settings.max_message_bytes,
    );

    let (reason, error) = tokio::select! {
        biased;
        end = front.run() => match end {
            Ok(FrontendEnd::Terminated) => ("client terminated the session".to_owned(), None),
            Ok(FrontendEnd::Disconnected) => ("client disconnected".to_owned(), None),
            Err(e) => (e.to_string(), Some(e)),
        },
        end = back.run(&mut downstream) => match end {
            Ok(BackendEnd::TargetClosed) => ("target closed the connection".to_owned(), None),
            Ok(BackendEnd::ClientGone) => ("client disconnected".to_owned(), None),
            Ok(BackendEnd::Shutdown) => {
                let e = PgError::refused("57P01", "terminating connection because the gateway is shutting down");
                ("gateway shutdown".to_owned(), Some(e))
            }
            Err(e) => (e.to_string(), Some(e)),
        },
        // Raced once per session, not per message: a session cannot outlive its credential.
        ended = session.credential_ended() => {
            let e = PgError::refused(
                "57P01",
                format!("sluice: terminating connection because {ended}; sign in again for a new credential"),
            );
            (ended, Some(e))
        }
    };
    if let Some(e) = &error {
        downstream.send_fatal(e).await;
    }
    back.abandon_pending(&reason);
    let metrics = session.gateway().metrics();
    if matches!(error, Some(ref e) if !matches!(e, PgError::ClientRefused(_))) {
        metrics.session_errors.inc();
    }
    let traffic = Traffic {
        from_client: front.bytes_read(),
        to_client: downstream.bytes,
    };
    Relayed {
        reason,
        traffic,
        closing: Closing {
            writer: downstream.writer,
            cancel_key: None,
        },
        error,
    }
}

/// What stays open until the session's end is audited.
pub struct Closing {
    writer: WriteHalf<ClientStream>,
    /// Forgotten (and so unusable) once the session has ended.
    pub cancel_key: Option<crate::cancel::CancelKey>,
}

impl Closing {
    pub async fn close(mut self) {
        let _ = self.writer.shutdown().await;
        drop(self.cancel_key);
    }
}
