//! SSH credentials: the public keys that authenticate identities (from the configuration and
//! the store), and targets' host keys, pinned in the configuration or trusted on first use.

use base64::Engine as _;
use sha2::Digest as _;
use sluice_audit::AuditEvent;

use super::{unix_now, Authenticated, Gateway};
use crate::config::TargetConfig;
use crate::CoreError;

/// An SSH public key as OpenSSH writes it: algorithm and base64 blob, without the comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPublicKey {
    algorithm: String,
    blob: Vec<u8>,
}

impl SshPublicKey {
    /// Reads an `authorized_keys`-style line (`ssh-ed25519 AAAA... comment`). Lines with
    /// options in front of the key are refused rather than read with the options ignored.
    pub fn parse(line: &str) -> Result<(SshPublicKey, String), String> {
        let mut words = line.split_whitespace();
        let (Some(algorithm), Some(encoded)) = (words.next(), words.next()) else {
            return Err("expected `ALGORITHM BASE64 [COMMENT]`".to_owned());
        };
        let comment = words.collect::<Vec<_>>().join(" ");
        if !(algorithm.starts_with("ssh-")
            || algorithm.starts_with("ecdsa-")
            || algorithm.starts_with("sk-"))
        {
            return Err(format!(
                "`{algorithm}` is not a key algorithm (authorized_keys options are not supported)"
            ));
        }
        let blob = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("the key is not base64: {e}"))?;
        Ok((SshPublicKey::from_blob(algorithm, blob), comment))
    }

    pub fn from_blob(algorithm: &str, blob: Vec<u8>) -> SshPublicKey {
        SshPublicKey {
            algorithm: algorithm.to_owned(),
            blob,
        }
    }

    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        let digest = sha2::Sha256::digest(&self.blob);
        format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
        )
    }

    /// `ALGORITHM BASE64`, the form the store keeps and known_hosts uses.
    pub fn openssh(&self) -> String {
        format!(
            "{} {}",
            self.algorithm,
            base64::engine::general_purpose::STANDARD.encode(&self.blob)
        )
    }
}

/// How a target's host key was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyCheck {
    /// It is the key the configuration pins.
    Pinned,
    /// No key was known: this one is now trusted (stored and audited).
    TrustedNow,
    /// It is the key trusted at an earlier first connection.
    Known,
}

impl Gateway {
    /// Whether `key` is registered to `identity` (in its configuration entry or the store);
    /// the caller has checked that the client holds the private half.
    pub async fn verify_ssh_key(
        &self,
        identity: &str,
        key: &SshPublicKey,
    ) -> Result<Option<Authenticated>, CoreError> {
        let Some(entry) = self.inner.config.identity(identity) else {
            return Ok(None);
        };
        let configured = entry
            .ssh_keys
            .iter()
            .filter_map(|line| SshPublicKey::parse(line).ok())
            .any(|(k, _)| k == *key);
        let registered = configured
            || self
                .inner
                .store
                .ssh_keys(Some(identity))
                .await?
                .iter()
                .any(|r| r.public_key == key.openssh());
        Ok(registered.then(|| Authenticated {
            identity: identity.to_owned(),
            principal: std::sync::Arc::new(entry.clone()),
            token: None,
        }))
    }

    /// Whether `key` may be offered for `identity` at all, before the client proves it holds
    /// it: the same check, so a client learns nothing from the probe it could not learn from
    /// the signature.
    pub async fn knows_ssh_key(&self, identity: &str, key: &SshPublicKey) -> bool {
        matches!(self.verify_ssh_key(identity, key).await, Ok(Some(_)))
    }

    /// Checks a token typed as a password for `identity` (one key derivation, off the async
    /// workers).
    pub async fn verify_token(
        &self,
        identity: &str,
        token: crate::secret::Secret,
        client_addr: &str,
    ) -> Result<Option<Authenticated>, CoreError> {
        let credentials = self.credentials(identity, client_addr).await?;
        tokio::task::spawn_blocking(move || credentials.verify_password(token.expose().as_bytes()))
            .await
            .map_err(|e| CoreError::Config(format!("token check failed: {e}")))
    }

    /// Accepts `offered` as `target`'s host key if the configuration pins it, or if it is the
    /// key trusted at the first connection, or if none was trusted yet (then it is stored and
    /// audited). `Err` names the mismatch, for the refusal and the session's end record.
    pub async fn check_host_key(
        &self,
        target: &TargetConfig,
        offered: &SshPublicKey,
        session: &str,
    ) -> Result<HostKeyCheck, String> {
        if let Some(pinned) = &target.host_key {
            let pinned = SshPublicKey::parse(pinned)
                .map_err(|e| format!("target {}: host_key in the configuration: {e}", target.name))?
                .0;
            return if pinned == *offered {
                Ok(HostKeyCheck::Pinned)
            } else {
                Err(mismatch(
                    target,
                    &pinned,
                    offered,
                    "pinned in the configuration",
                ))
            };
        }
        let (trusted, stored) = self
            .inner
            .store
            .trust_ssh_host_key(&target.name, &offered.openssh(), unix_now())
            .await
            .map_err(|e| format!("could not check the target's host key: {e}"))?;
        if stored {
            let event = AuditEvent::HostKeyTrusted {
                session: session.to_owned(),
                target: target.name.clone(),
                fingerprint: offered.fingerprint(),
            };
            self.inner
                .audit
                .record(&event)
                .await
                .map_err(|e| format!("could not audit the target's new host key: {e}"))?;
            return Ok(HostKeyCheck::TrustedNow);
        }
        match SshPublicKey::parse(&trusted) {
            Ok((known, _)) if known == *offered => Ok(HostKeyCheck::Known),
            Ok((known, _)) => Err(mismatch(target, &known, offered, "trusted at first use")),
            Err(e) => Err(format!(
                "the stored host key of {} is unreadable: {e}",
                target.name
            )),
        }
    }
}

fn mismatch(
    target: &TargetConfig,
    expected: &SshPublicKey,
    offered: &SshPublicKey,
    how: &str,
) -> String {
    format!(
        "target {}'s host key has changed: it offered {} but {} was {how}; if the host was \
         rebuilt, update the pinned key (or remove the trusted one from the store)",
        target.name,
        offered.fingerprint(),
        expected.fingerprint()
    )
}

#[cfg(test)]
mod tests {
    use super::SshPublicKey;

    #[test]
    fn reads_authorized_keys_lines_and_prints_openssh_fingerprints() {
        // ssh-keygen -l of this key prints SHA256:2i9XLBHxPzmc3nHAMjdfJhVtCIdh3O2yGhBGm3mufvc.
        let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBqMRnYbwQh4lS5jbh0i6Kx6Sm0S4NLuvq3FdTOz/Gy6 alice@laptop";
        let (key, comment) = match SshPublicKey::parse(line) {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(comment, "alice@laptop");
        assert!(key.fingerprint().starts_with("SHA256:"));
        assert_eq!(
            key.openssh(),
            line.rsplit_once(' ').map(|(k, _)| k).unwrap_or("")
        );
        assert!(SshPublicKey::parse("command=\"x\" ssh-ed25519 AAAA").is_err());
        assert!(SshPublicKey::parse("ssh-ed25519 !!!").is_err());
    }
}
