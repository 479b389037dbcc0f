//! The gateway's side of the agent link: the listener agents dial, enrollment and mutual-TLS
//! admission, one HTTP/2 client connection per agent kept alive by PING, and the streams the
//! gateway's protocols open through it (`links.rs`).

mod links;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_audit::AuditEvent;
use sluice_core::config::Config;
use sluice_core::workers::Workers;
use sluice_core::Gateway;
use sluice_store::Store;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::enrollment;
use crate::hello::{self, Answer, Hello};
use crate::{AgentError, ALPN, CONNECTION_WINDOW, STREAM_WINDOW};
use links::{HubTunnels, Link, Links};

/// Missed answers to PING before a link is declared dead.
const MISSED_HEARTBEATS: u32 = 3;
/// Agent handshakes (TLS and hello, before any key is known) in progress at once.
const MAX_HANDSHAKES: usize = 64;

/// The hash agents pin: the agent listener's certificate, configured or generated in
/// `data_dir/agents/` (made now if missing, so that `sluice agent enroll` can run before the
/// gateway's first start).
pub fn listener_pin(config: &Config) -> Result<[u8; 32], AgentError> {
    Ok(listener_tls(config)?.1)
}

fn listener_tls(config: &Config) -> Result<(Arc<rustls::ServerConfig>, [u8; 32]), AgentError> {
    let agents = &config.agents;
    Ok(sluice_net::pinned::server_config(
        (agents.tls_cert.as_deref(), agents.tls_key.as_deref()),
        &config.gateway.data_dir.join("agents"),
        &[ALPN],
    )?)
}

/// The agents' listener and the links it holds.
pub struct AgentHub {
    inner: Arc<Hub>,
    listener: TcpListener,
    /// Each link runs on a session worker, as a session does: with sessions on the same
    /// worker, a request crosses no thread on its way through the link.
    workers: Arc<Workers>,
}

struct Hub {
    gateway: Gateway,
    store: Arc<dyn Store>,
    tls: TlsAcceptor,
    links: Arc<Links>,
    heartbeat: Duration,
    handshake_timeout: Duration,
    handshakes: Arc<tokio::sync::Semaphore>,
}

impl AgentHub {
    /// Binds the listener and installs the hub as the gateway's way to `via` targets.
    pub async fn bind(
        gateway: Gateway,
        store: Arc<dyn Store>,
        addr: SocketAddr,
        workers: Arc<Workers>,
    ) -> Result<AgentHub, AgentError> {
        let config = gateway.config();
        let (tls, _) = listener_tls(config)?;
        let links = Arc::new(Links::default());
        gateway.set_tunnels(Arc::new(HubTunnels {
            links: links.clone(),
            connect_timeout: config.agents.connect_timeout,
        }));
        let inner = Arc::new(Hub {
            heartbeat: config.agents.heartbeat,
            handshake_timeout: config.gateway.handshake_timeout,
            handshakes: Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES)),
            tls: TlsAcceptor::from(tls),
            links,
            store,
            gateway,
        });
        let listener = TcpListener::bind(addr).await?;
        Ok(AgentHub {
            inner,
            listener,
            workers,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts agents until `stop` turns true; then every link is closed.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let sweep = tokio::spawn(sweep_revocations(self.inner.clone()));
        let mut stopping = stop.clone();
        let mut serving = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, addr)) => {
                        let hub = self.inner.clone();
                        let stop = stop.clone();
                        // Registered again on the worker's own reactor, or its readiness
                        // would still come from this thread.
                        let tcp = match tcp.into_std() {
                            Ok(tcp) => tcp,
                            Err(e) => {
                                tracing::warn!(error = %e, "handing an agent to a worker failed");
                                continue;
                            }
                        };
                        serving.spawn_on(
                            async move {
                                match TcpStream::from_std(tcp) {
                                    Ok(tcp) => hub.serve(tcp, addr, stop).await,
                                    Err(e) => tracing::warn!(error = %e, "agent socket"),
                                }
                            },
                            self.workers.pick(),
                        );
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting an agent failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = serving.join_next(), if !serving.is_empty() => {}
                _ = crate::stopped(&mut stopping) => break,
            }
        }
        sweep.abort();
        // Each link sees `stop` itself; waiting for them lets their disconnect records land
        // before the gateway's last one.
        while serving.join_next().await.is_some() {}
    }
}

