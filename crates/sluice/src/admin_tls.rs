//! The admin listener over HTTPS: the same Router as the plain listener, served by hyper on
//! TLS streams because `axum::serve` only takes plain TCP.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// Longest a client may take over its TLS handshake, and then over a request's headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; the next wait in the kernel's backlog until one ends.
const MAX_CONNECTIONS: usize = 1024;
/// How long requests in flight at stop get to finish before their connections are dropped.
/// Short: the admin listener stops after the data listeners have drained.
const DRAIN: Duration = Duration::from_secs(10);

/// The certificate and key from `[admin]`, loaded by the same builder as the data listeners'.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, sluice_net::NetError> {
    // The data directory only matters when no pair is given, which never reaches here.
    sluice_net::tls::server_config((Some(cert), Some(key)), Path::new("."), &[b"http/1.1"])
}

/// Serves `app` over TLS until `stop` turns true (or its sender goes away), then stops
/// accepting and lets requests in flight finish within `DRAIN`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Arc<ServerConfig>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        let (tcp, permit) = tokio::select! {
            _ = stopped(&mut stop) => break,
            // Finished connections are reaped as they end, so the set stays at most the limit.
            Some(_) = connections.join_next() => continue,
            accepted = accept(&listener, &limit) => match accepted {
                Some(accepted) => accepted,
                None => continue,
            },
        };
        connections.spawn(connection(
            tcp,
            acceptor.clone(),
            app.clone(),
            stop.clone(),
            permit,
        ));
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "admin listener: requests still running after the drain period; dropping them"
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
    Ok(())
}

/// A free slot, then a connection. Waiting for the slot first leaves excess clients in the
/// backlog instead of accepting sockets that cannot be served.
async fn accept(
    listener: &TcpListener,
    limit: &Arc<Semaphore>,
) -> Option<(tokio::net::TcpStream, OwnedSemaphorePermit)> {
    // The semaphore is never closed, so this only fails if that changes; then serve nothing.
    let permit = limit.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((tcp, _)) => Some((tcp, permit)),
        Err(error) => {
            // Out of file descriptors and the like: back off rather than spin.
            tracing::warn!(%error, "admin listener: accept failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// One client: the handshake here, not in the accept loop, so a client that stalls in it
/// holds only its own slot.
async fn connection(
    tcp: tokio::net::TcpStream,
    acceptor: TlsAcceptor,
    app: Router,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    // The client's address, for failed-login limits and audit, as the plain listener records
    // it through axum's connect info.
    let app = match tcp.peer_addr() {
        Ok(peer) => app.layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        Err(_) => app,
    };
    let tls = tokio::select! {
        _ = stopped(&mut stop) => return,
        handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => {
            match handshake {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "admin listener: TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("admin listener: TLS handshake timed out");
                    return;
                }
            }
        }
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // Without a timer hyper has no header deadline, and a client could hold its slot forever
    // by never finishing a request.
    http.timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT);
    let conn = http.serve_connection(TokioIo::new(tls), TowerToHyperService::new(app));
    tokio::pin!(conn);
    let served = tokio::select! {
        served = conn.as_mut() => served,
        _ = stopped(&mut stop) => {
            // Ends an idle keep-alive connection now and a busy one after its response.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = served {
        tracing::debug!(%error, "admin listener: connection ended with an error");
    }
}

/// Resolves once the gateway stops; a dropped sender counts as a stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
