//! Signing keys for tests, and tokens signed with them.

use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// A key the fake provider publishes (or, for forgeries, does not).
pub(crate) struct TestKey {
    pub alg: Algorithm,
    pub kid: String,
    encoding: EncodingKey,
    pub jwk: Value,
}

impl TestKey {
    pub fn ec(kid: &str) -> TestKey {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("p256");
        let encoding = EncodingKey::from_ec_der(&pair.serialize_der());
        TestKey::from_encoding(kid, Algorithm::ES256, encoding)
    }

    /// A test-only RSA key committed under tests/data (generating RSA keys in tests is slow);
    /// it signs nothing but these tests' tokens.
    pub fn rsa(kid: &str) -> TestKey {
        let pem = include_str!("../../tests/data/rsa-test-key.pem");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("pem body");
        TestKey::from_encoding(kid, Algorithm::RS256, EncodingKey::from_rsa_der(&der))
    }

    pub fn ed(kid: &str) -> TestKey {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("ed25519");
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key_raw());
        TestKey {
            alg: Algorithm::EdDSA,
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ed_der(&pair.serialize_der()),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig"}),
        }
    }

    fn from_encoding(kid: &str, alg: Algorithm, encoding: EncodingKey) -> TestKey {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).expect("jwk");
        jwk.common.key_id = Some(kid.to_owned());
        TestKey {
            alg,
            kid: kid.to_owned(),
            encoding,
            jwk: serde_json::to_value(jwk).expect("jwk json"),
        }
    }

    /// A token signed with this key, naming its kid.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    /// A token signed with this key but naming another kid: a forgery attempt.
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

pub(crate) fn jwks(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

/// A token from raw header and payload JSON with a junk signature, for what no key signs.
pub(crate) fn unsigned(header: &Value, claims: &Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2ln", b64(header), b64(claims))
}
