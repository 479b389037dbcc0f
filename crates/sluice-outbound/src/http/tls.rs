use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use super::Endpoint;
use crate::OutboundError;

/// TLS towards one https endpoint.
pub(crate) struct Tls {
    pub(crate) connector: TlsConnector,
    pub(crate) name: ServerName<'static>,
}

impl Tls {
    /// `Some` exactly for an https endpoint, so a request can never fall back to plain TCP.
    pub(crate) fn for_endpoint(
        endpoint: &Endpoint,
        ca: Option<&Path>,
    ) -> Result<Option<Tls>, OutboundError> {
        if !endpoint.is_https() {
            return Ok(None);
        }
        let roots = match ca {
            Some(path) => private_roots(path)?,
            None => rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        Ok(Some(Tls {
            connector: connector(roots)?,
            name: ServerName::try_from(endpoint.host().to_owned())
                .map_err(|_| OutboundError::Url("url has an invalid host"))?,
        }))
    }
}

/// A private CA replaces the public roots rather than joining them, as curl's --cacert does:
/// whoever names a CA for a gateway means that CA, and a public one should not also pass.
fn private_roots(path: &Path) -> Result<rustls::RootCertStore, OutboundError> {
    let unreadable =
        |e: &dyn std::fmt::Display| OutboundError::Tls(format!("CA file {}: {e}", path.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
        let cert = cert.map_err(|e| unreadable(&e))?;
        roots.add(cert).map_err(|e| unreadable(&e))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&"holds no PEM certificate"));
    }
    Ok(roots)
}

/// Public receivers (Slack, chat services, ticketing, SIEMs) have certificates from public
/// CAs; the bundled Mozilla roots make that work the same on every host, whatever its CA store.
fn connector(roots: rustls::RootCertStore) -> Result<TlsConnector, OutboundError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OutboundError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}
