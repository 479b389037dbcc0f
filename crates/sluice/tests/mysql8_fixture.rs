//! Proves the MySQL 8 fixture (support/mysql8.rs) against a real client, mysql_async, before the
//! gateway's own upstream login is tested against it: each caching_sha2_password path the
//! fixture claims to serve is taken by a client that was written for the real server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, SslOpts};
use mysql_common::auth::plugins::caching_sha2_password::scramble_sha256;
use mysql_common::auth::plugins::mysql_native_password::scramble_native;
use mysql_common::constants::CapabilityFlags;
use mysql_common::packets::{AuthPlugin, AuthSwitchRequest, HandshakePacket, HandshakeResponse};
use mysql_common::proto::MySerialize;
use support::mysql8::{Counters, Mysql8Fixture, SERVER_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const USER: &str = "app_user";
const PASSWORD: &str = "fixture-pw-81c2";

fn opts(fx: &Mysql8Fixture, password: &str, tls: bool) -> OptsBuilder {
    let mut opts = OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(fx.port)
        .user(Some(USER))
        .pass(Some(password))
        .db_name(Some("app"))
        // Loopback TCP only: never look for the server's unix socket.
        .prefer_socket(false);
    if tls {
        let ca = fx.ca_pem_path().expect("fixture started with TLS");
        opts = opts.ssl_opts(
            SslOpts::default()
                .with_root_certs(vec![ca.to_path_buf().into()])
                .with_disable_built_in_roots(true),
        );
    }
    opts
}

/// Logs in, checks the session answers the fixture's queries, and quits.
async fn login_and_query(fx: &Mysql8Fixture, tls: bool) {
    let mut conn = Conn::new(opts(fx, PASSWORD, tls)).await.unwrap();
    assert_eq!(conn.server_version(), (8, 0, 36));
    let one: Option<u64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    let user: Option<String> = conn.query_first("SELECT CURRENT_USER()").await.unwrap();
    assert_eq!(user.as_deref(), Some("app_user@%"));
    conn.query_drop("SET NAMES utf8mb4").await.unwrap();
    conn.ping().await.unwrap();
    conn.disconnect().await.unwrap();
}

async fn login_error(fx: &Mysql8Fixture, password: &str, tls: bool) -> mysql_async::ServerError {
    match Conn::new(opts(fx, password, tls)).await {
        Err(mysql_async::Error::Server(e)) => e,
        Err(e) => panic!("expected a server error, got {e:?}"),
        Ok(_) => panic!("login with a wrong password succeeded"),
    }
}

#[tokio::test]
async fn without_tls_first_login_exchanges_the_password_under_rsa_then_the_fast_path() {
    let fx = Mysql8Fixture::start(USER, PASSWORD, false);
    assert!(fx.ca_pem_path().is_none());

    login_and_query(&fx, false).await;
    assert_eq!(
        fx.counters(),
        Counters {
            full_rsa: 1,
            ..Counters::default()
        }
    );

    login_and_query(&fx, false).await;
    assert_eq!(
        fx.counters(),
        Counters {
            full_rsa: 1,
            fast_path: 1,
            ..Counters::default()
        }
    );

    // As after FLUSH PRIVILEGES: the cache is gone, so the password crosses under RSA again.
    fx.flush_cache();
    login_and_query(&fx, false).await;
    assert_eq!(fx.counters().full_rsa, 2);
}

#[tokio::test]
async fn with_tls_first_login_sends_the_password_over_tls_then_the_fast_path() {
    let fx = Mysql8Fixture::start(USER, PASSWORD, true);
    assert!(fx
        .ca_pem()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));

    login_and_query(&fx, true).await;
    assert_eq!(
        fx.counters(),
        Counters {
            full_tls: 1,
            ..Counters::default()
        }
    );

    login_and_query(&fx, true).await;
    assert_eq!(
        fx.counters(),
        Counters {
            full_tls: 1,
            fast_path: 1,
            ..Counters::default()
        }
    );
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_1045_cached_or_not() {
    let fx = Mysql8Fixture::start(USER, PASSWORD, false);

    // Cold cache: the wrong password crosses under RSA and is refused.
    let e = login_error(&fx, "not-the-password", false).await;
    assert_eq!(e.code, 1045);
    assert_eq!(e.state, "28000");
    assert!(
        e.message.starts_with("Access denied for user 'app_user'@"),
        "{}",
        e.message
    );
    assert_eq!(
        fx.counters(),
        Counters {
            failures: 1,
            ..Counters::default()
        }
    );

    // Warm cache: the wrong scramble misses the fast path, falls to full authentication, and is
    // refused there, as on the real server.
    login_and_query(&fx, false).await;
    let e = login_error(&fx, "not-the-password", false).await;
    assert_eq!(e.code, 1045);
    assert_eq!(
        fx.counters(),
        Counters {
            full_rsa: 1,
            failures: 2,
            ..Counters::default()
        }
    );
}

#[tokio::test]
async fn a_wrong_password_over_tls_is_refused_with_1045() {
    let fx = Mysql8Fixture::start(USER, PASSWORD, true);
    let e = login_error(&fx, "not-the-password", true).await;
    assert_eq!(e.code, 1045);
    assert_eq!(e.state, "28000");
    assert_eq!(
        fx.counters(),
        Counters {
            failures: 1,
            ..Counters::default()
        }
    );
}

/// A bare client of the wire, for what mysql_async never does: it always answers with the plugin
/// the server announced, so the switch from mysql_native_password is driven by hand.
struct RawClient {
    stream: TcpStream,
    seq: u8,
}

impl RawClient {
    async fn read(&mut self) -> Vec<u8> {
        let mut header = [0u8; 4];
        self.stream.read_exact(&mut header).await.unwrap();
        let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
        assert_eq!(header[3], self.seq, "server's sequence id");
        self.seq = header[3].wrapping_add(1);
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).await.unwrap();
        payload
    }

    async fn write(&mut self, payload: &[u8]) {
        let len = u32::try_from(payload.len()).unwrap().to_le_bytes();
        let mut out = len[..3].to_vec();
        out.push(self.seq);
        self.seq = self.seq.wrapping_add(1);
        out.extend_from_slice(payload);
        self.stream.write_all(&out).await.unwrap();
    }
}

