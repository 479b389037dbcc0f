//! Secrets this crate holds or hands over, in types that never print them.

use std::path::Path;

use crate::IdentityError;

/// The OAuth client secret, read from its file at start.
#[derive(Clone)]
pub(crate) struct ClientSecret(String);

impl ClientSecret {
    pub(crate) fn read(provider: &str, path: &Path) -> Result<ClientSecret, IdentityError> {
        let text = std::fs::read_to_string(path).map_err(|source| IdentityError::SecretFile {
            provider: provider.to_owned(),
            path: path.to_owned(),
            source,
        })?;
        let secret = text.trim();
        if secret.is_empty() {
            return Err(IdentityError::Config {
                provider: provider.to_owned(),
                field: "client_secret_file",
                message: format!("{} is empty", path.display()),
            });
        }
        Ok(ClientSecret(secret.to_owned()))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(..)")
    }
}

/// A value that lets its holder finish a sign-in (a device code, a token): kept out of
/// `Debug` and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that has to send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}
