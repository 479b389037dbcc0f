//! A throwaway PostgreSQL server in a directory of ours, for `sluice demo`, the tests and the
//! benchmarks: initdb, a free loopback port, SCRAM on TCP, no Unix socket. When sluice runs as
//! root (containers, CI), the server runs as the `postgres` system user, since PostgreSQL
//! refuses to run as root.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// Roles every scratch server has, one per upstream login method sluice supports.
pub const SCRAM_ROLE: &str = "sluice_scram";
pub const MD5_ROLE: &str = "sluice_md5";
pub const CLEARTEXT_ROLE: &str = "sluice_cleartext";

pub struct ScratchPostgres {
    pub port: u16,
    pub superuser_password: String,
    dir: PathBuf,
    bindir: PathBuf,
    owner: Option<(u32, u32)>,
    server: Child,
}

impl ScratchPostgres {
    /// Creates a cluster in `dir/pgdata` and starts it. Blocks until it accepts connections.
    /// `dir` is scratch: it is removed when the server stops, even if this process is killed.
    pub fn start(dir: &Path, superuser_password: &str) -> Result<ScratchPostgres> {
        let bindir = find_bindir()?;
        let owner = server_owner()?;
        std::fs::create_dir_all(dir)?;
        let data = dir.join("pgdata");
        let pwfile = dir.join("pg-superuser-password");
        std::fs::write(&pwfile, superuser_password)?;
        if let Some((uid, gid)) = owner {
            allow_traversal(dir.parent())?;
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid))?;
        }
        let mut initdb = Command::new(bindir.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()));
        run_quiet(as_owner(&mut initdb, owner)).context("initdb failed")?;
        let _ = std::fs::remove_file(&pwfile);
        std::fs::write(
            data.join("pg_hba.conf"),
            format!(
                "host all {MD5_ROLE} 127.0.0.1/32 md5\n\
                 host all {CLEARTEXT_ROLE} 127.0.0.1/32 password\n\
                 host all all 127.0.0.1/32 scram-sha-256\n"
            ),
        )?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(data.join("pg_hba.conf"), Some(uid), Some(gid))?;
        }
        let port = free_port()?;
        let server = spawn_server(&bindir, &data, dir, port, owner)?;
        spawn_orphan_guard(&data, dir)?;
        let pg = ScratchPostgres {
            port,
            superuser_password: superuser_password.to_owned(),
            dir: dir.to_owned(),
            bindir,
            owner,
            server,
        };
        pg.wait_ready()?;
        Ok(pg)
    }

    /// Stops the server (a fast shutdown: every connection ends); `start_again` brings it back.
    pub fn stop(&mut self) {
        // SIGINT is PostgreSQL's fast shutdown: backends end, the server exits cleanly.
        let _ = Command::new("kill")
            .args(["-INT", &self.server.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.server.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }

    /// Starts a server stopped with `stop` again, on the same port with the same data.
    pub fn start_again(&mut self) -> Result<()> {
        self.server = spawn_server(
            &self.bindir,
            &self.dir.join("pgdata"),
            &self.dir,
            self.port,
            self.owner,
        )?;
        self.wait_ready()
    }

    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let ok = Command::new(self.bindir.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
        bail!("postgres did not become ready; its log:\n{log}")
    }

    /// Runs SQL as the superuser through psql, failing on the first error.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String> {
        let out = Command::new(self.bindir.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
            ])
            .args(["-p", &self.port.to_string(), "-d", database, "-c", sql])
            .env("PGPASSWORD", &self.superuser_password)
            .env_remove("PGSERVICE")
            .output()?;
        if !out.status.success() {
            bail!("psql failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Creates the three login roles (SCRAM, MD5, cleartext) with `password`, and a database
    /// `database` owned by the SCRAM role.
    pub fn create_roles_and_database(&self, password: &str, database: &str) -> Result<()> {
        let pw = password.replace('\'', "''");
        self.psql(
            "postgres",
            &format!(
                "SET password_encryption = 'scram-sha-256';
                 CREATE ROLE {SCRAM_ROLE} LOGIN PASSWORD '{pw}';
                 CREATE ROLE {CLEARTEXT_ROLE} LOGIN PASSWORD '{pw}';
                 SET password_encryption = 'md5';
                 CREATE ROLE {MD5_ROLE} LOGIN PASSWORD '{pw}';
                 GRANT {SCRAM_ROLE} TO {MD5_ROLE}, {CLEARTEXT_ROLE};"
            ),
        )?;
        self.psql(
            "postgres",
            &format!("CREATE DATABASE {database} OWNER {SCRAM_ROLE}"),
        )?;
        Ok(())
    }

    /// Turns on TLS by configuration reload, with a certificate for `localhost` and `127.0.0.1`
    /// signed by a fresh CA (openssl CLI). Returns the CA certificate's path.
    pub fn enable_tls(&self) -> Result<PathBuf> {
        let data = self.dir.join("pgdata");
        let (crt, key) = (data.join("server.crt"), data.join("server.key"));
        let ca_crt = issue_localhost_cert(&self.dir, &crt, &key)?;
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(&crt, Some(uid), Some(gid))?;
            std::os::unix::fs::chown(&key, Some(uid), Some(gid))?;
        }
        self.psql("postgres", "ALTER SYSTEM SET ssl = on")?;
        self.psql("postgres", "SELECT pg_reload_conf()")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.psql("postgres", "SHOW ssl")?.trim() != "on" {
            if Instant::now() > deadline {
                bail!("postgres did not turn TLS on");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(ca_crt)
    }

    /// A libpq URL straight to the server, bypassing sluice.
    pub fn direct_url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgresql://{user}:{password}@127.0.0.1:{}/{database}",
            self.port
        )
    }
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `postgres` on `data`, logging to `dir/postgres.log`.
fn spawn_server(
    bindir: &Path,
    data: &Path,
    dir: &Path,
    port: u16,
    owner: Option<(u32, u32)>,
) -> Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("postgres.log"))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(dir.join("postgres.log"), Some(uid), Some(gid))?;
    }
    let mut postgres = Command::new(bindir.join("postgres"));
    postgres
        .arg("-D")
        .arg(data)
        .arg("-p")
        .arg(port.to_string())
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
        ])
        .arg(format!("max_connections={}", max_connections()))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    as_owner(&mut postgres, owner)
        .spawn()
        .context("could not start postgres")
}