#[tokio::test]
async fn a_mysql_native_password_response_is_switched_to_caching_sha2_with_a_fresh_nonce() {
    let fx = Mysql8Fixture::start(USER, PASSWORD, false);
    // Warm the cache with a real client so the switched login can take the fast path.
    login_and_query(&fx, false).await;

    let stream = TcpStream::connect(fx.addr()).await.unwrap();
    let mut raw = RawClient { stream, seq: 0 };
    let greeting = raw.read().await;
    let handshake: HandshakePacket<'_> = mysql_common::io::ParseBuf(&greeting).parse(()).unwrap();
    assert_eq!(handshake.server_version_str(), SERVER_VERSION);
    assert_eq!(
        handshake.auth_plugin(),
        Some(AuthPlugin::CachingSha2Password)
    );
    let nonce = handshake.nonce();
    assert_eq!(nonce.len(), 20);
    assert!(!nonce.contains(&0));
    let caps = handshake.capabilities();
    for needed in [
        CapabilityFlags::CLIENT_PROTOCOL_41,
        CapabilityFlags::CLIENT_SECURE_CONNECTION,
        CapabilityFlags::CLIENT_PLUGIN_AUTH,
        CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
        CapabilityFlags::CLIENT_CONNECT_WITH_DB,
        CapabilityFlags::CLIENT_DEPRECATE_EOF,
        CapabilityFlags::CLIENT_TRANSACTIONS,
        CapabilityFlags::CLIENT_MULTI_RESULTS,
    ] {
        assert!(caps.contains(needed), "{needed:?} missing from {caps:?}");
    }
    assert!(!caps.contains(CapabilityFlags::CLIENT_SSL));

    let client_caps = CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
        | CapabilityFlags::CLIENT_DEPRECATE_EOF
        | CapabilityFlags::CLIENT_LONG_PASSWORD;
    let native = scramble_native(&nonce, PASSWORD.as_bytes()).unwrap();
    let response = HandshakeResponse::new(
        Some(&native[..]),
        (8, 0, 36),
        Some(USER.as_bytes()),
        None::<&[u8]>,
        Some(AuthPlugin::MysqlNativePassword),
        client_caps,
        None,
        16 * 1024 * 1024,
    );
    let mut buf = Vec::new();
    response.serialize(&mut buf);
    raw.write(&buf).await;

    let switch = raw.read().await;
    let switch: AuthSwitchRequest<'_> = mysql_common::io::ParseBuf(&switch).parse(()).unwrap();
    assert_eq!(switch.auth_plugin(), AuthPlugin::CachingSha2Password);
    let fresh: [u8; 20] = switch.plugin_data().try_into().unwrap();
    assert_ne!(&fresh[..], &nonce[..], "the switch brings a fresh nonce");

    raw.write(&scramble_sha256(&fresh, PASSWORD.as_bytes()).unwrap())
        .await;
    assert_eq!(raw.read().await, [0x01, 0x03], "fast_auth_success");
    assert_eq!(raw.read().await[0], 0x00, "OK");
    assert_eq!(
        fx.counters(),
        Counters {
            full_rsa: 1,
            fast_path: 1,
            auth_switches: 1,
            ..Counters::default()
        }
    );

    // An unknown command (COM_STATISTICS) is refused with 1047; the session stays usable.
    raw.seq = 0;
    raw.write(&[0x09]).await;
    let err = raw.read().await;
    assert_eq!(err[0], 0xFF);
    assert_eq!(u16::from_le_bytes([err[1], err[2]]), 1047);
    raw.seq = 0;
    raw.write(&[0x0e]).await;
    assert_eq!(raw.read().await[0], 0x00, "COM_PING answered OK");
    raw.seq = 0;
    raw.write(&[0x01]).await;
    let mut rest = Vec::new();
    raw.stream.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "COM_QUIT closes the connection");
}

#[test]
fn starts_and_stops_outside_a_runtime() {
    let fx = Mysql8Fixture::start(USER, PASSWORD, true);
    let port = fx.port;
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(fx);
    assert_eq!(
        Mysql8Fixture::start("other", "pw", false).counters(),
        Counters::default()
    );
}
