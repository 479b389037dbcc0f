//! The OIDC fixture itself, without sluice: the OpenID Provider's discovery, a device login
//! and a PKCE login completed by the browser helpers as a real client would see them, and the
//! workload issuer's minting and key rotation. Later tests rely on all of this.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::{Client, Url};
use serde_json::{json, Value};
use support::oidc::{
    jwt_header, jwt_payload, pkce_pair, ClientSetup, MintRequest, OidcProvider, ProviderSetup,
    ALICE, ALICE_EMAIL, ALICE_PASSWORD, BOB, BOB_EMAIL, BOB_PASSWORD, CLIENT_ID, CLIENT_SECRET,
};

const SCOPE: &str = "openid email profile groups";

fn http() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn get_json(url: &str) -> Value {
    let response = http().get(url).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

async fn discovery(issuer: &str) -> Value {
    get_json(&format!("{issuer}/.well-known/openid-configuration")).await
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

#[tokio::test]
async fn discovery_documents_describe_both_issuers() {
    let started = Instant::now();
    let op = OidcProvider::start(ProviderSetup::standard());
    eprintln!("fixture started in {:?}", started.elapsed());

    let doc = discovery(op.issuer()).await;
    assert_eq!(doc["issuer"], op.issuer());
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    for field in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "device_authorization_endpoint",
    ] {
        assert!(
            doc[field].as_str().unwrap().starts_with(op.issuer()),
            "{field}: {doc}"
        );
    }
    let methods = doc["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&json!("client_secret_basic")));
    assert!(methods.contains(&json!("client_secret_post")));
    assert!(doc["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("groups")));
    let jwks = get_json(doc["jwks_uri"].as_str().unwrap()).await;
    assert_eq!(jwks["keys"][0]["alg"], "RS256");

    let workload = discovery(op.workload_issuer()).await;
    assert_eq!(workload["issuer"], op.workload_issuer());
    assert_eq!(
        workload["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    let jwks = get_json(workload["jwks_uri"].as_str().unwrap()).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
}

/// Polls the token endpoint for a device code, bounded; the first poll must be pending.
async fn poll_device_token(token_endpoint: &str, device_code: &str) -> Value {
    for _ in 0..50 {
        let response = http()
            .post(token_endpoint)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code),
            ])
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if status.is_success() {
            return body;
        }
        assert_eq!(body["error"], "authorization_pending", "{status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the device code was not authorized in time");
}

#[tokio::test]
async fn device_login_yields_an_id_token_with_groups() {
    let op = OidcProvider::start(ProviderSetup::standard());
    let doc = discovery(op.issuer()).await;
    let token_endpoint = doc["token_endpoint"].as_str().unwrap();

    let response = http()
        .post(doc["device_authorization_endpoint"].as_str().unwrap())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("scope", SCOPE)])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let device: Value = response.json().await.unwrap();
    assert_eq!(device["interval"], 1);
    let device_code = device["device_code"].as_str().unwrap();

    // Not yet authorized: the client is told to keep polling.
    let pending = http()
        .post(token_endpoint)
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
        ])
        .send()
        .await
        .unwrap();
    let pending: Value = pending.json().await.unwrap();
    assert_eq!(pending["error"], "authorization_pending");

    let started = Instant::now();
    op.complete_device(
        device["verification_uri"].as_str().unwrap(),
        device["user_code"].as_str().unwrap(),
        ALICE,
        ALICE_PASSWORD,
    )
    .await;
    eprintln!("device login completed in {:?}", started.elapsed());

    let tokens = poll_device_token(token_endpoint, device_code).await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let claims = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["iss"], op.issuer());
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(claims["email"], ALICE_EMAIL);
    assert_eq!(claims["name"], "Alice Example");
    assert_eq!(claims["preferred_username"], ALICE);
    assert_eq!(claims["groups"], json!(["developers"]));
}

