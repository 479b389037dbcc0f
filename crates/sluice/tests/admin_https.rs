#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The admin client over https with a private CA (`--ca` / `SLUICE_CA`): a gateway whose
//! certificate that CA issued is reached, and the public roots alone do not accept it.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sluice::admin_client::Gateway;
use sluice::login::api::LoginInfo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA, and an https server on localhost whose certificate it issued, answering every
/// request with one `GET /v1/login` body.
async fn private_tls_server(dir: &std::path::Path) -> (u16, std::path::PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake; that is expected.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut chunk = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = tls.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&chunk[..n]);
                }
                let body = r#"{"providers":[{"name":"corp","flows":["device"]}],"listeners":{"postgres":6432}}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                tls.write_all(response.as_bytes()).await.unwrap();
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, ca_path)
}

#[tokio::test]
async fn an_https_gateway_is_reached_through_its_private_ca_only() {
    let dir = tempfile::tempdir().unwrap();
    let (port, ca) = private_tls_server(dir.path()).await;
    let url = format!("https://localhost:{port}");

    let gateway = Gateway::connect(&url, Some(&ca)).unwrap();
    let info: LoginInfo = gateway.get_public("/v1/login").await.unwrap();
    assert_eq!(info.providers[0].name, "corp");
    assert_eq!(info.listeners.get("postgres"), Some(&6432));

    let public_roots = Gateway::connect(&url, None).unwrap();
    let e = public_roots
        .get_public::<LoginInfo>("/v1/login")
        .await
        .unwrap_err();
    assert!(
        format!("{e:#}").to_lowercase().contains("certificate"),
        "{e:#}"
    );
}

#[test]
fn a_ca_file_without_certificates_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let e = Gateway::connect("https://localhost:1", Some(&empty)).unwrap_err();
    assert!(format!("{e:#}").contains("no PEM certificate"), "{e:#}");
    let missing = dir.path().join("missing.pem");
    let e = Gateway::connect("https://localhost:1", Some(&missing)).unwrap_err();
    assert!(format!("{e:#}").contains("missing.pem"), "{e:#}");
}