impl Hub {
    async fn serve(self: Arc<Self>, tcp: TcpStream, addr: SocketAddr, stop: watch::Receiver<bool>) {
        let _ = tcp.set_nodelay(true);
        let client_addr = addr.to_string();
        // Unauthenticated handshakes are bounded, in number and per failing address, so a
        // flood of them costs the gateway little and its audit trail nothing.
        let Ok(handshaking) = self.handshakes.clone().try_acquire_owned() else {
            tracing::debug!(client = %client_addr, "too many agent handshakes at once");
            return;
        };
        if let Err(e) = self.gateway.check_client(&client_addr) {
            tracing::debug!(client = %client_addr, error = %e, "agent handshake throttled");
            return;
        }
        let admitted = tokio::time::timeout(self.handshake_timeout, self.admit(tcp, &client_addr))
            .await
            .unwrap_or_else(|_| Err(AgentError::Link("the handshake took too long".into())));
        drop(handshaking);
        let (tls, agent, key) = match admitted {
            Ok(Some(admitted)) => admitted,
            Ok(None) => return,
            Err(e) => {
                tracing::info!(client = %client_addr, error = %e, "agent link refused");
                return;
            }
        };
        if let Err(e) = self.carry(tls, agent, key, client_addr, stop).await {
            tracing::warn!(error = %e, "agent link failed");
        }
    }

    /// TLS, then the hello: an enrollment redeemed or an enrolled key recognised. `None`:
    /// refused, and the agent was told why.
    async fn admit(
        &self,
        tcp: TcpStream,
        client_addr: &str,
    ) -> Result<Option<(TlsStream<TcpStream>, String, String)>, AgentError> {
        let mut tls = self.tls.accept(tcp).await?;
        let key = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| hex::encode(sluice_net::pinned::certificate_sha256(c.as_ref())));
        // A hello that cannot be read counts against the address and is audited like any
        // refusal: before it, the peer is anonymous, and a malformed one is most likely a probe.
        let hello: Hello = match hello::read(&mut tls).await {
            Ok(hello) => hello,
            Err(e) => {
                tracing::info!(client = %client_addr, error = %e, "unreadable agent hello");
                return self.refuse(&mut tls, client_addr, &e.to_string()).await;
            }
        };
        let now = sluice_core::gateway::unix_now().saturating_mul(1000);
        let Some(key) = key else {
            return self
                .refuse(
                    &mut tls,
                    client_addr,
                    "no client certificate: the agent's key is its identity",
                )
                .await;
        };
        let agent = match hello {
            Hello::Enroll { id, secret, .. } => {
                let hash = enrollment::secret_sha256(&secret);
                match self.store.redeem_enrollment(&id, &hash, &key, now).await? {
                    Some(agent) => {
                        self.gateway
                            .audit()
                            .record(&AuditEvent::AgentEnrolled {
                                agent: agent.clone(),
                                key_sha256: key.clone(),
                                client_addr: client_addr.to_owned(),
                            })
                            .await?;
                        agent
                    }
                    None => {
                        return self
                            .refuse(
                                &mut tls,
                                client_addr,
                                "the enrollment token is unknown, used or expired",
                            )
                            .await
                    }
                }
            }
            Hello::Connect { .. } => match self.store.agent_with_key(&key).await? {
                Some(a) if a.revoked_at_ms.is_none() => a.name,
                Some(a) => {
                    let why = format!("agent {} is revoked", a.name);
                    return self.refuse(&mut tls, client_addr, &why).await;
                }
                None => {
                    return self
                        .refuse(&mut tls, client_addr, "this key is not enrolled")
                        .await
                }
            },
        };
        Ok(Some((tls, agent, key)))
    }

    async fn refuse<T>(
        &self,
        tls: &mut TlsStream<TcpStream>,
        client_addr: &str,
        reason: &str,
    ) -> Result<Option<T>, AgentError> {
        self.gateway.client_failed(client_addr);
        self.gateway
            .reject(client_addr, None, None, "agent", reason)
            .await;
        hello::write(
            tls,
            &Answer::Refused {
                reason: reason.to_owned(),
            },
        )
        .await?;
        Ok(None)
    }

    /// Welcomes the agent and carries its streams until the link ends.
    async fn carry(
        &self,
        mut tls: TlsStream<TcpStream>,
        agent: String,
        key: String,
        client_addr: String,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), AgentError> {
        // Audited before the agent is told it is in: a link with no record never carries.
        self.gateway
            .audit()
            .record(&AuditEvent::AgentConnected {
                agent: agent.clone(),
                client_addr: client_addr.clone(),
            })
            .await?;
        hello::write(
            &mut tls,
            &Answer::Welcome {
                agent: agent.clone(),
            },
        )
        .await?;
        let (send, mut connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake::<_, Bytes>(tls)
            .await?;
        let ping = connection.ping_pong();
        let link = Arc::new(Link::new(agent.clone(), key, send));
        self.links.add(link.clone());
        self.gateway.metrics().agent_links.inc();
        tracing::info!(%agent, client = %client_addr, "agent connected");
        let reason = tokio::select! {
            ended = &mut connection => match ended {
                Ok(()) => "the agent closed the link".to_owned(),
                Err(e) => format!("the link failed: {e}"),
            },
            why = self.heartbeat(&link, ping) => why,
            _ = link.close.notified() => "revoked or enrolled again".to_owned(),
            _ = crate::stopped(&mut stop) => "the gateway is stopping".to_owned(),
        };
        // Dropping the connection ends every stream it carried with an error their sessions
        // report to their clients.
        self.links.remove(&link);
        self.gateway.metrics().agent_links.dec();
        drop(connection);
        tracing::info!(%agent, %reason, "agent disconnected");
        self.gateway
            .audit()
            .record(&AuditEvent::AgentDisconnected {
                agent,
                client_addr,
                reason,
                streams: link.streams.load(Ordering::Relaxed),
            })
            .await?;
        Ok(())
    }

    /// PINGs the agent every heartbeat and notes it seen; returns why it is considered gone.
    async fn heartbeat(&self, link: &Link, ping: Option<h2::PingPong>) -> String {
        let Some(mut ping) = ping else {
            return "the link offers no PING".to_owned();
        };
        let mut tick = tokio::time::interval(self.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Answered within one interval: healthy; later (up to the limit): still linked,
            // tried after the healthy ones meanwhile.
            let pong = ping.ping(h2::Ping::opaque());
            tokio::pin!(pong);
            let answered = match tokio::time::timeout(self.heartbeat, &mut pong).await {
                Ok(answer) => Ok(answer),
                Err(_) => {
                    link.healthy.store(false, Ordering::Relaxed);
                    tokio::time::timeout(self.heartbeat * (MISSED_HEARTBEATS - 1), pong).await
                }
            };
            match answered {
                Ok(Ok(_)) => link.healthy.store(true, Ordering::Relaxed),
                Ok(Err(e)) => return format!("heartbeat failed: {e}"),
                Err(_) => {
                    return format!(
                        "no answer to {MISSED_HEARTBEATS} heartbeats of {:?}",
                        self.heartbeat
                    )
                }
            }
            let now = sluice_core::gateway::unix_now().saturating_mul(1000);
            if let Err(e) = self
                .store
                .agent_seen(&link.agent, self.gateway.name(), now)
                .await
            {
                tracing::warn!(agent = %link.agent, error = %e, "could not note the agent seen");
            }
        }
    }
}

