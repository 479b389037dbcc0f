//! A provider's signing keys: fetched, kept, and fetched again on rotation.
//!
//! Keys are refreshed when the cache's lifetime is over, and at once when a token names a key
//! id not in the set (the provider rotated), but never more than once per [`MIN_REFETCH`]: a
//! flood of tokens with made-up key ids cannot turn into a flood of requests to the provider.
//! A failed fetch keeps the keys there were.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::time::Instant;

use crate::algorithm;

/// The least time between two fetches of one provider's keys, whatever the tokens say.
pub(crate) const MIN_REFETCH: Duration = Duration::from_secs(10);

/// One usable verification key.
pub(crate) struct Key {
    kid: Option<String>,
    /// The `alg` the JWK is pinned to, if it names one.
    alg: Option<Algorithm>,
    pub(crate) key: DecodingKey,
}

pub(crate) struct KeyCache {
    ttl: Duration,
    min_refetch: Duration,
    /// Short critical sections only: the lock is never held across a fetch.
    state: Mutex<State>,
    /// Held across a fetch, so that tokens arriving together cause one fetch.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    keys: Arc<Vec<Arc<Key>>>,
    fetched: Option<Instant>,
    attempted: Option<Instant>,
}

/// What a fetch found wrong, for `find`'s caller to turn into a rejection.
pub(crate) enum Miss {
    /// Keys are known but none fits.
    UnknownKey,
    /// No keys are known: the provider has not been reachable.
    Unavailable,
}

