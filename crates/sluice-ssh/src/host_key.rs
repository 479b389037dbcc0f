//! The gateway's own host key: Ed25519, made at first start in the data directory (or read
//! from `host_key_file`), so that clients see the same key on every restart.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::LineEnding;
use russh::keys::{HashAlg, PrivateKey};

use crate::error::SshError;

/// Where the key lives unless the configuration names a file.
pub fn default_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ssh").join("host_ed25519_key")
}

/// Reads the key at `path`, making it first if there is none.
pub fn load_or_create(path: &Path) -> Result<PrivateKey, SshError> {
    if path.exists() {
        return russh::keys::load_secret_key(path, None)
            .map_err(|e| SshError::HostKey(format!("{}: {e}", path.display())));
    }
    let mut seed = [0u8; 32];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut seed[..]);
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| SshError::HostKey(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| SshError::HostKey(format!("{}: {e}", path.display())))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), fingerprint = %fingerprint(&key), "made the gateway's SSH host key");
    Ok(key)
}

/// `SHA256:...`, as ssh prints it when it first meets the gateway.
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}
