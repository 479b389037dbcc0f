//! Device and PKCE sign-in against the fake provider.

use std::io::Write;

use serde_json::json;

use super::idp::Idp;
use super::keys::{jwks, TestKey};
use crate::verify::now;
use crate::{pkce_challenge, DevicePoll, IdentityError, Secret};

fn confidential(idp: &Idp) -> (crate::Providers, tempfile::NamedTempFile) {
    let mut file = tempfile::NamedTempFile::new().expect("file");
    writeln!(file, "s3cr:et").expect("write");
    let providers = idp.providers(&format!(
        "client_secret_file = \"{}\"\n",
        file.path().display()
    ));
    (providers, file)
}

#[tokio::test]
async fn device_flow_authenticates_with_basic_and_maps_every_poll_answer() {
    let key = TestKey::ec("k1");
    let idp = Idp::start(jwks(&[&key])).await;
    let (providers, _secret) = confidential(&idp);
    idp.set_device_answer(
        200,
        json!({"device_code": "DEV-SECRET", "user_code": "ABCD-EFGH",
               "verification_uri": "https://idp.example/device", "expires_in": 600}),
    );
    let start = providers.device_start("corp").await.expect("start");
    assert_eq!(start.user_code, "ABCD-EFGH");
    assert_eq!((start.interval, start.expires_in), (5, 600));
    assert_eq!(start.verification_uri_complete, None);
    assert!(!format!("{start:?}").contains("DEV-SECRET"));
    let request = idp.last_request();
    assert!(
        request.starts_with("POST /device HTTP/1.1\r\n"),
        "{request}"
    );
    // base64("sluice:s3cr%3Aet"): the secret's colon form-encoded, per RFC 6749 2.3.1.
    assert!(
        request.contains("authorization: Basic c2x1aWNlOnMzY3IlM0FldA==\r\n"),
        "{request}"
    );
    assert!(request.contains("content-type: application/x-www-form-urlencoded"));
    assert!(
        request.ends_with("scope=openid%20email%20profile%20groups"),
        "{request}"
    );

    let id_token = key.sign(&json!({"iss": idp.url, "sub": "s", "aud": "sluice",
                                    "exp": now() + 60, "preferred_username": "bob"}));
    for (status, body) in [
        (400, json!({"error": "authorization_pending"})),
        (400, json!({"error": "slow_down"})),
        (
            400,
            json!({"error": "access_denied", "error_description": "no"}),
        ),
        (400, json!({"error": "expired_token"})),
        (
            200,
            json!({"id_token": id_token, "access_token": "at", "expires_in": 60}),
        ),
        (400, json!({"error": "invalid_client"})),
    ] {
        idp.push_token_answer(status, body);
    }
    let code = &start.device_code;
    let polls = [
        providers.device_poll("corp", code).await,
        providers.device_poll("corp", code).await,
        providers.device_poll("corp", code).await,
        providers.device_poll("corp", code).await,
    ];
    let names: Vec<String> = polls.iter().map(|p| format!("{p:?}")).collect();
    assert!(matches!(polls[0], Ok(DevicePoll::Pending)), "{names:?}");
    assert!(matches!(polls[1], Ok(DevicePoll::SlowDown)), "{names:?}");
    assert!(
        matches!(&polls[2], Ok(DevicePoll::Denied(d)) if d == "no"),
        "{names:?}"
    );
    assert!(matches!(polls[3], Ok(DevicePoll::Expired)), "{names:?}");
    let Ok(DevicePoll::Done(tokens)) = providers.device_poll("corp", code).await else {
        panic!("done expected");
    };
    assert!(!format!("{tokens:?}").contains(&id_token));
    let request = idp.last_request();
    assert!(request.contains("device_code=DEV-SECRET"), "{request}");
    assert!(request.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"));
    assert!(
        !request.contains("client_id="),
        "basic auth only: {request}"
    );
    let who = providers
        .verify_for("corp", tokens.id_token.expose(), None)
        .await
        .expect("id token");
    assert_eq!(who.name, "bob");
    let err = providers
        .device_poll("corp", code)
        .await
        .expect_err("refused");
    assert!(matches!(err, IdentityError::Refused { ref error, .. } if error == "invalid_client"));
}

#[tokio::test]
async fn pkce_url_and_code_redemption_as_a_public_client() {
    let key = TestKey::ec("k1");
    let idp = Idp::start(jwks(&[&key])).await;
    let providers = idp.providers("scopes = [\"openid\"]\n");
    let challenge = pkce_challenge("verifier-1");
    let url = providers
        .authorization_url(
            "corp",
            "http://127.0.0.1:5000/callback",
            &challenge,
            "st",
            "nc",
        )
        .await
        .expect("url");
    assert_eq!(
        url,
        format!(
            "{}/authorize?response_type=code&client_id=sluice&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcallback&scope=openid&state=st&nonce=nc&code_challenge={challenge}&code_challenge_method=S256",
            idp.url
        )
    );

    let id_token = key.sign(&json!({"iss": idp.url, "sub": "s", "aud": "sluice",
                                    "exp": now() + 60, "nonce": "nc", "email": "c@x.example"}));
    idp.push_token_answer(200, json!({"id_token": id_token}));
    let tokens = providers
        .redeem_code(
            "corp",
            "the-code",
            "verifier-1",
            "http://127.0.0.1:5000/callback",
        )
        .await
        .expect("tokens");
    let request = idp.last_request();
    assert!(request.starts_with("POST /token "), "{request}");
    assert!(
        !request.contains("authorization:"),
        "public client: {request}"
    );
    assert!(
        request.contains("code=the-code&code_verifier=verifier-1&"),
        "{request}"
    );
    assert!(request.ends_with("&client_id=sluice"), "{request}");
    let who = providers
        .verify_for("corp", tokens.id_token.expose(), Some("nc"))
        .await
        .expect("verified");
    assert_eq!(who.name, "c@x.example");

    idp.push_token_answer(
        400,
        json!({"error": "invalid_grant", "error_description": "used"}),
    );
    let err = providers
        .redeem_code(
            "corp",
            "the-code",
            "verifier-1",
            "http://127.0.0.1:5000/callback",
        )
        .await
        .expect_err("refused")
        .to_string();
    assert_eq!(err, "identity provider corp refused: invalid_grant (used)");
}

#[tokio::test]
async fn sign_in_needs_a_client_id_and_a_known_provider() {
    let idp = Idp::start(jwks(&[])).await;
    let providers = crate::Providers::new(vec![toml::from_str(&format!(
        "name = \"ci\"\nissuer = \"{}\"\naudiences = [\"sluice\"]\n",
        idp.url
    ))
    .expect("config")])
    .expect("providers");
    let err = providers
        .device_start("ci")
        .await
        .expect_err("no client id");
    assert_eq!(
        err.to_string(),
        "identity provider ci: sign-in needs client_id"
    );
    let err = providers.device_start("nope").await.expect_err("unknown");
    assert_eq!(err.to_string(), "no identity provider is named nope");
    assert_eq!(format!("{:?}", Secret::new("x")), "Secret(..)");
}

#[test]
fn pkce_challenge_matches_rfc_7636_appendix_b() {
    assert_eq!(
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    assert_ne!(crate::random_token(), crate::random_token());
    assert_eq!(crate::random_token().len(), 43);
}
