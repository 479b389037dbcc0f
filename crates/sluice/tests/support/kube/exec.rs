//! `pods/NAME/exec` (and `attach`, to a shell): the upgrade (WebSocket or SPDY) and the fake
//! container's commands.
//!
//! The container speaks in channel numbers (1 stdout, 2 stderr) whatever the transport; the
//! transports map them to WebSocket channel bytes or SPDY streams.

use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::api::{full, status_error, Body, Query};
use super::{spdy, websocket, State};

/// Preferred first: v5 adds the stdin-close signal that `kubectl exec -i ... cat` needs.
pub const WEBSOCKET_PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// The SPDY stream protocols spoken, preferred first: v4 reports the exit as Status JSON on
/// the error stream, v3 and v2 as plain text (and v2 has no resize stream).
pub const SPDY_PROTOCOLS: &[&str] = &[
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
];

/// What an exec asked for.
#[derive(Clone, Debug)]
pub struct Spec {
    pub pod: String,
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    /// Where what the session carries is written down for the test to read.
    pub record: Arc<Mutex<ExecRecord>>,
}

/// One exec as the fake container lived it, for tests to check what a gateway passed on.
#[derive(Clone, Debug, Default)]
pub struct ExecRecord {
    pub namespace: String,
    pub pod: String,
    pub command: Vec<String>,
    pub tty: bool,
    /// "websocket v5.channel.k8s.io", "spdy v4.channel.k8s.io", ...
    pub transport: String,
    /// Every byte that arrived on stdin, in order.
    pub stdin: Vec<u8>,
    /// Terminal sizes (width, height) the client sent.
    pub resizes: Vec<(u16, u16)>,
    /// None while the command runs.
    pub exit_code: Option<i32>,
}

impl ExecRecord {
    /// Reads resize messages (`{"Width":..,"Height":..}`, possibly several in a row).
    pub fn resized(&mut self, json: &[u8]) {
        for size in serde_json::Deserializer::from_slice(json).into_iter::<Value>() {
            let Ok(size) = size else { break };
            let dim = |k: &str| u16::try_from(size[k].as_u64().unwrap_or(0)).unwrap_or(u16::MAX);
            self.resizes.push((dim("Width"), dim("Height")));
        }
    }
}

pub fn exec(
    state: &Arc<State>,
    mut req: Request<Incoming>,
    q: &Query,
    upgrade: Option<String>,
    ns: &str,
    name: &str,
) -> Response<Body> {
    let Some(pod) = state.store.get("pods", ns, name) else {
        return status_error(
            404,
            "NotFound",
            &format!("pods \"{name}\" not found"),
            Some(json!({"name": name, "kind": "pods"})),
        );
    };
    let containers: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    if let Some(c) = q.get("container") {
        if !containers.contains(&c) {
            return status_error(
                400,
                "BadRequest",
                &format!("container {c} is not valid for pod {name}"),
                None,
            );
        }
    }
    // Attaching joins the container's main process: here, an interactive shell.
    let attach = req.uri().path().ends_with("/attach");
    let command = if attach {
        vec!["sh".to_owned()]
    } else {
        q.all("command")
    };
    if command.is_empty() {
        return status_error(
            400,
            "BadRequest",
            "you must specify at least 1 command",
            None,
        );
    }
    let record = Arc::new(Mutex::new(ExecRecord {
        namespace: ns.to_owned(),
        pod: name.to_owned(),
        command: command.clone(),
        tty: q.flag("tty"),
        ..ExecRecord::default()
    }));
    let spec = Spec {
        pod: name.to_owned(),
        command,
        stdin: q.flag("stdin"),
        stdout: q.flag("stdout"),
        stderr: q.flag("stderr"),
        tty: q.flag("tty"),
        record: record.clone(),
    };
    let is_websocket = req
        .headers()
        .get("upgrade")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let guard = state.stream_guard();
    if is_websocket {
        let Some(protocol) = upgrade else {
            return status_error(
                400,
                "BadRequest",
                "none of the offered WebSocket subprotocols is supported",
                None,
            );
        };
        let Some(key) = websocket::key(&req) else {
            return status_error(400, "BadRequest", "no Sec-WebSocket-Key", None);
        };
        record.lock().unwrap().transport = format!("websocket {protocol}");
        state.execs.lock().unwrap().push(record);
        let on_upgrade = hyper::upgrade::on(&mut req);
        let response = websocket::switching(&key, &protocol);
        tokio::spawn(async move {
            let _guard = guard;
            if let Ok(io) = on_upgrade.await {
                websocket::exec(hyper_util::rt::TokioIo::new(io), &protocol, spec).await;
            }
        });
        return response;
    }
    if upgrade
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case("SPDY/3.1"))
    {
        let Some(protocol) = spdy::choose(&req, SPDY_PROTOCOLS) else {
            return status_error(
                403,
                "Forbidden",
                "none of the offered stream protocols is supported",
                None,
            );
        };
        record.lock().unwrap().transport = format!("spdy {protocol}");
        state.execs.lock().unwrap().push(record);
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let _guard = guard;
            if let Ok(io) = on_upgrade.await {
                spdy::exec(hyper_util::rt::TokioIo::new(io), protocol, spec).await;
            }
        });
        return spdy::switching(protocol);
    }
    drop(guard);
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .body(full("Upgrade request required"))
        .unwrap()
}

