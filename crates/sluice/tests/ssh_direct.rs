#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The scratch sshd and the SSH client helpers, with no gateway in between: every SSH test
//! through sluice stands on these, so they are proven here against OpenSSH itself. Exec and exit
//! status, scp (SFTP-based and legacy), sftp, rsync, local and remote forwarding, an
//! interactive shell in a pseudo-terminal (resize, Ctrl-C), host key pinning, and asciinema
//! playing a recording without a terminal.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sluice::scratch_pg::free_port;
use sluice::scratch_sshd::keygen;
use support::ssh::*;

/// Deterministic bytes that are not all alike, so that a truncated or reordered copy shows.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn exec_runs_a_command_and_propagates_its_exit_status() {
    let s = sshd();
    let out = run(&mut ssh_cmd(
        s.port(),
        s.user(),
        &s.key_file(),
        &["uname", "-a"],
    ));
    assert_ok(&out);
    assert!(stdout(&out).starts_with("Linux "), "{}", stdout(&out));

    let out = run(&mut ssh_cmd(
        s.port(),
        s.user(),
        &s.key_file(),
        &["echo out; echo err >&2; exit 7"],
    ));
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
}

#[test]
fn only_the_target_key_and_added_keys_log_in() {
    let s = sshd();
    let tmp = tempfile::tempdir().unwrap();
    let (key, public) = keygen(tmp.path(), "stranger").unwrap();
    let out = run(&mut ssh_cmd(s.port(), s.user(), &key, &["true"]));
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );

    s.add_authorized_key(&public).unwrap();
    assert_ok(&run(&mut ssh_cmd(s.port(), s.user(), &key, &["true"])));

    // Password logins are off on the target: sshpass gets a refusal, not a prompt to hang on.
    let out = run(&mut ssh_password_cmd(
        s.port(),
        s.user(),
        "not-a-password",
        &["true"],
    ));
    assert!(!out.status.success());
}

#[test]
fn scp_copies_both_ways_over_sftp_and_the_legacy_protocol() {
    let s = sshd();
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(3 * 1024 * 1024 + 17);
    let local = tmp.path().join("local.bin");
    std::fs::write(&local, &data).unwrap();
    for (flags, name) in [(&[][..], "sftp"), (&["-O"][..], "legacy")] {
        let uploaded = tmp.path().join(format!("uploaded-{name}.bin"));
        let downloaded = tmp.path().join(format!("downloaded-{name}.bin"));
        let mut args: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        args.push(local.display().to_string());
        args.push(remote(s.user(), &uploaded));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_ok(&run(&mut scp_cmd(s.port(), &s.key_file(), &args)));
        assert_eq!(std::fs::read(&uploaded).unwrap(), data, "{name} upload");

        let mut args: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        args.push(remote(s.user(), &uploaded));
        args.push(downloaded.display().to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_ok(&run(&mut scp_cmd(s.port(), &s.key_file(), &args)));
        assert_eq!(std::fs::read(&downloaded).unwrap(), data, "{name} download");
    }
}

#[test]
fn sftp_batch_puts_gets_lists_renames_and_removes() {
    let s = sshd();
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(200_000);
    let local = tmp.path().join("put.bin");
    std::fs::write(&local, &data).unwrap();
    let dir = tmp.path().join("remote-dir");
    let back = tmp.path().join("got.bin");
    let batch = format!(
        "mkdir {dir}\n\
         put {local} {dir}/a.bin\n\
         rename {dir}/a.bin {dir}/b.bin\n\
         ls -l {dir}\n\
         get {dir}/b.bin {back}\n\
         rm {dir}/b.bin\n\
         rmdir {dir}\n",
        dir = dir.display(),
        local = local.display(),
        back = back.display()
    );
    let out = sftp_batch(tmp.path(), s.port(), s.user(), &s.key_file(), &batch);
    assert_ok(&out);
    // sftp echoes each batch command; the listing is the lines that are not one.
    let listing: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| !l.starts_with("sftp>"))
        .map(str::to_owned)
        .collect();
    assert_eq!(listing.len(), 1, "{listing:?}");
    assert!(listing[0].ends_with("/b.bin"), "{listing:?}");
    assert!(listing[0].contains(" 200000 "), "{listing:?}");
    assert_eq!(std::fs::read(&back).unwrap(), data);
    assert!(!dir.exists());

    // A failing command fails the batch.
    let out = sftp_batch(
        tmp.path(),
        s.port(),
        s.user(),
        &s.key_file(),
        &format!("get {}/missing {}\n", dir.display(), back.display()),
    );
    assert!(!out.status.success());
}

