//! The accept loop: connections under a limit, each run in its own task on a session worker,
//! and on shutdown a drain within the grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use sluice_core::metrics::Metrics;
use sluice_core::workers::Workers;

use crate::ShutdownPhase;

/// One protocol's listening socket.
pub struct Listener {
    listener: TcpListener,
    limit: Arc<Semaphore>,
    workers: Arc<Workers>,
    /// The protocol's name, for log lines.
    protocol: &'static str,
}

impl Listener {
    pub async fn bind(
        addr: SocketAddr,
        max_connections: usize,
        workers: Arc<Workers>,
        protocol: &'static str,
    ) -> std::io::Result<Listener> {
        Ok(Listener {
            listener: TcpListener::bind(addr).await?,
            limit: Arc::new(Semaphore::new(max_connections)),
            workers,
            protocol,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `control` leaves `Running`; then stops accepting, lets sessions finish
    /// their current request within `grace`, and forces the rest. A connection over the
    /// limit is sent `over_limit` (the protocol's "too many connections") and closed.
    pub async fn run<S, F>(
        self,
        control: Arc<watch::Sender<ShutdownPhase>>,
        grace: Duration,
        metrics: &Metrics,
        over_limit: Bytes,
        serve: S,
    ) where
        S: Fn(TcpStream, SocketAddr, watch::Receiver<ShutdownPhase>) -> F + Clone + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let mut shutdown = control.subscribe();
        let mut sessions = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let Ok(permit) = self.limit.clone().try_acquire_owned() else {
                            metrics.connections_rejected.inc();
                            tokio::spawn(refuse(tcp, over_limit.clone()));
                            continue;
                        };
                        // The socket moves to the worker's own I/O driver: deregister here,
                        // register there.
                        let tcp = match tcp.into_std() {
                            Ok(t) => t,
                            Err(e) => {
                                tracing::warn!(error = %e, "could not hand a connection to a worker");
                                continue;
                            }
                        };
                        let serve = serve.clone();
                        let shutdown = shutdown.clone();
                        sessions.spawn_on(
                            async move {
                                match TcpStream::from_std(tcp) {
                                    Ok(tcp) => serve(tcp, peer, shutdown).await,
                                    Err(e) => tracing::warn!(error = %e, "worker could not adopt a connection"),
                                }
                                drop(permit);
                            },
                            self.workers.pick(),
                        );
                    }
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
            protocol = self.protocol,
            sessions = sessions.len(),
            "listener stopped accepting; draining"
        );
        let drained = tokio::time::timeout(grace, async {
            while sessions.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                protocol = self.protocol,
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
}

async fn refuse(mut tcp: TcpStream, bytes: Bytes) {
    // A client that does not read must not hold the task: one second, then give up.
    let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(&bytes)).await;
}
