#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `sluice sessions` on the recording kinds no protocol writes yet (terminal, HTTP, file):
//! recordings are made with sluice-record's own `Recorder` and `FileStore`, and the audit
//! records a gateway would write with `AuditLog`, in a gateway's data directory; the real
//! binary then lists, shows, searches, replays and exports them. No gateway or database is
//! needed: the CLI reads files only.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sluice_audit::{AuditEvent, AuditLog, Durability, RecordingSeal};
use sluice_record::{
    Body, FileOp, FileStore, Header, HttpExchange, Limits, RecordedDecision, Recorder,
    RecordingStore, TerminalHeader,
};

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// A recorder whose clock the test sets, so every `t` is known.
struct Clocked {
    recorder: Recorder,
    micros: Arc<AtomicU64>,
}

impl Clocked {
    fn at(&mut self, seconds: f64) -> &mut Recorder {
        self.micros
            .store((seconds * 1e6).round() as u64, Ordering::SeqCst);
        &mut self.recorder
    }
}

fn clock() -> (
    Arc<AtomicU64>,
    impl Fn() -> Duration + Send + Sync + 'static,
) {
    let micros = Arc::new(AtomicU64::new(0));
    let read = Arc::clone(&micros);
    (micros, move || {
        Duration::from_micros(read.load(Ordering::SeqCst))
    })
}

fn header(session: &str, target: &str, database: &str, protocol: &str, kind: &str) -> Header {
    Header {
        session: session.to_owned(),
        identity: "ada".to_owned(),
        target: target.to_owned(),
        database: database.to_owned(),
        protocol: protocol.to_owned(),
        client_addr: "127.0.0.1:50022".to_owned(),
        started_at: "2025-01-02T03:04:05.678Z".to_owned(),
        kind: kind.to_owned(),
    }
}

fn recorder(header: &Header, terminal: Option<&TerminalHeader>) -> Clocked {
    let (micros, clock) = clock();
    let recorder = match terminal {
        Some(terminal) => Recorder::terminal_with_clock(header, terminal, Limits::default(), clock),
        None => Recorder::with_clock(header, Limits::default(), clock),
    };
    Clocked { recorder, micros }
}

fn decision(verdict: &str, rule: &str) -> RecordedDecision {
    RecordedDecision {
        verdict: verdict.to_owned(),
        rule: rule.to_owned(),
        policy: "v3".to_owned(),
    }
}

/// A gateway's data directory: configuration, audit trail, recordings.
struct Data {
    /// Removed when the test ends.
    _dir: tempfile::TempDir,
    config: PathBuf,
    store: FileStore,
    audit: AuditLog,
}