#[test]
fn rsync_copies_a_directory_tree() {
    let s = sshd();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("nested/deeper")).unwrap();
    std::fs::write(src.join("top.txt"), "top\n").unwrap();
    std::fs::write(src.join("nested/deeper/data.bin"), pattern(100_000)).unwrap();
    let dest = tmp.path().join("dest");
    assert_ok(&run(&mut rsync_cmd(
        s.port(),
        &s.key_file(),
        &[
            "-a",
            &format!("{}/", src.display()),
            &remote(s.user(), format!("{}/", dest.display())),
        ],
    )));
    assert_eq!(std::fs::read(dest.join("top.txt")).unwrap(), b"top\n");
    assert_eq!(
        std::fs::read(dest.join("nested/deeper/data.bin")).unwrap(),
        pattern(100_000)
    );
}

#[test]
fn local_and_remote_forwards_reach_an_echo_server() {
    let s = sshd();
    let echo = EchoServer::start();
    let payload = pattern(50_000);

    let local = free_port().unwrap();
    let mut forward = Background::spawn(&mut ssh_cmd(
        s.port(),
        s.user(),
        &s.key_file(),
        &[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-L",
            &format!("127.0.0.1:{local}:127.0.0.1:{}", echo.port),
        ],
    ));
    let got = echo_when_ready(local, &payload, Duration::from_secs(10));
    assert!(forward.running(), "ssh -L exited");
    assert_eq!(got.as_deref(), Some(&payload[..]), "ssh -L did not echo");
    drop(forward);

    // sshd listens for -R; without GatewayPorts it binds loopback only.
    let remote_port = free_port().unwrap();
    let mut forward = Background::spawn(&mut ssh_cmd(
        s.port(),
        s.user(),
        &s.key_file(),
        &[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            &format!("127.0.0.1:{remote_port}:127.0.0.1:{}", echo.port),
        ],
    ));
    let got = echo_when_ready(remote_port, &payload, Duration::from_secs(10));
    assert!(forward.running(), "ssh -R exited");
    assert_eq!(got.as_deref(), Some(&payload[..]), "ssh -R did not echo");
}

#[test]
fn an_interactive_shell_in_a_pty_echoes_resizes_and_interrupts() {
    let s = sshd();
    assert!(
        s.ptys_available(),
        "a non-root sshd cannot give a session a terminal here: /dev/pts is not mounted with \
         the tty group (gid=5); run the tests as root, or on a host whose devpts has gid=5"
    );
    let shell = PtyShell::start(&ssh_cmd(s.port(), s.user(), &s.key_file(), &["-tt"]));
    let wait = Duration::from_secs(10);
    // The typed line holds the arithmetic, the output its result: only the shell's answer
    // matches.
    shell.type_line("echo hi-$((40 + 2))");
    shell.wait_for("hi-42", wait);
    shell.type_line("tty | sed s/^/tty:/");
    shell.wait_for("tty:/dev/pts/", wait);

    shell.type_line("stty size | sed s/^/size:/");
    shell.wait_for("size:40 120", wait);
    shell.resize(100, 30);
    shell.type_line("stty size | sed s/^/size:/");
    shell.wait_for("size:30 100", wait);

    // Were Ctrl-C not delivered, the next command would wait out the sleep and time out.
    shell.type_line("sleep 100");
    std::thread::sleep(Duration::from_millis(300));
    shell.send_keys(&["C-c"]);
    shell.type_line("echo back-$((1 + 1))");
    shell.wait_for("back-2", Duration::from_secs(5));

    shell.type_line("exit 3");
    assert_eq!(shell.wait_exit(wait), 3);
}

