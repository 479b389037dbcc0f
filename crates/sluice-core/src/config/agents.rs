//! `[agents]`: the listener network-resident agents dial out to (docs/agent-connection.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use sluice_outbound::duration::duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentsConfig {
    /// Where agents connect (TLS, then mutual TLS once enrolled). `None`: no agents, and a
    /// target with `via` is refused at load.
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain and key agents see. Absent: a pair generated once in
    /// `data_dir/agents/`, kept across restarts because agents pin it.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// How often each side pings the other; three missed answers end the connection.
    #[serde(deserialize_with = "duration")]
    pub heartbeat: Duration,
    /// How long an enrollment token stays redeemable (`sluice agent enroll`).
    #[serde(deserialize_with = "duration")]
    pub enrollment_ttl: Duration,
    /// How long opening a stream through an agent may take, the agent's own connect included.
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            listen: None,
            tls_cert: None,
            tls_key: None,
            heartbeat: Duration::from_secs(5),
            enrollment_ttl: Duration::from_secs(3600),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// `via = "agent"` or `via = ["agent-a", "agent-b"]`: the agents that may reach a target.
pub(super) fn via<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(name) => vec![name],
        OneOrMany::Many(names) => names,
    })
}

/// An agent's name: what `sluice agent enroll` registers and `via` refers to.
pub fn valid_agent_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
