//! The SSH side of the harness: one scratch sshd per test binary, and the real OpenSSH clients
//! (ssh, scp, sftp, rsync over ssh, sshpass for password logins, an interactive ssh in a tmux
//! pseudo-terminal) pointed at any port, so that the same helpers drive the scratch sshd
//! directly and sluice's SSH listener. Every client runs with a deadline; everything started is
//! stopped on Drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sluice::scratch_sshd::ScratchSshd;

use super::Harness;

/// How long any one client command may take before the test fails.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

static SHARED: OnceLock<ScratchSshd> = OnceLock::new();

/// The scratch sshd shared by all tests of this binary, started on first use. A static is
/// never dropped: the server's orphan guard stops it, and removes its directory, once the
/// binary exits. The directory is the temporary one itself, so nothing is left behind.
pub fn sshd() -> &'static ScratchSshd {
    SHARED.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("sluice-test-ssh-")
            .tempdir()
            .unwrap()
            .keep();
        ScratchSshd::start(&dir).unwrap()
    })
}

/// `user@127.0.0.1`.
pub fn destination(user: &str) -> String {
    format!("{user}@127.0.0.1")
}

/// `user@127.0.0.1:path`, for scp and rsync.
pub fn remote(user: &str, path: impl AsRef<Path>) -> String {
    format!("{user}@127.0.0.1:{}", path.as_ref().display())
}

/// The options every client gets: no prompts, no host key memory, quiet, only the key given,
/// bounded connection set-up. No port: ssh takes `-p`, scp and sftp `-P`.
pub fn common_opts(key: Option<&Path>) -> Vec<String> {
    let mut opts: Vec<String> = [
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "ConnectTimeout=10",
        // No agent: the machine's keys must not take part in a test's authentication.
        "-o",
        "IdentityAgent=none",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(key) = key {
        opts.push("-i".into());
        opts.push(key.display().to_string());
    }
    opts
}

/// The same options pinning the server's host key: only `known_hosts` is consulted, and a
/// server whose key is not in it is refused.
pub fn pinned_opts(key: &Path, known_hosts: &Path) -> Vec<String> {
    let mut opts = common_opts(Some(key));
    for o in opts.iter_mut() {
        if o == "StrictHostKeyChecking=no" {
            *o = "StrictHostKeyChecking=yes".into();
        } else if o == "UserKnownHostsFile=/dev/null" {
            *o = format!("UserKnownHostsFile={}", known_hosts.display());
        }
    }
    opts
}

/// `ssh` to `user@127.0.0.1:port` with `key`. `extra` follows the destination: ssh takes
/// options there too (`-tt`, `-N`, `-L ...`) up to the first word that is not one, the remote
/// command.
pub fn ssh_cmd(port: u16, user: &str, key: &Path, extra: &[&str]) -> Command {
    ssh_cmd_opts(port, user, common_opts(Some(key)), extra)
}

/// `ssh` that trusts only the host keys in `known_hosts` (StrictHostKeyChecking=yes).
pub fn ssh_cmd_pinned(
    port: u16,
    user: &str,
    key: &Path,
    known_hosts: &Path,
    command: &[&str],
) -> Command {
    ssh_cmd_opts(port, user, pinned_opts(key, known_hosts), command)
}

fn ssh_cmd_opts(port: u16, user: &str, opts: Vec<String>, command: &[&str]) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.args(opts)
        .arg("-p")
        .arg(port.to_string())
        .arg(destination(user))
        .args(command)
        .stdin(Stdio::null());
    cmd
}

/// A known_hosts file in `dir` holding `line` (`[127.0.0.1]:PORT ssh-ed25519 AAAA...`).
pub fn write_known_hosts(dir: &Path, line: &str) -> PathBuf {
    let path = dir.join("known_hosts");
    std::fs::write(&path, format!("{line}\n")).unwrap();
    path
}

