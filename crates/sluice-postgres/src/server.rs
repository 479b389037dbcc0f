//! The listener: accepts connections under a limit and runs each in its own task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use sluice_core::workers::Workers;
use sluice_core::Gateway;

use crate::cancel::CancelRegistry;
use crate::connection::{self, Context};
use crate::error::PgError;
use crate::{tls, ShutdownPhase};

/// The PostgreSQL listener of a gateway.
pub struct PgServer {
    listener: TcpListener,
    context: Arc<Context>,
    limit: Arc<Semaphore>,
    workers: Arc<Workers>,
}

impl PgServer {
    /// Binds the listener and prepares TLS (generating a self-signed certificate on first use).
    /// Sessions run on `workers`, one worker per session for its whole life.
    pub async fn bind(
        gateway: Gateway,
        addr: SocketAddr,
        workers: Arc<Workers>,
    ) -> Result<PgServer, PgError> {
        let config = gateway.config();
        let tls = tls::server_config(&config.postgres, &config.gateway.data_dir)?;
        let listener = TcpListener::bind(addr).await?;
        let limit = Arc::new(Semaphore::new(config.gateway.max_connections));
        Ok(PgServer {
            listener,
            limit,
            workers,
            context: Arc::new(Context {
                tls: Some(TlsAcceptor::from(tls)),
                cancels: CancelRegistry::default(),
                gateway,
                catalog: Default::default(),
            }),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `control` leaves `Running`; then stops accepting, lets sessions finish
    /// their current request within `grace`, and forces the rest.
    pub async fn run(self, control: Arc<watch::Sender<ShutdownPhase>>, grace: Duration) {
        let mut shutdown = control.subscribe();
        let mut sessions = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => self.admit(&mut sessions, tcp, peer, shutdown.clone()),
                    Err(e) => {
                        // Out of file descriptors and the like: back off rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = shutdown.changed() => break,
                Some(_) = sessions.join_next() => {}
            }
        }
        drop(self.listener);
        tracing::info!(
            sessions = sessions.len(),
            "postgres listener stopped accepting; draining"
        );
        let drained = tokio::time::timeout(grace, async {
            while sessions.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                sessions = sessions.len(),
                "grace period over; ending remaining sessions"
            );
            let _ = control.send(ShutdownPhase::Forced);
            let last_call = tokio::time::timeout(Duration::from_secs(5), async {
                while sessions.join_next().await.is_some() {}
            })
            .await;
            if last_call.is_err() {
                sessions.abort_all();
            }
        }
    }

    fn admit(
        &self,
        sessions: &mut JoinSet<()>,
        tcp: TcpStream,
        peer: SocketAddr,
        shutdown: watch::Receiver<ShutdownPhase>,
    ) {
        let Ok(permit) = self.limit.clone().try_acquire_owned() else {
            self.context.gateway.metrics().connections_rejected.inc();
            tokio::spawn(refuse_over_limit(tcp));
            return;
        };
        let context = self.context.clone();
        // The socket moves to the worker's own I/O driver: deregister here, register there.
        let tcp = match tcp.into_std() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "could not hand a connection to a worker");
                return;
            }
        };
        sessions.spawn_on(
            async move {
                match TcpStream::from_std(tcp) {
                    Ok(tcp) => connection::serve(context, tcp, peer, shutdown).await,
                    Err(e) => tracing::warn!(error = %e, "worker could not adopt a connection"),
                }
                drop(permit);
            },
            self.workers.pick(),
        );
    }
}

/// Over the connection limit: answer like PostgreSQL does (53300) and close.
async fn refuse_over_limit(mut tcp: TcpStream) {
    let mut out = BytesMut::new();
    PgError::refused("53300", "too many connections to the gateway").write_fatal(&mut out);
    let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(&out)).await;
}
