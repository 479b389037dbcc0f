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
            let pg = ScratchPostgres::start(&dir.path().join("pg"), "superuser-secret").unwrap();
            pg.create_roles_and_database(TARGET_PASSWORD, DATABASE)
                .unwrap();
            pg.psql(
                DATABASE,
                "SET ROLE sluice_scram;
                 CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
                 INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g;",
            )
            .unwrap();
            Shared { pg, _dir: dir }
        })
        .pg
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
        tokio::task::spawn_blocking(pg).await.unwrap();
        // SAFETY of intent (no unsafe here): set once, same value, for the wrong-password target.
        if std::env::var("SLUICE_TEST_WRONG_PASSWORD").is_err() {
            std::env::set_var("SLUICE_TEST_WRONG_PASSWORD", "not-the-password");
        }
        let dir = tempfile::Builder::new()
            .prefix("sluice-test-gw-")
            .tempdir()
            .unwrap();
        let password_file = dir.path().join("target-password");
        std::fs::write(&password_file, TARGET_PASSWORD).unwrap();
        let text = base_config(&dir.path().join("data"), &password_file, extra);
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

    /// All audit records so far (pending ones are flushed first).
    pub async fn audit(&self) -> Vec<AuditRecord> {
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

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
