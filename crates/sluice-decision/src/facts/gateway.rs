//! Requests made to the gateway itself rather than to a target: credentials (`token`) and the
//! admin API (`admin`).

use std::sync::Arc;

use serde::Serialize;

/// Claims an identity provider made about the caller, as `input.identity.claims`. Compared
/// and hashed through their canonical JSON text, so two sessions with the same claims share
/// cached decisions and two with different claims never do.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    json: Arc<serde_json::Map<String, serde_json::Value>>,
    canonical: Arc<str>,
}

impl Claims {
    pub fn new(json: serde_json::Map<String, serde_json::Value>) -> Claims {
        // serde_json's map keeps keys sorted, so this text is canonical.
        let canonical = serde_json::Value::Object(json.clone()).to_string();
        Claims {
            json: Arc::new(json),
            canonical: canonical.into(),
        }
    }

    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.json
    }

    pub fn is_empty(&self) -> bool {
        self.json.is_empty()
    }

    /// The claims as JSON text (`{}` when there are none).
    pub fn canonical(&self) -> &str {
        if self.json.is_empty() {
            "{}"
        } else {
            &self.canonical
        }
    }
}

impl PartialEq for Claims {
    fn eq(&self, other: &Claims) -> bool {
        self.canonical() == other.canonical()
    }
}

impl Eq for Claims {}

impl std::hash::Hash for Claims {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.canonical().hash(state);
    }
}

impl Serialize for Claims {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

/// Asking for a sluice credential (`request.action = "token"`). The policy allows it, and may
/// narrow it with the decision's `token` (targets, a shorter lifetime).
#[derive(Debug, Clone, Serialize)]
pub struct TokenRequest {
    /// `login` (a person signing in), `exchange` (a workload trading its own identity
    /// provider's token) or `task` (a person's per-task token for an agent).
    pub purpose: String,
    /// The targets asked for; empty asks for whatever the policy names.
    pub targets: Vec<String>,
    /// The lifetime asked for, in seconds.
    pub ttl_seconds: u64,
    /// What the credential is for, as the caller described it (`--task`), for per-task tokens.
    pub task: Option<String>,
    /// The identity provider that vouched for the caller, when one did.
    pub provider: Option<String>,
}

/// A call to the admin API (`request.action = "admin"`).
#[derive(Debug, Clone, Serialize)]
pub struct AdminRequest {
    /// The operation's stable name, e.g. `reviews.decide` (docs/identity.md lists them).
    pub operation: String,
    pub method: String,
    pub path: String,
}
