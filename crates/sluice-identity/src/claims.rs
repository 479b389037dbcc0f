//! From a verified token's claims to who the bearer is, per the provider's claim names.

use serde_json::{Map, Value};

use crate::config::{Kind, ProviderConfig, DEFAULT_NAME_CLAIMS};
use crate::Rejected;

/// A verified identity-provider token: who, for how long, and every claim for policy.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// The configured provider's name.
    pub provider: String,
    pub issuer: String,
    /// `sub`: stable at the provider, unlike the name.
    pub subject: String,
    /// The identity's name: the mapped claim with the provider's `name_prefix` before it.
    pub name: String,
    pub email: Option<String>,
    /// A string claim is one group; absent means none.
    pub groups: Vec<String>,
    /// From the `claims.kind` claim when configured and present, else the provider's `kind`.
    pub kind: Kind,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
    /// Every claim, as verified.
    pub claims: Map<String, Value>,
}

pub(crate) fn map(
    config: &ProviderConfig,
    claims: Map<String, Value>,
) -> Result<VerifiedToken, Rejected> {
    let missing = |claim: &str| Rejected::MissingClaim(claim.to_owned());
    let string = |claim: &str| {
        claims
            .get(claim)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };

    let subject = string("sub").ok_or_else(|| missing("sub"))?.to_owned();
    let expires_at = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| missing("exp"))?;
    let email = match claims.get(&config.claims.email) {
        None | Some(Value::Null) => None,
        Some(Value::String(e)) if e.contains('@') => Some(e.clone()),
        Some(_) => return Err(missing(&config.claims.email)),
    };
    if !config.allowed_domains.is_empty() {
        let email = email
            .as_deref()
            .ok_or_else(|| missing(&config.claims.email))?;
        // An address the provider says it has not verified proves nothing about the domain.
        if claims.get("email_verified") == Some(&Value::Bool(false)) {
            return Err(Rejected::DomainNotAllowed);
        }
        let domain = email.rsplit('@').next().unwrap_or_default();
        if !config
            .allowed_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
        {
            return Err(Rejected::DomainNotAllowed);
        }
    }
    let name = match &config.claims.name {
        Some(claim) => string(claim).ok_or_else(|| missing(claim))?,
        None => DEFAULT_NAME_CLAIMS
            .iter()
            .find_map(|claim| string(claim))
            .ok_or_else(|| missing(DEFAULT_NAME_CLAIMS[0]))?,
    };
    let name = format!(
        "{}{name}",
        config.name_prefix.as_deref().unwrap_or_default()
    );
    let groups = match claims.get(&config.claims.groups) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(g)) => vec![g.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|g| g.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| missing(&config.claims.groups))?,
        Some(_) => return Err(missing(&config.claims.groups)),
    };
    let kind = match &config.claims.kind {
        Some(claim) if claims.contains_key(claim) => claims
            .get(claim)
            .and_then(Value::as_str)
            .and_then(Kind::parse)
            .ok_or_else(|| missing(claim))?,
        _ => config.kind,
    };
    Ok(VerifiedToken {
        provider: config.name.clone(),
        issuer: config.issuer.clone(),
        subject,
        name,
        email,
        groups,
        kind,
        expires_at,
        claims,
    })
}
