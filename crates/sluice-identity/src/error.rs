use std::path::PathBuf;

use crate::Rejected;

/// Errors of this crate. None repeats a token, a client secret, a device code or an
/// authorization code.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A provider that cannot work as configured, found at load.
    #[error("identity provider {provider}: {field}: {message}")]
    Config {
        provider: String,
        field: &'static str,
        message: String,
    },
    /// The client secret file could not be read.
    #[error("identity provider {provider}: client_secret_file {}: {source}", path.display())]
    SecretFile {
        provider: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no identity provider is named {0}")]
    UnknownProvider(String),
    /// The provider lacks what a flow needs (no client_id, no device endpoint, no S256).
    #[error("identity provider {provider}: {what}")]
    NotSupported { provider: String, what: String },
    /// The provider could not be reached or answered with something unreadable.
    #[error("identity provider {provider} is unavailable: {why}")]
    Unavailable { provider: String, why: String },
    /// The provider answered a sign-in request with an OAuth error (`invalid_grant`, ...).
    #[error("identity provider {provider} refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        provider: String,
        error: String,
        description: Option<String>,
    },
    /// A token the provider issued did not verify.
    #[error(transparent)]
    Rejected(#[from] Rejected),
}
