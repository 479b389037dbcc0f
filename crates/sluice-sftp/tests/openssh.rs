//! OpenSSH's own clients talking to OpenSSH's own servers through a relay built on this
//! crate, as the gateway will use it.
//!
//! `sftp -D` and `scp -S` run a program in place of ssh; here that program is a shell script
//! that writes down the command it was asked to run remotely and hands its stdin and stdout
//! to two FIFOs, which the test relays to the "remote" end: `sftp-server` for the sftp
//! subsystem (Framer, ClientRequest/ServerResponse, Tracker and a small policy between), or
//! the command itself (`scp -t` / `scp -f`) for legacy scp (scp_from_argv on its argv and
//! ScpStream on the sending side's bytes).
//!
//! Skipped (with a message) where OpenSSH's sftp, scp or sftp-server is not installed.

// Helper functions outside #[test] panic on purpose: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sluice_decision::facts::{FileAccess, FileOperation};
use sluice_record::FileOp;
use sluice_sftp::{
    scp_from_argv, status_denied, status_failure, Check, ClientRequest, Framer, RequestKind,
    ResponseKind, ScpDirection, ScpEvent, ScpStream, ServerResponse, Tracker,
};

const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";
const SFTP: &str = "/usr/bin/sftp";
const SCP: &str = "/usr/bin/scp";

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
                    // Learn the server's directory whether or not the client asks for it.
                    let probe = (matches!(req.kind, RequestKind::Init { .. })
                        && tracker.cwd().is_none())
                    .then(|| tracker.probe().unwrap());
                    drop(tracker);
                    to_server.write_all(packet.raw()).unwrap();
                    if let Some(probe) = probe {
                        to_server.write_all(&probe).unwrap();
                    }
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
    let mut held = None;
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
            let mut tracker = shared.tracker.lock().unwrap();
            let own = tracker.is_probe_answer(&resp);
            let done = tracker.server_response(&resp).unwrap();
            let probing = tracker.probing();
            drop(tracker);
            shared.ops.lock().unwrap().extend(done);
            if matches!(resp.kind, ResponseKind::Version { .. }) && probing {
                // The client may send nothing before VERSION: holding it until the
                // directory is known means no request is checked without it.
                held = Some(packet.into_raw());
                continue;
            }
            if !own {
                write_client(shared, packet.raw());
            }
            if !probing {
                if let Some(version) = held.take() {
                    write_client(shared, &version);
                }
            }
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

fn installed() -> bool {
    let all = [SFTP_SERVER, SFTP, SCP]
        .iter()
        .all(|p| Path::new(p).exists());
    if !all {
        eprintln!("skipped: {SFTP_SERVER}, {SFTP} or {SCP} not installed");
    }
    all
}

/// The stand-in for ssh and its two FIFOs.
struct Pipes {
    script: PathBuf,
    c2s: PathBuf,
    s2c: PathBuf,
    /// Where the script writes its last argument: the remote command.
    command: PathBuf,
}

impl Pipes {
    fn new(dir: &Path) -> Self {
        fs::create_dir_all(dir).unwrap();
        let p = Pipes {
            script: dir.join("relay.sh"),
            c2s: dir.join("c2s"),
            s2c: dir.join("s2c"),
            command: dir.join("command"),
        };
        mkfifo(&p.c2s);
        mkfifo(&p.s2c);
        // An asynchronous command's stdin is /dev/null unless redirected explicitly, hence
        // fd 3. Once the remote end is gone the script exits, as ssh would, and takes the
        // client-to-server copy with it: scp's connection to its ssh is a socket pair, which
        // reads no EOF while that copy holds it. The command is written before the FIFOs are opened, so it is there once the
        // test's open of c2s returns.
        fs::write(
            &p.script,
            format!(
                "#!/bin/sh\nlast=\nfor a; do last=$a; done\nprintf %s \"$last\" >'{}'\nexec 3<&0\ncat <&3 >'{}' &\nup=$!\ncat <'{}'\nkill $up 2>/dev/null\nexit 0\n",
                p.command.display(),
                p.c2s.display(),
                p.s2c.display()
            ),
        )
        .unwrap();
        Command::new("chmod")
            .arg("+x")
            .arg(&p.script)
            .status()
            .unwrap();
        p
    }

    /// Opens the test's ends, once the client has started the script.
    fn open(&self) -> (File, File, String) {
        let from_client = File::open(&self.c2s).unwrap();
        let to_client = OpenOptions::new().write(true).open(&self.s2c).unwrap();
        let command = fs::read_to_string(&self.command).unwrap();
        (from_client, to_client, command)
    }
}

