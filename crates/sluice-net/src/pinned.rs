//! TLS where each side is known by the SHA-256 of its certificate rather than by a CA: the
//! link between the gateway and its agents. The agent pins the gateway's certificate (its
//! hash travels in the enrollment token) and presents a self-signed certificate of its own
//! key, which the gateway looks up by hash in the store. Signatures are verified as ever, so
//! a presented certificate proves its key.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::tls::{certificate_paths_in, provider, tls_err, EncryptOnly};
use crate::NetError;

/// SHA-256 of a certificate's DER: how the link names a certificate.
pub fn certificate_sha256(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// The gateway's side: the configured pair or one generated in `dir` (kept, since agents pin
/// it), asking every client for a certificate without requiring one (enrollment comes with
/// the agent's new certificate; what a certificate is worth is decided after the handshake).
/// Returns the configuration and the hash agents pin.
pub fn server_config(
    pair: (Option<&Path>, Option<&Path>),
    dir: &Path,
    alpn: &[&[u8]],
) -> Result<(Arc<ServerConfig>, [u8; 32]), NetError> {
    let (cert_path, key_path) = certificate_paths_in(pair, dir)?;
    let certs = CertificateDer::pem_file_iter(&cert_path)
        .map_err(tls_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(tls_err)?;
    let leaf = certs
        .first()
        .map(|c| certificate_sha256(c.as_ref()))
        .ok_or_else(|| NetError::Tls(format!("{} holds no certificate", cert_path.display())))?;
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(tls_err)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_client_cert_verifier(Arc::new(EncryptOnly(provider())))
        .with_single_cert(certs, key)
        .map_err(tls_err)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok((Arc::new(config), leaf))
}

/// The agent's side: trusts only the certificate whose hash is `server_sha256`, whatever name
/// it is reached by, and presents `cert` with `key`.
pub fn client_config(
    server_sha256: [u8; 32],
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, NetError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedHash {
            sha256: server_sha256,
            signatures: EncryptOnly(provider()),
        }))
        .with_client_auth_cert(vec![cert], key)
        .map_err(tls_err)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A new key pair and a self-signed certificate for it, as PEM (certificate, key).
pub fn generate_identity(name: &str) -> Result<(String, String), NetError> {
    let generated = rcgen::generate_simple_self_signed(vec![name.to_owned()]).map_err(tls_err)?;
    Ok((generated.cert.pem(), generated.key_pair.serialize_pem()))
}

/// Accepts the server certificate with exactly this hash.
#[derive(Debug)]
pub(crate) struct PinnedHash {
    pub(crate) sha256: [u8; 32],
    pub(crate) signatures: EncryptOnly,
}

impl ServerCertVerifier for PinnedHash {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if certificate_sha256(end_entity.as_ref()) == self.sha256 {
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
        self.signatures.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.schemes()
    }
}
