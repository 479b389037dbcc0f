//! A throwaway MariaDB server in a directory of ours, for `sluice demo`, the tests and the
//! benchmarks: `mariadb-install-db`, a free loopback port, real account authentication on TCP,
//! and a Unix socket inside the directory on which only the local administrator gets in. When
//! sluice runs as root (containers, CI), the server runs as the `mysql` system user, as Debian's
//! own service does, so that a test never runs a database server as root.

use std::ffi::OsString;
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::scratch_pg::{
    allow_traversal, as_owner, free_port, issue_localhost_cert, run_quiet, system_user_if_root,
};

/// The server and the installer, as Debian's mariadb-server-core installs them.
const MARIADBD: &str = "/usr/sbin/mariadbd";
const INSTALL_DB: &str = "/usr/bin/mariadb-install-db";
/// The plugin `create_user` gives an account unless told otherwise: the one every MySQL and
/// MariaDB client speaks.
pub const NATIVE_PASSWORD: &str = "mysql_native_password";

/// Sizes that keep a scratch server's files and start-up small; a scratch database holds a few
/// rows, and the defaults (a 96 MB redo log, a 128 MB buffer pool) would cost a second and
/// hundreds of megabytes per test.
const SMALL_INNODB: [&str; 2] = ["--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M"];

pub struct ScratchMariaDb {
    pub port: u16,
    dir: PathBuf,
    /// The account `sql` connects as over the socket: `root` when we are root, otherwise our own
    /// login name. It is authenticated by the socket's peer (unix_socket), so it has no password
    /// and cannot be used over TCP at all.
    admin_user: String,
    owner: Option<(u32, u32)>,
    /// What `mariadbd` is started with, so that `enable_tls` can restart it the same way.
    args: Vec<OsString>,
    server: Child,
}

/// Whether Debian's MariaDB server is installed here (the demo starts one only then).
pub fn installed() -> bool {
    Path::new(MARIADBD).exists() && Path::new(INSTALL_DB).exists()
}

impl ScratchMariaDb {
    /// Creates a data directory in `dir/data` and starts a server on it. Blocks until it accepts
    /// connections. `dir` is scratch: it is removed when the server stops, even if this process
    /// is killed.
    pub fn start(dir: &Path) -> Result<ScratchMariaDb> {
        if !installed() {
            bail!("MariaDB not found ({MARIADBD}): install mariadb-server (Debian)");
        }
        let owner = system_user_if_root("mysql", "mariadb-server")?;
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        let socket = dir.join("mariadb.sock");
        // sun_path holds 108 bytes; past that mariadbd fails with a message only its log shows.
        if socket.as_os_str().len() > 100 {
            bail!(
                "{} is too long a path for a Unix socket; use a shorter directory",
                socket.display()
            );
        }
        let data = dir.join("data");
        let files = dir.join("files");
        std::fs::create_dir_all(&files)?;
        {
            use std::os::unix::fs::PermissionsExt;
            // The administrator's socket is in here and needs no password: nobody else may
            // reach it.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        if let Some((uid, gid)) = owner {
            allow_traversal(dir.parent())?;
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
            std::os::unix::fs::chown(&files, Some(uid), Some(gid))?;
        }
        let admin_user = match owner {
            Some(_) => "root".to_owned(),
            None => login_name()?,
        };

        let mut install = Command::new(INSTALL_DB);
        // --no-defaults first: the machine's /etc/mysql must not shape a scratch server.
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--skip-test-db", "--skip-name-resolve"])
            // Passed on to the bootstrap server: its temporary tables stay in the scratch
            // directory (in the shared /tmp, parallel starts were seen to fail on them).
            .arg(format!("--tmpdir={}", dir.display()))
            .arg("--auth-root-authentication-method=socket")
            .args(SMALL_INNODB);
        if owner.is_none() {
            // root@localhost is unix_socket-authenticated, which only a root client passes; a
            // non-root caller gets an administrator account of its own name instead.
            install.arg(format!("--auth-root-socket-user={admin_user}"));
        }
        run_quiet(as_owner(&mut install, owner)).context("mariadb-install-db failed")?;

        let port = free_port()?;
        let args: Vec<OsString> = vec![
            "--no-defaults".into(),
            format!("--datadir={}", data.display()).into(),
            format!("--socket={}", socket.display()).into(),
            format!("--pid-file={}", dir.join("mariadb.pid").display()).into(),
            format!("--log-error={}", dir.join("mariadb.log").display()).into(),
            format!("--tmpdir={}", dir.display()).into(),
            // LOAD DATA INFILE, SELECT ... INTO OUTFILE and LOAD_FILE stay inside the scratch
            // directory, whatever a test (or a policy under test) lets through.
            format!("--secure-file-priv={}", files.display()).into(),
            format!("--port={port}").into(),
            "--bind-address=127.0.0.1".into(),
            "--skip-networking=0".into(),
            // Accounts are matched on 127.0.0.1 as written, and no connection waits on DNS.
            "--skip-name-resolve".into(),
            "--character-set-server=utf8mb4".into(),
            "--max-connections=200".into(),
            "--performance-schema=OFF".into(),
            // Durability is worthless for scratch data; the flushes are most of a write's cost.
            "--innodb-flush-log-at-trx-commit=0".into(),
            // Containers often forbid io_uring/libaio; the fallback is fine at this size.
            "--innodb-use-native-aio=0".into(),
        ]
        .into_iter()
        .chain(SMALL_INNODB.iter().map(OsString::from))
        .collect();
        let server = spawn_server(&args, owner)?;
        spawn_orphan_guard(server.id(), &dir)?;
        let mut db = ScratchMariaDb {
            port,
            dir,
            admin_user,
            owner,
            args,
            server,
        };
        db.wait_ready()?;
        Ok(db)
    }

