//! What an agent keeps in its state directory: its key and self-signed certificate (made at
//! the first start, the key readable by its owner only), the gateway certificate's hash it
//! pins, its name, and the enrollment token id it redeemed (a different token given later
//! enrolls again, keeping the key).

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::AgentError;

pub(crate) struct State {
    dir: PathBuf,
    pub(crate) cert: CertificateDer<'static>,
    key_path: PathBuf,
}

/// What the agent learnt at enrollment.
pub(crate) struct Enrolled {
    pub(crate) gateway_sha256: [u8; 32],
    pub(crate) token_id: String,
}

impl State {
    pub(crate) fn open(dir: &Path) -> Result<State, AgentError> {
        let err = |reason: String| AgentError::State {
            path: dir.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        let (cert_path, key_path) = (dir.join("agent.crt"), dir.join("agent.key"));
        if !cert_path.exists() || !key_path.exists() {
            let (cert, key) = sluice_net::pinned::generate_identity("sluice-agent")?;
            sluice_core::secret::write_private(&key_path, key.as_bytes())
                .map_err(|e| err(e.to_string()))?;
            std::fs::write(&cert_path, cert).map_err(|e| err(e.to_string()))?;
        }
        let cert = CertificateDer::from_pem_file(&cert_path).map_err(|e| err(e.to_string()))?;
        Ok(State {
            dir: dir.to_path_buf(),
            cert,
            key_path,
        })
    }

    pub(crate) fn key(&self) -> Result<PrivateKeyDer<'static>, AgentError> {
        PrivateKeyDer::from_pem_file(&self.key_path).map_err(|e| AgentError::State {
            path: self.key_path.display().to_string(),
            reason: e.to_string(),
        })
    }

    pub(crate) fn enrolled(&self) -> Option<Enrolled> {
        let text = std::fs::read_to_string(self.dir.join("enrolled")).ok()?;
        let mut lines = text.lines();
        let (pin, token_id) = (lines.next()?, lines.next()?);
        let mut gateway_sha256 = [0u8; 32];
        hex::decode_to_slice(pin, &mut gateway_sha256).ok()?;
        Some(Enrolled {
            gateway_sha256,
            token_id: token_id.to_owned(),
        })
    }

    /// Written only once the gateway welcomed the enrollment, atomically.
    pub(crate) fn note_enrolled(&self, enrolled: &Enrolled) -> Result<(), AgentError> {
        let text = format!(
            "{}\n{}\n",
            hex::encode(enrolled.gateway_sha256),
            enrolled.token_id
        );
        let temp = self.dir.join("enrolled.tmp");
        std::fs::write(&temp, text)?;
        std::fs::rename(&temp, self.dir.join("enrolled"))?;
        Ok(())
    }
}
