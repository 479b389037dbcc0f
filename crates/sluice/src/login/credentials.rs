//! The credential file `sluice login` writes and every admin command reads:
//! `credentials.json` in `$SLUICE_CONFIG_DIR`, `$XDG_CONFIG_HOME/sluice` or `~/.config/sluice`,
//! one credential per gateway URL plus the default gateway.
//!
//! The file holds bearer tokens, so it is written 0600 in a 0700 directory, replaced atomically
//! (a reader never sees half a file, a crash never leaves one), and refused when others can
//! read it: a token someone else could have copied is not one to keep using silently.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use sluice_core::gateway::unix_now;
use sluice_core::secret::Secret;

pub const FILE_NAME: &str = "credentials.json";

/// What the gateway answers a finished login with, plus the provider used.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Credential {
    #[serde(with = "secret_text")]
    pub token: Secret,
    pub token_id: String,
    pub identity: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Unix seconds; `None` for a credential without expiry.
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl Credential {
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// The whole file. Unknown fields are dropped on rewrite; the file is this CLI's own.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Credentials {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub servers: BTreeMap<String, Credential>,
}

/// `https://gw:9090/` and `https://gw:9090` are one gateway.
pub fn server_key(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

impl Credentials {
    pub fn get(&self, server: &str) -> Option<&Credential> {
        self.servers.get(&server_key(server))
    }

    /// Stores the credential and makes that gateway the default: the one just signed in to
    /// is the one the next command most likely means.
    pub fn insert(&mut self, server: &str, credential: Credential) {
        let key = server_key(server);
        self.default = Some(key.clone());
        self.servers.insert(key, credential);
    }

    /// Forgets a gateway; the default moves to another stored one, if any.
    pub fn remove(&mut self, server: &str) -> Option<Credential> {
        let key = server_key(server);
        let removed = self.servers.remove(&key);
        if self.default.as_deref() == Some(key.as_str()) {
            self.default = self.servers.keys().next().cloned();
        }
        removed
    }

    /// The credential for `server`, refusing a missing or expired one with what to do.
    pub fn usable(&self, server: &str) -> Result<&Credential> {
        let server = server_key(server);
        let credential = self.get(&server).with_context(|| {
            format!(
                "not signed in to {server}: run `sluice login --server {server}` or set {}",
                crate::admin_client::TOKEN_ENV
            )
        })?;
        if credential.expired(unix_now()) {
            bail!(
                "the sign-in to {server} as {} expired: run `sluice login --server {server}` again",
                credential.identity
            );
        }
        Ok(credential)
    }
}

/// Where the file lives.
#[derive(Debug, Clone)]
pub struct CredentialFile {
    path: PathBuf,
}

impl CredentialFile {
    /// The file in the directory the environment names (see the module docs).
    pub fn locate() -> Result<Self> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let dir = if let Some(dir) = var("SLUICE_CONFIG_DIR") {
            PathBuf::from(dir)
        } else if let Some(dir) = var("XDG_CONFIG_HOME") {
            PathBuf::from(dir).join("sluice")
        } else if let Some(home) = var("HOME") {
            PathBuf::from(home).join(".config").join("sluice")
        } else {
            bail!("cannot tell where to keep credentials: set SLUICE_CONFIG_DIR or HOME");
        };
        Ok(Self::in_dir(&dir))
    }

    pub fn in_dir(dir: &Path) -> Self {
        CredentialFile {
            path: dir.join(FILE_NAME),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored credentials; none when the file does not exist yet.
    pub fn load(&self) -> Result<Credentials> {
        let metadata = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Credentials::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "{} holds gateway tokens but others may read it (mode {mode:o}): run `chmod 600 {}` \
                 (and consider `sluice logout` to revoke them)",
                self.path.display(),
                self.path.display()
            );
        }
        let bytes = std::fs::read(&self.path)
            .with_context(|| format!("reading {}", self.path.display()))?;
        // serde_json quotes offending values, which here may be tokens: say only where.
        serde_json::from_slice(&bytes).map_err(|e| {
            anyhow!(
                "{} is not a credential file ({:?} error at line {} column {}); \
                 remove it and sign in again",
                self.path.display(),
                e.classify(),
                e.line(),
                e.column()
            )
        })
    }

    /// Replaces the file atomically: a temporary file beside it, synced, then renamed.
    pub fn save(&self, credentials: &Credentials) -> Result<()> {
        let dir = self
            .path
            .parent()
            .context("the credential file has no directory")?;
        ensure_private_dir(dir)?;
        let bytes = serde_json::to_vec_pretty(credentials)?;
        let suffix: u64 = rand::random();
        let temp = dir.join(format!(".{FILE_NAME}.{suffix:016x}.tmp"));
        let written =
            write_new_private(&temp, &bytes).and_then(|()| std::fs::rename(&temp, &self.path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(e).with_context(|| format!("writing {}", self.path.display()));
        }
        Ok(())
    }

    /// Load, change, save. Two logins racing each other may lose one entry; both users of
    /// this are interactive commands, so that is left to a second `sluice login`.
    pub fn update<T>(&self, change: impl FnOnce(&mut Credentials) -> T) -> Result<T> {
        let mut credentials = self.load()?;
        let out = change(&mut credentials);
        self.save(&credentials)?;
        Ok(out)
    }
}

/// Creates the directory 0700; an existing one is left as the user set it up, except that the
/// file inside is private anyway.
fn ensure_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// `create_new` so a planted file or symlink at the temporary name is never written through.
fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The token as a plain JSON string in the file, a [`Secret`] everywhere else.
pub(crate) mod secret_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use sluice_core::secret::Secret;

    pub fn serialize<S: Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(secret.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn credential(name: &str) -> Credential {
        Credential {
            token: Secret::new(format!("slc_{name}")),
            token_id: format!("tok_{name}"),
            identity: format!("{name}@corp.example"),
            kind: "human".into(),
            groups: vec!["developers".into()],
            expires_at: Some(unix_now() + 3600),
            provider: Some("corp".into()),
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_missing_file_is_no_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let c = CredentialFile::in_dir(&dir.path().join("sluice"))
            .load()
            .unwrap();
        assert!(c.default.is_none() && c.servers.is_empty());
    }

    #[test]
    fn the_file_and_its_directory_are_private_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config").join("sluice");
        let file = CredentialFile::in_dir(&config);
        file.update(|c| c.insert("https://gw:9090/", credential("alice")))
            .unwrap();
        assert_eq!(mode(&config), 0o700);
        assert_eq!(mode(file.path()), 0o600);
        let loaded = file.load().unwrap();
        assert_eq!(loaded.default.as_deref(), Some("https://gw:9090"));
        let c = loaded.get("https://gw:9090").unwrap();
        assert_eq!(c.token.expose(), "slc_alice");
        assert_eq!(c.provider.as_deref(), Some("corp"));
        // The contract's layout, so other tools can read it.
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap();
        assert_eq!(raw["servers"]["https://gw:9090"]["token"], "slc_alice");
        assert_eq!(raw["default"], "https://gw:9090");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&config).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_file_others_can_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let file = CredentialFile::in_dir(dir.path());
        file.update(|c| c.insert("http://h:1", credential("a")))
            .unwrap();
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = file.load().unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        assert!(!e.contains("slc_a"), "{e}");
    }

    #[test]
    fn several_servers_and_the_default_follow_logins_and_logouts() {
        let dir = tempfile::tempdir().unwrap();
        let file = CredentialFile::in_dir(dir.path());
        file.update(|c| c.insert("http://a:1", credential("a")))
            .unwrap();
        file.update(|c| c.insert("http://b:1", credential("b")))
            .unwrap();
        let c = file.load().unwrap();
        assert_eq!(c.default.as_deref(), Some("http://b:1"));
        assert_eq!(c.servers.len(), 2);
        let removed = file.update(|c| c.remove("http://b:1/")).unwrap();
        assert!(removed.is_some());
        let c = file.load().unwrap();
        assert_eq!(c.default.as_deref(), Some("http://a:1"));
        assert!(c.get("http://b:1").is_none());
        file.update(|c| c.remove("http://a:1")).unwrap();
        assert!(file.load().unwrap().default.is_none());
    }

    #[test]
    fn expired_and_missing_credentials_say_how_to_sign_in() {
        let mut c = Credentials::default();
        let mut old = credential("a");
        old.expires_at = Some(unix_now() - 1);
        c.insert("http://a:1", old);
        let e = c.usable("http://a:1").unwrap_err().to_string();
        assert!(
            e.contains("expired") && e.contains("sluice login --server http://a:1"),
            "{e}"
        );
        let e = c.usable("http://b:1").unwrap_err().to_string();
        assert!(e.contains("not signed in to http://b:1"), "{e}");
    }

    #[test]
    fn a_corrupt_file_error_does_not_quote_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let file = CredentialFile::in_dir(dir.path());
        write_new_private(
            file.path(),
            br#"{"servers":{"h":{"token":"slc_x","expires_at":"slc_secret"}}}"#,
        )
        .unwrap();
        let e = format!("{:#}", file.load().unwrap_err());
        assert!(!e.contains("slc_"), "{e}");
    }

    #[test]
    fn debug_output_hides_the_token() {
        let c = credential("zed");
        assert!(!format!("{c:?}").contains("slc_zed"));
    }
}