#[tokio::test]
async fn device_login_through_the_complete_uri_with_client_secret_post() {
    let mut setup = ProviderSetup::standard();
    let mut post_client = ClientSetup::cli("post-client", "post-secret");
    post_client.token_endpoint_auth_method = Some("client_secret_post".to_owned());
    setup.clients.push(post_client);
    let op = OidcProvider::start(setup);
    let doc = discovery(op.issuer()).await;

    let credentials = [
        ("client_id", "post-client"),
        ("client_secret", "post-secret"),
    ];
    let mut form = credentials.to_vec();
    form.push(("scope", SCOPE));
    let device: Value = http()
        .post(doc["device_authorization_endpoint"].as_str().unwrap())
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The user code is already in the URI; bob logs in by email.
    op.complete_device(
        device["verification_uri_complete"].as_str().unwrap(),
        device["user_code"].as_str().unwrap(),
        BOB_EMAIL,
        BOB_PASSWORD,
    )
    .await;

    let mut form = credentials.to_vec();
    form.push(("grant_type", "urn:ietf:params:oauth:grant-type:device_code"));
    form.push(("device_code", device["device_code"].as_str().unwrap()));
    let response = http()
        .post(doc["token_endpoint"].as_str().unwrap())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let tokens: Value = response.json().await.unwrap();
    let claims = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], BOB);
    assert_eq!(claims["groups"], json!(["ops", "dba"]));
}

fn authorization_url(doc: &Value, redirect_uri: &str, challenge: Option<&str>) -> Url {
    let mut url = Url::parse(doc["authorization_endpoint"].as_str().unwrap()).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", SCOPE)
        .append_pair("state", "state-8c1f")
        .append_pair("nonce", "nonce-55aa");
    if let Some(challenge) = challenge {
        url.query_pairs_mut()
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
    }
    url
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn pkce_login_redirects_to_any_loopback_port_and_redeems_the_code() {
    let op = OidcProvider::start(ProviderSetup::standard());
    let doc = discovery(op.issuer()).await;
    // Registered as http://127.0.0.1/callback; a native client's loopback port may be any.
    let redirect_uri = "http://127.0.0.1:49731/callback";
    let (verifier, challenge) = pkce_pair();

    let started = Instant::now();
    let location = op
        .authorize(
            authorization_url(&doc, redirect_uri, Some(&challenge)).as_str(),
            ALICE,
            ALICE_PASSWORD,
        )
        .await;
    eprintln!("PKCE login completed in {:?}", started.elapsed());
    let callback = Url::parse(&location).unwrap();
    assert!(location.starts_with(redirect_uri), "{location}");
    assert_eq!(query(&callback, "state").as_deref(), Some("state-8c1f"));
    let code = query(&callback, "code").unwrap_or_else(|| panic!("no code: {location}"));

    let response = http()
        .post(doc["token_endpoint"].as_str().unwrap())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let tokens: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status} {tokens}");
    let claims = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["nonce"], "nonce-55aa");
    assert_eq!(claims["email"], ALICE_EMAIL);
    assert_eq!(claims["groups"], json!(["developers"]));
    assert!(tokens["refresh_token"].is_string(), "{tokens}");

    // The code is single-use.
    let again = http()
        .post(doc["token_endpoint"].as_str().unwrap())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
}

#[tokio::test]
async fn pkce_is_required_and_a_wrong_verifier_is_refused() {
    let op = OidcProvider::start(ProviderSetup::standard());
    let doc = discovery(op.issuer()).await;
    let redirect_uri = "http://[::1]:40404/callback";

    // Without a challenge the provider sends the browser back with an error, before any login.
    let location = op
        .authorize(
            authorization_url(&doc, redirect_uri, None).as_str(),
            ALICE,
            ALICE_PASSWORD,
        )
        .await;
    let callback = Url::parse(&location).unwrap();
    assert_eq!(
        query(&callback, "error").as_deref(),
        Some("invalid_request"),
        "{location}"
    );

    let (_, challenge) = pkce_pair();
    let (other_verifier, _) = pkce_pair();
    let location = op
        .authorize(
            authorization_url(&doc, redirect_uri, Some(&challenge)).as_str(),
            BOB,
            BOB_PASSWORD,
        )
        .await;
    let code = query(&Url::parse(&location).unwrap(), "code").unwrap();
    let response = http()
        .post(doc["token_endpoint"].as_str().unwrap())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &other_verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_grant");
}

/// Whether an RS256 token verifies against the JWKS key its header names (RFC 7515 with RSA
/// PKCS#1 v1.5 and SHA-256): proves the issuer really signs, and that tampering breaks it.
fn verifies_rs256(jwks: &Value, token: &str) -> bool {
    use base64::Engine as _;
    use sha2::Digest as _;
    const SHA256_DIGEST_INFO: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let kid = jwt_header(token)["kid"].clone();
    let Some(jwk) = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
    else {
        return false;
    };
    let number = |field: &str| {
        rsa::BigUint::from_bytes_be(&b64.decode(jwk[field].as_str().unwrap()).unwrap())
    };
    let key = rsa::RsaPublicKey::new(number("n"), number("e")).unwrap();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let scheme = rsa::Pkcs1v15Sign {
        hash_len: Some(32),
        prefix: Box::new(SHA256_DIGEST_INFO),
    };
    key.verify(
        scheme,
        &sha2::Sha256::digest(signed.as_bytes()),
        &b64.decode(signature).unwrap(),
    )
    .is_ok()
}