impl KeyCache {
    /// `min_refetch` is [`MIN_REFETCH`] but in tests, which cannot wait ten seconds.
    pub(crate) fn with_min_refetch(ttl: Duration, min_refetch: Duration) -> KeyCache {
        KeyCache {
            ttl,
            min_refetch,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The key for a token's `kid` and `alg`, fetching the set (with `fetch`) when it is stale
    /// or lacks the key, as far as the rate limit lets.
    pub(crate) async fn find<F, Fut>(
        &self,
        provider: &str,
        kid: Option<&str>,
        alg: Algorithm,
        fetch: F,
    ) -> Result<Arc<Key>, Miss>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<serde_json::Value, String>>,
    {
        let (found, stale, attempted) = self.look(kid, alg);
        let may_fetch = attempted.is_none_or(|t| t.elapsed() >= self.min_refetch);
        if may_fetch && (found.is_none() || stale) {
            self.refresh(provider, attempted, fetch).await;
        } else if found.is_none() {
            // A fetch may be under way (the one that made fetching not allowed yet): its keys
            // are what this token needs, so wait for it rather than reject before it lands.
            drop(self.fetching.lock().await);
        }
        let (found, _, _) = self.look(kid, alg);
        if let Some(key) = found {
            return Ok(key);
        }
        if self.keys().is_empty() {
            Err(Miss::Unavailable)
        } else {
            Err(Miss::UnknownKey)
        }
    }

    fn attempted(&self) -> Option<Instant> {
        match self.state.lock() {
            Ok(state) => state.attempted,
            Err(poisoned) => poisoned.into_inner().attempted,
        }
    }

    fn keys(&self) -> Arc<Vec<Arc<Key>>> {
        match self.state.lock() {
            Ok(state) => state.keys.clone(),
            Err(poisoned) => poisoned.into_inner().keys.clone(),
        }
    }

    /// The matching key, whether the set is past its lifetime, and when a fetch was last
    /// tried.
    fn look(&self, kid: Option<&str>, alg: Algorithm) -> (Option<Arc<Key>>, bool, Option<Instant>) {
        let state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        let stale = state.fetched.is_none_or(|t| t.elapsed() >= self.ttl);
        (pick(&state.keys, kid, alg), stale, state.attempted)
    }

    async fn refresh<F, Fut>(&self, provider: &str, seen_attempt: Option<Instant>, fetch: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<serde_json::Value, String>>,
    {
        let _fetching = self.fetching.lock().await;
        // Someone else fetched while this caller waited: their result stands.
        if self.attempted() != seen_attempt {
            return;
        }
        let now = Instant::now();
        self.update(|s| s.attempted = Some(now));
        match fetch().await.and_then(|doc| parse_set(&doc)) {
            Ok(keys) => {
                tracing::debug!(
                    provider,
                    keys = keys.len(),
                    "identity provider keys fetched"
                );
                self.update(|s| {
                    s.keys = Arc::new(keys);
                    s.fetched = Some(now);
                });
            }
            Err(why) => {
                tracing::warn!(provider, %why, "identity provider keys could not be fetched; keeping the cached ones");
            }
        }
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        match self.state.lock() {
            Ok(mut state) => change(&mut state),
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
    }
}

/// The key a token names. Without a `kid`, only a set with exactly one key that fits is
/// unambiguous.
fn pick(keys: &[Arc<Key>], kid: Option<&str>, alg: Algorithm) -> Option<Arc<Key>> {
    let fits = |k: &&Arc<Key>| k.alg.is_none_or(|a| a == alg) && k.key.family() == alg.family();
    match kid {
        Some(kid) => keys
            .iter()
            .filter(fits)
            .find(|k| k.kid.as_deref() == Some(kid))
            .cloned(),
        None => {
            let mut fitting = keys.iter().filter(fits);
            match (fitting.next(), fitting.next()) {
                (Some(only), None) => Some(only.clone()),
                _ => None,
            }
        }
    }
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

/// The signing keys of a JWKS. Keys one by one, so that one key of a type this crate does not
/// know (an encryption key, a new curve) does not hide the others.
fn parse_set(doc: &serde_json::Value) -> Result<Vec<Arc<Key>>, String> {
    let raw = RawSet::deserialize(doc).map_err(|e| format!("not a JWKS: {e}"))?;
    let keys: Vec<Arc<Key>> = raw
        .keys
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Jwk>(v).ok())
        .filter_map(|jwk| usable(&jwk))
        .map(Arc::new)
        .collect();
    if keys.is_empty() {
        return Err("the JWKS has no usable signing key".into());
    }
    Ok(keys)
}

fn usable(jwk: &Jwk) -> Option<Key> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    // A symmetric key in a public set would let anyone who read it sign.
    if matches!(
        jwk.algorithm,
        AlgorithmParameters::OctetKey(_) | AlgorithmParameters::Other(_)
    ) {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        Some(a) => Some(algorithm::parse(&a.to_string()).ok()?),
        None => None,
    };
    Some(Key {
        kid: jwk.common.key_id.clone(),
        alg,
        key: DecodingKey::from_jwk(jwk).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::tests::keys::TestKey;

    fn set(key: &TestKey) -> serde_json::Value {
        serde_json::json!({"keys": [key.jwk.clone()]})
    }

    #[tokio::test]
    async fn keys_are_fetched_again_after_their_lifetime_and_once_for_callers_together() {
        let key = TestKey::ec("k1");
        let cache = Arc::new(KeyCache::with_min_refetch(
            Duration::from_millis(200),
            Duration::from_millis(50),
        ));
        let fetches = Arc::new(AtomicUsize::new(0));
        let find = |cache: Arc<KeyCache>, fetches: Arc<AtomicUsize>, doc: serde_json::Value| async move {
            cache
                .find("p", Some("k1"), Algorithm::ES256, || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(doc)
                })
                .await
                .is_ok()
        };
        let together = futures_join(
            find(cache.clone(), fetches.clone(), set(&key)),
            find(cache.clone(), fetches.clone(), set(&key)),
        )
        .await;
        assert_eq!(together, (true, true));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(find(cache.clone(), fetches.clone(), set(&key)).await);
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "fresh keys are not fetched"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(find(cache.clone(), fetches.clone(), set(&key)).await);
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "stale keys are fetched again"
        );
    }

    #[tokio::test]
    async fn symmetric_and_encryption_keys_are_never_used() {
        let doc = serde_json::json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "h"},
            {"kty": "RSA", "use": "enc", "kid": "e", "n": "AQAB", "e": "AQAB"},
            {"kty": "weird", "kid": "w"},
        ]});
        assert!(parse_set(&doc).is_err());
    }

    async fn futures_join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
        tokio::join!(a, b)
    }
}
