//! A throwaway OpenSSH server in a directory of ours, for `sluice demo`, the tests and the
//! benchmarks: its own host key, a free loopback port, public-key authentication only, and one
//! client key pair, the target key, which only sluice holds in the demo.
//!
//! An sshd that is not root can only log in the user it runs as, so the target account is the
//! current user. Under root (containers, CI) sshd insists on its privilege separation directory,
//! /run/sshd, which Debian's service creates when it starts rather than the package; a scratch
//! sshd that is never run as a service finds it missing, so under root we create it the same
//! way (empty, root's, 0755). Without root it is not consulted at all, but then sshd can give a
//! session a terminal only where new terminals belong to the tty group already (see
//! `ptys_available`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::scratch_mariadb::login_name;
use crate::scratch_pg::{free_port, run_quiet};

/// The server and the key tool, as Debian's openssh-server and openssh-client install them.
const SSHD: &str = "/usr/sbin/sshd";
const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";
/// Compiled into Debian's sshd; checked only when it runs as root.
const PRIVSEP_DIR: &str = "/run/sshd";
const HOST_KEY: &str = "ssh_host_ed25519_key";
const TARGET_KEY: &str = "target_ed25519";

pub struct ScratchSshd {
    port: u16,
    dir: PathBuf,
    user: String,
    as_root: bool,
    host_public_key: String,
    host_key_fingerprint: String,
    server: Child,
}

/// Whether Debian's OpenSSH server and key tool are installed here.
pub fn installed() -> bool {
    Path::new(SSHD).exists() && Path::new(SSH_KEYGEN).exists()
}

impl ScratchSshd {
    /// Writes host keys, the target key pair and a configuration into `dir`, and starts sshd on
    /// it. Blocks until the server greets. `dir` is scratch: it is removed when the server
    /// stops, even if this process is killed.
    pub fn start(dir: &Path) -> Result<ScratchSshd> {
        if !installed() {
            bail!("OpenSSH not found ({SSHD}, {SSH_KEYGEN}): install openssh-server (Debian)");
        }
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        // The private keys are in here.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let as_root = std::fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
            .unwrap_or(false);
        if as_root {
            ensure_privsep_dir()?;
        }
        let user = login_name()?;

        let host_key = dir.join(HOST_KEY);
        let host_public_key = generate(&host_key, "sluice scratch sshd host key")?
            .split_whitespace()
            // Pinning compares the key, not ssh-keygen's comment.
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let host_key_fingerprint = fingerprint(&host_key.with_extension("pub"))?;
        let (_, target_public) = keygen(&dir, TARGET_KEY)?;
        std::fs::write(dir.join("authorized_keys"), format!("{target_public}\n"))?;

        let port = free_port()?;
        let config = dir.join("sshd_config");
        std::fs::write(&config, config_text(&dir, port)?)?;
        let log = std::fs::File::create(dir.join("sshd.log"))?;
        // -D: stay in the foreground, so that this Child is the server; -e: log to stderr.
        let server = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("could not start sshd")?;
        spawn_orphan_guard(server.id(), &dir)?;
        let mut sshd = ScratchSshd {
            port,
            dir,
            user,
            as_root,
            host_public_key,
            host_key_fingerprint,
            server,
        };
        sshd.wait_ready()?;
        Ok(sshd)
    }

    /// Waits until the server sends its identification string, which it does only once it
    /// listens with its keys loaded.
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if greets(self.port) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.server.try_wait() {
                bail!(
                    "sshd exited ({status}) before it was ready; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("sshd did not become ready; its log:\n{}", self.log())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The account the target key logs in to: the user this process runs as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The target key's private half (mode 0600).
    pub fn key_file(&self) -> PathBuf {
        self.dir.join(TARGET_KEY)
    }

    /// The host key's public line, `ssh-ed25519 AAAA...`, without a comment, for pinning.
    pub fn host_public_key(&self) -> &str {
        &self.host_public_key
    }

    /// The host key's fingerprint as ssh prints it, `SHA256:...`.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.host_key_fingerprint
    }

    /// A known_hosts line naming this server by address and port, as ssh looks it up.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_public_key)
    }

