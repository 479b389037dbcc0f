//! Which JWS algorithms a provider's tokens may use.

use jsonwebtoken::Algorithm;

/// The configured name of an algorithm, refusing the ones that are never safe here: `none`
/// (no signature) and HMAC (a shared secret, which with a public JWKS is anyone's).
pub(crate) fn parse(name: &str) -> Result<Algorithm, String> {
    if name.eq_ignore_ascii_case("none") || name.to_ascii_uppercase().starts_with("HS") {
        return Err(format!(
            "{name} is refused: tokens must be signed with the provider's private key"
        ));
    }
    match name {
        "RS256" => Ok(Algorithm::RS256),
        "RS384" => Ok(Algorithm::RS384),
        "RS512" => Ok(Algorithm::RS512),
        "PS256" => Ok(Algorithm::PS256),
        "PS384" => Ok(Algorithm::PS384),
        "PS512" => Ok(Algorithm::PS512),
        "ES256" => Ok(Algorithm::ES256),
        "ES384" => Ok(Algorithm::ES384),
        "EdDSA" => Ok(Algorithm::EdDSA),
        _ => Err(format!(
            "{name} is not one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
        )),
    }
}

/// The algorithm a token header names, if the provider accepts it. Matched on the header's
/// own string rather than through a parser that might normalise it.
pub(crate) fn accepted(header_alg: &str, allowed: &[Algorithm]) -> Option<Algorithm> {
    let alg = parse(header_alg).ok()?;
    allowed.contains(&alg).then_some(alg)
}
