//! Sign-in brokered by the gateway as a confidential OAuth client: the device flow (RFC 8628)
//! and the authorization code flow with PKCE (RFC 7636). The gateway holds the client
//! secret; the CLI only ever sees a user code, a URL or its own PKCE verifier.

use base64::Engine;
use serde::Deserialize;

use crate::providers::{Provider, Providers};
use crate::secret::Secret;
use crate::{fetch, form, IdentityError};

/// A device authorization started at the provider (RFC 8628 3.2).
#[derive(Debug, Clone)]
pub struct DeviceStart {
    /// What the gateway polls with; never shown to the person or the CLI.
    pub device_code: Secret,
    /// What the person types at `verification_uri`.
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    /// Seconds between polls, as the provider asks (5 when it does not say).
    pub interval: u64,
    pub expires_in: u64,
}

/// One poll of a device authorization (RFC 8628 3.5).
#[derive(Debug, Clone)]
pub enum DevicePoll {
    Pending,
    /// Poll less often: the interval grows by 5 seconds (RFC 8628 3.5).
    SlowDown,
    /// The person approved; the ID token is still to be verified (`Providers::verify_for`).
    Done(Tokens),
    /// The person refused; the provider's description when it gave one.
    Denied(String),
    Expired,
}

/// What a token endpoint issued; only the ID token matters to sluice.
#[derive(Clone, Deserialize)]
pub struct Tokens {
    pub id_token: Secret,
    /// Seconds, if the provider said.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

impl Providers {
    /// Starts a device sign-in with the named provider.
    pub async fn device_start(&self, provider: &str) -> Result<DeviceStart, IdentityError> {
        let p = self.find(provider)?;
        let client_id = client_id(p)?;
        let doc = p.discovery().await?;
        let endpoint = doc
            .device_authorization_endpoint
            .as_deref()
            .ok_or_else(|| not_supported(p, "the provider has no device authorization endpoint"))?;
        let scope = p.config.scopes.join(" ");
        let mut pairs = vec![("scope", scope.as_str())];
        if p.secret.is_none() {
            pairs.push(("client_id", client_id));
        }
        let (status, body) = post(p, endpoint, form::encode(pairs)).await?;
        if !(200..300).contains(&status) {
            return Err(refused(p, status, &body));
        }
        #[derive(Deserialize)]
        struct Answer {
            device_code: Secret,
            user_code: String,
            // Google's device endpoint predates the RFC's name.
            #[serde(alias = "verification_url")]
            verification_uri: String,
            verification_uri_complete: Option<String>,
            interval: Option<u64>,
            expires_in: u64,
        }
        let a: Answer = serde_json::from_slice(&body).map_err(|e| unreadable(p, e))?;
        Ok(DeviceStart {
            device_code: a.device_code,
            user_code: a.user_code,
            verification_uri: a.verification_uri,
            verification_uri_complete: a.verification_uri_complete,
            interval: a.interval.unwrap_or(5),
            expires_in: a.expires_in,
        })
    }

    /// Asks the provider once whether the device sign-in is done.
    pub async fn device_poll(
        &self,
        provider: &str,
        device_code: &Secret,
    ) -> Result<DevicePoll, IdentityError> {
        let p = self.find(provider)?;
        let client_id = client_id(p)?;
        let mut pairs = vec![
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code.expose()),
        ];
        if p.secret.is_none() {
            pairs.push(("client_id", client_id));
        }
        let (status, body) = token_request(p, form::encode(pairs)).await?;
        if (200..300).contains(&status) {
            return tokens(p, &body).map(DevicePoll::Done);
        }
        let error = oauth_error(&body);
        match error.as_ref().map(|e| e.error.as_str()) {
            Some("authorization_pending") => Ok(DevicePoll::Pending),
            Some("slow_down") => Ok(DevicePoll::SlowDown),
            Some("expired_token") => Ok(DevicePoll::Expired),
            Some("access_denied") => Ok(DevicePoll::Denied(
                error
                    .and_then(|e| e.error_description)
                    .unwrap_or_else(|| "the sign-in was refused".into()),
            )),
            _ => Err(refused(p, status, &body)),
        }
    }