/// Stops the server and removes its scratch directory if this process dies without running
/// `Drop` (kill -9, a test binary's statics, a panic in a signal handler): a watcher polls our pid,
/// then sends a fast shutdown to whichever server runs on `data` then (its pid file says: the
/// server may have been restarted since), waits a bounded time for it to exit, and deletes
/// `dir`. Without it every test binary would leave a 46 MB cluster behind, and a CI disk fills up.
fn spawn_orphan_guard(data: &Path, dir: &Path) -> Result<()> {
    const SCRIPT: &str = r#"
while kill -0 "$1" 2>/dev/null; do sleep 1; done
pid=$(head -n 1 "$2/postmaster.pid" 2>/dev/null)
# Only a postgres: a stale pid file may name a process that reused the number.
if [ -n "$pid" ] && grep -q postgres "/proc/$pid/cmdline" 2>/dev/null; then
  kill -INT "$pid" 2>/dev/null
  n=0
  while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
  kill -KILL "$pid" 2>/dev/null
fi
rm -rf -- "$3"
"#;
    Command::new("sh")
        .args(["-c", SCRIPT, "sluice-pg-guard"])
        .arg(std::process::id().to_string())
        .arg(data)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("could not start the orphan guard")?;
    Ok(())
}

/// Writes a server certificate for `localhost` and `127.0.0.1` to `crt` (its key, mode 0600, to
/// `key`), signed by a CA made for it alone in `dir` (openssl CLI). Returns the CA certificate's
/// path, which clients trust. Shared by the scratch servers so that every test database's TLS
/// is set up, and verified by clients, the same way.
pub(crate) fn issue_localhost_cert(dir: &Path, crt: &Path, key: &Path) -> Result<PathBuf> {
    let (ca_crt, ca_key) = (dir.join("ca.crt"), dir.join("ca.key"));
    let csr = dir.join("server.csr");
    let ext = dir.join("server.ext");
    std::fs::write(&ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\n")?;
    let openssl = |args: &[&str], paths: &[&Path]| {
        run_quiet(Command::new("openssl").args(args).args(paths))
            .context("openssl could not create the test certificates")
    };
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=sluice scratch CA",
            "-keyout",
        ],
        &[&ca_key, Path::new("-out"), &ca_crt],
    )?;
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ],
        &[key, Path::new("-out"), &csr],
    )?;
    openssl(
        &["x509", "-req", "-days", "2", "-CAcreateserial", "-in"],
        &[
            &csr,
            Path::new("-CA"),
            &ca_crt,
            Path::new("-CAkey"),
            &ca_key,
            Path::new("-extfile"),
            &ext,
            Path::new("-out"),
            crt,
        ],
    )?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600))?;
    Ok(ca_crt)
}

