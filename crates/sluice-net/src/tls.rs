//! TLS on both legs: the certificate sluice shows clients, and how it checks targets.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};
use sluice_core::config::{TargetConfig, TargetTls};

use crate::pinned::{certificate_sha256, PinnedHash};
use crate::NetError;

pub(crate) fn tls_err(e: impl std::fmt::Display) -> NetError {
    NetError::Tls(e.to_string())
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The server side of client TLS: the configured pair, or a self-signed one generated on first
/// start and kept in `data_dir/tls/` so clients that pin it keep working across restarts.
pub fn server_config(
    (cert, key): (Option<&Path>, Option<&Path>),
    data_dir: &Path,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, NetError> {
    let (cert_path, key_path) = certificate_paths((cert, key), data_dir)?;
    let certs = CertificateDer::pem_file_iter(&cert_path)
        .map_err(tls_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(tls_err)?;
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(tls_err)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(tls_err)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The configured pair, or the generated one (made now if it is missing).
fn certificate_paths(
    pair: (Option<&Path>, Option<&Path>),
    data_dir: &Path,
) -> Result<(std::path::PathBuf, std::path::PathBuf), NetError> {
    certificate_paths_in(pair, &data_dir.join("tls"))
}

/// The configured pair, or the one generated in `dir` (made now if it is missing).
pub(crate) fn certificate_paths_in(
    (cert, key): (Option<&Path>, Option<&Path>),
    dir: &Path,
) -> Result<(std::path::PathBuf, std::path::PathBuf), NetError> {
    Ok(match (cert, key) {
        (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf()),
        _ => {
            let (c, k) = (dir.join("server.crt"), dir.join("server.key"));
            if !c.exists() || !k.exists() {
                generate_self_signed(dir, &c, &k)?;
            }
            (c, k)
        }
    })
}

/// The certificate file a listener with `pair` serves, for clients of the gateway's own
/// listeners that take a root file rather than a client configuration (mysql_async).
pub fn listener_certificate(
    pair: (Option<&Path>, Option<&Path>),
    data_dir: &Path,
) -> Result<std::path::PathBuf, NetError> {
    Ok(certificate_paths(pair, data_dir)?.0)
}

/// A client of the gateway's own listener (the MCP endpoint's calls): it trusts exactly the
/// certificate that listener serves, read from the same place `server_config` reads it, and
/// no other, whatever name it is reached by.
pub fn own_listener_client_config(
    pair: (Option<&Path>, Option<&Path>),
    data_dir: &Path,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, NetError> {
    let (cert_path, _) = certificate_paths(pair, data_dir)?;
    let leaf = CertificateDer::pem_file_iter(&cert_path)
        .map_err(tls_err)?
        .next()
        .ok_or_else(|| NetError::Tls(format!("{} holds no certificate", cert_path.display())))?
        .map_err(tls_err)?;
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedHash {
            sha256: certificate_sha256(leaf.as_ref()),
            signatures: EncryptOnly(provider()),
        }))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

fn generate_self_signed(dir: &Path, cert: &Path, key: &Path) -> Result<(), NetError> {
    std::fs::create_dir_all(dir)?;
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(tls_err)?;
    std::fs::write(cert, generated.cert.pem())?;
    sluice_core::secret::write_private(key, generated.key_pair.serialize_pem().as_bytes())?;
    tracing::info!(cert = %cert.display(), "generated a self-signed certificate for a listener (clients or agents)");
    Ok(())
}

/// The client side of target TLS, per the target's mode. `None` when TLS is disabled.
pub fn client_config(target: &TargetConfig) -> Result<Option<Arc<ClientConfig>>, NetError> {
    client_config_for(target.tls, target.tls_ca.as_deref(), &target.name)
}

/// The client side of TLS in `mode`, checking against `ca` for `verify-full`; `name` is what
/// errors call the target. Also the agent's, towards a target whose login it performs.
pub fn client_config_for(
    mode: TargetTls,
    ca: Option<&Path>,
    name: &str,
) -> Result<Option<Arc<ClientConfig>>, NetError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let config = match mode {
        TargetTls::Disable => return Ok(None),
        TargetTls::Prefer | TargetTls::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider())))
            .with_no_client_auth(),
        TargetTls::VerifyFull => {
            let ca = ca.ok_or_else(|| {
                NetError::Tls(format!("target {name}: tls = \"verify-full\" needs tls_ca"))
            })?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).map_err(tls_err)? {
                roots.add(cert.map_err(tls_err)?).map_err(tls_err)?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Some(Arc::new(config)))
}

/// The client side of TLS towards an `https://` HTTP or Kubernetes target: the certificate is
/// checked against `tls_ca` (a cluster's own CA) or the bundled web roots, unless the target
/// says `tls = "require"` (encrypt only); with `auth = "client_cert"` the configured
/// certificate is presented.
pub fn http_client_config(target: &TargetConfig) -> Result<Arc<ClientConfig>, NetError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let builder = if target.tls == TargetTls::Require {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider())))
    } else {
        let mut roots = RootCertStore::empty();
        match &target.tls_ca {
            Some(ca) => {
                for cert in CertificateDer::pem_file_iter(ca).map_err(tls_err)? {
                    roots.add(cert.map_err(tls_err)?).map_err(tls_err)?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match (&target.client_cert, &target.client_key) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .map_err(tls_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(tls_err)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(tls_err)?;
            builder.with_client_auth_cert(certs, key).map_err(tls_err)?
        }
        _ => builder.with_no_client_auth(),
    };
    // The relay speaks HTTP/1.1 to targets: upgrades (exec, port-forward) need it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

pub fn server_name(host: &str) -> Result<ServerName<'static>, NetError> {
    ServerName::try_from(host.to_owned()).map_err(tls_err)
}

/// libpq's `sslmode=require` (MySQL's `ssl-mode=REQUIRED`): encrypt, but accept any certificate. Signatures are still checked
/// so the handshake itself is sound.
#[derive(Debug)]
pub(crate) struct EncryptOnly(pub(crate) Arc<CryptoProvider>);

impl EncryptOnly {
    pub(crate) fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    pub(crate) fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    pub(crate) fn schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

/// The agents' listener: any client certificate whose handshake signature is valid, offered
/// but not required (an enrollment arrives with the agent's new certificate); what the key
/// it proves is worth is looked up by the certificate's hash after the handshake.
impl ClientCertVerifier for EncryptOnly {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}
