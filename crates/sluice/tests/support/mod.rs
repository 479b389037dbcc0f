//! Test harness: one scratch PostgreSQL per test binary (real server, initdb into a temp dir,
//! SCRAM on a random loopback port) and one in-process gateway per test, started exactly as
//! `sluice serve` starts it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use sluice::runtime::{self, RunningGateway};
use sluice::scratch_pg::ScratchPostgres;
use sluice_audit::{AuditEvent, AuditRecord, SearchFilter};
use sluice_core::config::Config;

pub const TARGET_PASSWORD: &str = "target-secret-7f3a";
pub const DATABASE: &str = "app";

struct Shared {
    pg: ScratchPostgres,
    /// The target's TLS certificate, self-signed: also its CA for `verify-full`.
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

/// The scratch server shared by all tests of this binary, started on first use.
pub fn pg() -> &'static ScratchPostgres {
    &SHARED
        .get_or_init(|| {
            let dir = tempfile::Builder::new()
                .prefix("sluice-test-pg-")
                .tempdir()
                .unwrap();
            let pg = ScratchPostgres::start(dir.path(), "superuser-secret").unwrap();
            pg.create_roles_and_database(TARGET_PASSWORD, DATABASE)
                .unwrap();
            pg.psql(
                DATABASE,
                "SET ROLE sluice_scram;
                 CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
                 INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g;",
            )
            .unwrap();
            let ca = pg.enable_tls().unwrap();
            Shared { pg, ca, _dir: dir }
        })
        .pg
}

/// The CA for the shared server's TLS certificate.
pub fn pg_ca() -> &'static Path {
    pg();
    &SHARED.get().unwrap().ca
}

pub struct Harness {
    pub gateway: RunningGateway,
    pub config: Config,
    pub config_path: PathBuf,
    pub tokens: HashMap<String, String>,
    pub dir: tempfile::TempDir,
}

