//! `[auth]`: how long credentials live, how failed logins are limited, and what happens to a
//! session whose credential ends (docs/identity.md).

use std::time::Duration;

use serde::Deserialize;
use sluice_outbound::duration::duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of the credential a person gets by signing in, and the longest one allowed.
    #[serde(deserialize_with = "duration")]
    pub login_ttl: Duration,
    /// Default lifetime of a per-task credential (token exchange, `sluice token create --task`).
    #[serde(deserialize_with = "duration")]
    pub task_ttl: Duration,
    /// The longest lifetime a per-task credential may be asked for.
    #[serde(deserialize_with = "duration")]
    pub max_task_ttl: Duration,
    /// How long an open session outlives its credential's expiry or revocation.
    #[serde(deserialize_with = "duration")]
    pub session_grace: Duration,
    /// How often revocations made by other processes (the CLI with the store, another
    /// gateway) are looked for.
    #[serde(deserialize_with = "duration")]
    pub revocation_poll: Duration,
    /// Failed authentications from one client address within `failure_window` before further
    /// attempts from it are refused until the window passes.
    pub max_failures_per_address: u32,
    /// Failed authentications for one identity within `failure_window`, from anywhere.
    pub max_failures_per_identity: u32,
    #[serde(deserialize_with = "duration")]
    pub failure_window: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            login_ttl: Duration::from_secs(8 * 3600),
            task_ttl: Duration::from_secs(15 * 60),
            max_task_ttl: Duration::from_secs(3600),
            session_grace: Duration::ZERO,
            revocation_poll: Duration::from_secs(2),
            max_failures_per_address: 10,
            max_failures_per_identity: 20,
            failure_window: Duration::from_secs(60),
        }
    }
}

impl AuthConfig {
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.login_ttl.is_zero() || self.task_ttl.is_zero() {
            return Err("auth.login_ttl and auth.task_ttl must be longer than zero".into());
        }
        if self.task_ttl > self.max_task_ttl {
            return Err("auth.task_ttl is longer than auth.max_task_ttl".into());
        }
        if self.max_failures_per_address == 0 || self.max_failures_per_identity == 0 {
            return Err(
                "auth.max_failures_per_address and auth.max_failures_per_identity must be at \
                 least 1"
                    .into(),
            );
        }
        if self.failure_window.is_zero() || self.revocation_poll.is_zero() {
            return Err(
                "auth.failure_window and auth.revocation_poll must be longer than zero".into(),
            );
        }
        Ok(())
    }
}
