//! TLS on both legs: the certificate sluice shows clients, and how it checks targets.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use sluice_core::config::{TargetConfig, TargetTls};

use crate::NetError;

fn tls_err(e: impl std::fmt::Display) -> NetError {
    NetError::Tls(e.to_string())
}

fn provider() -> Arc<CryptoProvider> {
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
    (cert, key): (Option<&Path>, Option<&Path>),
    data_dir: &Path,
) -> Result<(std::path::PathBuf, std::path::PathBuf), NetError> {
    Ok(match (cert, key) {
        (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf()),
        _ => {
            let dir = data_dir.join("tls");
            let (c, k) = (dir.join("server.crt"), dir.join("server.key"));
            if !c.exists() || !k.exists() {
                generate_self_signed(&dir, &c, &k)?;
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
        .with_custom_certificate_verifier(Arc::new(Pinned {
            leaf,
            signatures: EncryptOnly(provider()),
        }))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Accepts one certificate, byte for byte; signatures checked as ever.
#[derive(Debug)]
struct Pinned {
    leaf: CertificateDer<'static>,
    signatures: EncryptOnly,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.leaf.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.supported_verify_schemes()
    }
}

fn generate_self_signed(dir: &Path, cert: &Path, key: &Path) -> Result<(), NetError> {
    std::fs::create_dir_all(dir)?;
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(tls_err)?;
    std::fs::write(cert, generated.cert.pem())?;
    sluice_core::secret::write_private(key, generated.key_pair.serialize_pem().as_bytes())?;
    tracing::info!(cert = %cert.display(), "generated a self-signed certificate for client TLS");
    Ok(())
}

/// The client side of target TLS, per the target's mode. `None` when TLS is disabled.
pub fn client_config(target: &TargetConfig) -> Result<Option<Arc<ClientConfig>>, NetError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let config = match target.tls {
        TargetTls::Disable => return Ok(None),
        TargetTls::Prefer | TargetTls::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider())))
            .with_no_client_auth(),
        TargetTls::VerifyFull => {
            let ca = target.tls_ca.as_ref().ok_or_else(|| {
                NetError::Tls(format!(
                    "target {}: tls = \"verify-full\" needs tls_ca",
                    target.name
                ))
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
struct EncryptOnly(Arc<CryptoProvider>);

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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
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

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
