//! A MySQL 8.0 stand-in for login tests. Debian packages no MySQL 8, so the gateway's upstream
//! `caching_sha2_password` login is proven against this fixture instead: a loopback server that
//! speaks the server side of MySQL 8.0's connection phase as the real server does.
//!
//! - Handshake v10 announcing `caching_sha2_password` with a 20-byte nonce (and `CLIENT_SSL` when
//!   started with TLS; the certificate is self-signed and its PEM is written to a file that a
//!   client can trust).
//! - One account. Fast path: the client's scramble is checked against the account's cached
//!   `SHA256(SHA256(password))`, answered `fast_auth_success` (0x03) then OK. Without a cache
//!   entry (or on a mismatch) `perform_full_authentication` (0x04): over TLS the client sends its
//!   password in clear; without TLS it asks for the RSA public key (0x02) and sends the password,
//!   XORed with the nonce, under RSA-OAEP(SHA-1). A full login that succeeds fills the cache, so
//!   the next login takes the fast path.
//! - A client that answers the handshake with another plugin (`mysql_native_password`) is sent
//!   an AuthSwitchRequest to `caching_sha2_password` with a fresh nonce.
//! - After login, a minimal command loop: `SELECT 1`, `SELECT CURRENT_USER()`, OK for any other
//!   query, COM_PING, COM_INIT_DB, COM_QUIT; ERR 1047 for any other command.
//!
//! The server runs on its own thread with its own runtime, so plain and `#[tokio::test]` tests
//! alike can start it; dropping the fixture stops it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use mysql_common::collations::CollationId;
use mysql_common::constants::{CapabilityFlags, ColumnFlags, ColumnType, StatusFlags};
use mysql_common::io::{BufMutExt, ParseBuf};
use mysql_common::packets::{
    AuthMoreData, AuthPlugin, AuthSwitchRequest, Column, ErrPacket, HandshakePacket,
    HandshakeResponse, ServerError, SqlState,
};
use mysql_common::proto::MySerialize;
use rand::Rng;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

pub const SERVER_VERSION: &str = "8.0.36-sluice-fixture";
const PLUGIN: &[u8] = b"caching_sha2_password";
const NONCE_LEN: usize = 20;
/// The largest payload one packet carries; a longer one continues in the next packet.
const MAX_PAYLOAD: usize = 0xFF_FFFF;

// caching_sha2_password's one-byte AuthMoreData messages.
const REQUEST_PUBLIC_KEY: u8 = 0x02;
const FAST_AUTH_SUCCESS: u8 = 0x03;
const PERFORM_FULL_AUTHENTICATION: u8 = 0x04;

const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_PING: u8 = 0x0e;

const ER_ACCESS_DENIED_ERROR: u16 = 1045;
const ER_UNKNOWN_COM_ERROR: u16 = 1047;

/// How many logins took each path, read by tests to prove which path a client took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Logins accepted on the fast path (scramble matched the cached hash).
    pub fast_path: u64,
    /// Logins accepted by full authentication with the password sent over TLS.
    pub full_tls: u64,
    /// Logins accepted by full authentication with the password sent under RSA.
    pub full_rsa: u64,
    /// Logins refused with ER_ACCESS_DENIED_ERROR.
    pub failures: u64,
    /// Handshake responses that named another plugin and were switched to caching_sha2_password.
    pub auth_switches: u64,
}

struct Account {
    user: String,
    password: String,
}

struct Shared {
    account: Account,
    /// The server's in-memory cache: the account's `SHA256(SHA256(password))`, filled by a
    /// successful full authentication (the real server keys it by user; there is one user here).
    cache: Mutex<Option<[u8; 32]>>,
    tls: Option<TlsAcceptor>,
    next_connection_id: AtomicU32,
    fast_path: AtomicU64,
    full_tls: AtomicU64,
    full_rsa: AtomicU64,
    failures: AtomicU64,
    auth_switches: AtomicU64,
}

