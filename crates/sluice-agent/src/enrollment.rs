//! Enrollment tokens: `sluice-enroll_<id>_<secret>_<pin>`, all hex. The id finds the
//! store's row, the secret (32 random bytes, stored only as its SHA-256) proves the token, and
//! the pin is the SHA-256 of the agent listener's certificate, so an agent given only the token
//! and the gateway's address cannot be talked into enrolling with anyone else.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sluice_store::EnrollmentRecord;

use crate::AgentError;

const PREFIX: &str = "sluice-enroll_";

/// A token as an agent reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentToken {
    pub id: String,
    secret: String,
    pub gateway_sha256: [u8; 32],
}

impl std::fmt::Debug for EnrollmentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollmentToken")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl EnrollmentToken {
    pub fn parse(text: &str) -> Result<EnrollmentToken, AgentError> {
        let bad = || {
            AgentError::Enrollment(
                "not an enrollment token (sluice-enroll_…, from `sluice agent enroll`)".into(),
            )
        };
        let rest = text.trim().strip_prefix(PREFIX).ok_or_else(bad)?;
        let mut parts = rest.split('_');
        let (Some(id), Some(secret), Some(pin), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let hex_of =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex_of(id, 16) || !hex_of(secret, 64) || !hex_of(pin, 64) {
            return Err(bad());
        }
        let mut gateway_sha256 = [0u8; 32];
        hex::decode_to_slice(pin, &mut gateway_sha256).map_err(|_| bad())?;
        Ok(EnrollmentToken {
            id: id.to_owned(),
            secret: secret.to_owned(),
            gateway_sha256,
        })
    }

    /// What the store compares: the SHA-256 of the secret, in hex.
    pub fn secret_sha256(&self) -> String {
        secret_sha256(&self.secret)
    }

    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }
}

/// How a token's secret is kept and compared.
pub(crate) fn secret_sha256(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new token for agent `agent`, valid `ttl_ms` from `now_ms`, pinning the listener
/// certificate `gateway_sha256`: the text to hand the agent, and the row to store.
pub fn issue(
    agent: &str,
    gateway_sha256: [u8; 32],
    now_ms: i64,
    ttl_ms: i64,
) -> (String, EnrollmentRecord) {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = EnrollmentToken {
        id: hex::encode(id),
        secret: hex::encode(secret),
        gateway_sha256,
    };
    let text = format!(
        "{PREFIX}{}_{}_{}",
        token.id,
        token.secret,
        hex::encode(gateway_sha256)
    );
    let record = EnrollmentRecord {
        id: token.id.clone(),
        agent: agent.to_owned(),
        secret_sha256: token.secret_sha256(),
        created_at_ms: now_ms,
        expires_at_ms: now_ms.saturating_add(ttl_ms),
    };
    (text, record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_reads_back_and_matches_its_row() {
        let (text, row) = issue("dc1", [7u8; 32], 1_000, 60_000);
        let token = EnrollmentToken::parse(&text).unwrap();
        assert_eq!(token.id, row.id);
        assert_eq!(token.secret_sha256(), row.secret_sha256);
        assert_eq!(token.gateway_sha256, [7u8; 32]);
        assert_eq!(row.expires_at_ms, 61_000);
        assert!(!format!("{token:?}").contains(&token.secret));
    }

    #[test]
    fn anything_else_is_refused() {
        let (text, _) = issue("dc1", [7u8; 32], 0, 1);
        for bad in [
            "",
            "sluice-enroll_",
            &text[..text.len() - 1],
            &text.replace("sluice-enroll_", "sluice-token_"),
            &format!("{text}_00"),
        ] {
            assert!(EnrollmentToken::parse(bad).is_err(), "{bad}");
        }
    }
}