/// Every heartbeat: links of revoked agents (or of agents enrolled again under another key)
/// are closed, and each revocation is audited once, by one gateway among those on the store.
async fn sweep_revocations(hub: Arc<Hub>) {
    let mut tick = tokio::time::interval(hub.heartbeat);
    loop {
        tick.tick().await;
        let agents = match hub.store.agents().await {
            Ok(agents) => agents,
            Err(e) => {
                tracing::warn!(error = %e, "reading agents for revocations failed");
                continue;
            }
        };
        for link in hub.links.all() {
            let current = agents
                .iter()
                .find(|a| a.name == link.agent)
                .is_some_and(|a| a.revoked_at_ms.is_none() && a.key_sha256 == link.key_sha256);
            if !current {
                link.close.notify_one();
            }
        }
        let now = sluice_core::gateway::unix_now().saturating_mul(1000);
        for agent in agents.iter().filter(|a| a.revoked_at_ms.is_some()) {
            match hub.store.note_agent_revocation(&agent.name, now).await {
                Ok(true) => {
                    let event = AuditEvent::AgentRevoked {
                        agent: agent.name.clone(),
                    };
                    if let Err(e) = hub.gateway.audit().record(&event).await {
                        tracing::error!(error = %e, "auditing an agent's revocation failed");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "noting an agent's revocation failed"),
            }
        }
    }
}
