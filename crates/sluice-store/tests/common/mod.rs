//! What every test binary shares: stores of both backends on fresh databases, and the scratch
//! PostgreSQL cluster the PostgreSQL ones live on.
//!
//! Each behavioural test is an `async fn(Db) -> TestResult` instantiated once per backend by
//! [`backend_tests!`], so both backends answer to exactly the same expectations.
//!
//! The cluster is started once per test binary, on first use: `initdb` into a temporary
//! directory, then `postgres` on an ephemeral loopback port with trust authentication and
//! durability off (a test cluster has nothing to keep). Each test gets its own database. The
//! server is run by a small shell wrapper that waits for its standard input to close, which
//! happens when this process exits however it exits (the kernel closes the pipe), and then
//! stops the server immediately (`pg_ctl -m immediate stop`) and deletes its directory: no
//! server outlives the tests.
//!
//! The binaries are taken from the highest version under `/usr/lib/postgresql/*/bin`, or from
//! `SLUICE_TEST_PG_BIN`. Without them the PostgreSQL tests fail (CI installs them): skipping
//! would let the backend go untested unnoticed.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::error::Error;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sluice_store::{Store, StoreLocation};
use sqlx::Connection;
use tempfile::TempDir;

pub type TestResult = Result<(), Box<dyn Error + Send + Sync>>;

/// The user name in test URLs; trust authentication ignores the password, which is there to
/// check that it never shows.
pub const USER: &str = "sluice";
pub const PASSWORD: &str = "hunter2-secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database of one backend, on which tests open as many stores (standing for
/// gateways or CLI runs) as they need.
pub struct Db {
    pub backend: Backend,
    pub location: StoreLocation,
    /// Keeps the SQLite file's directory alive for the test's duration.
    _dir: Option<TempDir>,
}

impl Db {
    pub async fn new(backend: Backend) -> Result<Self, Box<dyn Error + Send + Sync>> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                // A nested, not yet existing directory checks that opening creates it.
                let path = dir.path().join("state").join("sluice.db");
                Ok(Self {
                    backend,
                    location: StoreLocation::Sqlite(path),
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => Ok(Self {
                backend,
                location: StoreLocation::Postgres(fresh_database().await?),
                _dir: None,
            }),
        }
    }

    /// Opens another store on this database, as another gateway would.
    pub async fn open(&self) -> Result<Arc<dyn Store>, Box<dyn Error + Send + Sync>> {
        Ok(sluice_store::open(&self.location, None).await?)
    }

    /// The PostgreSQL URL (with the password in it).
    pub fn url(&self) -> Option<&str> {
        match &self.location {
            StoreLocation::Postgres(url) => Some(url),
            StoreLocation::Sqlite(_) => None,
        }
    }
}

/// Instantiates each named `async fn(Db) -> TestResult` as a test per backend, named
/// `sqlite::<name>` and `postgres::<name>`. Multi-threaded runtimes, so concurrent tasks in a
/// test really overlap as separate gateways would.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> $crate::common::TestResult {
                    let db = $crate::common::Db::new($crate::common::Backend::Sqlite).await?;
                    super::$name(db).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> $crate::common::TestResult {
                    let db = $crate::common::Db::new($crate::common::Backend::Postgres).await?;
                    super::$name(db).await
                }
            )*
        }
    };
}

/// The running scratch cluster of this test binary.
struct Cluster {
    port: u16,
    /// Held open for the life of the process: its closing at exit stops the server.
    _lifeline: Mutex<ChildStdin>,
    _wrapper: Mutex<Child>,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// A URL to a new, empty database on the cluster (started on first use).
pub async fn fresh_database() -> Result<String, Box<dyn Error + Send + Sync>> {
    let port = tokio::task::spawn_blocking(|| {
        CLUSTER
            .get_or_init(start_cluster)
            .as_ref()
            .map(|cluster| cluster.port)
            .map_err(Clone::clone)
    })
    .await??;
    let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::SeqCst));
    // Accepting connections on the port comes slightly before accepting sessions.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut admin = loop {
        match sqlx::PgConnection::connect(&url(port, "postgres")).await {
            Ok(conn) => break conn,
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(url(port, &name))
}

