//! Signed checkpoints: an Ed25519 signature over the chain head, written into the chain.
//!
//! The hash chain alone shows that a line was edited or removed *unless* whoever edited it
//! also rewrote every `prev` after it (or cut the end of the file): the chain is keyless. A
//! checkpoint closes that gap for everything it covers: it signs the seq and hash of the last
//! record before it, so rewriting the chain below a checkpoint needs the signing key, which
//! the audit file's writer cannot be handed.
//!
//! The signed message is domain-separated and line-oriented so that it can never be mistaken
//! for (or made to collide with) another message signed with the same key:
//!
//! ```text
//! sluice-audit-checkpoint-v1\n{count}\n{head}\n{sealed_at}\n
//! ```
//!
//! `count` is the seq of the last record covered, `head` the lowercase hex SHA-256 of that
//! record's line, `sealed_at` RFC 3339 UTC. The key is named by its id, the first 16 hex
//! digits of the SHA-256 of the 32-byte public key, so a verifier can tell "signed by another
//! key" from "signature does not verify".

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::event::AuditEvent;

/// First line of every signed checkpoint message; bump the version if the message changes.
pub const CHECKPOINT_DOMAIN: &str = "sluice-audit-checkpoint-v1";

/// The exact bytes a checkpoint's signature covers.
pub fn checkpoint_message(count: u64, head: &str, sealed_at: &str) -> Vec<u8> {
    format!("{CHECKPOINT_DOMAIN}\n{count}\n{head}\n{sealed_at}\n").into_bytes()
}

/// A public key's id: the first 16 hex digits of its SHA-256.
pub fn key_id(public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    hex::encode(&digest[..8])
}

/// Signs checkpoints. Holds the private key: its `Debug` shows only the key id, and the key
/// itself is zeroed when the signer is dropped (ed25519-dalek's `zeroize` feature).
pub struct CheckpointSigner {
    key: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("key_id", &self.key_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl CheckpointSigner {
    /// The signer whose private key is derived from this 32-byte seed (RFC 8032).
    pub fn from_seed(seed: &[u8; 32]) -> CheckpointSigner {
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(key.verifying_key().as_bytes());
        CheckpointSigner { key, key_id }
    }

    /// The 32-byte public key verifiers need.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The id checkpoints name their key by.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// A checkpoint event covering the record `count` whose line hashes to `head` (hex).
    ///
    /// To be chained correctly the event must be appended right after that record, which is
    /// what [`crate::AuditLog::checkpoint`] guarantees; call this directly only for tests and
    /// tools that build chains themselves.
    pub fn sign(&self, count: u64, head: &str, sealed_at: &str) -> AuditEvent {
        let signature = self.key.sign(&checkpoint_message(count, head, sealed_at));
        AuditEvent::Checkpoint {
            count,
            head: head.to_owned(),
            sealed_at: sealed_at.to_owned(),
            key: self.key_id.clone(),
            signature: hex::encode(signature.to_bytes()),
        }
    }
}

/// A checkpoint [`crate::AuditLog::checkpoint`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointWritten {
    /// The checkpoint record's own seq.
    pub seq: u64,
    /// Seq of the last record it covers (`seq - 1`).
    pub count: u64,
    /// Hex hash of that record's line: worth logging, so that a copy kept off the host can
    /// later show a file cut back to an earlier checkpoint.
    pub head: String,
}

/// Why a checkpoint did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointInvalid {
    /// Not a checkpoint event.
    NotACheckpoint,
    /// Signed (or claims to be signed) by a key other than the verifier's.
    OtherKey { key: String },
    /// The signature field is not 64 bytes of hex.
    MalformedSignature,
    /// Well-formed, but not a signature of this message by this key: forged or altered.
    BadSignature,
}

impl std::fmt::Display for CheckpointInvalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotACheckpoint => f.write_str("not a checkpoint"),
            Self::OtherKey { key } => write!(f, "signed by key {key}"),
            Self::MalformedSignature => f.write_str("signature is not 64 bytes of hex"),
            Self::BadSignature => f.write_str("signature does not verify"),
        }
    }
}

/// Checks checkpoints against one public key.
#[derive(Debug, Clone)]
pub struct CheckpointVerifier {
    key: VerifyingKey,
    key_id: String,
}

impl CheckpointVerifier {
    /// `None` when the bytes are not a valid Ed25519 public key.
    pub fn new(public_key: &[u8; 32]) -> Option<CheckpointVerifier> {
        let key = VerifyingKey::from_bytes(public_key).ok()?;
        Some(CheckpointVerifier {
            key,
            key_id: key_id(public_key),
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Checks a checkpoint event's signature. Strict verification: rejects small-order keys
    /// and non-canonical signatures, so a signature cannot be reshaped into another that also
    /// verifies.
    pub fn verify(&self, event: &AuditEvent) -> Result<(), CheckpointInvalid> {
        let AuditEvent::Checkpoint {
            count,
            head,
            sealed_at,
            key,
            signature,
        } = event
        else {
            return Err(CheckpointInvalid::NotACheckpoint);
        };
        if *key != self.key_id {
            return Err(CheckpointInvalid::OtherKey { key: key.clone() });
        }
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(signature, &mut bytes)
            .map_err(|_| CheckpointInvalid::MalformedSignature)?;
        let signature = Signature::from_bytes(&bytes);
        self.key
            .verify_strict(&checkpoint_message(*count, head, sealed_at), &signature)
            .map_err(|_| CheckpointInvalid::BadSignature)
    }
}
