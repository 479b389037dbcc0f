//! Why a token was not accepted.

/// A token refused, with a stable reason for audit and a sentence safe to show its bearer.
///
/// A verdict rather than a failure of sluice (like a policy denial), so it is its own type;
/// it converts into [`crate::IdentityError`] where a flow has to fail. Nothing in it comes
/// from the token except the names of configured claims, so it can be shown and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// Too large, not three base64url parts, or a header or payload that is not JSON.
    Malformed,
    /// No configured provider has the token's `iss`.
    UnknownIssuer,
    /// `none`, HMAC, or an algorithm the provider is not configured to use.
    AlgorithmNotAllowed,
    /// No key of the provider has the token's `kid`, even after fetching the keys again.
    UnknownKey,
    BadSignature,
    WrongAudience,
    Expired,
    NotYetValid,
    /// `iat` later than now plus the allowed skew: a clock or a forger, either way not trusted.
    IssuedInFuture,
    NonceMismatch,
    DomainNotAllowed,
    /// The named claim is absent or not of a usable type.
    MissingClaim(String),
    /// The provider's keys could not be fetched and none are cached.
    ProviderUnavailable,
}

impl Rejected {
    /// For audit records and metrics labels; these strings do not change.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejected::Malformed => "malformed",
            Rejected::UnknownIssuer => "unknown_issuer",
            Rejected::AlgorithmNotAllowed => "algorithm_not_allowed",
            Rejected::UnknownKey => "unknown_key",
            Rejected::BadSignature => "bad_signature",
            Rejected::WrongAudience => "wrong_audience",
            Rejected::Expired => "expired",
            Rejected::NotYetValid => "not_yet_valid",
            Rejected::IssuedInFuture => "issued_in_future",
            Rejected::NonceMismatch => "nonce_mismatch",
            Rejected::DomainNotAllowed => "domain_not_allowed",
            Rejected::MissingClaim(_) => "missing_claim",
            Rejected::ProviderUnavailable => "provider_unavailable",
        }
    }
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::Malformed => f.write_str("the token is not a well-formed signed JWT"),
            Rejected::UnknownIssuer => {
                f.write_str("the token's issuer is not a configured identity provider")
            }
            Rejected::AlgorithmNotAllowed => {
                f.write_str("the token is signed with an algorithm that is not accepted")
            }
            Rejected::UnknownKey => {
                f.write_str("the token is signed with a key its provider does not publish")
            }
            Rejected::BadSignature => f.write_str("the token's signature does not verify"),
            Rejected::WrongAudience => f.write_str("the token is not meant for this gateway"),
            Rejected::Expired => f.write_str("the token has expired"),
            Rejected::NotYetValid => f.write_str("the token is not valid yet"),
            Rejected::IssuedInFuture => f.write_str("the token is issued in the future"),
            Rejected::NonceMismatch => {
                f.write_str("the token does not belong to this sign-in (nonce mismatch)")
            }
            Rejected::DomainNotAllowed => {
                f.write_str("the token's email domain is not allowed for this provider")
            }
            Rejected::MissingClaim(claim) => {
                write!(f, "the token lacks a usable {claim} claim")
            }
            Rejected::ProviderUnavailable => {
                f.write_str("the identity provider's keys cannot be fetched; try again later")
            }
        }
    }
}

impl std::error::Error for Rejected {}