/// A running fixture server on 127.0.0.1:`port`.
pub struct Mysql8Fixture {
    pub port: u16,
    shared: Arc<Shared>,
    ca: Option<Ca>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Ca {
    _dir: tempfile::TempDir,
    path: PathBuf,
    pem: String,
}

impl Mysql8Fixture {
    /// Starts a server with one account, `user` identified by `password`; with `tls`, it offers
    /// TLS under a self-signed certificate for `localhost` and `127.0.0.1`.
    pub fn start(user: &str, password: &str, tls: bool) -> Mysql8Fixture {
        let (acceptor, ca) = if tls {
            let (acceptor, ca) = tls_setup();
            (Some(acceptor), Some(ca))
        } else {
            (None, None)
        };
        let shared = Arc::new(Shared {
            account: Account {
                user: user.to_owned(),
                password: password.to_owned(),
            },
            cache: Mutex::new(None),
            tls: acceptor,
            next_connection_id: AtomicU32::new(1),
            fast_path: AtomicU64::new(0),
            full_tls: AtomicU64::new(0),
            full_rsa: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            auth_switches: AtomicU64::new(0),
        });

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("mysql8-fixture-{port}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(accept_loop(listener, server_shared, rx));
            })
            .unwrap();

        Mysql8Fixture {
            port,
            shared,
            ca,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn counters(&self) -> Counters {
        let s = &self.shared;
        Counters {
            fast_path: s.fast_path.load(Ordering::SeqCst),
            full_tls: s.full_tls.load(Ordering::SeqCst),
            full_rsa: s.full_rsa.load(Ordering::SeqCst),
            failures: s.failures.load(Ordering::SeqCst),
            auth_switches: s.auth_switches.load(Ordering::SeqCst),
        }
    }

    /// The self-signed certificate (its own CA) as a PEM file, when started with TLS.
    pub fn ca_pem_path(&self) -> Option<&Path> {
        self.ca.as_ref().map(|ca| ca.path.as_path())
    }

    /// The same certificate as PEM text.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(|ca| ca.pem.as_str())
    }

    /// Empties the authentication cache, as `FLUSH PRIVILEGES` does on the real server: the next
    /// login takes the full path again.
    pub fn flush_cache(&self) {
        *self.shared.cache.lock().unwrap() = None;
    }

    pub fn user(&self) -> &str {
        &self.shared.account.user
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for Mysql8Fixture {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn tls_setup() -> (TlsAcceptor, Ca) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let pem = certified.cert.pem();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.key_pair.serialize_der(),
    ));
    // An explicit provider: the process may hold more than one, which the default lookup refuses.
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mysql8-fixture-ca.pem");
    std::fs::write(&path, &pem).unwrap();
    (
        TlsAcceptor::from(Arc::new(config)),
        Ca {
            _dir: dir,
            path,
            pem,
        },
    )
}

/// The server's RSA key pair for the key exchange, made once per process on first use: 2048-bit
/// key generation is slow in a debug build, and logins without TLS are what need it.
struct RsaKeys {
    private: RsaPrivateKey,
    public_pem: String,
}

fn rsa_keys() -> &'static RsaKeys {
    static KEYS: OnceLock<RsaKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let public_pem = RsaPublicKey::from(&private)
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        RsaKeys {
            private,
            public_pem,
        }
    })
}

async fn accept_loop(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(listener).unwrap();
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    // A client that goes away mid-conversation ends only its own connection.
                    let _ = serve(stream, peer.ip(), shared).await;
                });
            }
        }
    }
}

/// One side of the MySQL packet framing: 3-byte length, 1-byte sequence id, payload.
struct Conn<S> {
    stream: S,
    seq: u8,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Reads one logical packet (joining continuation packets); the next packet written answers
    /// it with the following sequence id.
    async fn read(&mut self) -> std::io::Result<Vec<u8>> {
        let mut payload = Vec::new();
        loop {
            let mut header = [0u8; 4];
            self.stream.read_exact(&mut header).await?;
            let len =
                usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
            self.seq = header[3].wrapping_add(1);
            let start = payload.len();
            payload.resize(start + len, 0);
            self.stream.read_exact(&mut payload[start..]).await?;
            if len < MAX_PAYLOAD {
                return Ok(payload);
            }
        }
    }

    async fn write(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(payload.len() + 4);
        // A payload that is empty or a multiple of the maximum ends with an empty packet.
        let mut rest = payload;
        loop {
            let n = rest.len().min(MAX_PAYLOAD);
            self.frame(&mut out, &rest[..n]);
            rest = &rest[n..];
            if n < MAX_PAYLOAD {
                break;
            }
        }
        self.stream.write_all(&out).await?;
        self.stream.flush().await
    }

