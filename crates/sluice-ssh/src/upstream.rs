//! The gateway's own login to the target: the host key checked (pinned, or trusted on first
//! use) before any credential is sent, then the held key or password. Remote forwarding
//! channels the target opens back are handed to the relay.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, ChannelOpenHandle, Msg};
use russh::keys::PublicKeyOrCertificate;
use russh::Channel;
use sluice_core::{Gateway, Session, SshPublicKey};
use tokio::sync::mpsc;

use crate::error::SshError;

/// A connection the target opened back for a remote forward (`ssh -R`).
pub(crate) struct ForwardedOpen {
    pub channel: Channel<Msg>,
    pub address: String,
    pub port: u32,
    pub originator: String,
    pub originator_port: u32,
    pub reply: ChannelOpenHandle,
}

/// The target's side of a session.
pub(crate) struct Upstream {
    pub handle: client::Handle<TargetHandler>,
    pub forwarded: mpsc::UnboundedReceiver<ForwardedOpen>,
}

pub(crate) struct TargetHandler {
    gateway: Gateway,
    target: sluice_core::config::TargetConfig,
    session: String,
    /// Why the host key was refused, for the client and the audit record.
    refusal: Arc<Mutex<Option<String>>>,
    forwarded: mpsc::UnboundedSender<ForwardedOpen>,
}

impl client::Handler for TargetHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = offered else {
            set(
                &self.refusal,
                "the target offered a host certificate; sluice pins plain host keys".to_owned(),
            );
            return Ok(false);
        };
        let Ok(blob) = key.to_bytes() else {
            return Ok(false);
        };
        let key = SshPublicKey::from_blob(key.algorithm().as_str(), blob);
        match self
            .gateway
            .check_host_key(&self.target, &key, &self.session)
            .await
        {
            Ok(check) => {
                tracing::debug!(target = %self.target.name, ?check, "target host key accepted");
                Ok(true)
            }
            Err(why) => {
                set(&self.refusal, why);
                Ok(false)
            }
        }
    }

    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        channel: Channel<Msg>,
        address: &str,
        port: u32,
        originator: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        let _ = self.forwarded.send(ForwardedOpen {
            channel,
            address: address.to_owned(),
            port,
            originator: originator.to_owned(),
            originator_port,
            reply,
        });
        Ok(())
    }
}

fn set(slot: &Mutex<Option<String>>, why: String) {
    if let Ok(mut slot) = slot.lock() {
        *slot = Some(why);
    }
}

/// How long the target has to accept the connection and the login.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Connects and logs in to the session's target.
pub(crate) async fn connect(session: &Session) -> Result<Upstream, SshError> {
    let target = session.target().clone();
    let address = format!("{}:{}", target.host, target.port);
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        sluice_net::dial::connect(session.gateway(), &target),
    )
    .await
    .map_err(|_| {
        SshError::Target(format!(
            "target {} did not answer at {address} in time",
            target.name
        ))
    })?
    .map_err(|e| {
        SshError::Target(format!(
            "cannot reach target {} at {address}: {e}",
            target.name
        ))
    })?;
    let refusal = Arc::new(Mutex::new(None));
    let (forwarded_tx, forwarded) = mpsc::unbounded_channel();
    let handler = TargetHandler {
        gateway: session.gateway().clone(),
        target: target.clone(),
        session: session.id().to_owned(),
        refusal: refusal.clone(),
        forwarded: forwarded_tx,
    };
    let config = Arc::new(client::Config {
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 4,
        nodelay: true,
        window_size: WINDOW,
        maximum_packet_size: PACKET,
        preferred: russh::Preferred {
            cipher: std::borrow::Cow::Borrowed(TARGET_CIPHERS),
            ..russh::Preferred::DEFAULT
        },
        ..Default::default()
    });
    let login = async {
        let mut handle = client::connect_stream(config, tcp, handler).await?;
        let authenticated = if let Some(path) = &target.key_file {
            let key = russh::keys::load_secret_key(path, None)?;
            let hash = handle.best_supported_rsa_hash().await?.flatten();
            handle
                .authenticate_publickey(
                    target.user.clone(),
                    russh::keys::PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
                .await?
        } else {
            let password = session.upstream_password().ok_or_else(|| {
                SshError::Target(format!("target {} has no credential", target.name))
            })?;
            handle
                .authenticate_password(target.user.clone(), password.expose())
                .await?
        };
        if !authenticated.success() {
            return Err(SshError::Target(format!(
                "target {} refused the gateway's login as {}",
                target.name, target.user
            )));
        }
        Ok(handle)
    };
    let handle = match tokio::time::timeout(CONNECT_TIMEOUT, login).await {
        Ok(Ok(handle)) => handle,
        Ok(Err(e)) => {
            let why = refusal.lock().ok().and_then(|mut r| r.take());
            return Err(match why {
                Some(why) => SshError::Target(why),
                None => match e {
                    SshError::Target(_) => e,
                    other => SshError::Target(format!(
                        "cannot log in to target {}: {other}",
                        target.name
                    )),
                },
            });
        }
        Err(_) => {
            return Err(SshError::Target(format!(
                "target {} did not complete the login in time",
                target.name
            )))
        }
    };
    Ok(Upstream { handle, forwarded })
}

/// The gateway chooses the cipher towards targets (the client's order wins in SSH): AES-GCM
/// first, which the CPU's AES instructions make the cheapest for the gateway and for sshd
/// alike; ChaCha20-Poly1305 for targets without it. The client's leg uses the client's choice
/// (OpenSSH: ChaCha20-Poly1305).
const TARGET_CIPHERS: &[russh::cipher::Name] = &[
    russh::cipher::AES_128_GCM,
    russh::cipher::AES_256_GCM,
    russh::cipher::CHACHA20_POLY1305,
];

/// The channel window both legs advertise: large enough that a bulk transfer is limited by
/// the ciphers, not by round trips (OpenSSH uses 2 MiB).
pub(crate) const WINDOW: u32 = 8 * 1024 * 1024;
/// The largest channel data packet both legs accept (OpenSSH's default).
pub(crate) const PACKET: u32 = 32 * 1024;
