//! Logging in through the MySQL listener, both legs, against the MySQL 8 fixture
//! (support/mysql8.rs; MySQL 8 is not packaged, MariaDB does not speak caching_sha2): clients
//! authenticate with their token by caching_sha2_password (full path by RSA or inside TLS,
//! then the fast path), mysql_clear_password inside TLS, and mysql_native_password when the
//! listener allows it; the gateway logs in to the target by caching_sha2_password's full and
//! fast paths, over TLS or by RSA.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, SslOpts};
use support::mysql8::Mysql8Fixture;
use support::Harness;

const USER: &str = "app_user";
const PASSWORD: &str = "fixture-pw-81c2";

/// A gateway whose `mysql8` target is `fixture`, with the MySQL listener configured by `listener`.
async fn gateway(fixture: &Mysql8Fixture, target_tls: &str, listener: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap().keep();
    let pw = dir.join("mysql8-password");
    std::fs::write(&pw, PASSWORD).unwrap();
    let ca = fixture
        .ca_pem_path()
        .map(|p| format!("tls_ca = \"{}\"\n", p.display()))
        .unwrap_or_default();
    Harness::start_with(&format!(
        r#"
[[listeners]]
protocol = "mysql"
listen = "127.0.0.1:0"
{listener}

[[targets]]
name = "mysql8"
kind = "mysql"
host = "127.0.0.1"
port = {port}
database = "app"
user = "{USER}"
password_file = "{pw}"
tls = "{target_tls}"
{ca}
"#,
        port = fixture.port,
        pw = pw.display(),
    ))
    .await
}

fn client(h: &Harness, identity: &str, password: &str, tls: bool) -> OptsBuilder {
    let mut opts = OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(h.gateway.mysql_addr.unwrap().port())
        .user(Some(identity))
        .pass(Some(password))
        .db_name(Some("mysql8"))
        .prefer_socket(false);
    if tls {
        opts = opts.ssl_opts(SslOpts::default().with_danger_accept_invalid_certs(true));
    }
    opts
}

async fn select_one(opts: OptsBuilder) -> Result<u64, mysql_async::Error> {
    let mut conn = Conn::new(opts).await?;
    let one: Option<u64> = conn.query_first("SELECT 1").await?;
    conn.disconnect().await?;
    Ok(one.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_log_in_by_rsa_then_the_fast_path_and_the_gateway_by_rsa_then_fast() {
    let fixture = Mysql8Fixture::start(USER, PASSWORD, false);
    let h = gateway(&fixture, "disable", "").await;
    let token = h.token("alice").to_owned();
    // The first login has no cached verifier on either leg: both take the full path by RSA.
    assert_eq!(
        select_one(client(&h, "alice", &token, false))
            .await
            .unwrap(),
        1
    );
    let after_first = fixture.counters();
    assert_eq!(after_first.full_rsa, 1, "{after_first:?}");
    // The second takes the fast path on both legs.
    assert_eq!(
        select_one(client(&h, "alice", &token, false))
            .await
            .unwrap(),
        1
    );
    let after_second = fixture.counters();
    assert_eq!(
        after_second.fast_path,
        after_first.fast_path + 1,
        "{after_second:?}"
    );
    // A wrong token fails on the fast path's check and then on the full path's.
    let e = select_one(client(&h, "alice", "slc_wrong", false))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("1045"), "{e}");
    let audit = h.audit().await;
    assert!(audit
        .iter()
        .any(|r| format!("{:?}", r.event).contains("mysql")));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn over_tls_both_legs_take_the_full_path_inside_tls_then_the_fast_path() {
    let fixture = Mysql8Fixture::start(USER, PASSWORD, true);
    let h = gateway(&fixture, "verify-full", "require_tls = true").await;
    let token = h.token("alice").to_owned();
    // Without TLS the listener refuses.
    let e = select_one(client(&h, "alice", &token, false))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("TLS"), "{e}");
    assert_eq!(
        select_one(client(&h, "alice", &token, true)).await.unwrap(),
        1
    );
    assert_eq!(fixture.counters().full_tls, 1, "{:?}", fixture.counters());
    assert_eq!(
        select_one(client(&h, "alice", &token, true)).await.unwrap(),
        1
    );
    assert!(
        fixture.counters().fast_path >= 1,
        "{:?}",
        fixture.counters()
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mariadb_client_logs_in_with_clear_and_native_passwords_where_allowed() {
    let fixture = Mysql8Fixture::start(USER, PASSWORD, false);
    let h = gateway(&fixture, "disable", "allow_native_password = true").await;
    let token = h.token("alice").to_owned();
    let port = h.gateway.mysql_addr.unwrap().port().to_string();
    let mariadb = |args: &[&str]| {
        std::process::Command::new("mariadb")
            .args([
                "-h127.0.0.1",
                "-P",
                &port,
                "-ualice",
                "--batch",
                "-e",
                "SELECT 1",
            ])
            .arg(format!("-p{token}"))
            .args(args)
            .arg("mysql8")
            .output()
            .unwrap()
    };
    // Native before any full login of this token: refused, saying why.
    let native = mariadb(&["--default-auth=mysql_native_password", "--skip-ssl"]);
    let native_err = String::from_utf8_lossy(&native.stderr).into_owned();
    // Clear text is refused without TLS.
    let clear_plain = mariadb(&[
        "--default-auth=mysql_clear_password",
        "--enable-cleartext-plugin",
        "--skip-ssl",
    ]);
    assert!(!clear_plain.status.success());
    // Inside TLS it logs in (and caches the token's verifiers).
    let clear_tls = mariadb(&[
        "--default-auth=mysql_clear_password",
        "--enable-cleartext-plugin",
        "--ssl",
        "--skip-ssl-verify-server-cert",
    ]);
    assert!(
        clear_tls.status.success(),
        "{}",
        String::from_utf8_lossy(&clear_tls.stderr)
    );
    // Now native works from the cached verifier.
    let native_again = mariadb(&["--default-auth=mysql_native_password", "--skip-ssl"]);
    assert!(
        native_again.status.success(),
        "first native attempt: {native_err}; then: {}",
        String::from_utf8_lossy(&native_again.stderr)
    );
    // And the default (caching_sha2) works with the plain client, whatever it did first.
    let default = mariadb(&["--skip-ssl"]);
    assert!(
        default.status.success(),
        "{}",
        String::from_utf8_lossy(&default.stderr)
    );
    h.stop().await;
}
