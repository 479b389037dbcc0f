//! The provider's OpenID discovery document, fetched when first needed and kept a while.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::fetch;

/// The endpoints sluice uses, from `.well-known/openid-configuration`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Discovery {
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub device_authorization_endpoint: Option<String>,
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

pub(crate) struct DiscoveryCache {
    url: String,
    issuer: String,
    ttl: Duration,
    /// Held across a fetch, so concurrent callers wait for one fetch instead of each sending
    /// their own; fetches are rare (once per `ttl`).
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    document: Option<(Arc<Discovery>, Instant)>,
    /// The last fetch tried, so that a provider that is down is asked at most once per
    /// [`crate::jwks::MIN_REFETCH`], not once per caller.
    attempted: Option<Instant>,
}

impl DiscoveryCache {
    pub(crate) fn new(url: String, issuer: String, ttl: Duration) -> DiscoveryCache {
        DiscoveryCache {
            url,
            issuer,
            ttl,
            state: Mutex::new(State::default()),
        }
    }

    /// The document, fetched again once `ttl` has passed; when that fails, the old one is
    /// used (and the failure logged) rather than failing sign-ins on a passing outage.
    pub(crate) async fn get(&self, provider: &str) -> Result<Arc<Discovery>, String> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some((doc, at)) = &state.document {
            let recently_tried = state
                .attempted
                .is_some_and(|t| now.duration_since(t) < crate::jwks::MIN_REFETCH);
            if now.duration_since(*at) < self.ttl || recently_tried {
                return Ok(doc.clone());
            }
        } else if let Some(t) = state.attempted {
            if now.duration_since(t) < crate::jwks::MIN_REFETCH {
                return Err("discovery failed moments ago".into());
            }
        }
        state.attempted = Some(now);
        match self.fetch().await {
            Ok(doc) => {
                let doc = Arc::new(doc);
                state.document = Some((doc.clone(), now));
                Ok(doc)
            }
            Err(why) => {
                tracing::warn!(provider, %why, "identity provider discovery failed");
                match &state.document {
                    Some((doc, _)) => Ok(doc.clone()),
                    None => Err(why),
                }
            }
        }
    }

    async fn fetch(&self) -> Result<Discovery, String> {
        let doc: Discovery = fetch::get_json(&self.url).await?;
        // OpenID Connect Discovery 4.3: a document naming another issuer is not this
        // provider's, and its endpoints are not to be trusted for it.
        if doc.issuer != self.issuer {
            return Err(format!(
                "discovery names issuer {:?}, not the configured one",
                doc.issuer
            ));
        }
        Ok(doc)
    }
}