    /// Whether sessions can have a terminal (`ssh -t`). sshd hands a new pseudo-terminal to
    /// its user and the `tty` group, and fails the session if it cannot; a non-root sshd can
    /// only when the kernel already gives new terminals that group (devpts mounted with
    /// `gid=5`, as on a normal Debian host; not in many containers, whose /dev/pts has no
    /// `gid=`). Under root it always can.
    pub fn ptys_available(&self) -> bool {
        if self.as_root {
            return true;
        }
        let tty_gid = std::fs::read_to_string("/etc/group")
            .ok()
            .and_then(|groups| {
                groups
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.first() == Some(&"tty"))
                    .and_then(|f| f.get(2).map(|g| g.to_string()))
            });
        let Some(tty_gid) = tty_gid else {
            // Without a tty group sshd keeps the user's own group, which it may set.
            return true;
        };
        std::fs::read_to_string("/proc/self/mounts")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("/dev/pts"))
            .any(|l| {
                l.split_whitespace()
                    .nth(3)
                    .is_some_and(|o| o.split(',').any(|o| o == format!("gid={tty_gid}")))
            })
    }

    /// The scratch directory (configuration, keys, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What sshd has logged so far (LogLevel VERBOSE), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// Lets the key whose public line is `public_line` log in too. sshd reads authorized_keys
    /// at each authentication, so it takes effect at once.
    pub fn add_authorized_key(&self, public_line: &str) -> Result<()> {
        let line = public_line.trim();
        if line.is_empty() || line.contains(['\n', '\r']) {
            bail!("not a single public key line: {public_line:?}");
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("authorized_keys"))?;
        file.write_all(format!("{line}\n").as_bytes())?;
        Ok(())
    }

    /// Stops the listener and every connection it forked. Connections are collected first:
    /// sshd puts each in a session of its own, so they outlive the listener otherwise.
    fn stop(&mut self) {
        let mut pids = descendants(self.server.id());
        pids.insert(0, self.server.id());
        signal("-TERM", &pids);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.server.try_wait(), Ok(Some(_))) && pids[1..].iter().all(|p| !alive(*p))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        signal("-KILL", &pids[1..]);
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl Drop for ScratchSshd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Makes a fresh ed25519 key pair without a passphrase, `dir/name` (mode 0600) and
/// `dir/name.pub`, for an identity or a target. Returns the private key's path and the public
/// line (`ssh-ed25519 AAAA... name`). Refuses to overwrite a key.
pub fn keygen(dir: &Path, name: &str) -> Result<(PathBuf, String)> {
    if name.is_empty()
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        bail!("not a key file name: {name:?}");
    }
    let private = dir.join(name);
    if private.exists() || private.with_extension("pub").exists() {
        bail!("{} already exists", private.display());
    }
    let public = generate(&private, name)?;
    Ok((private, public))
}

/// Runs ssh-keygen for an ed25519 pair at `private`; returns the public line.
fn generate(private: &Path, comment: &str) -> Result<String> {
    run_quiet(
        Command::new(SSH_KEYGEN)
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(private)
            .stdin(Stdio::null()),
    )
    .with_context(|| format!("ssh-keygen could not make {}", private.display()))?;
    // ssh refuses a private key others can read; ssh-keygen's umask handling already does this,
    // but the demo hands the file to other tools, so it is stated rather than assumed.
    std::fs::set_permissions(private, std::fs::Permissions::from_mode(0o600))?;
    let public = std::fs::read_to_string(private.with_extension("pub"))?;
    let public = public.trim();
    if public.split_whitespace().count() < 2 || public.contains('\n') {
        bail!("ssh-keygen wrote an unexpected public key: {public:?}");
    }
    Ok(public.to_owned())
}