    fn frame(&mut self, out: &mut Vec<u8>, chunk: &[u8]) {
        let len = u32::try_from(chunk.len()).unwrap().to_le_bytes();
        out.extend_from_slice(&len[..3]);
        out.push(self.seq);
        self.seq = self.seq.wrapping_add(1);
        out.extend_from_slice(chunk);
    }

    async fn write_struct(&mut self, packet: &impl MySerialize) -> std::io::Result<()> {
        let mut buf = Vec::new();
        packet.serialize(&mut buf);
        self.write(&buf).await
    }
}

fn server_capabilities(tls: bool) -> CapabilityFlags {
    let mut caps = CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_LONG_FLAG
        | CapabilityFlags::CLIENT_CONNECT_WITH_DB
        | CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_CONNECT_ATTRS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
        | CapabilityFlags::CLIENT_DEPRECATE_EOF;
    if tls {
        caps |= CapabilityFlags::CLIENT_SSL;
    }
    caps
}

/// A nonce as the real server makes one: printable-range bytes, never NUL (clients read the
/// handshake's copy as a C string) and never `$`.
fn nonce() -> [u8; NONCE_LEN] {
    let mut rng = rand::thread_rng();
    let mut out = [0u8; NONCE_LEN];
    for b in &mut out {
        *b = loop {
            let c: u8 = rng.gen_range(1..=127);
            if c != b'$' {
                break c;
            }
        };
    }
    out
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The fast-path check: the scramble is `SHA256(pw) XOR SHA256(stage2 || nonce)`; undoing the XOR
/// with the cached stage-2 hash must give a value whose SHA-256 is that hash.
fn scramble_matches(scramble: &[u8], stage2: &[u8; 32], nonce: &[u8]) -> bool {
    if scramble.len() != 32 {
        return false;
    }
    let mask = sha256(&[stage2, nonce]);
    let mut stage1 = [0u8; 32];
    for (i, b) in stage1.iter_mut().enumerate() {
        *b = scramble[i] ^ mask[i];
    }
    sha256(&[&stage1]) == *stage2
}

fn ok_packet() -> Vec<u8> {
    let mut buf = vec![0x00];
    buf.put_lenenc_int(0); // affected rows
    buf.put_lenenc_int(0); // last insert id
    buf.extend_from_slice(&StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits().to_le_bytes());
    buf.extend_from_slice(&0u16.to_le_bytes()); // warnings
    buf
}

fn err_packet(code: u16, state: &[u8; 5], message: &str) -> ErrPacket<'static> {
    ErrPacket::Error(ServerError::new(
        code,
        Some(SqlState::new(*state)),
        message.as_bytes().to_vec(),
    ))
}

/// The session after login: what it negotiated, for the command loop.
struct Session {
    user: String,
    deprecate_eof: bool,
}

async fn serve(stream: TcpStream, peer: IpAddr, shared: Arc<Shared>) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut conn = Conn { stream, seq: 0 };
    let nonce = nonce();
    let caps = server_capabilities(shared.tls.is_some());
    let mut scramble_2 = nonce[8..].to_vec();
    scramble_2.push(0);
    let connection_id = shared.next_connection_id.fetch_add(1, Ordering::SeqCst);
    let handshake = HandshakePacket::new(
        10,
        SERVER_VERSION.as_bytes(),
        connection_id,
        nonce[..8].try_into().unwrap(),
        Some(scramble_2),
        caps,
        CollationId::UTF8MB4_0900_AI_CI as u8,
        StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        Some(PLUGIN),
    );
    conn.write_struct(&handshake).await?;

    let first = conn.read().await?;
    // An SSLRequest is a handshake response cut short after its fixed 32 bytes, CLIENT_SSL set.
    let ssl_request = first.len() == 32 && {
        let flags = u32::from_le_bytes(first[..4].try_into().unwrap());
        CapabilityFlags::from_bits_truncate(flags).contains(CapabilityFlags::CLIENT_SSL)
    };
    if ssl_request {
        let Some(acceptor) = shared.tls.clone() else {
            return Ok(());
        };
        let seq = conn.seq;
        let tls = acceptor.accept(conn.stream).await?;
        let mut conn = Conn { stream: tls, seq };
        let response = conn.read().await?;
        let Some(session) = login(&mut conn, &shared, peer, true, caps, nonce, &response).await?
        else {
            return Ok(());
        };
        commands(&mut conn, &session).await
    } else {
        let Some(session) = login(&mut conn, &shared, peer, false, caps, nonce, &first).await?
        else {
            return Ok(());
        };
        commands(&mut conn, &session).await
    }
}

