//! The HTTPS listener for HTTP services and Kubernetes API servers: sluice-net's accept loop,
//! the gateway's certificate with ALPN for HTTP/2 and HTTP/1.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use sluice_core::config::{HttpRouting, TargetKind};
use sluice_core::workers::Workers;
use sluice_core::Gateway;
use sluice_net::listener::Listener;
use sluice_net::{tls, ShutdownPhase};

use crate::connection::{self, Context};
use crate::relay::exchange::Limits;
use crate::{Endpoint, HttpError};

/// The HTTPS listener of a gateway.
pub struct HttpServer {
    listener: Listener,
    context: Arc<Context>,
}

impl HttpServer {
    pub async fn bind(
        gateway: Gateway,
        addr: SocketAddr,
        workers: Arc<Workers>,
    ) -> Result<HttpServer, HttpError> {
        let config = gateway.config();
        let settings = config.http.clone().unwrap_or_default();
        let tls = tls::server_config(
            (settings.tls_cert.as_deref(), settings.tls_key.as_deref()),
            &config.gateway.data_dir,
            &[b"h2", b"http/1.1"],
        )
        .map_err(|e| HttpError::Listener(e.to_string()))?;
        let listener = Listener::bind(addr, config.gateway.max_connections, workers, "http")
            .await
            .map_err(|e| HttpError::Listener(format!("cannot listen on {addr}: {e}")))?;
        Ok(HttpServer {
            listener,
            context: Arc::new(Context {
                tls: TlsAcceptor::from(tls),
                routing: settings.routing,
                domain: settings.domain.map(|d| d.to_ascii_lowercase()),
                limits: Limits {
                    max_request_body: settings.max_request_body,
                    max_masked_body: settings.max_masked_body,
                },
                idle_timeout: Duration::from_secs(settings.idle_timeout_seconds.max(1)),
                endpoint: None,
                gateway,
            }),
        })
    }

    /// Serves `endpoint` at its path beside the targets. Under path routing a target of the
    /// same name as the path's first segment could no longer be reached, so that is refused.
    pub fn with_endpoint(mut self, endpoint: Arc<dyn Endpoint>) -> Result<HttpServer, HttpError> {
        let context = Arc::get_mut(&mut self.context)
            .ok_or_else(|| HttpError::Listener("the listener is already serving".to_owned()))?;
        if context.routing == HttpRouting::Path {
            let first = endpoint.path().trim_start_matches('/');
            let first = first.split('/').next().unwrap_or(first);
            if let Some(t) = context.gateway.config().targets.iter().find(|t| {
                t.name == first && matches!(t.kind, TargetKind::Http | TargetKind::Kubernetes)
            }) {
                return Err(HttpError::Listener(format!(
                    "target {:?} has the name of the listener's {} path: rename it, or use \
                     routing = \"host\"",
                    t.name,
                    endpoint.path()
                )));
            }
        }
        context.endpoint = Some(endpoint);
        Ok(self)
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `control` leaves `Running`, then drains within `grace`.
    pub async fn run(self, control: Arc<watch::Sender<ShutdownPhase>>, grace: Duration) {
        let context = self.context.clone();
        let metrics = context.gateway.metrics();
        // Over the connection limit the socket is closed before TLS: nothing readable fits.
        self.listener
            .run(control, grace, metrics, Bytes::new(), {
                let context = context.clone();
                move |tcp, peer, shutdown| connection::serve(context.clone(), tcp, peer, shutdown)
            })
            .await;
    }
}