/// How many connections the scratch server accepts: 200, or `$SLUICE_SCRATCH_MAX_CONNECTIONS`
/// (benchmarks that hold thousands of sessions open; the demo's gateway follows it too).
pub fn max_connections() -> u32 {
    std::env::var("SLUICE_SCRATCH_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(200)
}

/// The PostgreSQL server binaries: `$SLUICE_PG_BINDIR`, `pg_config --bindir`, or the newest
/// `/usr/lib/postgresql/*/bin` (Debian's layout).
pub fn find_bindir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("SLUICE_PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    bail!(
        "PostgreSQL server binaries not found: install postgresql (Debian) or set SLUICE_PG_BINDIR"
    )
}

/// The uid/gid to run PostgreSQL as when we are root; `None` when we are not root.
fn server_owner() -> Result<Option<(u32, u32)>> {
    system_user_if_root("postgres", "postgresql")
}

/// The uid/gid of the system user `name` (created by the Debian package `package`) when this
/// process is root, for servers that refuse to run as root; `None` when we are not root.
pub(crate) fn system_user_if_root(name: &str, package: &str) -> Result<Option<(u32, u32)>> {
    // /proc/self belongs to the effective user: a safe way to learn it without libc.
    if std::fs::metadata("/proc/self")?.uid() != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    let line = passwd
        .lines()
        .find(|l| l.split(':').next() == Some(name))
        .ok_or_else(|| {
            anyhow!("running as root needs the '{name}' system user (Debian package {package})")
        })?;
    let fields: Vec<&str> = line.split(':').collect();
    let uid = fields
        .get(2)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| anyhow!("bad /etc/passwd entry"))?;
    let gid = fields
        .get(3)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| anyhow!("bad /etc/passwd entry"))?;
    Ok(Some((uid, gid)))
}

/// The server's user must be able to walk into our (often 0700 temporary) parent directory.
pub(crate) fn allow_traversal(parent: Option<&Path>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
        let mut perms = std::fs::metadata(p)?.permissions();
        if perms.mode() & 0o001 == 0 {
            perms.set_mode(perms.mode() | 0o011);
            std::fs::set_permissions(p, perms)?;
        }
    }
    Ok(())
}

pub(crate) fn as_owner(cmd: &mut Command, owner: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
        cmd.env("HOME", "/tmp");
    }
    cmd.current_dir("/")
}

pub(crate) fn run_quiet(cmd: &mut Command) -> Result<()> {
    let out = cmd.output()?;
    if !out.status.success() {
        bail!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