/// The authentication exchange after the handshake response; `None` when the login was refused
/// (the ERR packet has been sent).
async fn login<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    shared: &Shared,
    peer: IpAddr,
    secure: bool,
    server_caps: CapabilityFlags,
    nonce: [u8; NONCE_LEN],
    payload: &[u8],
) -> std::io::Result<Option<Session>> {
    let response: HandshakeResponse<'_> = ParseBuf(payload).parse(())?;
    let client_caps = response.capabilities();
    let user = String::from_utf8_lossy(response.user()).into_owned();
    let mut nonce = nonce;
    let mut scramble = response.scramble_buf().to_vec();

    if response.auth_plugin() != Some(&AuthPlugin::CachingSha2Password) {
        if !client_caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) {
            // A pre-4.1-style client cannot be switched; the real server refuses it too.
            return deny(conn, shared, &user, peer, !scramble.is_empty()).await;
        }
        shared.auth_switches.fetch_add(1, Ordering::SeqCst);
        nonce = self::nonce();
        let mut data = nonce.to_vec();
        data.push(0);
        conn.write_struct(&AuthSwitchRequest::new(PLUGIN, data))
            .await?;
        scramble = conn.read().await?;
    }

    let session = Session {
        user: user.clone(),
        deprecate_eof: client_caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF)
            && server_caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
    };
    let account = &shared.account;
    let known_user = user == account.user;

    // An account with no password: the client sends no scramble, and nothing else happens.
    if account.password.is_empty() || scramble.is_empty() {
        if known_user && account.password.is_empty() && scramble.is_empty() {
            conn.write(&ok_packet()).await?;
            return Ok(Some(session));
        }
        return deny(conn, shared, &user, peer, !scramble.is_empty()).await;
    }

    let cached = *shared.cache.lock().unwrap();
    if let Some(stage2) = cached.filter(|_| known_user) {
        if scramble_matches(&scramble, &stage2, &nonce) {
            conn.write_struct(&AuthMoreData::new(&[FAST_AUTH_SUCCESS][..]))
                .await?;
            shared.fast_path.fetch_add(1, Ordering::SeqCst);
            conn.write(&ok_packet()).await?;
            return Ok(Some(session));
        }
    }

    // No cache entry, or the scramble did not match it: the real server asks for the password.
    conn.write_struct(&AuthMoreData::new(&[PERFORM_FULL_AUTHENTICATION][..]))
        .await?;
    let mut reply = conn.read().await?;
    let password = if secure {
        // Over TLS the password comes in clear, NUL-terminated.
        if reply.last() == Some(&0) {
            reply.pop();
        }
        Some(reply)
    } else {
        let keys = tokio::task::spawn_blocking(rsa_keys).await?;
        if reply == [REQUEST_PUBLIC_KEY] {
            conn.write_struct(&AuthMoreData::new(keys.public_pem.as_bytes()))
                .await?;
            reply = conn.read().await?;
        }
        // RSA-OAEP(SHA-1) of (password || NUL) XOR the nonce repeated.
        match keys.private.decrypt(Oaep::new::<sha1::Sha1>(), &reply) {
            Ok(mut clear) => {
                for (i, b) in clear.iter_mut().enumerate() {
                    *b ^= nonce[i % NONCE_LEN];
                }
                if clear.last() == Some(&0) {
                    clear.pop();
                }
                Some(clear)
            }
            Err(_) => None,
        }
    };

    match password {
        Some(password) if known_user && password == account.password.as_bytes() => {
            let stage2 = sha256(&[&sha256(&[&password])]);
            *shared.cache.lock().unwrap() = Some(stage2);
            let counter = if secure {
                &shared.full_tls
            } else {
                &shared.full_rsa
            };
            counter.fetch_add(1, Ordering::SeqCst);
            conn.write(&ok_packet()).await?;
            Ok(Some(session))
        }
        _ => deny(conn, shared, &user, peer, true).await,
    }
}