/// The Status an exec ends with, as the kubelet reports it.
pub fn exit_status(code: i32) -> Value {
    if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({"metadata": {}, "status": "Failure",
               "message": format!("command terminated with non-zero exit code: exit status {code}"),
               "reason": "NonZeroExitCode",
               "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
    }
}

/// The fake container's side of one exec: stdin chunks in (the channel closes at end of
/// input), output out as (channel, bytes) with 1 = stdout and 2 = stderr.
pub struct Process {
    /// Fed by the transports, which also record each chunk.
    pub stdin: mpsc::UnboundedReceiver<Vec<u8>>,
    pub out: mpsc::UnboundedSender<(u8, Vec<u8>)>,
    pub tty: bool,
}

impl Process {
    fn write(&self, channel: u8, text: &str) {
        // A terminal turns "\n" into "\r\n" (onlcr); with a tty there is only one stream.
        let (channel, text) = if self.tty {
            (1, text.replace('\n', "\r\n"))
        } else {
            (channel, text.to_owned())
        };
        let _ = self.out.send((channel, text.into_bytes()));
    }

    fn stdout(&self, text: &str) {
        self.write(1, text);
    }

    fn stderr(&self, text: &str) {
        self.write(2, text);
    }
}

/// Runs `command` in the fake container; returns its exit code (also recorded).
pub async fn run(spec: &Spec, p: Process) -> i32 {
    let code = run_command(spec, p).await;
    spec.record.lock().unwrap().exit_code = Some(code);
    code
}

async fn run_command(spec: &Spec, mut p: Process) -> i32 {
    let args = &spec.command[1..];
    match spec.command[0].as_str() {
        "echo" => {
            p.stdout(&format!("{}\n", args.join(" ")));
            0
        }
        "cat" => {
            while let Some(chunk) = p.stdin.recv().await {
                let _ = p.out.send((1, chunk));
            }
            0
        }
        "fail" => {
            p.stderr("boom\n");
            2
        }
        "env" => {
            p.stdout(&format!(
                "HOSTNAME={}\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOME=/root\n",
                spec.pod
            ));
            0
        }
        "sh" | "bash" | "/bin/sh" | "/bin/bash" => {
            if args.first().map(String::as_str) == Some("-c") {
                let line = args.get(1).cloned().unwrap_or_default();
                return shell_line(&p, &line).unwrap_or(0);
            }
            shell(p).await
        }
        other => {
            p.stderr(&format!(
                "exec: \"{other}\": executable file not found in $PATH\n"
            ));
            127
        }
    }
}

/// One shell command line; `Some(code)` when it was `exit`.
fn shell_line(p: &Process, line: &str) -> Option<i32> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => None,
        ["exit"] => Some(0),
        ["exit", code, ..] => Some(code.parse().unwrap_or(2)),
        ["echo", rest @ ..] => {
            p.stdout(&format!("{}\n", rest.join(" ")));
            None
        }
        [cmd, ..] => {
            p.stderr(&format!("sh: {cmd}: not found\n"));
            None
        }
    }
}

/// An interactive shell: a `$ ` prompt, one command per line. With a tty, input arrives raw
/// (kubectl puts the terminal in raw mode), so the shell echoes what is typed and takes CR as
/// the end of a line, as a terminal's line discipline would.
async fn shell(mut p: Process) -> i32 {
    let mut line = String::new();
    p.stdout("$ ");
    while let Some(chunk) = p.stdin.recv().await {
        for &b in &chunk {
            match b {
                b'\r' | b'\n' => {
                    if p.tty {
                        p.stdout("\n");
                    }
                    if let Some(code) = shell_line(&p, &line) {
                        return code;
                    }
                    line.clear();
                    p.stdout("$ ");
                }
                0x04 if p.tty && line.is_empty() => return 0,
                0x03 if p.tty => {
                    line.clear();
                    p.stdout("^C\n$ ");
                }
                0x7f | 0x08 if p.tty => {
                    if line.pop().is_some() {
                        p.stdout("\x08 \x08");
                    }
                }
                b => {
                    line.push(char::from(b));
                    if p.tty {
                        p.stdout(&char::from(b).to_string());
                    }
                }
            }
        }
    }
    0
}
