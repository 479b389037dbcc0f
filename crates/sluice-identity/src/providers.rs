//! The configured providers, each with its discovery document and keys cached.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::config::{check_all, ProviderConfig};
use crate::discovery::{Discovery, DiscoveryCache};
use crate::jwks::KeyCache;
use crate::secret::ClientSecret;
use crate::{algorithm, IdentityError};

/// Every configured identity provider. Cheap to clone: the caches are shared, so every clone
/// sees keys any of them fetched.
#[derive(Clone)]
pub struct Providers {
    inner: Arc<[Provider]>,
}

pub(crate) struct Provider {
    pub(crate) config: ProviderConfig,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) audiences: Vec<String>,
    pub(crate) secret: Option<ClientSecret>,
    pub(crate) discovery: DiscoveryCache,
    pub(crate) keys: KeyCache,
}

impl Providers {
    /// Checks the configuration and reads the client secrets; fetches nothing, so a provider
    /// that is down does not stop the gateway from starting.
    pub fn new(configs: Vec<ProviderConfig>) -> Result<Providers, IdentityError> {
        Providers::build(configs, crate::jwks::MIN_REFETCH)
    }

    pub(crate) fn build(
        configs: Vec<ProviderConfig>,
        min_refetch: Duration,
    ) -> Result<Providers, IdentityError> {
        check_all(&configs)?;
        let mut providers = Vec::with_capacity(configs.len());
        for config in configs {
            let algorithms = config
                .algorithms
                .iter()
                .map(|a| algorithm::parse(a))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|message| IdentityError::Config {
                    provider: config.name.clone(),
                    field: "algorithms",
                    message,
                })?;
            let secret = match &config.client_secret_file {
                Some(path) => Some(ClientSecret::read(&config.name, path)?),
                None => None,
            };
            providers.push(Provider {
                algorithms,
                audiences: config.effective_audiences(),
                secret,
                discovery: DiscoveryCache::new(
                    config.effective_discovery_url(),
                    config.issuer.clone(),
                    config.jwks_cache,
                ),
                keys: KeyCache::with_min_refetch(config.jwks_cache, min_refetch),
                config,
            });
        }
        Ok(Providers {
            inner: providers.into(),
        })
    }

    /// The providers' configurations, in the order written (for `GET /v1/login`).
    pub fn configs(&self) -> impl Iterator<Item = &ProviderConfig> {
        self.inner.iter().map(|p| &p.config)
    }

    pub fn get(&self, name: &str) -> Option<&ProviderConfig> {
        self.find(name).ok().map(|p| &p.config)
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    pub(crate) fn find(&self, name: &str) -> Result<&Provider, IdentityError> {
        self.inner
            .iter()
            .find(|p| p.config.name == name)
            .ok_or_else(|| IdentityError::UnknownProvider(name.to_owned()))
    }

    pub(crate) fn by_issuer(&self, issuer: &str) -> Option<&Provider> {
        self.inner.iter().find(|p| p.config.issuer == issuer)
    }
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.inner.iter().map(|p| &p.config.name))
            .finish()
    }
}

impl Provider {
    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    pub(crate) async fn discovery(&self) -> Result<Arc<Discovery>, IdentityError> {
        self.discovery
            .get(self.name())
            .await
            .map_err(|why| IdentityError::Unavailable {
                provider: self.name().to_owned(),
                why,
            })
    }

    /// The JWKS document: from the configured `jwks_uri`, else from discovery.
    pub(crate) async fn fetch_jwks(&self) -> Result<serde_json::Value, String> {
        let uri = match &self.config.jwks_uri {
            Some(uri) => uri.clone(),
            None => self
                .discovery
                .get(self.name())
                .await?
                .jwks_uri
                .clone()
                .ok_or("the discovery document has no jwks_uri")?,
        };
        crate::fetch::get_json(&uri).await
    }
}
