//! The MySQL listener: sluice-net's accept loop, with the gateway's certificate for TLS and
//! MySQL's "too many connections" refusal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use sluice_core::workers::Workers;
use sluice_core::Gateway;
use sluice_mywire::response::put_err;
use sluice_net::listener::Listener;
use sluice_net::{tls, ShutdownPhase};

use crate::connection::{self, Context};
use crate::error::MyError;
use crate::rsa_key::RsaKey;

/// The MySQL listener of a gateway.
pub struct MysqlServer {
    listener: Listener,
    context: Arc<Context>,
}

impl MysqlServer {
    pub async fn bind(
        gateway: Gateway,
        addr: SocketAddr,
        workers: Arc<Workers>,
    ) -> Result<MysqlServer, MyError> {
        let config = gateway.config();
        let (cert, key) = config
            .mysql
            .as_ref()
            .map(|m| (m.tls_cert.as_deref(), m.tls_key.as_deref()))
            .unwrap_or_default();
        let tls = tls::server_config((cert, key), &config.gateway.data_dir, &[])?;
        let listener =
            Listener::bind(addr, config.gateway.max_connections, workers, "mysql").await?;
        let rsa = RsaKey::new(&config.gateway.data_dir);
        Ok(MysqlServer {
            listener,
            context: Arc::new(Context {
                tls: Some(TlsAcceptor::from(tls)),
                gateway,
                rsa,
                registry: Default::default(),
            }),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `control` leaves `Running`, then drains within `grace`.
    pub async fn run(self, control: Arc<watch::Sender<ShutdownPhase>>, grace: Duration) {
        let mut over_limit = BytesMut::new();
        put_err(
            &mut over_limit,
            0,
            1040,
            "08004",
            "sluice: too many connections to the gateway",
        );
        let context = self.context.clone();
        let metrics = context.gateway.metrics();
        self.listener
            .run(control, grace, metrics, over_limit.freeze(), {
                let context = context.clone();
                move |tcp, peer, shutdown| connection::serve(context.clone(), tcp, peer, shutdown)
            })
            .await;
    }
}