/// The configuration every test starts from; `extra` is appended (more targets, settings).
pub fn base_config(data_dir: &Path, password_file: &Path, extra: &str) -> String {
    let port = pg().port;
    let pw = password_file.display();
    format!(
        r#"
[gateway]
data_dir = "{data}"
handshake_timeout = "3s"
shutdown_grace = "5s"

[postgres]
listen = "127.0.0.1:0"

[admin]
listen = "127.0.0.1:0"

[log]
level = "warn"

[[identities]]
name = "alice"
kind = "human"
groups = ["dba"]

[[identities]]
name = "ci"
kind = "service"

[[identities]]
name = "no-tokens"
kind = "agent"

[[targets]]
name = "app"
kind = "postgres"
host = "127.0.0.1"
port = {port}
database = "app"
databases = ["postgres"]
user = "sluice_scram"
password_file = "{pw}"
tls = "disable"
tags = {{ environment = "test" }}

[[targets]]
name = "app-md5"
kind = "postgres"
host = "127.0.0.1"
port = {port}
database = "app"
user = "sluice_md5"
password_file = "{pw}"
tls = "prefer"

[[targets]]
name = "app-cleartext"
kind = "postgres"
host = "127.0.0.1"
port = {port}
database = "app"
user = "sluice_cleartext"
password_file = "{pw}"
tls = "disable"

[[targets]]
name = "app-wrong-password"
kind = "postgres"
host = "127.0.0.1"
port = {port}
database = "app"
user = "sluice_scram"
password_env = "SLUICE_TEST_WRONG_PASSWORD"
tls = "disable"
{extra}
"#,
        data = data_dir.display()
    )
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with("").await
    }

    /// A gateway with the base configuration plus `extra` TOML.
    pub async fn start_with(extra: &str) -> Harness {
        Harness::launch(|base| base + extra).await
    }

    /// Starts a gateway whose configuration is the base one (without extra targets) passed
    /// through `make`.
    async fn launch(make: impl FnOnce(String) -> String) -> Harness {
        tokio::task::spawn_blocking(pg).await.unwrap();
        // Set once, same value, for the wrong-password target.
        if std::env::var("SLUICE_TEST_WRONG_PASSWORD").is_err() {
            std::env::set_var("SLUICE_TEST_WRONG_PASSWORD", "not-the-password");
        }
        let dir = tempfile::Builder::new()
            .prefix("sluice-test-gw-")
            .tempdir()
            .unwrap();
        let password_file = dir.path().join("target-password");
        std::fs::write(&password_file, TARGET_PASSWORD).unwrap();
        let mut text = make(base_config(&dir.path().join("data"), &password_file, ""));
        // Tests that bring no policy of their own test everything else with none enforced,
        // which must be said explicitly.
        if !text.contains("\n[policy]") {
            text.push_str("\n[policy]\nbuiltin = \"allow-all\"\n");
        }
        let config_path = dir.path().join("sluice.toml");
        std::fs::write(&config_path, &text).unwrap();
        let config = Config::load(&config_path).unwrap();
        sluice::logging::init(&config.log);
        let gateway = runtime::start(config.clone(), &text).await.unwrap();
        let mut tokens = HashMap::new();
        for identity in ["alice", "ci"] {
            let secret = sluice::token_cmd::create(&config, identity, None)
                .await
                .unwrap();
            tokens.insert(identity.to_owned(), secret.expose().to_owned());
        }
        Harness {
            gateway,
            config,
            config_path,
            tokens,
            dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.gateway.postgres_addr.unwrap().port()
    }

    pub fn token(&self, identity: &str) -> &str {
        &self.tokens[identity]
    }

    /// A libpq URL through the gateway.
    pub fn url(&self, identity: &str, target: &str) -> String {
        format!(
            "postgresql://{identity}:{}@127.0.0.1:{}/{target}?sslmode=disable",
            self.token(identity),
            self.port()
        )
    }

    /// A tokio-postgres / key-value connection string through the gateway.
    pub fn conninfo(&self, identity: &str, target: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={identity} password={} dbname={target} sslmode=disable",
            self.port(),
            self.token(identity)
        )
    }

    /// Runs psql through the gateway with `args` after the connection string.
    pub fn psql(&self, identity: &str, target: &str, args: &[&str]) -> Output {
        Command::new("psql")
            .arg("-X")
            .arg(self.url(identity, target))
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs psql through the gateway as `identity` with `password` (a credential the test
    /// obtained itself: a sign-in's, an exchange's, a per-task token).
    pub fn psql_as(&self, identity: &str, password: &str, target: &str, args: &[&str]) -> Output {
        Command::new("psql")
            .arg("-X")
            .arg(format!(
                "host=127.0.0.1 port={} user={identity} dbname={target} sslmode=disable",
                self.port()
            ))
            .args(args)
            .env("PGPASSWORD", password)
            .output()
            .unwrap()
    }

    /// psql through the gateway as `who` on `target` running `sql` (stopping at the first
    /// error), in the background.
    pub fn psql_bg(&self, who: &str, target: &str, sql: &str) -> tokio::task::JoinHandle<Output> {
        let url = self.url(who, target);
        let sql = sql.to_owned();
        tokio::spawn(async move {
            tokio::process::Command::new("psql")
                .args(["-X", "-v", "ON_ERROR_STOP=1", "-At", &url, "-c", &sql])
                .output()
                .await
                .unwrap()
        })
    }

    /// Makes a token for each of `identities` (declared in the configuration), for
    /// [`Harness::token`].
    pub async fn add_tokens(&mut self, identities: &[&str]) {
        for who in identities {
            let secret = sluice::token_cmd::create(&self.config, who, None)
                .await
                .unwrap();
            self.tokens
                .insert((*who).into(), secret.expose().to_owned());
        }
    }

    /// The admin API's base URL.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.gateway.admin_addr.unwrap())
    }

    /// All audit records so far (pending ones are flushed first). Waits briefly for sessions to
    /// end first: a client process exits before the gateway has recorded its session's end.
    pub async fn audit(&self) -> Vec<AuditRecord> {
        let metrics = self.gateway.gateway.metrics();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while metrics.sessions_active.get() > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        self.gateway.gateway.audit().flush().await.unwrap();
        sluice_audit::search(&self.config.audit_path(), &SearchFilter::default()).unwrap()
    }

    /// Texts of audited statements, in order.
    pub async fn audited_statements(&self) -> Vec<String> {
        self.audit()
            .await
            .into_iter()
            .filter_map(|r| match r.event {
                AuditEvent::Statement { text, .. } => Some(text),
                _ => None,
            })
            .collect()
    }

    pub async fn stop(self) {
        self.gateway.shutdown("test over").await.unwrap();
    }
}

