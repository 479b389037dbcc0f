//! Gateway-issued tokens. The token is shown once; the store keeps only a SCRAM-SHA-256 verifier
//! (RFC 5802/7677), which lets PostgreSQL clients authenticate with the token as password
//! without the gateway ever holding it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sluice_store::TokenRecord;
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// PBKDF2 rounds for token verifiers. Tokens carry 256 random bits, so rounds add no real
/// strength; 4096 is the SCRAM default every client accepts.
pub const SCRAM_ITERATIONS: u32 = 4096;
pub const SALT_LEN: usize = 16;
const TOKEN_PREFIX: &str = "slc_";

type HmacSha256 = Hmac<Sha256>;

/// The SCRAM keys derived from one token.
#[derive(Clone)]
pub struct ScramKeys {
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl ScramKeys {
    pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> ScramKeys {
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        ScramKeys {
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// Checks a client proof: `H(proof XOR HMAC(StoredKey, AuthMessage)) == StoredKey`.
    pub fn accepts_proof(&self, auth_message: &[u8], proof: &[u8]) -> bool {
        if proof.len() != 32 {
            return false;
        }
        let signature = hmac(&self.stored_key, auth_message);
        let mut client_key = [0u8; 32];
        for (k, (p, s)) in client_key.iter_mut().zip(proof.iter().zip(signature)) {
            *k = p ^ s;
        }
        let candidate: [u8; 32] = Sha256::digest(client_key).into();
        candidate.ct_eq(&self.stored_key).into()
    }

    /// The server signature that proves to the client that the gateway knew the verifier.
    pub fn server_signature(&self, auth_message: &[u8]) -> [u8; 32] {
        hmac(&self.server_key, auth_message)
    }

    /// The keys of a stored token; `None` if the stored bytes are not SHA-256 sized.
    pub fn from_record(r: &TokenRecord) -> Option<ScramKeys> {
        Some(ScramKeys {
            stored_key: r.stored_key.as_slice().try_into().ok()?,
            server_key: r.server_key.as_slice().try_into().ok()?,
        })
    }

    /// Whether two key pairs are the same, in constant time: a cleartext token is checked by
    /// deriving its keys and comparing them with stored ones.
    pub fn same_as(&self, other: &ScramKeys) -> bool {
        (self.stored_key.ct_eq(&other.stored_key) & self.server_key.ct_eq(&other.server_key)).into()
    }
}

pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0u8; 32],
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// A freshly issued token: the secret to print once and the record to store.
pub struct IssuedToken {
    pub secret: Secret,
    pub record: TokenRecord,
}

/// Hex digits of a token's id; enough that ids never collide in practice, short enough to
/// read aloud.
const ID_HEX: usize = 12;

/// Creates a token for `identity` using the identity's SCRAM `salt`. The secret is
/// `slc_<id>_<random>`: the id names the one verifier to check, so a guess costs one key
/// derivation, and the random part carries 256 bits.
pub fn issue(
    identity: &str,
    salt: &[u8],
    now: i64,
    expires_at: Option<i64>,
    scope: sluice_store::TokenScope,
) -> IssuedToken {
    let id = hex::encode(random_bytes::<{ ID_HEX / 2 }>());
    let secret = format!(
        "{TOKEN_PREFIX}{id}_{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    );
    let keys = ScramKeys::derive(secret.as_bytes(), salt, SCRAM_ITERATIONS);
    let record = TokenRecord {
        id: format!("tok_{id}"),
        identity: identity.to_owned(),
        stored_key: keys.stored_key.to_vec(),
        server_key: keys.server_key.to_vec(),
        iterations: SCRAM_ITERATIONS,
        created_at: now,
        expires_at,
        revoked_at: None,
        last_used_at: None,
        scope,
    };
    IssuedToken {
        secret: Secret::new(secret),
        record,
    }
}

/// The record id a token names (`tok_<id>`), or `None` for a token without one (issued before
/// tokens carried their id, or not a sluice token at all).
/// Three base64url parts joined by dots: an identity provider's JWT, not a sluice token
/// (`slc_...`). Listeners that take either as a bearer trade a JWT for a credential first.
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

pub fn token_id(token: &str) -> Option<String> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_at_checked(ID_HEX)?;
    let secret = secret.strip_prefix('_')?;
    let hex_id = id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (hex_id && !secret.is_empty()).then(|| format!("tok_{id}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn jwts_are_told_from_sluice_tokens() {
        assert!(super::looks_like_jwt(
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
        ));
        assert!(!super::looks_like_jwt("slc_0123456789ab_secretpart"));
        assert!(!super::looks_like_jwt("a.b"));
        assert!(!super::looks_like_jwt("a..c"));
        assert!(!super::looks_like_jwt("a.b.c=d"));
    }

    use super::*;

    // RFC 7677 test vector: user "user", password "pencil".
    const SALT_B64: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    const AUTH_MESSAGE: &str = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

    #[test]
    fn rfc7677_vector() {
        use base64::engine::general_purpose::STANDARD;
        let salt = STANDARD.decode(SALT_B64).unwrap();
        let keys = ScramKeys::derive(b"pencil", &salt, 4096);
        let proof = STANDARD
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert!(keys.accepts_proof(AUTH_MESSAGE.as_bytes(), &proof));
        assert_eq!(
            STANDARD.encode(keys.server_signature(AUTH_MESSAGE.as_bytes())),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let mut wrong = proof.clone();
        wrong[0] ^= 1;
        assert!(!keys.accepts_proof(AUTH_MESSAGE.as_bytes(), &wrong));
        assert!(!keys.accepts_proof(AUTH_MESSAGE.as_bytes(), &proof[..31]));
    }

    #[test]
    fn issued_tokens_verify_with_their_salt_only() {
        let t = issue("alice", b"0123456789abcdef", 10, None, Default::default());
        assert!(t.secret.expose().starts_with("slc_"));
        let again = ScramKeys::derive(
            t.secret.expose().as_bytes(),
            b"0123456789abcdef",
            SCRAM_ITERATIONS,
        );
        assert!(again.same_as(&ScramKeys::from_record(&t.record).unwrap()));
        let other = ScramKeys::derive(
            t.secret.expose().as_bytes(),
            b"fedcba9876543210",
            SCRAM_ITERATIONS,
        );
        assert!(!other.same_as(&ScramKeys::from_record(&t.record).unwrap()));
    }

    #[test]
    fn tokens_name_their_id() {
        let t = issue("alice", b"0123456789abcdef", 10, None, Default::default());
        assert_eq!(
            token_id(t.secret.expose()).as_deref(),
            Some(t.record.id.as_str())
        );
        assert_eq!(token_id("slc_abc"), None);
        assert_eq!(token_id("slc_0123456789ab_"), None);
        assert_eq!(token_id("slc_0123456789AB_x"), None);
        assert_eq!(token_id("nope_0123456789ab_x"), None);
        // A token from before ids: 43 base64url characters after the prefix.
        assert_eq!(
            token_id("slc_q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA"),
            None
        );
    }
}
