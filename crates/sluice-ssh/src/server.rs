//! The SSH listener: sluice-net's accept loop, the gateway's host key, and russh's settings
//! for the client side.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use russh::keys::PrivateKey;
use tokio::sync::watch;

use sluice_core::workers::Workers;
use sluice_core::Gateway;
use sluice_net::listener::Listener;
use sluice_net::ShutdownPhase;

use crate::connection::{self, Context};
use crate::error::SshError;
use crate::host_key;
use crate::upstream::{PACKET, WINDOW};

/// The SSH listener of a gateway.
pub struct SshServer {
    listener: Listener,
    context: Arc<Context>,
    fingerprint: String,
}

impl SshServer {
    pub async fn bind(
        gateway: Gateway,
        addr: SocketAddr,
        workers: Arc<Workers>,
    ) -> Result<SshServer, SshError> {
        let config = gateway.config();
        let ssh = config.ssh.clone().unwrap_or_default();
        let path = ssh
            .host_key_file
            .clone()
            .unwrap_or_else(|| host_key::default_path(&config.gateway.data_dir));
        let key = host_key::load_or_create(&path)?;
        let fingerprint = host_key::fingerprint(&key);
        let listener = Listener::bind(addr, config.gateway.max_connections, workers, "ssh").await?;
        Ok(SshServer {
            listener,
            context: Arc::new(Context {
                russh: Arc::new(russh_config(key)),
                password_auth: ssh.password_auth,
                default_target: ssh.default_target,
                gateway,
            }),
            fingerprint,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The host key's fingerprint (`SHA256:...`), for operators to hand to their users.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Serves until `control` leaves `Running`, then drains within `grace`.
    pub async fn run(self, control: Arc<watch::Sender<ShutdownPhase>>, grace: Duration) {
        // Before any SSH is spoken a client reads the server's identification line; a line
        // that is not one ends the attempt with this text shown.
        let over_limit = Bytes::from_static(b"sluice: too many connections to the gateway\r\n");
        let context = self.context.clone();
        let metrics = context.gateway.metrics();
        self.listener
            .run(control, grace, metrics, over_limit, {
                let context = context.clone();
                move |tcp, peer, shutdown| connection::serve(context.clone(), tcp, peer, shutdown)
            })
            .await;
    }
}

fn russh_config(key: PrivateKey) -> russh::server::Config {
    russh::server::Config {
        server_id: russh::SshId::Standard(
            format!("SSH-2.0-sluice_{}", env!("CARGO_PKG_VERSION")).into(),
        ),
        keys: vec![key],
        // Failed logins cost the same whatever failed, so timing tells nothing.
        auth_rejection_time: Duration::from_millis(300),
        auth_rejection_time_initial: Some(Duration::from_millis(0)),
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 4,
        window_size: WINDOW,
        maximum_packet_size: PACKET,
        nodelay: true,
        ..Default::default()
    }
}
