//! OpenSSH's own `sftp` client talking to OpenSSH's own `sftp-server` through a relay built
//! on this crate: Framer, ClientRequest/ServerResponse, Tracker, and a small policy, as the
//! gateway will use them. `sftp -D` runs a program in place of ssh + sftp-server; that
//! program is a shell script handing its stdin and stdout to two FIFOs the test reads and
//! writes, and the test relays them to an `sftp-server` child.
//!
//! Skipped (with a message) where OpenSSH's sftp or sftp-server is not installed.

// Helper functions outside #[test] panic on purpose: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sluice_decision::facts::{FileAccess, FileOperation};
use sluice_record::FileOp;
use sluice_sftp::{
    status_denied, status_failure, Check, ClientRequest, Framer, ServerResponse, Tracker,
};

const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";
const SFTP: &str = "/usr/bin/sftp";

/// The test's policy: no removing `protected*`, no reading `secret*`.
fn policy(facts: &[FileAccess]) -> Result<(), String> {
    for f in facts {
        let name = f.path.rsplit('/').next().unwrap_or("");
        if f.operation == FileOperation::Remove && name.starts_with("protected") {
            return Err("denied by rule keep-protected".into());
        }
        if f.operation == FileOperation::Read && name.starts_with("secret") {
            return Err("denied by rule no-secrets".into());
        }
    }
    Ok(())
}

struct Shared {
    tracker: Mutex<Tracker>,
    ops: Mutex<Vec<FileOp>>,
    /// Taken (closed) once the server is gone: the script's `cat` then ends, and the
    /// client, which waits for its "server" to exit, can.
    to_client: Mutex<Option<File>>,
    /// Every fact decided, for the assertions.
    decided: Mutex<Vec<FileAccess>>,
}

fn write_client(shared: &Shared, data: &[u8]) {
    if let Some(f) = shared.to_client.lock().unwrap().as_mut() {
        f.write_all(data).unwrap();
    }
}

fn relay_up(shared: &Shared, mut from_client: File, mut to_server: impl Write) {
    let mut framer = Framer::new();
    let mut buf = vec![0u8; 7919];
    loop {
        let n = from_client.read(&mut buf).unwrap();
        if n == 0 {
            return;
        }
        framer.push(&buf[..n]);
        while let Some(packet) = framer.next_packet().unwrap() {
            let Ok(req) = ClientRequest::parse(&packet) else {
                let id = packet.request_id().unwrap_or(0);
                let answer = status_failure(id, "malformed request");
                write_client(shared, &answer);
                continue;
            };
            let mut tracker = shared.tracker.lock().unwrap();
            let verdict = match tracker.check(&req) {
                Check::Forward => Ok(()),
                Check::Decide(facts) => {
                    shared.decided.lock().unwrap().extend(facts.iter().cloned());
                    policy(&facts)
                }
                Check::Refuse(r) => Err(r.to_string()),
            };
            match verdict {
                Ok(()) => {
                    tracker.forwarded(&req).unwrap();
                    drop(tracker);
                    to_server.write_all(packet.raw()).unwrap();
                    to_server.flush().unwrap();
                }
                Err(message) => {
                    shared
                        .ops
                        .lock()
                        .unwrap()
                        .extend(tracker.denied(&req, &message));
                    drop(tracker);
                    let answer = status_denied(req.id, &message);
                    write_client(shared, &answer);
                }
            }
        }
    }
}

fn relay_down(shared: &Shared, mut from_server: impl Read) {
    let mut framer = Framer::new();
    let mut buf = vec![0u8; 6007];
    loop {
        let n = from_server.read(&mut buf).unwrap();
        if n == 0 {
            let rest = shared.tracker.lock().unwrap().finish();
            shared.ops.lock().unwrap().extend(rest);
            shared.to_client.lock().unwrap().take();
            return;
        }
        framer.push(&buf[..n]);
        while let Some(packet) = framer.next_packet().unwrap() {
            let resp = ServerResponse::parse(&packet).unwrap();
            let done = shared
                .tracker
                .lock()
                .unwrap()
                .server_response(&resp)
                .unwrap();
            shared.ops.lock().unwrap().extend(done);
            write_client(shared, packet.raw());
        }
    }
}

fn mkfifo(p: &Path) {
    let ok = Command::new("mkfifo").arg(p).status().unwrap().success();
    assert!(ok, "mkfifo {}", p.display());
}

fn find<'a>(ops: &'a [FileOp], op: &str, path: &str) -> &'a FileOp {
    ops.iter()
        .find(|o| o.op == op && o.path == path)
        .unwrap_or_else(|| panic!("no {op} {path} in {ops:#?}"))
}