/// The example policies (examples/policies).
pub fn example_policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies")
}

/// A copy of the example policies in `dir`/policies, for a test to enforce and edit.
pub fn copy_example_policies(dir: &Path) -> PathBuf {
    let to = dir.join("policies");
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(example_policies()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    to
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Fails, showing the whole of stderr, unless it contains `needle`.
pub fn assert_stderr_contains(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(err.contains(needle), "{err}");
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// ---- Configuration edits, raw protocol client, and process helpers ----

impl Harness {
    /// A gateway whose configuration text is the base configuration passed through `edit`
    /// (for settings inside the `[gateway]` or `[postgres]` tables, which `start_with` cannot
    /// reach because it appends after the targets).
    pub async fn start_with_config(edit: impl FnOnce(String) -> String) -> Harness {
        Harness::launch(|base| {
            let text = edit(base.clone());
            assert_ne!(text, base, "the configuration edit changed nothing");
            text
        })
        .await
    }

    /// A raw protocol client logged in as `identity` on `target` with protocol 3.0.
    pub async fn raw_login(&self, identity: &str, target: &str) -> (RawClient, Vec<Msg>) {
        let mut c = RawClient::connect(self.port()).await;
        c.startup((3, 0), &[("user", identity), ("database", target)])
            .await;
        let greeting = c
            .login(self.token(identity))
            .await
            .unwrap_or_else(|e| panic!("login failed: {e:?}"));
        (c, greeting)
    }
}

/// Inserts `line` right after the `[table]` header of the base configuration.
pub fn set_in_table(text: String, table: &str, line: &str) -> String {
    let header = format!("[{table}]\n");
    assert!(text.contains(&header), "no [{table}] table");
    text.replacen(&header, &format!("{header}{line}\n"), 1)
}

/// How long a raw read waits before the test gives up.
pub const RAW_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One backend message as read by [`RawClient`].
#[derive(Clone, PartialEq, Eq)]
pub struct Msg {
    pub tag: u8,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "'{}' \"{}\"",
            char::from(self.tag),
            self.body.escape_ascii()
        )
    }
}

impl Msg {
    /// A field of an ErrorResponse / NoticeResponse (`b'C'` SQLSTATE, `b'M'` message, ...).
    pub fn field(&self, code: u8) -> Option<String> {
        if self.tag != b'E' && self.tag != b'N' {
            return None;
        }
        let mut rest = &self.body[..];
        while let Some((&kind, tail)) = rest.split_first() {
            if kind == 0 {
                break;
            }
            let end = tail.iter().position(|&b| b == 0)?;
            if kind == code {
                return Some(String::from_utf8_lossy(&tail[..end]).into_owned());
            }
            rest = &tail[end + 1..];
        }
        None
    }

    pub fn sqlstate(&self) -> Option<String> {
        self.field(b'C')
    }

    pub fn message(&self) -> Option<String> {
        self.field(b'M')
    }

    /// The authentication request code of an 'R' message.
    pub fn auth_code(&self) -> Option<i32> {
        (self.tag == b'R' && self.body.len() >= 4)
            .then(|| i32::from_be_bytes([self.body[0], self.body[1], self.body[2], self.body[3]]))
    }
}

/// What a bounded read saw.
#[derive(Debug)]
pub enum Received {
    Msg(Msg),
    /// Orderly close (or a close that reset the connection).
    Closed,
    Timeout,
}

/// A hand-driven protocol client for byte sequences real drivers never send.
pub struct RawClient {
    pub stream: tokio::net::TcpStream,
    buf: bytes::BytesMut,
}

impl RawClient {
    pub async fn connect(port: u16) -> RawClient {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        stream.set_nodelay(true).unwrap();
        RawClient {
            stream,
            buf: bytes::BytesMut::with_capacity(8192),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Sends, tolerating a peer that has already closed (returns whether all bytes went out).
    pub async fn try_send(&mut self, bytes: &[u8]) -> bool {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await.is_ok()
    }

    /// Reads a single byte (the answer to an SSLRequest or GSSENCRequest).
    pub async fn read_byte(&mut self) -> u8 {
        use tokio::io::AsyncReadExt;
        if !self.buf.is_empty() {
            let b = self.buf[0];
            bytes::Buf::advance(&mut self.buf, 1);
            return b;
        }
        tokio::time::timeout(RAW_TIMEOUT, self.stream.read_u8())
            .await
            .expect("timed out waiting for one byte")
            .unwrap()
    }

    pub async fn startup(&mut self, version: (u16, u16), params: &[(&str, &str)]) {
        let params: Vec<(&[u8], &[u8])> = params
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        let mut out = bytes::BytesMut::new();
        sluice_pgwire::encode::startup_message(
            &mut out,
            sluice_pgwire::ProtocolVersion {
                major: version.0,
                minor: version.1,
            },
            &params,
        );
        self.send(&out).await;
    }

    /// The next message, waiting at most `wait`.
    pub async fn recv_within(&mut self, wait: std::time::Duration) -> Received {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                    as usize;
                assert!(len >= 4, "bad length from the gateway");
                if self.buf.len() > len {
                    let frame = self.buf.split_to(len + 1);
                    return Received::Msg(Msg {
                        tag: frame[0],
                        body: frame[5..].to_vec(),
                    });
                }
            }
            self.buf.reserve(8192);
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Received::Timeout,
                Ok(Ok(0)) => return Received::Closed,
                Ok(Ok(_)) => {}
                Ok(Err(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                    ) =>
                {
                    return Received::Closed
                }
                Ok(Err(e)) => panic!("read failed: {e}"),
            }
        }
    }

    /// The next message; panics on close or after [`RAW_TIMEOUT`].
    pub async fn recv(&mut self) -> Msg {
        match self.recv_within(RAW_TIMEOUT).await {
            Received::Msg(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Messages up to and including the next ReadyForQuery.
    pub async fn until_ready(&mut self) -> Vec<Msg> {
        let mut out = Vec::new();
        for _ in 0..100_000 {
            let m = self.recv().await;
            let ready = m.tag == b'Z';
            out.push(m);
            if ready {
                return out;
            }
        }
        panic!("no ReadyForQuery in 100000 messages")
    }

    /// After a FATAL: reads what is left and asserts the connection closes within `wait`.
    /// Returns the messages seen before the close.
    pub async fn expect_closed(&mut self, wait: std::time::Duration) -> Vec<Msg> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_within(left).await {
                Received::Msg(m) => seen.push(m),
                Received::Closed => return seen,
                Received::Timeout => panic!("connection still open; saw {seen:?}"),
            }
        }
    }

    /// SCRAM-SHA-256 login after the StartupMessage was sent. Returns every message from the
    /// gateway up to ReadyForQuery, or the ErrorResponse that ended the attempt.
    pub async fn login(&mut self, password: &str) -> Result<Vec<Msg>, Msg> {
        use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
        let mut seen = Vec::new();
        let mut scram: Option<ScramSha256> = None;
        for _ in 0..1000 {
            let m = self.recv().await;
            let mut out = bytes::BytesMut::new();
            match (m.tag, m.auth_code()) {
                (b'E', _) => return Err(m),
                (b'Z', _) => {
                    seen.push(m);
                    return Ok(seen);
                }
                (b'R', Some(10)) => {
                    let s = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
                    sluice_pgwire::encode::sasl_initial_response(
                        &mut out,
                        "SCRAM-SHA-256",
                        s.message(),
                    );
                    scram = Some(s);
                }
                (b'R', Some(11)) => {
                    let s = scram.as_mut().expect("SASL continue before start");
                    s.update(&m.body[4..]).unwrap();
                    sluice_pgwire::encode::sasl_response(&mut out, s.message());
                }
                (b'R', Some(12)) => {
                    let s = scram.as_mut().expect("SASL final before start");
                    s.finish(&m.body[4..]).unwrap();
                }
                _ => {}
            }
            seen.push(m);
            if !out.is_empty() {
                self.send(&out).await;
            }
        }
        panic!("login did not finish in 1000 messages")
    }
}

/// A tagged frontend message: `tag + length + body`.
pub fn frontend_msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn cstring(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

pub fn query_msg(sql: &str) -> Vec<u8> {
    let mut b = Vec::new();
    cstring(&mut b, sql);
    frontend_msg(b'Q', &b)
}

pub fn parse_msg(statement: &str, sql: &str) -> Vec<u8> {
    let mut b = Vec::new();
    cstring(&mut b, statement);
    cstring(&mut b, sql);
    b.extend_from_slice(&0i16.to_be_bytes());
    frontend_msg(b'P', &b)
}

/// Bind with text parameters, text results.
pub fn bind_msg(portal: &str, statement: &str, params: &[Option<&str>]) -> Vec<u8> {
    let mut b = Vec::new();
    cstring(&mut b, portal);
    cstring(&mut b, statement);
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&(params.len() as i16).to_be_bytes());
    for p in params {
        match p {
            Some(v) => {
                b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                b.extend_from_slice(v.as_bytes());
            }
            None => b.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    b.extend_from_slice(&0i16.to_be_bytes());
    frontend_msg(b'B', &b)
}

pub fn execute_msg(portal: &str) -> Vec<u8> {
    let mut b = Vec::new();
    cstring(&mut b, portal);
    b.extend_from_slice(&0i32.to_be_bytes());
    frontend_msg(b'E', &b)
}

pub fn sync_msg() -> Vec<u8> {
    frontend_msg(b'S', &[])
}

pub fn terminate_msg() -> Vec<u8> {
    frontend_msg(b'X', &[])
}

/// An untagged startup-phase packet with the given request code and payload.
pub fn startup_packet(code: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `wait`.
pub async fn poll_until<T, F, Fut>(wait: std::time::Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Runs a driver script from tests/drivers with the Python scripts/test.sh prepared
/// (`SLUICE_TEST_PYTHON`), pointed at `dsn`; fails unless it exits 0 and prints `expected`.
pub async fn run_python_driver(script: &str, dsn: String, expected: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/drivers")
        .join(script);
    let python = std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("SLUICE_DSN", dsn)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the driver script failed (scripts/test.sh installs psycopg):\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), expected);
}
pub mod api;
pub mod browser;
pub mod cluster;
pub mod console;
pub mod kube;
pub mod mcp_curl;
pub mod mysql;
pub mod mysql8;
pub mod oidc;
pub mod ssh;

/// psql on `url` running `select N as acked_N<extra>` for N = 1..=count, one `-c` each, with
/// its stdout lines to read as they arrive: what a client has had acknowledged when a gateway
/// is killed under it.
pub fn numbered_psql(
    url: &str,
    count: usize,
    extra: &str,
) -> (
    std::process::Child,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) {
    use std::io::BufRead;
    let mut args = vec!["-X".to_owned(), url.to_owned(), "-A".into(), "-t".into()];
    for i in 1..=count {
        args.push("-c".into());
        args.push(format!("select {i} as acked_{i}{extra}"));
    }
    let mut psql = Command::new("psql")
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(psql.stdout.take().unwrap()).lines();
    (psql, lines)
}
