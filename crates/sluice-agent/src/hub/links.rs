//! The agents connected to this gateway, and the streams the gateway's protocols open through
//! them ([`Tunnels`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sluice_core::config::TargetConfig;
use sluice_core::tunnel::{Opened, TunnelStream, Tunnels};
use sluice_core::Gateway;
use tokio::sync::Notify;

use crate::stream::H2Stream;
use crate::{ADDRESS_HEADER, ERROR_HEADER, TARGET_HEADER};

/// One agent's live connection.
pub(crate) struct Link {
    pub(crate) agent: String,
    /// The certificate it authenticated with; a link whose agent was enrolled again under
    /// another key is closed.
    pub(crate) key_sha256: String,
    send: h2::client::SendRequest<Bytes>,
    /// Streams opened over the link's life, for its disconnect record.
    pub(crate) streams: AtomicU64,
    /// Notified to end the link (revocation, a new key).
    pub(crate) close: Notify,
    /// Whether the last heartbeat was answered; a link that missed one is tried last.
    pub(crate) healthy: AtomicBool,
}

impl Link {
    pub(crate) fn new(
        agent: String,
        key_sha256: String,
        send: h2::client::SendRequest<Bytes>,
    ) -> Link {
        Link {
            agent,
            key_sha256,
            send,
            streams: AtomicU64::new(0),
            close: Notify::new(),
            healthy: AtomicBool::new(true),
        }
    }
}

#[derive(Default)]
pub(crate) struct Links {
    by_agent: Mutex<HashMap<String, Vec<Arc<Link>>>>,
    /// Turns among an agent's links and among the agents a target names.
    next: AtomicUsize,
}

impl Links {
    pub(crate) fn add(&self, link: Arc<Link>) {
        sluice_core::sync::lock(&self.by_agent)
            .entry(link.agent.clone())
            .or_default()
            .push(link);
    }

    pub(crate) fn remove(&self, link: &Arc<Link>) {
        let mut map = sluice_core::sync::lock(&self.by_agent);
        if let Some(list) = map.get_mut(&link.agent) {
            list.retain(|l| !Arc::ptr_eq(l, link));
            if list.is_empty() {
                map.remove(&link.agent);
            }
        }
    }

    /// Every live link, for the revocation sweep.
    pub(crate) fn all(&self) -> Vec<Arc<Link>> {
        sluice_core::sync::lock(&self.by_agent)
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    /// The live links of the agents named, starting at the next in turn, those whose last
    /// heartbeat was answered first: the order a stream is tried in.
    fn candidates(&self, via: &[String]) -> Vec<Arc<Link>> {
        let map = sluice_core::sync::lock(&self.by_agent);
        let mut all: Vec<Arc<Link>> = via
            .iter()
            .filter_map(|a| map.get(a))
            .flatten()
            .cloned()
            .collect();
        if all.is_empty() {
            return all;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % all.len();
        all.rotate_left(turn);
        // Stable: the turn order holds within the healthy and within the rest.
        all.sort_by_key(|l| !l.healthy.load(Ordering::Relaxed));
        all
    }
}

/// What the gateway's protocols dial through.
pub(crate) struct HubTunnels {
    pub(crate) links: Arc<Links>,
    pub(crate) connect_timeout: Duration,
}

impl Tunnels for HubTunnels {
    fn open<'a>(
        &'a self,
        gateway: &'a Gateway,
        target: &'a TargetConfig,
        address: (&'a str, u16),
    ) -> Opened<'a> {
        Box::pin(async move {
            let metrics = gateway.metrics();
            let opened = self.open_stream(target, address).await;
            match &opened {
                Ok(_) => metrics.agent_streams.inc(),
                Err(why) => {
                    metrics.agent_stream_failures.inc();
                    tracing::warn!(target = %target.name, reason = %why, "no stream through an agent");
                }
            }
            opened
        })
    }
}

impl HubTunnels {
    /// Tries each candidate link once: an agent whose link is failing, or that cannot reach
    /// the target, gives way to the next one `via` names.
    async fn open_stream(
        &self,
        target: &TargetConfig,
        (host, port): (&str, u16),
    ) -> Result<Box<dyn TunnelStream>, String> {
        let address = format!("{host}:{port}");
        let candidates = self.links.candidates(&target.via);
        let mut why = format!(
            "no agent that reaches target {} ({}) is connected",
            target.name,
            target.via.join(", ")
        );
        for link in candidates {
            match self.open_through(&link, target, &address).await {
                Ok(stream) => {
                    link.streams.fetch_add(1, Ordering::Relaxed);
                    return Ok(stream);
                }
                Err(e) => why = e,
            }
        }
        Err(why)
    }

    async fn open_through(
        &self,
        link: &Link,
        target: &TargetConfig,
        address: &str,
    ) -> Result<Box<dyn TunnelStream>, String> {
        let lost = |e: h2::Error| format!("agent {}: {e}", link.agent);
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri("https://agent/connect")
            .header(TARGET_HEADER, &target.name)
            .header(ADDRESS_HEADER, address)
            .body(())
            .map_err(|e| e.to_string())?;
        let opened = async {
            let mut send = link.send.clone().ready().await.map_err(lost)?;
            let (response, body) = send.send_request(request, false).map_err(lost)?;
            let response = response.await.map_err(lost)?;
            Ok::<_, String>((response, body))
        };
        let (response, body) = tokio::time::timeout(self.connect_timeout, opened)
            .await
            .map_err(|_| {
                format!(
                    "agent {} did not open a stream to target {} within {:?}",
                    link.agent, target.name, self.connect_timeout
                )
            })??;
        if response.status() != http::StatusCode::OK {
            let why = response
                .headers()
                .get(ERROR_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("no reason given")
                .to_owned();
            return Err(format!("agent {}: {why}", link.agent));
        }
        let stream = H2Stream::new(body, response.into_body(), format!("agent {}", link.agent));
        Ok(Box::new(stream))
    }
}
