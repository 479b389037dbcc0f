//! `--targets FILE`: targets whose credential the agent holds and the gateway does not
//! (docs/agent-connection.md). Only PostgreSQL: its login is a short exchange before any
//! request that the agent can answer and then step out of. The secret is read once at start,
//! from a file or an environment variable, never from the file itself.
//!
//! ```toml
//! [[targets]]
//! name = "app"                          # the gateway's target name
//! kind = "postgres"
//! password_file = "/run/secrets/app"
//! tls = "verify-full"                   # the agent's leg to the target: "disable" (the
//! tls_ca = "/etc/ssl/app-ca.pem"        # default), "require" or "verify-full"
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use serde::Deserialize;
use sluice_core::config::TargetTls;
use sluice_core::secret::Secret;

use crate::AgentError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    targets: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    kind: String,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    #[serde(default = "no_tls")]
    tls: TargetTls,
    tls_ca: Option<PathBuf>,
}

fn no_tls() -> TargetTls {
    TargetTls::Disable
}

/// What the agent logs in to a target with.
pub(crate) struct Credential {
    pub(crate) password: Secret,
    /// TLS on the agent's leg to the target; `None`: plaintext.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    /// `prefer`: TLS if the target offers it.
    pub(crate) tls_optional: bool,
}

/// Target name → what the agent logs in with.
#[derive(Default)]
pub(crate) struct Credentials(HashMap<String, Credential>);

impl Credentials {
    pub(crate) fn load(path: &Path) -> Result<Credentials, AgentError> {
        let err = |reason: String| AgentError::State {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let file: File = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        let mut credentials = HashMap::new();
        for entry in file.targets {
            if entry.kind != "postgres" {
                return Err(err(format!(
                    "target {}: the agent logs in only to postgres targets; for a {} target \
                     the gateway holds the credential",
                    entry.name, entry.kind
                )));
            }
            let secret = match (&entry.password_file, &entry.password_env) {
                (Some(file), None) => std::fs::read_to_string(file)
                    .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
                    .map_err(|e| err(format!("{}: {e}", file.display())))?,
                (None, Some(var)) => std::env::var(var)
                    .map_err(|_| err(format!("environment variable {var} is not set")))?,
                _ => {
                    return Err(err(format!(
                        "target {}: give password_file or password_env (one)",
                        entry.name
                    )))
                }
            };
            let tls = sluice_net::tls::client_config_for(
                entry.tls,
                entry.tls_ca.as_deref(),
                &entry.name,
            )?;
            let credential = Credential {
                password: Secret::new(secret),
                tls,
                tls_optional: entry.tls == TargetTls::Prefer,
            };
            if credentials.insert(entry.name.clone(), credential).is_some() {
                return Err(err(format!("target {} is listed twice", entry.name)));
            }
        }
        Ok(Credentials(credentials))
    }

    pub(crate) fn get(&self, target: &str) -> Option<&Credential> {
        self.0.get(target)
    }
}