    /// Waits until the server greets on its TCP port, which it opens only once it is ready.
    /// The greeting is read rather than a client run so that benchmarks need no client package.
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if greets(self.port) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.server.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("mariadb.log")).unwrap_or_default();
                bail!("mariadbd exited ({status}) before it was ready; its log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(self.dir.join("mariadb.log")).unwrap_or_default();
        bail!("mariadbd did not become ready; its log:\n{log}")
    }

    /// Runs SQL as the administrator over the Unix socket (the `mariadb` client, batch mode, no
    /// column names), failing on the first error. Returns what the client printed.
    pub fn sql(&self, database: Option<&str>, sql: &str) -> Result<String> {
        let mut cmd = Command::new("mariadb");
        cmd.arg("--no-defaults")
            .args(["--batch", "--skip-column-names", "--user"])
            .arg(&self.admin_user)
            .arg(format!(
                "--socket={}",
                self.dir.join("mariadb.sock").display()
            ));
        if let Some(db) = database {
            cmd.arg(format!("--database={db}"));
        }
        let out = cmd
            .arg("--execute")
            .arg(sql)
            .stdin(Stdio::null())
            .output()
            .context("could not run the mariadb client (Debian package mariadb-client)")?;
        if !out.status.success() {
            bail!("mariadb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Creates `user`@`127.0.0.1` with `password`, authenticated by `plugin`
    /// (`mysql_native_password` when `None`; `ed25519` is loaded first when asked for). The
    /// account has no privileges yet: see `create_database`.
    pub fn create_user(&self, user: &str, password: &str, plugin: Option<&str>) -> Result<()> {
        let plugin = plugin.unwrap_or(NATIVE_PASSWORD);
        if !plugin
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            bail!("not an authentication plugin name: {plugin:?}");
        }
        if plugin == "ed25519" {
            let loaded = self.sql(
                None,
                "SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'ed25519'",
            )?;
            if loaded.trim() == "0" {
                self.sql(None, "INSTALL SONAME 'auth_ed25519'")?;
            }
        }
        self.sql(
            None,
            &format!(
                "CREATE USER {}@'127.0.0.1' IDENTIFIED VIA {plugin} USING PASSWORD({})",
                quote(user),
                quote(password)
            ),
        )?;
        Ok(())
    }

    /// Creates `database` (utf8mb4) and grants `owner`@`127.0.0.1` every privilege on it.
    pub fn create_database(&self, database: &str, owner: &str) -> Result<()> {
        self.sql(
            None,
            &format!(
                "CREATE DATABASE {db} CHARACTER SET utf8mb4;
                 GRANT ALL PRIVILEGES ON {db}.* TO {}@'127.0.0.1';",
                quote(owner),
                db = ident(database)
            ),
        )?;
        Ok(())
    }

    /// Restarts the server with TLS, with a certificate for `localhost` and `127.0.0.1` signed
    /// by a fresh CA (openssl CLI), on the same port. Returns the CA certificate's path.
    /// MariaDB reads its certificate only at start-up (or on FLUSH SSL, which cannot turn TLS on
    /// in a server started without it), hence the restart.
    pub fn enable_tls(&mut self) -> Result<PathBuf> {
        let (crt, key) = (self.dir.join("server.crt"), self.dir.join("server.key"));
        let ca = issue_localhost_cert(&self.dir, &crt, &key)?;
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(&crt, Some(uid), Some(gid))?;
            std::os::unix::fs::chown(&key, Some(uid), Some(gid))?;
        }
        self.stop();
        self.args
            .push(format!("--ssl-cert={}", crt.display()).into());
        self.args
            .push(format!("--ssl-key={}", key.display()).into());
        self.args.push(format!("--ssl-ca={}", ca.display()).into());
        self.server = spawn_server(&self.args, self.owner)?;
        spawn_orphan_guard(self.server.id(), &self.dir)?;
        self.wait_ready()?;
        let have_ssl = self.sql(None, "SELECT @@have_ssl")?;
        if have_ssl.trim() != "YES" {
            bail!(
                "mariadbd restarted without TLS (have_ssl = {})",
                have_ssl.trim()
            );
        }
        Ok(ca)
    }

    /// A MySQL URL straight to the server, bypassing sluice.
    pub fn direct_url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "mysql://{user}:{password}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// Stops the server: SIGTERM is mariadbd's clean shutdown. Bounded; then SIGKILL.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.server.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.server.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl Drop for ScratchMariaDb {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn_server(args: &[OsString], owner: Option<(u32, u32)>) -> Result<Child> {
    let mut mariadbd = Command::new(MARIADBD);
    mariadbd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    as_owner(&mut mariadbd, owner)
        .spawn()
        .context("could not start mariadbd")
}

