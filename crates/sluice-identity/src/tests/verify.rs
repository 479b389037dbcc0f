//! Every check of `verify`, one rejection reason at a time.

use serde_json::{json, Value};

use super::idp::Idp;
use super::keys::{jwks, unsigned, TestKey};
use crate::verify::now;
use crate::{Kind, Rejected};

fn claims(idp: &Idp) -> Value {
    let now = now();
    json!({
        "iss": idp.url,
        "sub": "u-123",
        "aud": "sluice",
        "iat": now,
        "exp": now + 300,
        "preferred_username": "alice",
        "email": "alice@corp.example",
        "groups": ["developers", "oncall"],
    })
}

fn with(mut base: Value, changes: Value) -> Value {
    if let (Some(b), Some(c)) = (base.as_object_mut(), changes.as_object()) {
        for (k, v) in c {
            if v.is_null() {
                b.remove(k);
            } else {
                b.insert(k.clone(), v.clone());
            }
        }
    }
    base
}

#[tokio::test]
async fn a_good_token_maps_to_an_identity() {
    let key = TestKey::ec("k1");
    let idp = Idp::start(jwks(&[&key])).await;
    let providers = idp.providers("name_prefix = \"sso:\"\n");
    // One set of claims: `exp` is from the clock, and a second look may be a second later.
    let signed = claims(&idp);
    let token = key.sign(&signed);
    let v = providers.verify(&token, None).await.expect("verifies");
    assert_eq!(v.provider, "corp");
    assert_eq!(v.issuer, idp.url);
    assert_eq!(v.subject, "u-123");
    assert_eq!(v.name, "sso:alice");
    assert_eq!(v.email.as_deref(), Some("alice@corp.example"));
    assert_eq!(v.groups, ["developers", "oncall"]);
    assert_eq!(v.kind, Kind::Human);
    assert_eq!(v.expires_at, signed["exp"].as_i64().expect("exp"));
    assert_eq!(v.claims["preferred_username"], "alice");
    // Discovery once, keys once; the second token is served from the cache.
    providers.verify(&token, None).await.expect("again");
    assert_eq!(idp.hits("/jwks"), 1);
    assert_eq!(idp.hits("/.well-known/openid-configuration"), 1);
}

#[tokio::test]
async fn rsa_and_eddsa_keys_verify_too() {
    let (rsa, ed, ec) = (TestKey::rsa("r1"), TestKey::ed("e1"), TestKey::ec("c1"));
    let idp = Idp::start(jwks(&[&rsa, &ed, &ec])).await;
    let providers = idp.providers("");
    for key in [&rsa, &ed, &ec] {
        let v = providers.verify(&key.sign(&claims(&idp)), None).await;
        assert_eq!(v.map(|v| v.name).as_deref(), Ok("alice"), "{:?}", key.alg);
    }
}

#[tokio::test]
async fn groups_may_be_a_string_an_array_or_absent_and_names_fall_back() {
    let key = TestKey::ec("k1");
    let idp = Idp::start(jwks(&[&key])).await;
    let providers = idp.providers("");
    let verify = |c: Value| {
        let token = key.sign(&c);
        let providers = providers.clone();
        async move { providers.verify(&token, None).await }
    };
    let v = verify(with(claims(&idp), json!({"groups": "admins"}))).await;
    assert_eq!(v.expect("string").groups, ["admins"]);
    let v = verify(with(claims(&idp), json!({"groups": null}))).await;
    assert!(v.expect("absent").groups.is_empty());
    let v = verify(with(claims(&idp), json!({"groups": [1]}))).await;
    assert_eq!(v, Err(Rejected::MissingClaim("groups".into())));
    // preferred_username, then email, then sub.
    let v = verify(with(claims(&idp), json!({"preferred_username": null}))).await;
    assert_eq!(v.expect("email").name, "alice@corp.example");
    let v = verify(with(
        claims(&idp),
        json!({"preferred_username": null, "email": null}),
    ))
    .await;
    assert_eq!(v.expect("sub").name, "u-123");
}

#[tokio::test]
async fn configured_claims_are_required_and_kind_comes_from_its_claim() {
    let key = TestKey::ec("k1");
    let idp = Idp::start(jwks(&[&key])).await;
    let providers = idp.providers(
        "kind = \"service\"\n[claims]\nname = \"upn\"\nkind = \"sluice_kind\"\ngroups = \"roles\"\n",
    );
    let token = key.sign(&claims(&idp));
    assert_eq!(
        providers.verify(&token, None).await,
        Err(Rejected::MissingClaim("upn".into()))
    );
    let c = with(claims(&idp), json!({"upn": "svc-a", "roles": "r"}));
    let v = providers
        .verify(&key.sign(&c), None)
        .await
        .expect("default kind");
    assert_eq!(
        (v.name.as_str(), v.kind, v.groups.len()),
        ("svc-a", Kind::Service, 1)
    );
    let c = with(c, json!({"sluice_kind": "agent"}));
    let v = providers
        .verify(&key.sign(&c), None)
        .await
        .expect("claimed kind");
    assert_eq!(v.kind, Kind::Agent);
    let c = with(c, json!({"sluice_kind": "root"}));
    assert_eq!(
        providers.verify(&key.sign(&c), None).await,
        Err(Rejected::MissingClaim("sluice_kind".into()))
    );
}

