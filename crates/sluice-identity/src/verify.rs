//! Verifying a provider's token: routed by issuer, checked in the order that never lets an
//! unsigned claim matter.

use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Validation;
use serde_json::{Map, Value};

use crate::claims::{self, VerifiedToken};
use crate::jwks::Miss;
use crate::providers::{Provider, Providers};
use crate::{algorithm, Rejected};

/// Larger than any real ID token; a bigger one is refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

impl Providers {
    /// Verifies a JWT from any configured provider: the one whose issuer the token names.
    ///
    /// Checks, in order: size, shape, issuer, `alg` (only the provider's asymmetric ones),
    /// key (`kid`, refetching the keys on an unknown one, rate-limited), signature, `iss`,
    /// `aud`, `exp`, `nbf`, `iat`, then `nonce` when one is expected, then the claim mapping
    /// (name, email domain, groups, kind). Only the issuer and the header are read before the
    /// signature is checked, and only to find the key.
    pub async fn verify(
        &self,
        jwt: &str,
        expected_nonce: Option<&str>,
    ) -> Result<VerifiedToken, Rejected> {
        let parts = Unverified::read(jwt)?;
        let provider = self
            .by_issuer(&parts.issuer)
            .ok_or(Rejected::UnknownIssuer)?;
        verify_with(provider, jwt, parts, expected_nonce).await
    }

    /// Like [`Providers::verify`], but only a token of the named provider is accepted: what a
    /// sign-in with that provider returned must be that provider's.
    pub async fn verify_for(
        &self,
        provider: &str,
        jwt: &str,
        expected_nonce: Option<&str>,
    ) -> Result<VerifiedToken, Rejected> {
        let parts = Unverified::read(jwt)?;
        let provider = self
            .find(provider)
            .ok()
            .filter(|p| p.config.issuer == parts.issuer)
            .ok_or(Rejected::UnknownIssuer)?;
        verify_with(provider, jwt, parts, expected_nonce).await
    }
}

/// What is read of a token before its signature is checked: enough to find the key.
struct Unverified {
    alg: String,
    kid: Option<String>,
    issuer: String,
}

impl Unverified {
    fn read(jwt: &str) -> Result<Unverified, Rejected> {
        if jwt.len() > MAX_TOKEN_BYTES {
            return Err(Rejected::Malformed);
        }
        let mut parts = jwt.split('.');
        let (Some(header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejected::Malformed);
        };
        let header = json_object(header)?;
        let payload = json_object(payload)?;
        // The header is read here rather than by jsonwebtoken, whose parser fails on `none`
        // and unknown algorithms alike: those are algorithm rejections, not malformed tokens.
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(Rejected::Malformed)?
            .to_owned();
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(Rejected::Malformed),
        };
        let issuer = match payload.get("iss") {
            Some(Value::String(iss)) => iss.clone(),
            _ => return Err(Rejected::MissingClaim("iss".into())),
        };
        Ok(Unverified { alg, kid, issuer })
    }
}

fn json_object(part: &str) -> Result<Map<String, Value>, Rejected> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Rejected::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Rejected::Malformed)
}

async fn verify_with(
    provider: &Provider,
    jwt: &str,
    parts: Unverified,
    expected_nonce: Option<&str>,
) -> Result<VerifiedToken, Rejected> {
    let alg = algorithm::accepted(&parts.alg, &provider.algorithms)
        .ok_or(Rejected::AlgorithmNotAllowed)?;
    let key = provider
        .keys
        .find(provider.name(), parts.kid.as_deref(), alg, || {
            provider.fetch_jwks()
        })
        .await
        .map_err(|miss| match miss {
            Miss::UnknownKey => Rejected::UnknownKey,
            Miss::Unavailable => Rejected::ProviderUnavailable,
        })?;

    let skew = provider.config.clock_skew.as_secs();
    let mut validation = Validation::new(alg);
    validation.leeway = skew;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.set_audience(&provider.audiences);
    validation.set_issuer(&[&provider.config.issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(jwt, &key.key, &validation)
        .map_err(|e| rejection(e.kind()))?;
    let claims = data.claims;

    let now = now();
    if let Some(iat) = claims.get("iat") {
        let iat = iat
            .as_i64()
            .ok_or_else(|| Rejected::MissingClaim("iat".into()))?;
        if iat > now.saturating_add(i64::try_from(skew).unwrap_or(i64::MAX)) {
            return Err(Rejected::IssuedInFuture);
        }
    }
    if let Some(expected) = expected_nonce {
        if claims.get("nonce").and_then(Value::as_str) != Some(expected) {
            return Err(Rejected::NonceMismatch);
        }
    }
    claims::map(&provider.config, claims)
}

fn rejection(kind: &ErrorKind) -> Rejected {
    match kind {
        ErrorKind::InvalidSignature => Rejected::BadSignature,
        ErrorKind::ExpiredSignature => Rejected::Expired,
        ErrorKind::ImmatureSignature => Rejected::NotYetValid,
        ErrorKind::InvalidAudience => Rejected::WrongAudience,
        ErrorKind::InvalidIssuer => Rejected::UnknownIssuer,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => Rejected::AlgorithmNotAllowed,
        ErrorKind::MissingRequiredClaim(claim) => Rejected::MissingClaim(claim.clone()),
        ErrorKind::InvalidClaimFormat(claim) => Rejected::MissingClaim(claim.clone()),
        // A key that does not fit its algorithm (a broken JWK) cannot have signed the token.
        ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => Rejected::BadSignature,
        _ => Rejected::Malformed,
    }
}

/// Seconds since the epoch, as JWTs count.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