async fn deny<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    shared: &Shared,
    user: &str,
    peer: IpAddr,
    using_password: bool,
) -> std::io::Result<Option<Session>> {
    shared.failures.fetch_add(1, Ordering::SeqCst);
    let using = if using_password { "YES" } else { "NO" };
    let message = format!("Access denied for user '{user}'@'{peer}' (using password: {using})");
    conn.write_struct(&err_packet(ER_ACCESS_DENIED_ERROR, b"28000", &message))
        .await?;
    Ok(None)
}

async fn commands<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    session: &Session,
) -> std::io::Result<()> {
    loop {
        let packet = match conn.read().await {
            Ok(packet) => packet,
            // The client closed without COM_QUIT.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        match packet.first().copied() {
            Some(COM_QUIT) => return Ok(()),
            Some(COM_PING) | Some(COM_INIT_DB) => conn.write(&ok_packet()).await?,
            Some(COM_QUERY) => {
                let sql = String::from_utf8_lossy(&packet[1..]);
                let normalized = sql.trim().trim_end_matches(';').trim().to_ascii_uppercase();
                match normalized.as_str() {
                    "SELECT 1" => {
                        let column = Column::new(ColumnType::MYSQL_TYPE_LONGLONG)
                            .with_name(b"1")
                            .with_column_length(1)
                            .with_character_set(CollationId::BINARY as u16)
                            .with_flags(
                                ColumnFlags::NOT_NULL_FLAG
                                    | ColumnFlags::BINARY_FLAG
                                    | ColumnFlags::NUM_FLAG,
                            );
                        result_set(conn, session, column, b"1").await?;
                    }
                    "SELECT CURRENT_USER()" => {
                        let value = format!("{}@%", session.user);
                        let column = Column::new(ColumnType::MYSQL_TYPE_VAR_STRING)
                            .with_name(b"CURRENT_USER()")
                            .with_column_length(1152)
                            .with_character_set(CollationId::UTF8MB4_0900_AI_CI as u16)
                            .with_flags(ColumnFlags::NOT_NULL_FLAG)
                            .with_decimals(0x1f);
                        result_set(conn, session, column, value.as_bytes()).await?;
                    }
                    // What sluice asks after its login, to lex texts as the server will.
                    "SELECT @@SESSION.SQL_MODE, @@SESSION.CHARACTER_SET_CLIENT" => {
                        let column = Column::new(ColumnType::MYSQL_TYPE_VAR_STRING)
                            .with_name(b"@@SESSION.sql_mode")
                            .with_column_length(1152)
                            .with_character_set(CollationId::UTF8MB4_0900_AI_CI as u16);
                        let mode = b"ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE";
                        result_set(conn, session, column, mode).await?;
                    }
                    _ => conn.write(&ok_packet()).await?,
                }
            }
            _ => {
                conn.write_struct(&err_packet(
                    ER_UNKNOWN_COM_ERROR,
                    b"08S01",
                    "Unknown command",
                ))
                .await?
            }
        }
    }
}

/// A one-column, one-row text result set, terminated as the client negotiated: an OK packet with
/// the 0xFE header under CLIENT_DEPRECATE_EOF, else EOF packets after the columns and the rows.
async fn result_set<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    session: &Session,
    column: Column,
    value: &[u8],
) -> std::io::Result<()> {
    let status = StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits().to_le_bytes();
    let eof = [0xFE, 0, 0, status[0], status[1]]; // header, warnings, status

    let mut count = Vec::new();
    count.put_lenenc_int(1);
    conn.write(&count).await?;
    conn.write_struct(&column).await?;
    if !session.deprecate_eof {
        conn.write(&eof).await?;
    }
    let mut row = Vec::new();
    row.put_lenenc_str(value);
    conn.write(&row).await?;
    if session.deprecate_eof {
        let mut ok = vec![0xFE];
        ok.put_lenenc_int(0);
        ok.put_lenenc_int(0);
        ok.extend_from_slice(&status);
        ok.extend_from_slice(&0u16.to_le_bytes());
        conn.write(&ok).await
    } else {
        conn.write(&eof).await
    }
}