#[tokio::test]
async fn every_rejection_has_its_reason() {
    let key = TestKey::ec("k1");
    let stranger = TestKey::ec("k1");
    let idp = Idp::start(jwks(&[&key])).await;
    let providers =
        idp.providers("algorithms = [\"ES256\"]\nallowed_domains = [\"corp.example\"]\n");
    let base = claims(&idp);
    let now = now();
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &base,
        &jsonwebtoken::EncodingKey::from_secret(b"public").expect("hmac key"),
    )
    .expect("hs256");
    let cases: Vec<(&str, String, Option<&str>, Rejected)> = vec![
        ("not a jwt", "abc".into(), None, Rejected::Malformed),
        ("bad base64", "a!.b.c".into(), None, Rejected::Malformed),
        (
            "oversized",
            "a".repeat(crate::MAX_TOKEN_BYTES + 1),
            None,
            Rejected::Malformed,
        ),
        (
            "other issuer",
            key.sign(&with(base.clone(), json!({"iss": "https://evil.example"}))),
            None,
            Rejected::UnknownIssuer,
        ),
        (
            "no issuer",
            key.sign(&with(base.clone(), json!({"iss": null}))),
            None,
            Rejected::MissingClaim("iss".into()),
        ),
        (
            "alg none",
            unsigned(&json!({"alg": "none", "kid": "k1"}), &base),
            None,
            Rejected::AlgorithmNotAllowed,
        ),
        ("alg HS256", hs256, None, Rejected::AlgorithmNotAllowed),
        (
            "alg RS256 not configured",
            unsigned(&json!({"alg": "RS256", "kid": "k1"}), &base),
            None,
            Rejected::AlgorithmNotAllowed,
        ),
        (
            "unknown kid",
            key.sign_as("k9", &base),
            None,
            Rejected::UnknownKey,
        ),
        ("forged", stranger.sign(&base), None, Rejected::BadSignature),
        (
            "audience",
            key.sign(&with(base.clone(), json!({"aud": ["other", "another"]}))),
            None,
            Rejected::WrongAudience,
        ),
        (
            "no audience",
            key.sign(&with(base.clone(), json!({"aud": null}))),
            None,
            Rejected::MissingClaim("aud".into()),
        ),
        (
            "expired",
            key.sign(&with(base.clone(), json!({"exp": now - 120}))),
            None,
            Rejected::Expired,
        ),
        (
            "not yet valid",
            key.sign(&with(base.clone(), json!({"nbf": now + 300}))),
            None,
            Rejected::NotYetValid,
        ),
        (
            "issued in the future",
            key.sign(&with(base.clone(), json!({"iat": now + 300}))),
            None,
            Rejected::IssuedInFuture,
        ),
        (
            "nonce absent",
            key.sign(&base),
            Some("n-1"),
            Rejected::NonceMismatch,
        ),
        (
            "nonce differs",
            key.sign(&with(base.clone(), json!({"nonce": "n-2"}))),
            Some("n-1"),
            Rejected::NonceMismatch,
        ),
        (
            "domain",
            key.sign(&with(
                base.clone(),
                json!({"email": "mallory@evil.example"}),
            )),
            None,
            Rejected::DomainNotAllowed,
        ),
        (
            "unverified email",
            key.sign(&with(base.clone(), json!({"email_verified": false}))),
            None,
            Rejected::DomainNotAllowed,
        ),
        (
            "no email with allowed_domains",
            key.sign(&with(base.clone(), json!({"email": null}))),
            None,
            Rejected::MissingClaim("email".into()),
        ),
        (
            "no subject",
            key.sign(&with(base.clone(), json!({"sub": null}))),
            None,
            Rejected::MissingClaim("sub".into()),
        ),
    ];
    for (what, token, nonce, wanted) in cases {
        let got = providers.verify(&token, nonce).await;
        assert_eq!(got.as_ref().err(), Some(&wanted), "{what}: {got:?}");
        let text = wanted.to_string();
        assert!(
            !text.contains(&token[..token.len().min(20)]),
            "{what}: {text}"
        );
    }
    let ok = key.sign(&with(
        base.clone(),
        json!({"nonce": "n-1", "email": "A@CORP.example"}),
    ));
    assert!(providers.verify(&ok, Some("n-1")).await.is_ok());
}

#[tokio::test]
async fn an_unreachable_provider_without_cached_keys_is_unavailable() {
    let key = TestKey::ec("k1");
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let idp = Idp::start(jwks(&[&key])).await;
    let providers = idp.providers(&format!("jwks_uri = \"http://127.0.0.1:{port}/jwks\"\n"));
    let got = providers.verify(&key.sign(&claims(&idp)), None).await;
    assert_eq!(got, Err(Rejected::ProviderUnavailable));
    assert_eq!(got.err().map(|r| r.reason()), Some("provider_unavailable"));
    // jwks_uri skips discovery.
    assert_eq!(idp.hits("/.well-known/openid-configuration"), 0);
}

#[tokio::test]
async fn verify_for_accepts_only_the_named_providers_tokens() {
    let key = TestKey::ec("k1");
    let idp = Idp::start(jwks(&[&key])).await;
    let providers = idp.providers("");
    let token = key.sign(&claims(&idp));
    assert!(providers.verify_for("corp", &token, None).await.is_ok());
    assert_eq!(
        providers.verify_for("other", &token, None).await,
        Err(Rejected::UnknownIssuer)
    );
}

#[test]
fn reasons_are_distinct_and_stable() {
    let all = [
        Rejected::Malformed,
        Rejected::UnknownIssuer,
        Rejected::AlgorithmNotAllowed,
        Rejected::UnknownKey,
        Rejected::BadSignature,
        Rejected::WrongAudience,
        Rejected::Expired,
        Rejected::NotYetValid,
        Rejected::IssuedInFuture,
        Rejected::NonceMismatch,
        Rejected::DomainNotAllowed,
        Rejected::MissingClaim("x".into()),
        Rejected::ProviderUnavailable,
    ];
    let reasons: std::collections::BTreeSet<_> = all.iter().map(Rejected::reason).collect();
    assert_eq!(reasons.len(), all.len());
    assert!(reasons.contains("algorithm_not_allowed"));
}