struct Finished {
    stderr: String,
}

/// Waits for the client to exit (60 s at most) and for the relay threads.
fn wait(mut client: Child, mut server: Child, threads: Vec<thread::JoinHandle<()>>) -> Finished {
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = client.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            client.kill().unwrap();
            server.kill().unwrap();
            panic!("the client did not finish in 60 s");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    client
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    client
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    // The client gone, its end of the script closes (the script's cat ends), then the
    // server's.
    for t in threads {
        t.join().unwrap();
    }
    server.wait().unwrap();
    assert!(
        status.success(),
        "client failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    Finished { stderr }
}

fn spawn_client(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs an sftp-speaking client (`sftp -D`, `scp -S`) against sftp-server in `remote`
/// through the Tracker relay; the session's audit lines and the facts decided.
fn run_sftp(
    client: Command,
    pipes: &Pipes,
    remote: &Path,
) -> (Finished, Vec<FileOp>, Vec<FileAccess>) {
    let client = spawn_client(client);
    let (from_client, to_client, _) = pipes.open();
    let mut server = Command::new(SFTP_SERVER)
        .current_dir(remote)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let to_server = server.stdin.take().unwrap();
    let from_server = server.stdout.take().unwrap();
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
    let done = wait(client, server, vec![up, down]);
    let ops = shared.ops.lock().unwrap().clone();
    let decided = shared.decided.lock().unwrap().clone();
    (done, ops, decided)
}

/// Copies `from` to `to`, feeding what passes to `stream` if given; its events.
fn copy(mut from: impl Read, mut to: impl Write, mut stream: Option<ScpStream>) -> Vec<ScpEvent> {
    let mut events = Vec::new();
    let mut buf = vec![0u8; 1009];
    loop {
        let n = from.read(&mut buf).unwrap();
        if n == 0 {
            return events;
        }
        if let Some(s) = stream.as_mut() {
            events.extend(s.push(&buf[..n]).unwrap());
        }
        to.write_all(&buf[..n]).unwrap();
        to.flush().unwrap();
    }
}

/// Runs `scp -O` (legacy protocol) against the remote command it asks for, run by sh in
/// `remote`; the command's argv as the gateway would split it, and the events of the
/// sending side's stream.
fn run_scp_legacy(
    client: Command,
    pipes: &Pipes,
    remote: &Path,
) -> (Finished, Vec<String>, Vec<ScpEvent>) {
    let client = spawn_client(client);
    let (from_client, to_client, command) = pipes.open();
    // Only paths without spaces are used: a whitespace split is the shell's here.
    let argv: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    let request = scp_from_argv(&argv).unwrap_or_else(|| panic!("not scp: {command:?}"));
    let mut server = Command::new("sh")
        .arg("-c")
        .arg(&command)
        .current_dir(remote)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let to_server = server.stdin.take().unwrap();
    let from_server = server.stdout.take().unwrap();
    let upload = request.direction == ScpDirection::Upload;
    let (tx, rx) = std::sync::mpsc::channel();
    let up = {
        let tx = tx.clone();
        thread::spawn(move || {
            let stream = upload.then(ScpStream::new);
            tx.send(copy(from_client, to_server, stream)).unwrap();
        })
    };
    let down = thread::spawn(move || {
        let stream = (!upload).then(ScpStream::new);
        tx.send(copy(from_server, to_client, stream)).unwrap();
    });
    let done = wait(client, server, vec![up, down]);
    let events = rx.iter().flatten().collect();
    (done, argv, events)
}

#[test]
fn openssh_client_through_the_relay() {
    if !installed() {
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

    let pipes = Pipes::new(tmp.path());

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

    let mut client = Command::new(SFTP);
    // Small reads and writes, many in flight: byte counts summed across them.
    client
        .arg("-B")
        .arg("16384")
        .arg("-b")
        .arg(&batch)
        .arg("-D")
        .arg(&pipes.script);
    let (done, ops, decided) = run_sftp(client, &pipes, &remote);
    let err = done.stderr;

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
    for f in &decided {
        assert!(f.path.starts_with('/') && !f.path.contains("/./") && !f.path.contains("/../"));
    }
}

/// OpenSSH 9's `scp` speaks SFTP (the `sftp` subsystem): an upload and a download are an
/// OPEN for creating and one for reading, each counted to the byte.
#[test]
fn scp_over_sftp_through_the_relay() {
    if !installed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let remote = fs::canonicalize(tmp.path()).unwrap().join("remote");
    let local = tmp.path().join("local");
    fs::create_dir_all(&remote).unwrap();
    fs::create_dir_all(&local).unwrap();
    let r = remote.to_str().unwrap().to_string();
    // The kernel resolves `sub/..` through `sub`, so it must exist.
    fs::create_dir_all(remote.join("sub")).unwrap();
    let data: Vec<u8> = (0..123_457u32).map(|i| (i % 253) as u8).collect();
    fs::write(local.join("a.bin"), &data).unwrap();

    // `host:` paths are relative to the server's directory: the relay resolves them
    // against the directory REALPATH(".") taught it.
    let pipes = Pipes::new(&tmp.path().join("up"));
    let mut client = Command::new(SCP);
    client
        .arg("-S")
        .arg(&pipes.script)
        .arg(local.join("a.bin"))
        .arg("host:sub/../a.bin");
    let (_, ops, _) = run_sftp(client, &pipes, &remote);
    assert_eq!(fs::read(remote.join("a.bin")).unwrap(), data);
    let put = find(&ops, "create", &format!("{r}/a.bin"));
    assert_eq!((put.bytes, put.outcome.as_str()), (Some(123_457), "ok"));
    assert_eq!(fs::read_to_string(&pipes.command).unwrap(), "sftp");

    let pipes = Pipes::new(&tmp.path().join("down"));
    let mut client = Command::new(SCP);
    client
        .arg("-S")
        .arg(&pipes.script)
        .arg("host:a.bin")
        .arg(local.join("back.bin"));
    let (_, ops, _) = run_sftp(client, &pipes, &remote);
    assert_eq!(fs::read(local.join("back.bin")).unwrap(), data);
    let get = find(&ops, "read", &format!("{r}/a.bin"));
    assert_eq!((get.bytes, get.outcome.as_str()), (Some(123_457), "ok"));
}

/// `scp -O`: the legacy protocol over an exec request. The remote command reads as an scp
/// request, and the sending side's control lines name every file with its size.
#[test]
fn legacy_scp_through_a_byte_relay() {
    if !installed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("remote");
    let local = tmp.path().join("local");
    fs::create_dir_all(remote.join("in")).unwrap();
    fs::create_dir_all(local.join("tree/sub")).unwrap();
    fs::write(local.join("tree/top.txt"), b"hello").unwrap();
    fs::write(local.join("tree/sub/inner.bin"), vec![9u8; 70_000]).unwrap();

    // Upload of a tree: `scp -r -t in`.
    let pipes = Pipes::new(&tmp.path().join("up"));
    let mut client = Command::new(SCP);
    client
        .arg("-O")
        .arg("-r")
        .arg("-S")
        .arg(&pipes.script)
        .arg(local.join("tree"))
        .arg("host:in");
    let (_, argv, events) = run_scp_legacy(client, &pipes, &remote);
    let req = scp_from_argv(&argv).unwrap();
    assert_eq!(req.direction, ScpDirection::Upload);
    assert!(req.recursive);
    let facts = req.facts("/home/alice");
    assert_eq!(facts.len(), 1);
    assert_eq!(facts[0].path, "/home/alice/in");
    assert_eq!(facts[0].operation, FileOperation::Create);
    let mut files: Vec<(String, u64)> = events
        .iter()
        .filter_map(|e| match e {
            ScpEvent::File { path, size, .. } => Some((path.clone(), *size)),
            _ => None,
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            ("tree/sub/inner.bin".to_string(), 70_000),
            ("tree/top.txt".to_string(), 5)
        ]
    );
    assert_eq!(fs::read(remote.join("in/tree/top.txt")).unwrap(), b"hello");
    assert_eq!(
        fs::read(remote.join("in/tree/sub/inner.bin"))
            .unwrap()
            .len(),
        70_000
    );

    // Download of one file: `scp -f in/tree/top.txt`.
    let pipes = Pipes::new(&tmp.path().join("down"));
    let mut client = Command::new(SCP);
    client
        .arg("-O")
        .arg("-S")
        .arg(&pipes.script)
        .arg("host:in/tree/top.txt")
        .arg(local.join("got.txt"));
    let (_, argv, events) = run_scp_legacy(client, &pipes, &remote);
    let req = scp_from_argv(&argv).unwrap();
    assert_eq!(req.direction, ScpDirection::Download);
    assert_eq!(
        req.facts("/home/alice")[0].path,
        "/home/alice/in/tree/top.txt"
    );
    assert!(events.contains(&ScpEvent::File {
        path: "top.txt".into(),
        mode: 0o644,
        size: 5
    }));
    assert_eq!(fs::read(local.join("got.txt")).unwrap(), b"hello");
}