impl Data {
    fn new() -> Data {
        let dir = tempfile::Builder::new()
            .prefix("sluice-recording-kinds-")
            .tempdir()
            .unwrap();
        let config = dir.path().join("sluice.toml");
        std::fs::write(
            &config,
            format!(
                "[gateway]\ndata_dir = \"{}\"\n\n[policy]\nbuiltin = \"allow-all\"\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let store = FileStore::new(dir.path().join("recordings"));
        let audit = AuditLog::open(&dir.path().join("audit.jsonl"), Durability::Strict).unwrap();
        Data {
            _dir: dir,
            config,
            store,
            audit,
        }
    }

    /// Stores the finished recording; with `audited`, also the session's start and end
    /// records, the end sealing the recording as a gateway's does.
    async fn keep(&self, clocked: Clocked, header: &Header, audited: bool) {
        let Clocked { mut recorder, .. } = clocked;
        let session = header.session.as_str();
        self.store.append(session, &recorder.take()).await.unwrap();
        let statements = recorder.statements();
        let (rest, digest) = recorder.finish("client closed the connection");
        self.store.append(session, &rest).await.unwrap();
        self.store.finish(session).await.unwrap();
        if !audited {
            return;
        }
        self.audit
            .record(&AuditEvent::SessionStarted {
                session: session.to_owned(),
                identity: header.identity.clone(),
                identity_kind: "human".to_owned(),
                client_addr: header.client_addr.clone(),
                target: header.target.clone(),
                database: header.database.clone(),
                protocol: header.protocol.clone(),
                tls: true,
                application_name: None,
                settings: Default::default(),
                task: None,
                rule: None,
            })
            .await
            .unwrap();
        self.audit
            .record(&AuditEvent::SessionEnded {
                session: session.to_owned(),
                identity: header.identity.clone(),
                target: header.target.clone(),
                bytes_from_client: 10,
                bytes_to_client: 100,
                statements,
                reason: "client closed the connection".to_owned(),
                duration_ms: 2000,
                recording: Some(RecordingSeal {
                    sha256: digest.sha256,
                    bytes: digest.bytes,
                    truncated: digest.truncated,
                }),
                task: None,
            })
            .await
            .unwrap();
    }

    fn recording(&self, session: &str) -> Vec<u8> {
        std::fs::read(self.store.path(session).unwrap()).unwrap()
    }
}

fn sessions(config: &Path, args: &[&str]) -> Output {
    std::process::Command::new(BIN)
        .arg("sessions")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A shell (output, input, a resize), a refused `exec`, the shell's exit.
async fn terminal(data: &Data) {
    let header = header("t_term", "web-1", "deploy", "ssh", "terminal");
    let screen = TerminalHeader {
        width: 80,
        height: 24,
        term: "xterm-256color".to_owned(),
        command: None,
    };
    let mut r = recorder(&header, Some(&screen));
    r.at(0.1)
        .request(1, "shell", "", &decision("allow", "ops_shell"));
    r.at(0.2).terminal_output(Some(1), b"$ ");
    r.at(0.5).terminal_input(Some(1), b"ls\r");
    r.at(0.6)
        .terminal_output(Some(1), b"ls\r\nreport.csv\r\n$ ");
    r.at(0.8).terminal_resize(Some(1), 100, 30);
    r.at(1.0).request(
        2,
        "exec",
        "cat /srv/data/report.csv",
        &decision("deny", "no_reading"),
    );
    r.at(1.5).complete(1, "exit 0", 1_400_000);
    r.at(2.0);
    data.keep(r, &header, true).await;
}

/// An allowed GET and a refused DELETE.
async fn http(data: &Data) {
    let header = header("t_http", "api", "", "https", "http");
    let mut r = recorder(&header, None);
    r.at(0.8).request(
        1,
        "GET",
        "api.internal/v1/users?limit=10",
        &decision("allow", "read_api"),
    );
    r.at(0.85).http(
        1,
        &HttpExchange {
            method: "GET".to_owned(),
            host: "api.internal".to_owned(),
            path: "/v1/users?limit=10".to_owned(),
            status: Some(200),
            response_body: Body {
                bytes: 5120,
                ..Body::default()
            },
            duration_us: 8123,
            ..HttpExchange::default()
        },
    );
    r.at(1.2).request(
        2,
        "DELETE",
        "api.internal/v1/users/7",
        &decision("deny", "no_deletes"),
    );
    r.at(1.21).http(
        2,
        &HttpExchange {
            method: "DELETE".to_owned(),
            host: "api.internal".to_owned(),
            path: "/v1/users/7".to_owned(),
            status: Some(403),
            ..HttpExchange::default()
        },
    );
    data.keep(r, &header, true).await;
}

/// An upload and a refused removal; no audit records, so `show` has only the recording.
async fn file(data: &Data) {
    let header = header("t_file", "files", "deploy", "sftp", "file");
    let mut r = recorder(&header, None);
    r.at(2.0).request(
        1,
        "write",
        "/srv/data/report.csv",
        &decision("allow", "files"),
    );
    r.at(2.5).file(
        1,
        &FileOp {
            op: "write".to_owned(),
            path: "/srv/data/report.csv".to_owned(),
            bytes: Some(1024),
            outcome: "ok".to_owned(),
            ..FileOp::default()
        },
    );
    r.at(3.0).request(
        2,
        "remove",
        "/etc/passwd",
        &decision("deny", "no_system_files"),
    );
    r.at(3.0).file(
        2,
        &FileOp {
            op: "remove".to_owned(),
            path: "/etc/passwd".to_owned(),
            outcome: "denied".to_owned(),
            message: "refused by policy".to_owned(),
            ..FileOp::default()
        },
    );
    data.keep(r, &header, false).await;
}

/// A SQL session beside them, written as version 1 as ever.
async fn sql(data: &Data) {
    let header = header("t_sql", "shop", "shop", "postgres", "sql");
    let mut r = recorder(&header, None);
    r.at(0.25).statement(
        1,
        "SELECT * FROM report_runs",
        &decision("allow", "allow_reads"),
    );
    r.at(0.3).complete(1, "SELECT 0", 500);
    data.keep(r, &header, true).await;
}

async fn all_kinds() -> Data {
    let data = Data::new();
    terminal(&data).await;
    http(&data).await;
    file(&data).await;
    sql(&data).await;
    data
}

#[tokio::test]
async fn show_lists_requests_with_decisions_and_outcomes() {
    let data = all_kinds().await;
    let shown = ok(&sessions(&data.config, &["show", "t_term"]));
    assert!(shown.contains("identity    ada"), "{shown}");
    assert!(
        shown.contains("target      web-1 (account deploy)"),
        "{shown}"
    );
    assert!(shown.contains("recording   "), "{shown}");
    assert!(
        shown.contains("kind        terminal (ssh), 80x24 xterm-256color"),
        "{shown}"
    );
    let lines: Vec<&str> = shown.lines().collect();
    let entry = |n: &str| {
        let at = lines
            .iter()
            .position(|l| l.trim_start().starts_with(&format!("{n}  +")))
            .unwrap_or_else(|| panic!("no entry {n}:\n{shown}"));
        (lines[at], lines[at + 1].trim())
    };
    let (first, text) = entry("1");
    assert!(
        first.contains("allow ops_shell") && first.ends_with("exit 0"),
        "{first}"
    );
    assert_eq!(text, "shell");
    let (second, text) = entry("2");
    assert!(
        second.contains("deny  no_reading") && second.ends_with("refused"),
        "{second}"
    );
    assert_eq!(text, "exec cat /srv/data/report.csv");

    let shown = ok(&sessions(&data.config, &["show", "t_http"]));
    assert!(shown.contains("kind        http (https)"), "{shown}");
    assert!(shown.contains("target      api\n"), "{shown}");
    assert!(shown.contains("allow read_api"), "{shown}");
    assert!(shown.contains("200 5120B"), "{shown}");
    assert!(
        shown.contains("GET api.internal/v1/users?limit=10"),
        "{shown}"
    );
    assert!(shown.contains("deny  no_deletes"), "{shown}");
    assert!(shown.contains("403 0B"), "{shown}");

    // No audit records: the recording's header says whose session it was.
    let shown = ok(&sessions(&data.config, &["show", "t_file"]));
    assert!(
        shown.contains(
            "ended       3.000s after it started: client closed the connection (the audit trail has no record of it)"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("target      files (account deploy)"),
        "{shown}"
    );
    assert!(shown.contains("ok 1024B"), "{shown}");
    assert!(shown.contains("write /srv/data/report.csv"), "{shown}");
    assert!(shown.contains("denied (refused by policy)"), "{shown}");
    assert!(shown.contains("remove /etc/passwd"), "{shown}");

    // SQL sessions show as before.
    let shown = ok(&sessions(&data.config, &["show", "t_sql"]));
    assert!(shown.contains("SELECT 0"), "{shown}");
    assert!(shown.contains("SELECT * FROM report_runs"), "{shown}");
    assert!(
        shown.contains("target      shop (database shop)"),
        "{shown}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&ok(&sessions(&data.config, &["show", "t_term", "--json"]))).unwrap();
    assert_eq!(json["kind"], "terminal");
    assert_eq!(json["terminal"]["width"], 80);
    assert_eq!(json["requests"].as_array().unwrap().len(), 2);
    assert_eq!(json["requests"][1]["decision"]["verdict"], "deny");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&sessions(&data.config, &["show", "t_sql", "--json"]))).unwrap();
    assert!(json.get("requests").is_none(), "{json}");
    assert_eq!(json["statements"].as_array().unwrap().len(), 1);

    let list = ok(&sessions(&data.config, &["list"]));
    assert!(list.contains("t_term") && list.contains("t_http"), "{list}");
}

#[tokio::test]
async fn search_prints_requests_as_well_as_statements() {
    let data = all_kinds().await;
    let found = ok(&sessions(&data.config, &["search", "REPORT"]));
    let hit = |session: &str| {
        found
            .lines()
            .find(|l| l.starts_with(session))
            .unwrap_or_else(|| panic!("no hit in {session}:\n{found}"))
    };
    assert!(
        // A statement's hit reads as it did before other kinds existed; a request's names
        // its verdict.
        hit("t_sql").ends_with("#1  SELECT * FROM report_runs"),
        "{found}"
    );
    assert!(
        hit("t_term").ends_with("ada@web-1  #2  deny  exec cat /srv/data/report.csv"),
        "{found}"
    );
    assert!(
        hit("t_file").ends_with("ada@files  #1  allow write /srv/data/report.csv"),
        "{found}"
    );
    assert_eq!(found.lines().count(), 3, "{found}");

    let json = ok(&sessions(&data.config, &["search", "/v1/users", "--json"]));
    let hits: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 2, "{json}");
    assert_eq!(hits[0]["session"], "t_http");
    assert_eq!(hits[0]["kind"], "http");
    assert_eq!(hits[0]["request"], 1);
    assert_eq!(hits[0]["action"], "GET");
    assert_eq!(hits[0]["text"], "api.internal/v1/users?limit=10");
    assert_eq!(hits[1]["verdict"], "deny");
    assert_eq!(hits[1]["rule"], "no_deletes");

    let none = sessions(&data.config, &["search", "nowhere to be found"]);
    assert!(none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no recorded statement contains"));
}

#[tokio::test]
async fn replay_renders_every_kind_timed_or_not() {
    let data = all_kinds().await;
    // The terminal's output as the user saw it: not the input (the terminal echoed it), not
    // the resize; the refused command where it happened.
    let screen = "$ ls\r\nreport.csv\r\n$ -- exec cat /srv/data/report.csv [deny no_reading]\n";
    assert_eq!(ok(&sessions(&data.config, &["replay", "t_term"])), screen);
    let timed = ok(&sessions(
        &data.config,
        &["replay", "t_term", "--timing", "--speed", "20"],
    ));
    assert_eq!(timed, screen);

    let http = ok(&sessions(&data.config, &["replay", "t_http"]));
    assert!(
        http.contains(
            "0.800s GET api.internal/v1/users?limit=10 -> 200 5120B 8.123ms [allow read_api]"
        ),
        "{http}"
    );
    assert!(
        http.contains("DELETE api.internal/v1/users/7 -> 403"),
        "{http}"
    );
    let file = ok(&sessions(
        &data.config,
        &["replay", "t_file", "--timing", "--max-pause", "10ms"],
    ));
    assert!(
        file.contains("2.000s write /srv/data/report.csv (1024B): ok [allow files]"),
        "{file}"
    );
    assert!(
        file.contains("remove /etc/passwd: denied (refused by policy) [deny no_system_files]"),
        "{file}"
    );
}

#[tokio::test]
async fn a_terminal_recording_exports_as_asciicast() {
    let data = all_kinds().await;
    let cast = ok(&sessions(
        &data.config,
        &["replay", "t_term", "--asciicast"],
    ));
    let recording = sluice_record::parse(&data.recording("t_term")).unwrap();
    assert_eq!(cast, sluice_record::to_asciicast(&recording).unwrap());
    let lines: Vec<serde_json::Value> = cast
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["version"], 2);
    assert_eq!(lines[0]["width"], 80);
    assert_eq!(lines[0]["height"], 24);
    assert_eq!(lines[0]["env"]["TERM"], "xterm-256color");
    assert_eq!(lines[0]["duration"], 2.0);
    assert_eq!(
        lines[1..],
        [
            serde_json::json!([0.2, "o", "$ "]),
            serde_json::json!([0.5, "i", "ls\r"]),
            serde_json::json!([0.6, "o", "ls\r\nreport.csv\r\n$ "]),
            serde_json::json!([0.8, "r", "100x30"]),
        ]
    );

    for (session, kind) in [("t_http", "http"), ("t_file", "file"), ("t_sql", "sql")] {
        let refused = sessions(&data.config, &["replay", session, "--asciicast"]);
        assert!(!refused.status.success());
        assert!(refused.stdout.is_empty());
        let error = String::from_utf8_lossy(&refused.stderr);
        assert!(
            error.contains(&format!(
                "session {session} is not a terminal session (its recording is of kind {kind}): only terminal recordings export as asciicast"
            )),
            "{error}"
        );
    }
    let both = sessions(
        &data.config,
        &["replay", "t_term", "--asciicast", "--timing"],
    );
    assert!(!both.status.success(), "--asciicast and --timing together");
}
