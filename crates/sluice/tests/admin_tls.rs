//! The admin listener over HTTPS (`[admin] tls_cert`/`tls_key`), checked with curl as the
//! client, and the refusal to serve the admin API in clear on a non-loopback address.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use sluice_core::config::Config;
use support::*;

/// A CA and a certificate it signed for `localhost`/`127.0.0.1`, as PEM files in `dir`:
/// (CA certificate, server certificate, server key).
fn issue_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // rcgen's default subject is the same for every certificate; a leaf named like its issuer
    // looks self-signed to OpenSSL, which then never consults the CA.
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sluice admin test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let paths = (
        dir.join("ca.crt"),
        dir.join("admin.crt"),
        dir.join("admin.key"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// curl's exit status and the HTTP status it saw ("000" when there was no HTTP answer), and
/// its error message for assertion failures.
async fn curl(args: &[&str], url: &str) -> (bool, String, String) {
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ])
        .args(args)
        .arg(url)
        .output()
        .await
        .expect("curl is installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        format!("{} {}", out.status, String::from_utf8_lossy(&out.stderr)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_serves_https_only_when_given_a_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = issue_certificates(certs.path());
    let h = Harness::start_with_config(|text| {
        set_in_table(
            text,
            "admin",
            &format!(
                "tls_cert = \"{}\"\ntls_key = \"{}\"",
                cert.display(),
                key.display()
            ),
        )
    })
    .await;
    let port = h.gateway.admin_addr.unwrap().port();
    let ca = ca.to_str().unwrap();

    // A client that stalls in the handshake must hold only its own connection.
    let _stalled = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();

    let https = format!("https://127.0.0.1:{port}/healthz");
    let (ok, status, error) = curl(&["--cacert", ca], &https).await;
    assert!(ok && status == "200", "https: {status} {error}");
    // Without the CA the certificate is not trusted: TLS is really what answered.
    let (ok, status, error) = curl(&[], &https).await;
    assert!(!ok && status == "000", "untrusted: {status} {error}");
    // Plain HTTP on the TLS port gets no HTTP answer at all.
    let (ok, status, error) = curl(&[], &format!("http://127.0.0.1:{port}/healthz")).await;
    assert!(!ok && status == "000", "plain HTTP: {status} {error}");

    let base = h.gateway.gateway.config().review_base_url().unwrap();
    assert_eq!(base, format!("https://127.0.0.1:{port}"));

    // The stalled client does not hold up the stop.
    tokio::time::timeout(Duration::from_secs(20), h.stop())
        .await
        .expect("the gateway stops with a client stuck in the handshake");
}

#[test]
fn a_non_loopback_admin_listener_without_tls_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.toml");
    let write = |admin: &str| {
        std::fs::write(
            &path,
            format!("[admin]\n{admin}\n\n[policy]\nbuiltin = \"allow-all\"\n"),
        )
        .unwrap();
    };

    write("listen = \"0.0.0.0:9090\"");
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(
        err.contains(
            "admin.listen 0.0.0.0:9090 is not a loopback address: the admin API carries \
             credentials, so add admin.tls_cert and admin.tls_key (or set \
             admin.allow_plaintext = true to accept that risk)"
        ),
        "{err}"
    );

    write("listen = \"0.0.0.0:9090\"\nallow_plaintext = true");
    Config::load(&path).unwrap();

    // Relative paths are the config file's, like the data listeners' certificates.
    write("listen = \"0.0.0.0:9090\"\ntls_cert = \"admin.crt\"\ntls_key = \"tls/admin.key\"");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.admin.tls_cert.unwrap(), dir.path().join("admin.crt"));
    assert_eq!(c.admin.tls_key.unwrap(), dir.path().join("tls/admin.key"));

    write("listen = \"0.0.0.0:9090\"\ntls_key = \"admin.key\"");
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("admin.tls_cert and admin.tls_key go together"),
        "{err}"
    );
}