/// `SHA256:...` of a public key file.
fn fingerprint(public: &Path) -> Result<String> {
    let out = Command::new(SSH_KEYGEN)
        .args(["-E", "sha256", "-l", "-f"])
        .arg(public)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!(
            "ssh-keygen -l failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .context("ssh-keygen -l printed no fingerprint")
}

fn config_text(dir: &Path, port: u16) -> Result<String> {
    let path = |name: &str| -> Result<String> {
        let p = dir.join(name);
        let s = p
            .to_str()
            .with_context(|| format!("{} is not UTF-8", p.display()))?;
        if s.contains(['"', '\n', '\r']) {
            bail!("{s:?} cannot be written into sshd_config");
        }
        Ok(format!("\"{s}\""))
    };
    Ok(format!(
        "# Written by sluice for a scratch sshd; only this file is read (-f), never /etc/ssh.
ListenAddress 127.0.0.1
Port {port}
HostKey {host_key}
PidFile {pid}
AuthorizedKeysFile {authorized}
# No PAM: it would need root, and a scratch server must not consult the machine's logins.
UsePAM no
# The directory is a temporary one whose parents' modes are not ours to vouch for.
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
# Under root the target account is root; keys only, as for every account here.
PermitRootLogin prohibit-password
AllowTcpForwarding yes
AllowAgentForwarding yes
X11Forwarding no
PermitTTY yes
# In-process, so it needs no helper binary and works without root.
Subsystem sftp internal-sftp
AcceptEnv LANG LC_*
# A clean screen for the terminal tests: no message of the day, no last-login line.
PrintMotd no
PrintLastLog no
UseDNS no
LogLevel VERBOSE
# Benchmarks and tests open many connections at once; the default 10:30:100 drops some.
MaxStartups 100:30:200
MaxSessions 50
",
        host_key = path(HOST_KEY)?,
        pid = path("sshd.pid")?,
        authorized = path("authorized_keys")?,
    ))
}

/// Whether something on 127.0.0.1:`port` speaks SSH first.
fn greets(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).is_ok() && &head == b"SSH-"
}

/// Creates /run/sshd as Debian's service does before it starts sshd.
fn ensure_privsep_dir() -> Result<()> {
    let dir = Path::new(PRIVSEP_DIR);
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| {
        format!("sshd under root needs {PRIVSEP_DIR} (its privilege separation directory)")
    })?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Every process below `root`, from /proc, parents before children.
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // The command name in parentheses may hold spaces; the fields after it do not.
            let rest = stat.get(stat.rfind(')')? + 1..)?;
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    // Bounded by the number of processes: each is added at most once.
    while i < found.len() && found.len() <= parents.len() + 1 {
        let parent = found[i];
        for (pid, ppid) in &parents {
            if *ppid == parent && !found.contains(pid) {
                found.push(*pid);
            }
        }
        i += 1;
    }
    found.remove(0);
    found
}

fn alive(pid: u32) -> bool {
    // A zombie has no cmdline left; it is gone for our purposes.
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| !c.is_empty())
        .unwrap_or(false)
}

fn signal(sig: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(sig)
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Stops the server and its connections and removes its scratch directory if this process dies
/// without running `Drop`: a watcher polls our pid, and once it is gone signals the listener's
/// children (one per connection) and the listener, waits a bounded time, then deletes `dir`.
fn spawn_orphan_guard(server_pid: u32, dir: &Path) -> Result<()> {
    const SCRIPT: &str = r#"
while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
kill -0 "$2" 2>/dev/null || exit 0
pkill -TERM -P "$2" 2>/dev/null
kill -TERM "$2" 2>/dev/null
n=0
while kill -0 "$2" 2>/dev/null && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
kill -KILL "$2" 2>/dev/null
rm -rf -- "$3"
"#;
    Command::new("sh")
        .args(["-c", SCRIPT, "sluice-sshd-guard"])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_refuses_odd_names_and_overwriting() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(keygen(tmp.path(), "../x").is_err());
        assert!(keygen(tmp.path(), ".hidden").is_err());
        let (private, public) = keygen(tmp.path(), "alice").unwrap();
        assert!(public.starts_with("ssh-ed25519 AAAA"), "{public}");
        assert!(public.ends_with(" alice"), "{public}");
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(keygen(tmp.path(), "alice").is_err());
    }
}
