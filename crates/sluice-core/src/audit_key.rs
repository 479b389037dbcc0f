//! The key that signs the audit trail's checkpoints (`[audit] signing_key_file`).
//!
//! A 32-byte Ed25519 seed, hex in a mode-0600 file created on first start (like the masking
//! token key), and its public key in `<file>.pub` (hex, world-readable) so that
//! `sluice audit verify` and auditors can check checkpoints without the private key. Copy the
//! `.pub` elsewhere: a verifier that trusts a public key kept off the gateway host catches a
//! checkpoint forged by someone who replaced both files there.

use std::path::{Path, PathBuf};

use sluice_audit::{CheckpointSigner, VerifyReport};

use crate::config::Config;
use crate::CoreError;

/// Where the public key of the signing key at `key_path` is written: `<key_path>.pub`.
pub fn public_key_path(key_path: &Path) -> PathBuf {
    let mut name = key_path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Reads the signing key (64 hex digits), creating a random one (mode 0600) when the file
/// does not exist yet, and (re)writes `<path>.pub` when it is missing or names another key.
pub fn load_or_create_signing_key(path: &Path) -> Result<CheckpointSigner, CoreError> {
    // Errors name the file and the problem, never the key's contents.
    let bad =
        |why: String| CoreError::Config(format!("audit signing key {}: {why}", path.display()));
    let signer = match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut seed = [0u8; 32];
            let text = text.trim();
            if text.len() != 64 {
                return Err(bad(format!(
                    "must be 64 hex digits (32 bytes), found {} characters",
                    text.len()
                )));
            }
            hex::decode_to_slice(text, &mut seed).map_err(|_| bad("is not hexadecimal".into()))?;
            let signer = CheckpointSigner::from_seed(&seed);
            // Not a guaranteed wipe (the file's text is still in memory until freed), but
            // keeps the seed from lingering on the stack longer than needed.
            seed.fill(0);
            signer
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut seed);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            crate::secret::write_private(path, hex::encode(seed).as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            let signer = CheckpointSigner::from_seed(&seed);
            seed.fill(0);
            tracing::info!(
                path = %path.display(),
                key = signer.key_id(),
                "created the audit checkpoint signing key"
            );
            signer
        }
        Err(e) => return Err(bad(e.to_string())),
    };
    write_public_key(path, &signer)?;
    Ok(signer)
}

/// Keeps `<path>.pub` in step with the key, rewriting it only when it differs, so a
/// read-only or hand-placed copy that is already right is left alone.
fn write_public_key(path: &Path, signer: &CheckpointSigner) -> Result<(), CoreError> {
    let pub_path = public_key_path(path);
    let want = hex::encode(signer.public_key());
    match std::fs::read_to_string(&pub_path) {
        Ok(have) if have.trim() == want => return Ok(()),
        Ok(_) => tracing::warn!(
            path = %pub_path.display(),
            key = signer.key_id(),
            "audit public key file named another key; rewriting it"
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(CoreError::Config(format!(
                "audit public key {}: {e}",
                pub_path.display()
            )))
        }
    }
    std::fs::write(&pub_path, format!("{want}\n"))
        .map_err(|e| CoreError::Config(format!("audit public key {}: {e}", pub_path.display())))
}

/// Reads a public key written by [`load_or_create_signing_key`] (or given by hand): 64 hex
/// digits, surrounding whitespace ignored.
pub fn parse_public_key(text: &str) -> Result<[u8; 32], CoreError> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key)
        .map_err(|_| CoreError::Config("an audit public key is 64 hex digits (32 bytes)".into()))?;
    Ok(key)
}

/// The public key a gateway's own trail is checked with: its signing key's `.pub`. None, with
/// a note saying where it was looked for, when that file does not exist (an auditor then
/// gives the key by hand; checkpoints are still checked against the chain).
pub fn own_public_keys(config: &Config) -> Result<(Vec<[u8; 32]>, Option<String>), CoreError> {
    let pub_path = public_key_path(&config.audit_signing_key_path());
    let unreadable =
        |why: String| CoreError::Config(format!("audit public key {}: {why}", pub_path.display()));
    match std::fs::read_to_string(&pub_path) {
        Ok(text) => Ok((
            vec![parse_public_key(&text).map_err(|e| unreadable(e.to_string()))?],
            None,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((
            Vec::new(),
            Some(format!(
                "no public key at {} (give --public-key)",
                pub_path.display()
            )),
        )),
        Err(e) => Err(unreadable(e.to_string())),
    }
}

/// What checking a gateway's own trail found, and why signatures were not checked if they
/// were not.
#[derive(Debug, Clone)]
pub struct OwnTrailCheck {
    pub path: PathBuf,
    pub report: VerifyReport,
    pub key_note: Option<String>,
}

/// `sluice audit verify` of the configuration's own trail with its own public key: the walk
/// the CLI, the periodic verify and the console share. Blocking, and it reads the whole
/// trail: callers run it off the async workers and not more often than they must.
pub fn verify_own_trail(config: &Config) -> Result<OwnTrailCheck, CoreError> {
    let (keys, key_note) = own_public_keys(config)?;
    let path = config.audit_path();
    let report = sluice_audit::verify_with_keys(&path, &keys)?;
    Ok(OwnTrailCheck {
        path,
        report,
        key_note,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_its_public_key_beside_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("audit-signing.key");
        let first = load_or_create_signing_key(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create_signing_key(&path).unwrap();
        assert_eq!(first.public_key(), again.public_key());

        let pub_text = std::fs::read_to_string(public_key_path(&path)).unwrap();
        assert_eq!(parse_public_key(&pub_text).unwrap(), first.public_key());
        // The seed never shows up in Debug output or in the public file.
        let seed = std::fs::read_to_string(&path).unwrap();
        assert!(!format!("{first:?}").contains(seed.trim()));
        assert!(!pub_text.contains(seed.trim()));

        // A stale .pub is put right.
        std::fs::write(public_key_path(&path), "00".repeat(32)).unwrap();
        load_or_create_signing_key(&path).unwrap();
        let pub_text = std::fs::read_to_string(public_key_path(&path)).unwrap();
        assert_eq!(parse_public_key(&pub_text).unwrap(), first.public_key());
    }

    #[test]
    fn a_malformed_key_is_refused_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-signing.key");
        std::fs::write(&path, "zz".repeat(32)).unwrap();
        let err = load_or_create_signing_key(&path).unwrap_err().to_string();
        assert!(err.contains("not hexadecimal"), "{err}");
        assert!(!err.contains("zzzz"), "{err}");
        std::fs::write(&path, "ab").unwrap();
        assert!(load_or_create_signing_key(&path).is_err());
    }
}