    /// The URL to send a browser to for an authorization code, with the CLI's PKCE challenge
    /// (S256 only: `plain` would hand the verifier to whoever sees the URL).
    pub async fn authorization_url(
        &self,
        provider: &str,
        redirect_uri: &str,
        code_challenge: &str,
        state: &str,
        nonce: &str,
    ) -> Result<String, IdentityError> {
        let p = self.find(provider)?;
        let client_id = client_id(p)?;
        let doc = p.discovery().await?;
        let endpoint = doc
            .authorization_endpoint
            .as_deref()
            .ok_or_else(|| not_supported(p, "the provider has no authorization endpoint"))?;
        // Discovery may omit the list (RFC 8414 says absent means no PKCE, but many providers
        // support it without saying); one that lists methods without S256 cannot be used.
        if let Some(methods) = &doc.code_challenge_methods_supported {
            if !methods.iter().any(|m| m == "S256") {
                return Err(not_supported(
                    p,
                    "the provider does not support PKCE with S256",
                ));
            }
        }
        let scope = p.config.scopes.join(" ");
        let query = form::encode([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", scope.as_str()),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ]);
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        Ok(format!("{endpoint}{separator}{query}"))
    }

    /// Redeems an authorization code for tokens; the caller verifies the ID token with the
    /// nonce it sent (`Providers::verify_for`).
    pub async fn redeem_code(
        &self,
        provider: &str,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<Tokens, IdentityError> {
        let p = self.find(provider)?;
        let client_id = client_id(p)?;
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", code_verifier),
            ("redirect_uri", redirect_uri),
        ];
        if p.secret.is_none() {
            pairs.push(("client_id", client_id));
        }
        let (status, body) = token_request(p, form::encode(pairs)).await?;
        if !(200..300).contains(&status) {
            return Err(refused(p, status, &body));
        }
        tokens(p, &body)
    }
}

/// The PKCE S256 challenge of a verifier (RFC 7636 4.2), for the CLI and for tests.
pub fn pkce_challenge(verifier: &str) -> String {
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

/// A random URL-safe value of 32 bytes (256 bits): for `state`, `nonce`, PKCE verifiers and
/// login ids.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn client_id(p: &Provider) -> Result<&str, IdentityError> {
    p.config
        .client_id
        .as_deref()
        .ok_or_else(|| not_supported(p, "sign-in needs client_id"))
}

async fn token_request(p: &Provider, form: String) -> Result<(u16, Vec<u8>), IdentityError> {
    let doc = p.discovery().await?;
    let endpoint = doc
        .token_endpoint
        .as_deref()
        .ok_or_else(|| not_supported(p, "the provider has no token endpoint"))?;
    post(p, endpoint, form).await
}

/// A form POST authenticated with client_secret_basic when there is a secret.
async fn post(p: &Provider, url: &str, form: String) -> Result<(u16, Vec<u8>), IdentityError> {
    let authorization = match (&p.secret, &p.config.client_id) {
        (Some(secret), Some(id)) => {
            // RFC 6749 2.3.1: both halves form-encoded before Basic's base64.
            let mut pair = String::new();
            form::escape(id, &mut pair);
            pair.push(':');
            form::escape(secret.expose(), &mut pair);
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        }
        _ => None,
    };
    fetch::post_form(url, form, authorization.as_deref())
        .await
        .map_err(|why| IdentityError::Unavailable {
            provider: p.name().to_owned(),
            why,
        })
}

fn tokens(p: &Provider, body: &[u8]) -> Result<Tokens, IdentityError> {
    serde_json::from_slice(body).map_err(|e| unreadable(p, e))
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    error_description: Option<String>,
}

fn oauth_error(body: &[u8]) -> Option<OAuthError> {
    serde_json::from_slice(body).ok()
}

fn refused(p: &Provider, status: u16, body: &[u8]) -> IdentityError {
    match oauth_error(body) {
        Some(e) => IdentityError::Refused {
            provider: p.name().to_owned(),
            error: e.error,
            description: e.error_description,
        },
        None => IdentityError::Unavailable {
            provider: p.name().to_owned(),
            why: format!("HTTP status {status}"),
        },
    }
}

fn unreadable(p: &Provider, e: serde_json::Error) -> IdentityError {
    IdentityError::Unavailable {
        provider: p.name().to_owned(),
        why: format!("unreadable answer: {e}"),
    }
}

fn not_supported(p: &Provider, what: &str) -> IdentityError {
    IdentityError::NotSupported {
        provider: p.name().to_owned(),
        what: what.to_owned(),
    }
}