#[tokio::test]
async fn workload_issuer_mints_and_rotates() {
    let op = OidcProvider::start(ProviderSetup::standard());
    let jwks_uri = format!("{}/.well-known/jwks", op.workload_issuer());
    let first_kid = get_json(&jwks_uri).await["keys"][0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();

    let token = op
        .mint(MintRequest::new(
            "sluice",
            json!({"sub": "repo:corp/app:ref:refs/heads/main", "repository": "corp/app"}),
        ))
        .await;
    let header = jwt_header(&token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], first_kid);
    let claims = jwt_payload(&token);
    assert_eq!(claims["iss"], op.workload_issuer());
    assert_eq!(claims["aud"], "sluice");
    assert_eq!(claims["repository"], "corp/app");
    let jwks = get_json(&jwks_uri).await;
    assert!(verifies_rs256(&jwks, &token));
    let exp = claims["exp"].as_i64().unwrap();
    assert!((now() + 250..=now() + 350).contains(&exp), "{claims}");

    // Expired, claim removed, other issuer, tampered, unsigned, HS256, unpublished key.
    let expired = jwt_payload(
        &op.mint(MintRequest {
            exp_in: Some(-60),
            claims: json!({"jti": null}).as_object().unwrap().clone(),
            iss: Some("https://elsewhere.example".to_owned()),
            ..MintRequest::default()
        })
        .await,
    );
    assert!(expired["exp"].as_i64().unwrap() < now());
    assert!(expired.get("jti").is_none() && expired.get("aud").is_none());
    assert_eq!(expired["iss"], "https://elsewhere.example");

    let base = MintRequest::new("sluice", json!({"sub": "repo:corp/app"}));
    let tampered = op
        .mint(MintRequest {
            tamper: true,
            ..base.clone()
        })
        .await;
    let (signed_part, signature) = tampered.rsplit_once('.').unwrap();
    assert!(!signature.is_empty() && signed_part.split('.').count() == 2);
    assert!(!verifies_rs256(&jwks, &tampered));

    let unsigned = op
        .mint(MintRequest {
            alg: Some("none".to_owned()),
            ..base.clone()
        })
        .await;
    assert!(unsigned.ends_with('.'));
    assert_eq!(jwt_header(&unsigned)["alg"], "none");

    let hmac = op
        .mint(MintRequest {
            alg: Some("HS256".to_owned()),
            ..base.clone()
        })
        .await;
    assert_eq!(jwt_header(&hmac)["alg"], "HS256");

    let unpublished = op
        .mint(MintRequest {
            unpublished_key: true,
            ..base.clone()
        })
        .await;
    assert_ne!(jwt_header(&unpublished)["kid"], first_kid);
    // The unpublished key under the published kid: well-formed, but the signature fails.
    let impostor = op
        .mint(MintRequest {
            unpublished_key: true,
            kid: Some(first_kid.clone()),
            ..base.clone()
        })
        .await;
    assert_eq!(jwt_header(&impostor)["kid"], first_kid);
    assert!(!verifies_rs256(&jwks, &impostor));

    // Rotation publishes the new key beside the old and signs with it.
    let second_kid = op.rotate(false).await;
    assert_ne!(second_kid, first_kid);
    let kids: Vec<Value> = get_json(&jwks_uri).await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].clone())
        .collect();
    assert_eq!(kids, vec![json!(first_kid), json!(second_kid)]);
    assert!(!kids.contains(&jwt_header(&unpublished)["kid"]));
    let rotated = op.mint(base.clone()).await;
    assert_eq!(jwt_header(&rotated)["kid"], second_kid);
    let jwks = get_json(&jwks_uri).await;
    assert!(verifies_rs256(&jwks, &rotated) && verifies_rs256(&jwks, &token));

    let third_kid = op.rotate(true).await;
    let keys = get_json(&jwks_uri).await["keys"].clone();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["kid"], third_kid);
}
