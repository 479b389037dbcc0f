//! Keys fetched again on rotation, rate-limited, and kept when a fetch fails.

use std::time::Duration;

use serde_json::json;

use super::idp::Idp;
use super::keys::{jwks, TestKey};
use crate::verify::now;
use crate::Rejected;

fn claims(idp: &Idp) -> serde_json::Value {
    json!({"iss": idp.url, "sub": "s", "aud": "sluice", "exp": now() + 300, "email": "a@b.example"})
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let key = TestKey::ec("k1");
    let idp = Idp::start(jwks(&[&key])).await;
    // The real interval: within it, made-up kids cost the provider nothing.
    let providers = idp.providers("");
    providers
        .verify(&key.sign(&claims(&idp)), None)
        .await
        .expect("ok");
    assert_eq!(idp.hits("/jwks"), 1);
    for kid in ["bogus-1", "bogus-2", "bogus-3"] {
        let got = providers
            .verify(&key.sign_as(kid, &claims(&idp)), None)
            .await;
        assert_eq!(got, Err(Rejected::UnknownKey));
    }
    // The first fetch was moments ago, so even the first bogus kid may not refetch.
    assert_eq!(idp.hits("/jwks"), 1);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_and_a_failed_fetch_keeps_the_old_keys() {
    let (old, new) = (TestKey::ec("old"), TestKey::ec("new"));
    let idp = Idp::start(jwks(&[&old])).await;
    let interval = Duration::from_millis(300);
    let providers = idp.providers_refetching_after("", interval);
    providers
        .verify(&old.sign(&claims(&idp)), None)
        .await
        .expect("old");
    tokio::time::sleep(interval).await;

    // Rotation: the new kid is unknown, so the keys are fetched at once.
    idp.set_jwks(200, jwks(&[&new]));
    let got = providers.verify(&new.sign(&claims(&idp)), None).await;
    assert_eq!(got.map(|v| v.subject).as_deref(), Ok("s"));
    assert_eq!(idp.hits("/jwks"), 2);
    // A flood right after the rotation: no more fetches.
    for _ in 0..5 {
        let got = providers
            .verify(&new.sign_as("made-up", &claims(&idp)), None)
            .await;
        assert_eq!(got, Err(Rejected::UnknownKey));
    }
    assert_eq!(idp.hits("/jwks"), 2);
    // The retired key is gone from the set, so its tokens no longer verify.
    let got = providers.verify(&old.sign(&claims(&idp)), None).await;
    assert_eq!(got, Err(Rejected::UnknownKey));

    // The provider fails: a refetch is tried, and the keys there were keep working.
    tokio::time::sleep(interval).await;
    idp.set_jwks(500, "{}".into());
    let got = providers
        .verify(&new.sign_as("other", &claims(&idp)), None)
        .await;
    assert_eq!(got, Err(Rejected::UnknownKey));
    assert_eq!(idp.hits("/jwks"), 3);
    let got = providers.verify(&new.sign(&claims(&idp)), None).await;
    assert!(got.is_ok(), "{got:?}");
}