/// Whether a MySQL-protocol server on 127.0.0.1:`port` answers with a packet. It may be the
/// greeting (protocol version 10) or an error: until an account names 127.0.0.1 the server
/// refuses the host (1130) before greeting. Either comes only once start-up is over, since
/// connections that arrive earlier wait in the listen queue.
fn greets(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && (head[4] == 10 || head[4] == 0xff)
}

/// Stops the server and removes its scratch directory if this process dies without running
/// `Drop`: a watcher polls our pid, sends SIGTERM, waits a bounded time for the server to exit,
/// then deletes `dir`. Otherwise every killed test binary would leave a data directory behind.
/// A server that exits first (`Drop`, or `enable_tls` restarting it under a new guard) leaves
/// the directory alone: its owner is still alive and may still be using it.
fn spawn_orphan_guard(server_pid: u32, dir: &Path) -> Result<()> {
    const SCRIPT: &str = r#"
while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
kill -0 "$2" 2>/dev/null || exit 0
kill -TERM "$2" 2>/dev/null
n=0
while kill -0 "$2" 2>/dev/null && [ "$n" -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
kill -KILL "$2" 2>/dev/null
rm -rf -- "$3"
"#;
    Command::new("sh")
        .args(["-c", SCRIPT, "sluice-mariadb-guard"])
        .arg(std::process::id().to_string())
        .arg(server_pid.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("could not start the orphan guard")?;
    Ok(())
}

/// Our login name, which a non-root caller's MariaDB administrator account is named after,
/// and the account a scratch sshd logs in to.
pub(crate) fn login_name() -> Result<String> {
    let uid = std::fs::metadata("/proc/self")?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2).and_then(|u| u.parse::<u32>().ok()) == Some(uid))
        .and_then(|f| f.first().map(|n| n.to_string()))
        .ok_or_else(|| anyhow!("uid {uid} has no /etc/passwd entry to name an account after"))
}

/// A MariaDB string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A MariaDB identifier.
fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}
