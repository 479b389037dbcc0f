//! Identity providers: verifying the tokens they issue, and signing people in with them.
//!
//! sluice trusts OpenID Connect providers (and workload issuers such as CI systems) to say who
//! a caller is. This crate checks what they say: it routes a JWT to the configured provider
//! whose issuer it names, checks its algorithm, key, signature, audience and lifetime against
//! that provider's published keys (cached, refetched on rotation with a rate limit), and maps
//! its claims to a name, email, groups and kind. It also runs the gateway's side of sign-in
//! as a confidential client: the device flow and the authorization code flow with PKCE.
//!
//! # Architecture invariant
//! This crate never mints sluice tokens and never decides access. It answers "who does this
//! provider say this is, and is that statement genuine"; whether that identity exists, what
//! it may reach and what credential it gets are sluice-core's and the policy's. It does not
//! know sluice-core: the gateway's configuration embeds [`ProviderConfig`].
//!
//! # Layout
//! - `config`: one `[[identity_providers]]` table and its check at load.
//! - `providers`: [`Providers`], the configured set with each provider's caches.
//! - `verify`: [`Providers::verify`], the checks in order; `claims`: the claim mapping into
//!   [`VerifiedToken`].
//! - `jwks`: the keys, refetched on an unknown `kid` at most once per 10 seconds;
//!   `discovery`: the provider's discovery document.
//! - `signin`: device and PKCE sign-in against the provider's endpoints.
//! - `rejected`: [`Rejected`], why a token was refused, with stable reasons for audit.
//! - `fetch`, `form`: HTTP through sluice-outbound's client, and form encoding.

mod algorithm;
mod claims;
mod config;
mod discovery;
mod error;
mod fetch;
mod form;
mod jwks;
mod providers;
mod rejected;
mod secret;
mod signin;
mod verify;

#[cfg(test)]
mod tests;

pub use claims::VerifiedToken;
pub use config::{check_all, ClaimNames, Identities, Kind, ProviderConfig, DEFAULT_ALGORITHMS};
pub use error::IdentityError;
pub use providers::Providers;
pub use rejected::Rejected;
pub use secret::Secret;
pub use signin::{pkce_challenge, random_token, DevicePoll, DeviceStart, Tokens};
pub use verify::MAX_TOKEN_BYTES;