/// `scp` with `key` on `port`; `args` are scp's own (`-O`, `-r`) then sources and target, the
/// remote ones written with `remote`.
pub fn scp_cmd(port: u16, key: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("scp");
    cmd.args(common_opts(Some(key)))
        .arg("-P")
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// `sftp` in batch mode running `batch` (one command a line; a failing command fails the run
/// unless prefixed with `-`). The batch file is written into `dir`, the test's own.
pub fn sftp_batch(dir: &Path, port: u16, user: &str, key: &Path, batch: &str) -> Output {
    static N: AtomicU32 = AtomicU32::new(0);
    let file = dir.join(format!("sftp-batch-{}", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&file, batch).unwrap();
    let mut cmd = Command::new("sftp");
    cmd.args(common_opts(Some(key)))
        .arg("-P")
        .arg(port.to_string())
        .arg("-b")
        .arg(&file)
        .arg(destination(user));
    run(&mut cmd)
}

/// `rsync` over ssh with `key` on `port`; `args` are rsync's own, then sources and target.
pub fn rsync_cmd(port: u16, key: &Path, args: &[&str]) -> Command {
    // rsync splits -e on whitespace: the temporary paths in it have none.
    let shell = std::iter::once("ssh".to_owned())
        .chain(common_opts(Some(key)))
        .chain(["-p".to_owned(), port.to_string()])
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("rsync");
    cmd.arg("-e").arg(shell).args(args).stdin(Stdio::null());
    cmd
}

/// `ssh` logging in with `password` (a sluice token), typed by sshpass. The password goes in
/// sshpass's environment (`-e`), never in an argument another user could read in `ps`.
pub fn ssh_password_cmd(port: u16, user: &str, password: &str, command: &[&str]) -> Command {
    let mut opts = common_opts(None);
    for o in opts.iter_mut() {
        if o == "BatchMode=yes" {
            // Batch mode forbids the password prompt sshpass answers.
            *o = "BatchMode=no".into();
        }
    }
    opts.extend(
        [
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
            "-o",
            "NumberOfPasswordPrompts=1",
        ]
        .map(String::from),
    );
    let mut cmd = Command::new("sshpass");
    cmd.arg("-e")
        .arg("ssh")
        .args(opts)
        .arg("-p")
        .arg(port.to_string())
        .arg(destination(user))
        .args(command)
        .env("SSHPASS", password)
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to completion within `CLIENT_TIMEOUT`, capturing its output; kills it and fails
/// the test if it takes longer.
pub fn run(cmd: &mut Command) -> Output {
    run_within(cmd, CLIENT_TIMEOUT)
}

pub fn run_within(cmd: &mut Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let (out, err) = (out.join().unwrap(), err.join().unwrap());
            panic!(
                "{cmd:?} did not finish within {timeout:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Fails the test unless `out` is a success, showing what the client printed.
#[track_caller]
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A client left running (an `ssh -N -L ...`), killed on Drop.
pub struct Background(pub Child);

impl Background {
    pub fn spawn(cmd: &mut Command) -> Background {
        Background(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}")),
        )
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP echo server on 127.0.0.1, for port forwarding: each connection gets back what it
/// sends. Stopped (and joined) on Drop.
pub struct EchoServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    pub fn start() -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let flag = flag.clone();
                        conns.push(std::thread::spawn(move || echo(stream, &flag)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        EchoServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

/// Echoes until the peer closes or the server stops; the read timeout bounds each wait.
fn echo(mut stream: TcpStream, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends `payload` to 127.0.0.1:`port` and returns what comes back (the same many bytes), or
/// `None` if the port is not open yet or the answer is short; bounded by `timeout`.
pub fn echo_round_trip(port: u16, payload: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let mut stream =
        TcpStream::connect_timeout(&(std::net::Ipv4Addr::LOCALHOST, port).into(), timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.write_all(payload).ok()?;
    let mut got = vec![0u8; payload.len()];
    stream.read_exact(&mut got).ok()?;
    Some(got)
}

/// Retries `echo_round_trip` until it answers (a forward's listener opens only after the ssh
/// client has logged in), for at most `wait`.
pub fn echo_when_ready(port: u16, payload: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(got) = echo_round_trip(port, payload, Duration::from_secs(2)) {
            return Some(got);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An interactive ssh session in a real pseudo-terminal: tmux (on a server of its own) runs
/// the client in a detached 120x40 window; tests type with `send_keys`/`type_line` and read the
/// screen with `screen`. The tmux server, and with it the client, is killed on Drop. The pane
/// stays after the client exits, so that its last screen and exit status can be read.
pub struct PtyShell {
    /// Holds tmux's socket and configuration, so that nothing is left once it is removed.
    dir: tempfile::TempDir,
}

impl PtyShell {
    /// Runs `cmd`'s program with its arguments and environment (typically
    /// `ssh_cmd(.., &["-tt"])`) in the pseudo-terminal.
    pub fn start(cmd: &Command) -> PtyShell {
        let dir = tempfile::Builder::new()
            .prefix("sluice-pty-")
            .tempdir()
            .unwrap();
        // Set before the client starts, so that even an instant exit leaves its pane.
        std::fs::write(
            dir.path().join("tmux.conf"),
            "set-option -g remain-on-exit on\nset-option -g history-limit 2000\n",
        )
        .unwrap();
        let shell = PtyShell { dir };
        let mut new = shell.tmux();
        new.arg("-f")
            .arg(shell.dir.path().join("tmux.conf"))
            .args([
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "120",
                "-y",
                "40",
                "--",
                // The client's status goes to a file: tmux marks a pane dead when its
                // terminal closes but learns the status only when it reaps the child, and on
                // a loaded machine a test can ask in between.
                "sh",
                "-c",
                r#"status="$1"; shift; "$@"; echo $? > "$status.tmp"; mv "$status.tmp" "$status""#,
                "sh",
            ])
            .arg(shell.dir.path().join("status"))
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                new.env(k, v);
            }
        }
        assert_ok(&run(&mut new));
        shell
    }

    fn tmux(&self) -> Command {
        let mut cmd = Command::new("tmux");
        // A server of its own (-S): a test run inside tmux must not talk to the developer's.
        cmd.env_remove("TMUX")
            .arg("-S")
            .arg(self.dir.path().join("tmux.sock"))
            .stdin(Stdio::null());
        cmd
    }

    /// tmux key names or literal strings, as `send-keys` takes them (`"Enter"`, `"C-c"`).
    pub fn send_keys(&self, keys: &[&str]) {
        assert_ok(&run(self.tmux().args(["send-keys", "-t", "t"]).args(keys)));
    }

    /// Types `text` literally, then Enter.
    pub fn type_line(&self, text: &str) {
        assert_ok(&run(self
            .tmux()
            .args(["send-keys", "-t", "t", "-l", "--"])
            .arg(text)));
        self.send_keys(&["Enter"]);
    }

    /// What the window shows now, plus its scrollback.
    pub fn screen(&self) -> String {
        let out = run(self
            .tmux()
            .args(["capture-pane", "-p", "-J", "-S", "-2000", "-t", "t"]));
        assert_ok(&out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen until it contains `needle`; fails the test, showing the screen, after
    /// `timeout`.
    #[track_caller]
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            if Instant::now() >= deadline {
                panic!("{needle:?} did not appear within {timeout:?}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Resizes the terminal, which the client passes on as a window change.
    pub fn resize(&self, columns: u16, rows: u16) {
        assert_ok(&run(self.tmux().args([
            "resize-window",
            "-t",
            "t",
            "-x",
            &columns.to_string(),
            "-y",
            &rows.to_string(),
        ])));
    }

    /// The client's exit status once it has exited, `None` while it runs.
    pub fn exit_status(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.dir.path().join("status")).ok()?;
        Some(text.trim().parse().unwrap_or(-1))
    }

    /// Waits for the client to exit; its status, or a failed test after `timeout`.
    #[track_caller]
    pub fn wait_exit(&self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the client did not exit within {timeout:?}; the screen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for PtyShell {
    fn drop(&mut self) {
        let _ = self
            .tmux()
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

// ---- A gateway with an SSH listener in front of the scratch sshd ----

/// The identities every SSH gateway knows, each with a key pair of its own: name, kind, group.
/// `alice` replaces the base configuration's alice (a dba there).
pub const SSH_IDENTITIES: [(&str, &str, &str); 3] = [
    ("alice", "human", "developers"),
    ("dana", "human", "dba"),
    ("ci-bot", "service", "ci"),
];

/// The start of every test policy: the decision of examples/policies/decision.rego (deny wins,
/// one allow allows, the mask and approval parts of an allowing decision), connects and
/// session channels allowed. Tests add `allow`, `deny`, `approvals` and `mask_content` rules.
pub const BASE_POLICY: &str = r#"package sluice

import rego.v1

default decision := {"allow": false, "rule": "default_deny", "reasons": ["no rule allows this request"]}

decision := {"allow": false, "rule": names[0], "reasons": reasons} if {
	names := sort({d.rule | some d in deny})
	count(names) > 0
	reasons := sort({d.reason | some d in deny})
} else := object.union(object.union({"allow": true, "rule": names[0], "reasons": reasons}, mask_part), approval_part) if {
	names := sort({a.rule | some a in allow})
	count(names) > 0
	reasons := sort({a.reason | some a in allow})
}

mask_part := {"mask": {"content": [m | some m in mask_content]}} if count(mask_content) > 0 else := {}

approval_part := {"approval": [a | some a in approvals]} if count(approvals) > 0 else := {}

# Never true: the sets exist even when a test adds no rule to them.
allow contains {"rule": "never", "reason": "never"} if input.never_given
deny contains {"rule": "never", "reason": "never"} if input.never_given
approvals contains {"groups": ["nobody"], "approvals": 1, "reason": "never"} if input.never_given
mask_content contains {"detector": "never", "strategy": "redact"} if input.never_given

channel := input.request.channel if input.request.kind == "channel"

shell_command := input.request.command if input.request.kind == "command"

# A program as invoked, without its directory: /tmp/x/sudo is sudo.
program_name(p) := parts[count(parts) - 1] if parts := split(p, "/")

allow contains {"rule": "connect", "reason": "configured identities may connect"} if {
	input.request.action == "connect"
}

allow contains {"rule": "session_channel", "reason": "session channels carry what is decided on its own"} if {
	channel.type in {"session", "shell"}
}

# Reviewers list and decide held commands through the admin API.
allow contains {"rule": "admin", "reason": "tests call the admin API"} if {
	input.request.action == "admin"
}
"#;

/// Every command allowed, but for lines that mention `forbidden`.
pub const ALL_COMMANDS_POLICY: &str = r#"
allow contains {"rule": "all_commands", "reason": "tests may run any command"} if {
	shell_command
}

deny contains {"rule": "forbidden_command", "reason": sprintf("%q mentions something forbidden", [shell_command.text])} if {
	contains(shell_command.text, "forbidden")
}

# scp -O names its files on the command line; they are decided too.
allow contains {"rule": "all_files", "reason": "tests may copy any file"} if {
	input.request.kind == "file"
}
"#;

/// A gateway (the shared Harness) with an SSH listener on an ephemeral port, the targets
/// `host` (the scratch sshd, its host key pinned, environment=staging) and `host-prod` (the
/// same sshd, trusted on first use, environment=production), the identities of
/// [`SSH_IDENTITIES`] with their keys, and a policy directory of its own.
pub struct SshGateway {
    pub h: Harness,
    /// The identities' key pairs, `NAME` and `NAME.pub`.
    pub keys: tempfile::TempDir,
    pub policy_dir: tempfile::TempDir,
    /// `http://ADDR` of the admin API.
    pub admin: String,
}

impl std::ops::Deref for SshGateway {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.h
    }
}

pub const BIN: &str = env!("CARGO_BIN_EXE_sluice");

impl SshGateway {
    /// `rules` are Rego rules of package sluice added to [`BASE_POLICY`].
    pub async fn start(rules: &str) -> SshGateway {
        SshGateway::start_with(rules, "").await
    }

    /// As `start`, with `extra` TOML (more targets) appended to the configuration.
    pub async fn start_with(rules: &str, extra: &str) -> SshGateway {
        let files = vec![
            ("base.rego".to_owned(), BASE_POLICY.to_owned()),
            (
                "test.rego".to_owned(),
                format!("package sluice\n\nimport rego.v1\n{rules}"),
            ),
        ];
        SshGateway::launch(files, extra).await
    }

    /// A gateway enforcing the shipped example policies (examples/policies, their tests
    /// included).
    pub async fn start_with_examples() -> SshGateway {
        SshGateway::start_with_examples_and("").await
    }

    /// [`SshGateway::start_with_examples`] with `extra` configuration (more targets).
    pub async fn start_with_examples_and(extra: &str) -> SshGateway {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
        let files = std::fs::read_dir(&examples)
            .unwrap()
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(e.path()).unwrap(),
                )
            })
            .collect();
        SshGateway::launch(files, extra).await
    }

    async fn launch(policy_files: Vec<(String, String)>, extra: &str) -> SshGateway {
        let s = tokio::task::spawn_blocking(sshd).await.unwrap();
        let keys = tempfile::Builder::new()
            .prefix("sluice-ssh-keys-")
            .tempdir()
            .unwrap();
        let policy_dir = tempfile::Builder::new()
            .prefix("sluice-ssh-policy-")
            .tempdir()
            .unwrap();
        for (name, text) in policy_files {
            std::fs::write(policy_dir.path().join(name), text).unwrap();
        }
        let mut identities = String::new();
        for (name, kind, group) in SSH_IDENTITIES {
            let (_, public) = sluice::scratch_sshd::keygen(keys.path(), name).unwrap();
            identities.push_str(&format!(
                "\n[[identities]]\nname = \"{name}\"\nkind = \"{kind}\"\ngroups = [\"{group}\"]\n\
                 ssh_keys = [\"{public}\"]\n"
            ));
        }
        let targets = format!(
            r#"
[[targets]]
name = "host"
kind = "ssh"
host = "127.0.0.1"
port = {port}
user = "{user}"
key_file = "{key}"
host_key = "{host_key}"
tags = {{ environment = "staging" }}

[[targets]]
name = "host-prod"
kind = "ssh"
host = "127.0.0.1"
port = {port}
user = "{user}"
key_file = "{key}"
tags = {{ environment = "production" }}
"#,
            port = s.port(),
            user = s.user(),
            key = s.key_file().display(),
            host_key = s.host_public_key(),
        );
        let policy = format!(
            "\n[policy]\ndir = \"{}\"\nwatch = false\n",
            policy_dir.path().display()
        );
        let extra = extra.to_owned();
        let h = Harness::start_with_config(move |text| {
            // The base configuration's alice is a dba; here she is a developer, with a key.
            let alice = "[[identities]]\nname = \"alice\"\nkind = \"human\"\ngroups = [\"dba\"]\n";
            assert!(text.contains(alice), "the base configuration changed");
            text.replacen(alice, "", 1)
                + &identities
                + &targets
                + &extra
                + "\n[[listeners]]\nprotocol = \"ssh\"\nlisten = \"127.0.0.1:0\"\npassword_auth = true\n"
                + &policy
        })
        .await;
        let mut h = h;
        if !h.tokens.contains_key("dana") {
            let secret = sluice::token_cmd::create(&h.config, "dana", None)
                .await
                .unwrap();
            h.tokens.insert("dana".into(), secret.expose().to_owned());
        }
        let admin = format!("http://{}", h.gateway.admin_addr.unwrap());
        SshGateway {
            h,
            keys,
            policy_dir,
            admin,
        }
    }

    /// The SSH listener's port.
    pub fn port(&self) -> u16 {
        self.h.gateway.ssh_addr.unwrap().port()
    }

    /// The private key of `identity`.
    pub fn key(&self, identity: &str) -> PathBuf {
        self.keys.path().join(identity)
    }

    /// `ssh IDENTITY+TARGET@127.0.0.1 -p PORT` with the identity's key; `extra` as for
    /// [`ssh_cmd`].
    pub fn ssh(&self, identity: &str, target: &str, extra: &[&str]) -> Command {
        ssh_cmd(
            self.port(),
            &format!("{identity}+{target}"),
            &self.key(identity),
            extra,
        )
    }

    /// `scp -P PORT` with the identity's key; remote paths written with
    /// `remote("IDENTITY+TARGET", path)`.
    pub fn scp(&self, identity: &str, args: &[&str]) -> Command {
        scp_cmd(self.port(), &self.key(identity), args)
    }

    /// `rsync -e "ssh ..."` with the identity's key.
    pub fn rsync(&self, identity: &str, args: &[&str]) -> Command {
        rsync_cmd(self.port(), &self.key(identity), args)
    }

    /// The sluice binary with `args` and `--config` this gateway's configuration appended
    /// (for subcommands that read it: identity, sessions, audit).
    pub fn sluice(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .arg("--config")
            .arg(&self.h.config_path)
            .stdin(Stdio::null());
        cmd
    }

    /// `sluice review|access ...` against the admin API as `who`.
    pub fn cli_as(&self, who: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("SLUICE_SERVER", &self.admin)
            .env("SLUICE_TOKEN", self.h.token(who))
            .stdin(Stdio::null());
        cmd
    }

    /// Every audit record so far as JSON (sessions ended first, as `Harness::audit`).
    pub async fn audit_json(&self) -> Vec<serde_json::Value> {
        self.h
            .audit()
            .await
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect()
    }

    /// The audit records so far, flushed, without waiting for sessions to end.
    pub async fn audit_now(&self) -> Vec<serde_json::Value> {
        self.h.gateway.gateway.audit().flush().await.unwrap();
        sluice_audit::search(
            &self.h.config.audit_path(),
            &sluice_audit::SearchFilter::default(),
        )
        .unwrap()
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect()
    }

    /// Stops the gateway and starts it again on the same data directory with its
    /// configuration passed through `edit`.
    pub async fn restart(self, edit: impl FnOnce(String) -> String) -> SshGateway {
        let SshGateway {
            h,
            keys,
            policy_dir,
            admin: _,
        } = self;
        let Harness {
            gateway,
            config_path,
            tokens,
            dir,
            ..
        } = h;
        gateway.shutdown("restart").await.unwrap();
        let text = edit(std::fs::read_to_string(&config_path).unwrap());
        std::fs::write(&config_path, &text).unwrap();
        let config = sluice_core::config::Config::load(&config_path).unwrap();
        let gateway = sluice::runtime::start(config.clone(), &text).await.unwrap();
        let admin = format!("http://{}", gateway.admin_addr.unwrap());
        SshGateway {
            h: Harness {
                gateway,
                config,
                config_path,
                tokens,
                dir,
            },
            keys,
            policy_dir,
            admin,
        }
    }
}

/// Runs `cmd` (bounded by [`CLIENT_TIMEOUT`]) off the async runtime.
pub async fn run_async(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .unwrap()
}

/// Polls `check` (blocking) until it is true, for at most `wait`.
pub fn wait_until(wait: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A target on the shared sshd whose key runs nothing: the account's authorized_keys entry
/// for it forces a command that prints the command the client asked for. Lines that must never
/// run on this machine (`rm -rf /` in all its spellings) are tried against it, so a guardrail
/// that fails shows a printed line, not a wiped test machine. Returns the `[[targets]]` entry.
pub fn dry_target(dir: &Path, name: &str) -> String {
    let s = sshd();
    let (key, public) = sluice::scratch_sshd::keygen(dir, name).unwrap();
    s.add_authorized_key(&format!(
        "command=\"printf 'would run: %s' \\\"$SSH_ORIGINAL_COMMAND\\\"\",no-pty,no-port-forwarding {public}"
    ))
    .unwrap();
    format!(
        "\n[[targets]]\nname = \"{name}\"\nkind = \"ssh\"\nhost = \"127.0.0.1\"\nport = {}\n\
         user = \"{}\"\nkey_file = \"{}\"\nhost_key = \"{}\"\ntags = {{ environment = \"staging\" }}\n",
        s.port(),
        s.user(),
        key.display(),
        s.host_public_key()
    )
}
