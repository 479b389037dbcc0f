//! The login endpoints' wire types (issue 17 contract), read leniently like the rest of the
//! admin client so that a newer gateway's extra fields do not break an older CLI.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const LOGIN: &str = "/v1/login";
pub const DEVICE_START: &str = "/v1/login/device";
pub const DEVICE_POLL: &str = "/v1/login/device/poll";
pub const PKCE_START: &str = "/v1/login/pkce";
pub const PKCE_FINISH: &str = "/v1/login/pkce/finish";
pub const WHOAMI: &str = "/v1/whoami";
pub const LOGOUT: &str = "/v1/logout";
pub const TOKENS: &str = "/v1/tokens";

/// `GET /v1/login`.
#[derive(Deserialize, Debug, Clone, Default)]
pub struct LoginInfo {
    #[serde(default)]
    pub providers: Vec<Provider>,
    /// Protocol name to port; only the listeners the gateway runs.
    #[serde(default)]
    pub listeners: BTreeMap<String, u16>,
    #[serde(default)]
    pub credential_ttl_seconds: Option<u64>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Provider {
    pub name: String,
    #[serde(default)]
    pub issuer: String,
    #[serde(default)]
    pub flows: Vec<String>,
}

impl Provider {
    pub fn supports(&self, flow: &str) -> bool {
        self.flows.iter().any(|f| f == flow)
    }
}

#[derive(Serialize, Debug)]
pub struct DeviceStartRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<&'a str>,
}

#[derive(Deserialize, Debug)]
pub struct DeviceStart {
    pub login_id: String,
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    #[serde(default)]
    pub interval: Option<u64>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

#[derive(Serialize, Debug)]
pub struct DevicePollRequest<'a> {
    pub login_id: &'a str,
}

/// The 202 answer of a poll.
#[derive(Deserialize, Debug)]
pub struct DevicePending {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub interval: Option<u64>,
}

#[derive(Serialize, Debug)]
pub struct PkceStartRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<&'a str>,
    pub redirect_uri: &'a str,
    pub code_challenge: &'a str,
    pub code_challenge_method: &'static str,
}

#[derive(Deserialize, Debug)]
pub struct PkceStart {
    pub login_id: String,
    pub authorization_url: String,
    pub state: String,
}

/// Holds the one-time code and the verifier: no `Debug`, so neither can be logged by accident.
#[derive(Serialize)]
pub struct PkceFinishRequest<'a> {
    pub login_id: &'a str,
    pub code: &'a str,
    pub state: &'a str,
    pub code_verifier: &'a str,
}

/// `GET /v1/whoami`.
#[derive(Deserialize, Serialize, Debug, Clone)]
pub struct Whoami {
    pub identity: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub token_id: String,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub targets: Option<Vec<String>>,
}

#[derive(Serialize, Debug)]
pub struct TaskTokenRequest<'a> {
    pub task: &'a str,
    pub targets: &'a [String],
    pub ttl_seconds: u64,
}

/// `POST /v1/tokens`; the token stays a `Secret` until it is printed.
#[derive(Deserialize, Debug)]
pub struct TaskToken {
    #[serde(with = "super::credentials::secret_text")]
    pub token: sluice_core::secret::Secret,
    pub token_id: String,
    #[serde(default)]
    pub identity: String,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub task: Option<String>,
}