pub fn url(port: u16, database: &str) -> String {
    format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{port}/{database}")
}

/// The directory of the highest installed PostgreSQL version's binaries.
fn pg_bin() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("SLUICE_TEST_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| {
            format!(
                "PostgreSQL server binaries not found (/usr/lib/postgresql: {e}); install \
                 them (e.g. apt-get install postgresql) or set SLUICE_TEST_PG_BIN"
            )
        })?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin; install them \
         (e.g. apt-get install postgresql) or set SLUICE_TEST_PG_BIN"
            .to_owned()
    })
}

/// PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user.
fn run_as() -> Result<Vec<String>, String> {
    let uid = std::fs::metadata("/proc/self")
        .map_err(|e| format!("cannot tell the current user: {e}"))?
        .uid();
    if uid != 0 {
        return Ok(Vec::new());
    }
    Ok([
        "setpriv",
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        "--",
    ]
    .map(String::from)
    .to_vec())
}

fn command(prefix: &[String], program: &Path) -> Command {
    match prefix.split_first() {
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
        None => Command::new(program),
    }
}

fn start_cluster() -> Result<Cluster, String> {
    let bin = pg_bin()?;
    let prefix = run_as()?;
    // Kept rather than deleted on drop: the static is never dropped, and the wrapper
    // deletes it after stopping the server.
    let dir = tempfile::Builder::new()
        .prefix("sluice-store-pg-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?
        .keep();
    let started = spawn_cluster(&bin, &prefix, &dir);
    if started.is_err() {
        // The wrapper only cleans up after a server it started.
        let _ = std::fs::remove_dir_all(&dir);
    }
    started
}

fn spawn_cluster(bin: &Path, prefix: &[String], dir: &Path) -> Result<Cluster, String> {
    std::fs::create_dir(dir.join("sockets")).map_err(|e| format!("socket directory: {e}"))?;
    if !prefix.is_empty() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir)
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !status.success() {
            return Err(format!("chown of {} failed", dir.display()));
        }
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    // Everything happens in the wrapper, initdb included, so that a test binary killed at
    // any point still leaves nothing behind: `cat` returns when our end of its standard
    // input closes (this process is gone), then the server stops at once (immediate
    // shutdown, children included) and the directory goes. `pg_ctl start` returns once the
    // server is up, so the stop never races its start (a postmaster still starting would
    // miss the signal).
    let script = r#"
        bin=$1 dir=$2 port=$3 user=$4
        "$bin/initdb" -D "$dir/data" -U "$user" --auth-host=trust --auth-local=trust \
            -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || exit 1
        "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -o "-k $dir/sockets \
            -h 127.0.0.1 -p $port -c fsync=off -c synchronous_commit=off \
            -c full_page_writes=off -c max_connections=300 -c shared_buffers=16MB" \
            start >/dev/null 2>&1 || exit 1
        cat >/dev/null
        "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
        rm -rf "$dir"
    "#;
    let mut wrapper = command(prefix, Path::new("sh"))
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(bin)
        .arg(dir)
        .arg(port.to_string())
        .arg(USER)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the PostgreSQL wrapper: {e}"))?;
    let lifeline = wrapper
        .stdin
        .take()
        .ok_or("the wrapper's standard input is missing")?;
    let logs = || {
        ["initdb.log", "postgres.log"]
            .iter()
            .map(|name| {
                let mut text = String::new();
                let _ = std::fs::File::open(dir.join(name))
                    .and_then(|mut f| f.read_to_string(&mut text));
                format!("{name}:\n{text}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Ready once it accepts connections: a second or two for initdb, less to start.
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = wrapper.try_wait() {
            return Err(format!(
                "PostgreSQL did not start ({status}) with {}:\n{}",
                bin.display(),
                logs()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!("PostgreSQL did not start in time:\n{}", logs()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Cluster {
        port,
        _lifeline: Mutex::new(lifeline),
        _wrapper: Mutex::new(wrapper),
    })
}
