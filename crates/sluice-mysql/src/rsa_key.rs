//! The RSA key pair caching_sha2_password uses to carry a password over a connection without
//! TLS: the public half goes to clients that ask, the private half decrypts what they send.
//! Generated on first use and kept in `data_dir/mysql/rsa_key.der` (mode 0600), so a client
//! that pinned the public key (`--server-public-key-path`) keeps working across restarts.
//! Decryption is aws-lc's, which is constant-time (the `rsa` crate's is not).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1};
use base64::Engine;

use crate::error::MyError;

pub struct RsaKey {
    path: PathBuf,
    loaded: OnceLock<Result<Loaded, String>>,
}

struct Loaded {
    key: OaepPrivateDecryptingKey,
    public_pem: Vec<u8>,
}

impl RsaKey {
    pub fn new(data_dir: &Path) -> RsaKey {
        RsaKey {
            path: data_dir.join("mysql").join("rsa_key.der"),
            loaded: OnceLock::new(),
        }
    }

    fn loaded(&self) -> Result<&Loaded, MyError> {
        self.loaded
            .get_or_init(|| load_or_create(&self.path).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| MyError::Tls(format!("the RSA key for caching_sha2_password: {e}")))
    }

    /// The public key as PEM (SubjectPublicKeyInfo), as MySQL sends it.
    pub fn public_pem(&self) -> Result<&[u8], MyError> {
        Ok(&self.loaded()?.public_pem)
    }

    /// Decrypts what a client sent; `None` when it does not decrypt.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Option<Vec<u8>>, MyError> {
        let loaded = self.loaded()?;
        let mut out = vec![0u8; loaded.key.min_output_size()];
        Ok(loaded
            .key
            .decrypt(&OAEP_SHA1_MGF1SHA1, ciphertext, &mut out, None)
            .ok()
            .map(|plain| plain.to_vec()))
    }
}

fn load_or_create(path: &Path) -> Result<Loaded, Box<dyn std::error::Error>> {
    let key = match std::fs::read(path) {
        Ok(der) => PrivateDecryptingKey::from_pkcs8(&der).map_err(|e| e.to_string())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key =
                PrivateDecryptingKey::generate(KeySize::Rsa2048).map_err(|e| e.to_string())?;
            let der = key.as_der().map_err(|e| e.to_string())?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            sluice_core::secret::write_private(path, der.as_ref())?;
            key
        }
        Err(e) => return Err(e.into()),
    };
    let public = key.public_key();
    let der = AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(&public)
        .map_err(|e| e.to_string())?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    Ok(Loaded {
        key: OaepPrivateDecryptingKey::new(key).map_err(|e| e.to_string())?,
        public_pem: pem.into_bytes(),
    })
}
