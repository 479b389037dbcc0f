//! The PostgreSQL listener: sluice-net's accept loop, with PostgreSQL's TLS (its ALPN name
//! for direct TLS) and its over-the-limit refusal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use sluice_core::workers::Workers;
use sluice_core::Gateway;
use sluice_net::listener::Listener;
use sluice_net::{tls, ShutdownPhase};

use crate::cancel::CancelRegistry;
use crate::connection::{self, Context};
use crate::error::PgError;

/// The PostgreSQL listener of a gateway.
pub struct PgServer {
    listener: Listener,
    context: Arc<Context>,
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
        let listener_config = &config.postgres;
        // Direct TLS (PostgreSQL 17's sslnegotiation=direct) requires this ALPN protocol.
        let tls = tls::server_config(
            (
                listener_config.tls_cert.as_deref(),
                listener_config.tls_key.as_deref(),
            ),
            &config.gateway.data_dir,
            &[b"postgresql"],
        )?;
        let listener =
            Listener::bind(addr, config.gateway.max_connections, workers, "postgres").await?;
        Ok(PgServer {
            listener,
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

    /// Serves until `control` leaves `Running`, then drains within `grace`.
    pub async fn run(self, control: Arc<watch::Sender<ShutdownPhase>>, grace: Duration) {
        // Over the connection limit: answer like PostgreSQL does (53300) and close.
        let mut over_limit = BytesMut::new();
        PgError::refused("53300", "too many connections to the gateway")
            .write_fatal(&mut over_limit);
        let context = self.context.clone();
        let metrics = context.gateway.metrics();
        let serving = self
            .listener
            .run(control, grace, metrics, over_limit.freeze(), {
                let context = context.clone();
                move |tcp, peer, shutdown| connection::serve(context.clone(), tcp, peer, shutdown)
            });
        // Cancels other gateways on the store pass on for this one's keys, while it serves.
        tokio::select! {
            () = serving => {}
            () = async {
                context.cancels.serve_cluster(&context.gateway).await;
                std::future::pending::<()>().await
            } => {}
        }
    }
}