#[test]
fn openssh_client_through_the_relay() {
    if !Path::new(SFTP_SERVER).exists() || !Path::new(SFTP).exists() {
        eprintln!("skipped: {SFTP_SERVER} or {SFTP} not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // The server's directory, canonical: REALPATH(".") answers it so.
    let remote: PathBuf = fs::canonicalize(tmp.path()).unwrap().join("remote");
    let local = tmp.path().join("local");
    fs::create_dir_all(&remote).unwrap();
    fs::create_dir_all(&local).unwrap();
    let r = remote.to_str().unwrap().to_string();

    let upload: Vec<u8> = (0..700_001u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(local.join("up.bin"), &upload).unwrap();
    fs::write(remote.join("protected.txt"), b"keep me").unwrap();
    fs::write(remote.join("secret.txt"), b"do not read").unwrap();

    let c2s = tmp.path().join("c2s");
    let s2c = tmp.path().join("s2c");
    mkfifo(&c2s);
    mkfifo(&s2c);
    let script = tmp.path().join("relay.sh");
    // An asynchronous command's stdin is /dev/null unless redirected explicitly, hence fd 3.
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec 3<&0\ncat <&3 >'{}' &\nexec cat <'{}'\n",
            c2s.display(),
            s2c.display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();

    let batch = tmp.path().join("batch");
    fs::write(
        &batch,
        format!(
            "lcd {local}\n\
             put up.bin\n\
             get up.bin down.bin\n\
             ls\n\
             mkdir d\n\
             rename up.bin d/moved.bin\n\
             chmod 600 d/moved.bin\n\
             symlink d/moved.bin link\n\
             ln d/moved.bin hard\n\
             -rm protected.txt\n\
             -get secret.txt\n\
             rm link\n\
             rm hard\n\
             rm d/moved.bin\n\
             rmdir d\n",
            local = local.display()
        ),
    )
    .unwrap();

    let mut client = Command::new(SFTP)
        // Small reads and writes, many in flight: byte counts summed across them.
        .arg("-B")
        .arg("16384")
        .arg("-b")
        .arg(&batch)
        .arg("-D")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Command::new(SFTP_SERVER)
        .current_dir(&remote)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let to_server = server.stdin.take().unwrap();
    let from_server = server.stdout.take().unwrap();

    // Opening a FIFO waits for its other end: the script's.
    let from_client = File::open(&c2s).unwrap();
    let to_client = OpenOptions::new().write(true).open(&s2c).unwrap();
    let shared = Arc::new(Shared {
        tracker: Mutex::new(Tracker::default()),
        ops: Mutex::new(Vec::new()),
        to_client: Mutex::new(Some(to_client)),
        decided: Mutex::new(Vec::new()),
    });
    let up = {
        let shared = Arc::clone(&shared);
        thread::spawn(move || relay_up(&shared, from_client, to_server))
    };
    let down = {
        let shared = Arc::clone(&shared);
        thread::spawn(move || relay_down(&shared, from_server))
    };

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = client.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            client.kill().unwrap();
            server.kill().unwrap();
            panic!("sftp did not finish in 60 s");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    client
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    client
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    // The client gone, its stdin closes (the script's cat ends), then the server's.
    up.join().unwrap();
    down.join().unwrap();
    server.wait().unwrap();
    assert!(
        status.success(),
        "sftp failed\nstdout:\n{out}\nstderr:\n{err}"
    );

    // What happened on disk.
    assert_eq!(fs::read(local.join("down.bin")).unwrap(), upload);
    assert!(remote.join("protected.txt").exists());
    assert!(!local.join("secret.txt").exists());
    assert!(!remote.join("d").exists());
    // OpenSSH's client shows its own text for the code, not the message.
    assert!(
        err.contains("protected.txt: Permission denied")
            && err.contains("secret.txt\": Permission denied"),
        "{err}"
    );

    let ops = shared.ops.lock().unwrap().clone();
    for o in &ops {
        eprintln!("{o:?}");
    }
    let p = |name: &str| format!("{r}/{name}");

    let put = find(&ops, "create", &p("up.bin"));
    assert_eq!((put.bytes, put.outcome.as_str()), (Some(700_001), "ok"));
    let get = find(&ops, "read", &p("up.bin"));
    assert_eq!((get.bytes, get.outcome.as_str()), (Some(700_001), "ok"));
    assert_eq!(find(&ops, "list", &r).outcome, "ok");
    assert_eq!(find(&ops, "mkdir", &p("d")).outcome, "ok");
    let mv = find(&ops, "rename", &p("up.bin"));
    assert_eq!(
        (mv.target.as_deref(), mv.outcome.as_str()),
        (Some(p("d/moved.bin").as_str()), "ok")
    );
    assert_eq!(find(&ops, "setstat", &p("d/moved.bin")).outcome, "ok");
    let sym = find(&ops, "symlink", &p("link"));
    assert_eq!(
        (sym.target.as_deref(), sym.outcome.as_str()),
        (Some(p("d/moved.bin").as_str()), "ok")
    );
    // hardlink@openssh.com, decided and recorded as a link at `hard` to its target.
    let hard = find(&ops, "symlink", &p("hard"));
    assert_eq!(hard.target.as_deref(), Some(p("d/moved.bin").as_str()));
    let denied = find(&ops, "remove", &p("protected.txt"));
    assert_eq!(
        (denied.outcome.as_str(), denied.message.as_str()),
        ("denied", "denied by rule keep-protected")
    );
    let secret = find(&ops, "read", &p("secret.txt"));
    assert_eq!(secret.outcome, "denied");
    for name in ["link", "hard", "d/moved.bin"] {
        assert_eq!(find(&ops, "remove", &p(name)).outcome, "ok");
    }
    assert_eq!(find(&ops, "rmdir", &p("d")).outcome, "ok");
    // Nothing left open or unanswered, and every fact absolute and normalised.
    assert!(ops
        .iter()
        .all(|o| o.message != "channel closed before the server answered"));
    assert!(ops.iter().all(|o| o.outcome != "error"), "{ops:#?}");
    for f in shared.decided.lock().unwrap().iter() {
        assert!(f.path.starts_with('/') && !f.path.contains("/./") && !f.path.contains("/../"));
    }
}
