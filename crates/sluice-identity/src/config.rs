//! One `[[identity_providers]]` table of the gateway's configuration, and its check at load.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::IdentityError;

/// The algorithms accepted when a provider names none: the asymmetric ones identity providers
/// sign with. HMAC is never accepted, whatever the configuration says: with a public key in
/// the JWKS, an HS256 token "signed" with that key is the classic algorithm-confusion forgery.
pub const DEFAULT_ALGORITHMS: [&str; 4] = ["RS256", "ES256", "PS256", "EdDSA"];

/// One identity provider that sluice trusts to say who someone is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// How people and the admin API name it ("corp"); also in audit records.
    pub name: String,
    /// The `iss` its tokens carry, compared byte for byte: a token is routed to the provider
    /// whose issuer it names, so two providers may not share one.
    pub issuer: String,
    /// Needed for sign-in (device and PKCE flows); a provider that only vouches for workload
    /// tokens (token exchange) can go without.
    pub client_id: Option<String>,
    /// Read once at start, trimmed; only the path is here, so `Debug` shows no secret. Without
    /// it sluice signs in as a public client.
    pub client_secret_file: Option<PathBuf>,
    /// Acceptable `aud` values; empty means `[client_id]`.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Default: `issuer` + `/.well-known/openid-configuration`.
    pub discovery_url: Option<String>,
    /// Skips discovery for the keys: for workload issuers whose discovery document is missing
    /// or wrong.
    pub jwks_uri: Option<String>,
    /// How long fetched keys (and the discovery document) are used before being fetched again.
    #[serde(
        default = "one_hour",
        deserialize_with = "sluice_outbound::duration::duration"
    )]
    pub jwks_cache: Duration,
    /// Tolerance on `exp`, `nbf` and `iat`, for clocks that disagree.
    #[serde(
        default = "one_minute",
        deserialize_with = "sluice_outbound::duration::duration"
    )]
    pub clock_skew: Duration,
    /// JWS `alg` values accepted. HS* and none are refused by [`ProviderConfig::check`].
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    #[serde(default)]
    pub claims: ClaimNames,
    /// The kind given when the token says none (no `claims.kind`, or the claim is absent).
    #[serde(default)]
    pub kind: Kind,
    /// When set, the token's email must be in one of these domains (compared without case).
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// Whether a name the gateway does not know becomes an identity at first sign-in. The
    /// gateway enforces it; this crate only carries it.
    #[serde(default)]
    pub identities: Identities,
    /// Asked for at sign-in.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Put before every mapped name ("ci:"), so workload identities cannot collide with people.
    pub name_prefix: Option<String>,
    /// A cap on credentials issued on this provider's word; the gateway applies it.
    #[serde(default, deserialize_with = "optional_duration")]
    pub max_credential_ttl: Option<Duration>,
}

/// Which claims carry what; the claim names differ between providers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimNames {
    /// The identity's name. Unset, it is `preferred_username`, then `email`, then `sub`,
    /// whichever the token has first, so it works with any provider out of the box. Set, that
    /// claim is required: an administrator who named a claim should not silently get another.
    pub name: Option<String>,
    #[serde(default = "default_email_claim")]
    pub email: String,
    /// A string or an array of strings; absent means no groups.
    #[serde(default = "default_groups_claim")]
    pub groups: String,
    /// A claim holding "human", "service" or "agent"; unset, the provider's `kind` is used.
    pub kind: Option<String>,
}

/// What sort of caller an identity is; policy can tell them apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Human,
    Service,
    Agent,
}

/// Whether sign-in may create identities, or only reach ones the configuration declares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Identities {
    /// An unknown name becomes an identity at its first sign-in.
    Dynamic,
    /// The mapped name must be a configured identity.
    #[default]
    Declared,
}

/// The claim tried for the name when `claims.name` is unset, in order.
pub(crate) const DEFAULT_NAME_CLAIMS: [&str; 3] = ["preferred_username", "email", "sub"];

impl Default for ClaimNames {
    fn default() -> Self {
        ClaimNames {
            name: None,
            email: default_email_claim(),
            groups: default_groups_claim(),
            kind: None,
        }
    }
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Human => "human",
            Kind::Service => "service",
            Kind::Agent => "agent",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Kind> {
        match s {
            "human" => Some(Kind::Human),
            "service" => Some(Kind::Service),
            "agent" => Some(Kind::Agent),
            _ => None,
        }
    }
}