#[test]
fn a_pinned_host_key_is_accepted_and_any_other_refused() {
    let s = sshd();
    let tmp = tempfile::tempdir().unwrap();
    assert!(s.host_public_key().starts_with("ssh-ed25519 AAAA"));
    assert_eq!(s.host_public_key().split(' ').count(), 2);

    let right = write_known_hosts(tmp.path(), &s.known_hosts_line());
    let out = run(&mut ssh_cmd_pinned(
        s.port(),
        s.user(),
        &s.key_file(),
        &right,
        &["echo pinned"],
    ));
    assert_ok(&out);
    assert_eq!(stdout(&out), "pinned\n");
    // The fingerprint is the one ssh-keygen computes from the pinned line.
    let listed = run(Command::new("ssh-keygen")
        .args(["-E", "sha256", "-l", "-f"])
        .arg(&right));
    assert_ok(&listed);
    assert!(stdout(&listed).contains(s.host_key_fingerprint()));

    let other = tempfile::tempdir().unwrap();
    let (_, impostor) = keygen(other.path(), "impostor").unwrap();
    let impostor: Vec<&str> = impostor.split(' ').take(2).collect();
    let wrong = write_known_hosts(
        other.path(),
        &format!("[127.0.0.1]:{} {}", s.port(), impostor.join(" ")),
    );
    let out = run(&mut ssh_cmd_pinned(
        s.port(),
        s.user(),
        &s.key_file(),
        &wrong,
        &["echo pinned"],
    ));
    assert_eq!(out.status.code(), Some(255));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("Host key verification failed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dropping_the_server_ends_its_sessions_and_removes_its_directory() {
    let dir = tempfile::tempdir().unwrap().keep();
    let s = sluice::scratch_sshd::ScratchSshd::start(&dir).unwrap();
    let mut session = Background::spawn(&mut ssh_cmd(
        s.port(),
        s.user(),
        &s.key_file(),
        &["echo started; exec sleep 100"],
    ));
    // The session is up once sshd has logged the command it runs.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !s.log().contains("Starting session: command") {
        assert!(std::time::Instant::now() < deadline, "{}", s.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(s);
    assert!(!dir.exists());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while session.running() {
        assert!(
            std::time::Instant::now() < deadline,
            "the session outlived its server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Recordings are checked with Debian's asciinema (2.2): `asciinema cat` insists on a terminal
/// (it opens /dev/tty), `asciinema play` does not, and `-s` speeds it up.
#[test]
fn asciinema_plays_a_recording_without_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let cast = tmp.path().join("session.cast");
    write_minimal_cast(&cast);
    let mut play = Command::new("asciinema");
    play.args(["play", "-s", "100"])
        .arg(&cast)
        .stdin(std::process::Stdio::null());
    let out = run_within(&mut play, Duration::from_secs(10));
    assert_ok(&out);
    assert_eq!(stdout(&out), "$ echo hi\r\nhi\r\n");
}

fn write_minimal_cast(path: &Path) {
    let header = serde_json::json!({
        "version": 2, "width": 80, "height": 24, "timestamp": 1_700_000_000,
        "env": {"TERM": "xterm-256color", "SHELL": "/bin/sh"}
    });
    let events = [
        serde_json::json!([0.1, "o", "$ "]),
        serde_json::json!([0.2, "i", "echo hi\r"]),
        serde_json::json!([0.3, "o", "echo hi\r\n"]),
        serde_json::json!([0.5, "o", "hi\r\n"]),
    ];
    let mut text = header.to_string() + "\n";
    for e in events {
        text += &(e.to_string() + "\n");
    }
    std::fs::write(path, text).unwrap();
}

/// Not a check but a server for `bench/ssh.sh`'s direct half, which needs no build of sluice:
///
/// ```text
/// SLUICE_SSHD_ENV=/tmp/sshd.env cargo test -p sluice --test ssh_direct -- --ignored serve &
/// until [ -s /tmp/sshd.env ]; do sleep 1; done
/// env $(cat /tmp/sshd.env) DIRECT_ONLY=1 bench/ssh.sh; rm /tmp/sshd.env
/// ```
///
/// Serves until the file is removed, for at most 30 minutes.
#[test]
#[ignore = "serves a scratch sshd for bench/ssh.sh; see its comment"]
fn serve_a_scratch_sshd_for_the_benchmark() {
    let Ok(env_file) = std::env::var("SLUICE_SSHD_ENV") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap().keep();
    // Removes the directory when it stops.
    let s = sluice::scratch_sshd::ScratchSshd::start(&tmp).unwrap();
    let partial = format!("{env_file}.partial");
    std::fs::write(
        &partial,
        format!(
            "SSH_HOST={} SSH_PORT={} SSH_USER={} SSH_KEY={}\n",
            s.host(),
            s.port(),
            s.user(),
            s.key_file().display()
        ),
    )
    .unwrap();
    // Whole or absent: the script waits for the file to be non-empty.
    std::fs::rename(&partial, &env_file).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30 * 60);
    while Path::new(&env_file).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
}