impl ProviderConfig {
    /// `audiences`, or `[client_id]` when none are written.
    pub fn effective_audiences(&self) -> Vec<String> {
        if self.audiences.is_empty() {
            self.client_id.iter().cloned().collect()
        } else {
            self.audiences.clone()
        }
    }

    /// Where the discovery document is.
    pub fn effective_discovery_url(&self) -> String {
        match &self.discovery_url {
            Some(url) => url.clone(),
            None => format!(
                "{}/.well-known/openid-configuration",
                self.issuer.trim_end_matches('/')
            ),
        }
    }

    /// Everything that can be known wrong before the first token; each error names the
    /// provider and the field.
    pub fn check(&self) -> Result<(), IdentityError> {
        let bad = |field: &'static str, message: String| IdentityError::Config {
            provider: self.name.clone(),
            field,
            message,
        };
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(bad(
                "name",
                "must be letters, digits, '-', '_' or '.', and not empty".into(),
            ));
        }
        if !(self.issuer.starts_with("https://") || self.issuer.starts_with("http://")) {
            return Err(bad("issuer", "must be an http:// or https:// URL".into()));
        }
        for (field, url) in [
            ("discovery_url", &self.discovery_url),
            ("jwks_uri", &self.jwks_uri),
        ] {
            if let Some(url) = url {
                sluice_outbound::http::Endpoint::parse(url)
                    .map_err(|e| bad(field, e.to_string()))?;
            }
        }
        if self.client_id.as_deref() == Some("") {
            return Err(bad("client_id", "must not be empty".into()));
        }
        if self.client_secret_file.is_some() && self.client_id.is_none() {
            return Err(bad(
                "client_secret_file",
                "needs client_id: the secret is the client's".into(),
            ));
        }
        // A token with no audience to compare to would be accepted for any client of the
        // provider, including ones other parties run.
        if self.effective_audiences().is_empty() {
            return Err(bad(
                "audiences",
                "needed when there is no client_id (the tokens' aud to accept)".into(),
            ));
        }
        if self.algorithms.is_empty() {
            return Err(bad("algorithms", "must name at least one".into()));
        }
        for alg in &self.algorithms {
            crate::algorithm::parse(alg).map_err(|why| bad("algorithms", why))?;
        }
        if self
            .allowed_domains
            .iter()
            .any(|d| d.is_empty() || d.contains('@'))
        {
            return Err(bad(
                "allowed_domains",
                "each must be a domain such as corp.example".into(),
            ));
        }
        if self.jwks_cache < Duration::from_secs(10) {
            return Err(bad("jwks_cache", "must be at least 10s".into()));
        }
        if self.clock_skew > Duration::from_secs(600) {
            return Err(bad("clock_skew", "must be at most 10m".into()));
        }
        for (field, claim) in [
            ("claims.email", Some(&self.claims.email)),
            ("claims.groups", Some(&self.claims.groups)),
            ("claims.name", self.claims.name.as_ref()),
            ("claims.kind", self.claims.kind.as_ref()),
        ] {
            if claim.is_some_and(|c| c.is_empty()) {
                return Err(bad(field, "must not be empty".into()));
            }
        }
        if self.max_credential_ttl.is_some_and(|t| t.is_zero()) {
            return Err(bad("max_credential_ttl", "must be more than zero".into()));
        }
        Ok(())
    }
}

/// Checks every provider and that no two share a name or an issuer (tokens are routed by
/// issuer, so a shared one would make the route ambiguous).
pub fn check_all(providers: &[ProviderConfig]) -> Result<(), IdentityError> {
    for (i, p) in providers.iter().enumerate() {
        p.check()?;
        for earlier in &providers[..i] {
            if earlier.name == p.name {
                return Err(IdentityError::Config {
                    provider: p.name.clone(),
                    field: "name",
                    message: "another provider has this name".into(),
                });
            }
            if earlier.issuer == p.issuer {
                return Err(IdentityError::Config {
                    provider: p.name.clone(),
                    field: "issuer",
                    message: format!("provider {} has the same issuer", earlier.name),
                });
            }
        }
    }
    Ok(())
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    sluice_outbound::duration::duration(d).map(Some)
}

fn one_hour() -> Duration {
    Duration::from_secs(3600)
}

fn one_minute() -> Duration {
    Duration::from_secs(60)
}

fn default_algorithms() -> Vec<String> {
    DEFAULT_ALGORITHMS.iter().map(|a| (*a).to_owned()).collect()
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile", "groups"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

fn default_email_claim() -> String {
    "email".into()
}

fn default_groups_claim() -> String {
    "groups".into()
}
