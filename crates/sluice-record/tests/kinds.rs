//! Format version 2: terminal, HTTP and file recordings written, read back
//! and rendered; the asciicast export; caps on terminal output; and version
//! 1 recordings still reading and rendering as before.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{allow, header, row, Clock};
use sluice_record::{
    parse, render, render_psql, replay_timed, search, to_asciicast, Body, CapHit, FileOp, Header,
    HttpExchange, Item, Limits, RecordError, RecordedDecision, Recording, TerminalHeader,
    KIND_FILE, KIND_HTTP, KIND_SQL, KIND_TERMINAL,
};

fn deny() -> RecordedDecision {
    RecordedDecision {
        verdict: "deny".to_owned(),
        rule: "no_deletes".to_owned(),
        policy: "v1".to_owned(),
    }
}

fn header_of(session: &str, kind: &str, protocol: &str) -> Header {
    Header {
        kind: kind.to_owned(),
        protocol: protocol.to_owned(),
        ..header(session)
    }
}

fn rendered(recording: &Recording) -> String {
    let mut out = String::new();
    render(recording, &mut out).unwrap();
    out
}

fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

fn screen() -> TerminalHeader {
    TerminalHeader {
        width: 80,
        height: 24,
        term: "xterm-256color".to_owned(),
        command: None,
    }
}

/// A shell session: output (with a character split between two reads),
/// input, a resize, a marker, a refused exec, the shell's exit.
fn terminal_session() -> Vec<u8> {
    let clock = Clock::default();
    let hdr = header_of("s_term", KIND_TERMINAL, "ssh");
    let mut rec = clock.recorder_terminal(&hdr, &screen(), Limits::default());
    clock.set_ms(100);
    assert_eq!(rec.request(1, "shell", "", &allow()), CapHit::None);
    clock.set_ms(500);
    assert_eq!(rec.terminal_output(Some(1), b"$ ls\r\n"), CapHit::None);
    let e_acute = "é".as_bytes();
    clock.set_ms(600);
    assert_eq!(rec.terminal_output(Some(1), &e_acute[..1]), CapHit::None);
    clock.set_ms(650);
    rec.terminal_input(Some(1), b"ls\r");
    clock.set_ms(700);
    let mut rest = e_acute[1..].to_vec();
    rest.extend_from_slice(b"\r\n");
    rec.terminal_output(Some(1), &rest);
    clock.set_ms(800);
    rec.terminal_resize(Some(1), 100, 30);
    clock.set_ms(900);
    rec.terminal_marker(Some(1), "before deploy");
    clock.set_ms(1_000);
    rec.request(2, "exec", "rm -rf /", &deny());
    clock.set_ms(2_000);
    rec.terminal_output(Some(1), b"bye\r\n");
    clock.set_ms(2_100);
    rec.complete(1, "exit 0", 2_000_000);
    clock.set_ms(2_500);
    let (bytes, digest) = rec.finish("client closed the connection");
    assert!(!digest.truncated);
    bytes
}

#[test]
fn terminal_round_trip() {
    let bytes = terminal_session();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        r#"{"type":"header","format":"sluice-recording","version":2,"session":"s_term","kind":"terminal","identity":"ada@example.com","target":"shop","database":"shop","protocol":"ssh","client_addr":"127.0.0.1:50000","started_at":"2025-01-02T03:04:05.678Z","width":80,"height":24,"term":"xterm-256color","command":null}"#
    );
    assert_eq!(
        lines.next().unwrap(),
        r#"{"type":"request","n":1,"t":0.1,"action":"shell","text":"","decision":{"verdict":"allow","rule":"allow_reads","policy":"v1"}}"#
    );
    assert_eq!(
        lines.next().unwrap(),
        r#"{"type":"terminal","n":1,"t":0.5,"event":"o","data":"$ ls\r\n"}"#
    );
    // The split character is written whole, when its last byte arrived.
    assert!(text.contains(r#"{"type":"terminal","n":1,"t":0.7,"event":"o","data":"é\r\n"}"#));
    assert!(text.contains(r#"{"type":"terminal","n":1,"t":0.8,"event":"r","data":"100x30"}"#));
    assert!(text.ends_with(
        "{\"type\":\"end\",\"t\":2.5,\"reason\":\"client closed the connection\",\"statements\":2}\n"
    ));

    let recording = parse(&bytes).unwrap();
    assert_eq!(recording.version, 2);
    assert_eq!(recording.header.kind, KIND_TERMINAL);
    assert_eq!(recording.terminal, Some(screen()));
    assert_eq!(recording.skipped_lines, 0);
    let codes: Vec<&str> = recording
        .terminal_events()
        .map(|e| e.code.as_str())
        .collect();
    assert_eq!(codes, ["o", "i", "o", "r", "m", "o"]);
    let shell = recording.request(1).unwrap();
    assert_eq!((shell.action.as_str(), shell.t), ("shell", 0.1));
    assert_eq!(shell.complete.as_ref().unwrap().tag, "exit 0");
    assert_eq!(recording.request(2).unwrap().decision, deny());
    assert_eq!(recording.statements().count(), 0);

    assert_eq!(
        rendered(&recording),
        "$ ls\r\né\r\n-- exec rm -rf / [deny no_deletes]\nbye\r\n"
    );
    let mut psql = String::new();
    render_psql(&recording, &mut psql).unwrap();
    assert_eq!(psql, rendered(&recording));
    assert_eq!(search(&recording, "RM -RF"), [2]);
}

#[test]
fn terminal_replay_follows_the_event_times() {
    let recording = parse(&terminal_session()).unwrap();
    let chunks = replay_timed(&recording, 1.0, None);
    let delays: Vec<Duration> = chunks.iter().map(|(d, _)| *d).collect();
    assert_eq!(
        delays,
        [500, 200, 300, 1_000].map(Duration::from_millis),
        "{chunks:?}"
    );
    assert_eq!(chunks[0].1, "$ ls\r\n");
    let joined: String = chunks.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(joined, rendered(&recording));
    let fast = replay_timed(&recording, 2.0, Some(Duration::from_millis(400)));
    assert_eq!(fast[3].0, Duration::from_millis(400));
}

#[test]
fn terminal_recordings_export_to_asciicast_v2() {
    let recording = parse(&terminal_session()).unwrap();
    let cast = to_asciicast(&recording).unwrap();
    assert!(cast.ends_with('\n'));
    let lines: Vec<serde_json::Value> = cast
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let head = lines[0].as_object().unwrap();
    assert_eq!(head["version"], 2);
    assert_eq!(head["width"], 80);
    assert_eq!(head["height"], 24);
    assert_eq!(head["timestamp"], 1_735_787_045);
    assert_eq!(head["duration"], 2.5);
    assert_eq!(head["env"]["TERM"], "xterm-256color");
    assert!(head.get("command").is_none(), "an interactive shell");

    let events = &lines[1..];
    assert_eq!(events.len(), recording.terminal_events().count());
    for (event, recorded) in events.iter().zip(recording.terminal_events()) {
        let event = event.as_array().unwrap();
        assert_eq!(event.len(), 3);
        assert_eq!(event[0].as_f64().unwrap(), recorded.t);
        assert_eq!(event[1], recorded.code.as_str());
        assert_eq!(event[2], recorded.data.as_str());
    }
    assert_eq!(events[0], serde_json::json!([0.5, "o", "$ ls\r\n"]));
    assert_eq!(events[1], serde_json::json!([0.65, "i", "ls\r"]));
    assert_eq!(events[3], serde_json::json!([0.8, "r", "100x30"]));
    assert_eq!(events[4], serde_json::json!([0.9, "m", "before deploy"]));

    // A command's recording names it, as asciicast's header does.
    let command = TerminalHeader {
        command: Some("uptime".to_owned()),
        ..screen()
    };
    let rec = sluice_record::Recorder::new_terminal(
        &header_of("s_cmd", KIND_TERMINAL, "ssh"),
        &command,
        Limits::default(),
    );
    let recording = parse(&rec.finish("done").0).unwrap();
    let cast = to_asciicast(&recording).unwrap();
    let head: serde_json::Value = serde_json::from_str(cast.lines().next().unwrap()).unwrap();
    assert_eq!(head["command"], "uptime");

    // Only a terminal recording has a screen to export.
    let sql = parse(
        &sluice_record::Recorder::new(&header("s_sql"), Limits::default())
            .finish("done")
            .0,
    )
    .unwrap();
    assert!(matches!(
        to_asciicast(&sql),
        Err(RecordError::NotATerminal(kind)) if kind == KIND_SQL
    ));
}

#[test]
fn terminal_output_is_capped_with_one_marker() {
    let cap = 2048;
    let clock = Clock::default();
    let mut rec = clock.recorder_terminal(
        &header_of("s_tcap", KIND_TERMINAL, "ssh"),
        &screen(),
        Limits {
            max_session_bytes: cap,
            ..Limits::default()
        },
    );
    let mut all = rec.take();
    rec.request(1, "shell", "", &allow());
    let chunk = "x".repeat(64);
    let hits: Vec<CapHit> = (0..100)
        .map(|_| rec.terminal_output(Some(1), chunk.as_bytes()))
        .collect();
    let first = hits.iter().position(|h| *h != CapHit::None).unwrap();
    assert!(first > 5, "some output fits: {first}");
    assert!(hits[first..].iter().all(|h| *h == CapHit::SessionCap));
    assert!(rec.is_session_capped());
    assert_eq!(rec.terminal_input(Some(1), b"q"), CapHit::SessionCap);
    assert_eq!(rec.terminal_resize(Some(1), 1, 1), CapHit::SessionCap);
    all.extend(rec.take());
    let (tail, digest) = rec.finish("done");
    all.extend(tail);
    assert!(digest.truncated);
    assert_eq!(digest.bytes, all.len() as u64);

    let lines = json_lines(&all);
    let markers: Vec<_> = lines.iter().filter(|l| l["type"] == "truncated").collect();
    assert_eq!(markers.len(), 1);
    assert_eq!(markers[0]["reason"], "session_cap");
    assert_eq!(markers[0]["n"], 1);
    assert_eq!(lines[lines.len() - 2]["type"], "truncated");
    assert_eq!(lines[lines.len() - 1]["type"], "end");

    let recording = parse(&all).unwrap();
    assert!(recording.is_truncated());
    assert_eq!(recording.terminal_events().count(), first);
    assert!(rendered(&recording).ends_with(&format!(
        "-- recording truncated: {}\n",
        markers[0]["detail"].as_str().unwrap()
    )));
}

#[test]
fn a_character_cut_short_at_the_end_is_not_dropped() {
    let mut rec = sluice_record::Recorder::new_terminal(
        &header_of("s_cut", KIND_TERMINAL, "ssh"),
        &screen(),
        Limits::default(),
    );
    rec.terminal_output(None, b"ok \xe4\xb8");
    let recording = parse(&rec.finish("done").0).unwrap();
    let data: Vec<&str> = recording
        .terminal_events()
        .map(|e| e.data.as_str())
        .collect();
    assert_eq!(data, ["ok ", "\u{fffd}"]);
}

fn http_session(finished: bool) -> Vec<u8> {
    let clock = Clock::default();
    let hdr = Header {
        database: String::new(),
        ..header_of("s_http", KIND_HTTP, "https")
    };
    let mut rec = clock.recorder(&hdr, Limits::default());
    clock.set_ms(100);
    rec.request(1, "GET", "api.internal/v1/users?limit=10", &allow());
    clock.set_ms(109);
    let body = format!("{{\"users\":[{}", "{\"email\":\"***\"},".repeat(400));
    let exchange = HttpExchange {
        method: "GET".to_owned(),
        host: "api.internal".to_owned(),
        path: "/v1/users?limit=10".to_owned(),
        status: Some(200),
        request_headers: vec![("accept".to_owned(), "application/json".to_owned())],
        response_headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        request_body: Body::default(),
        response_body: Body {
            bytes: 5120,
            excerpt: body,
            truncated: false,
            masked: true,
        },
        duration_us: 8_123,
    };
    assert_eq!(rec.http(1, &exchange), CapHit::None);
    clock.set_ms(200);
    rec.request(2, "DELETE", "api.internal/v1/users/7", &deny());
    rec.http(
        2,
        &HttpExchange {
            method: "DELETE".to_owned(),
            host: "api.internal".to_owned(),
            path: "/v1/users/7".to_owned(),
            status: Some(403),
            duration_us: 150,
            ..HttpExchange::default()
        },
    );
    clock.set_ms(300);
    rec.request(3, "POST", "api.internal/v1/orders", &allow());
    if finished {
        rec.finish("client closed the connection").0
    } else {
        rec.take()
    }
}

#[test]
fn http_round_trip() {
    let bytes = http_session(true);
    let lines = json_lines(&bytes);
    assert_eq!(lines[0]["version"], 2);
    assert_eq!(lines[0]["kind"], "http");
    let http = &lines[2];
    assert_eq!(http["type"], "http");
    assert_eq!(http["t"], 0.109);
    assert_eq!(http["status"], 200);
    assert_eq!(
        http["request_headers"],
        serde_json::json!([["accept", "application/json"]])
    );
    assert_eq!(
        http["request_body"],
        serde_json::json!({"bytes": 0, "excerpt": "", "truncated": false, "masked": false})
    );
    // The excerpt is cut to the cap and says so.
    let excerpt = http["response_body"]["excerpt"].as_str().unwrap();
    assert_eq!(excerpt.len(), sluice_record::BODY_EXCERPT_BYTES);
    assert_eq!(http["response_body"]["truncated"], true);
    assert_eq!(http["response_body"]["masked"], true);

    let recording = parse(&bytes).unwrap();
    assert_eq!(recording.version, 2);
    assert!(recording.terminal.is_none());
    let get = recording.request(1).unwrap();
    let exchange = get.http.as_deref().unwrap();
    assert_eq!(exchange.path, "/v1/users?limit=10");
    assert_eq!(exchange.status, Some(200));
    assert_eq!(exchange.response_headers[0].0, "content-type");
    assert_eq!(exchange.response_body.excerpt, excerpt);
    assert_eq!(get.outcome_t, Some(0.109));
    assert!(recording.request(3).unwrap().http.is_none());

    assert_eq!(
        rendered(&recording),
        "\
0.100s GET api.internal/v1/users?limit=10 -> 200 5120B 8.123ms [allow allow_reads]
0.200s DELETE api.internal/v1/users/7 -> 403 0B 0.15ms [deny no_deletes]
0.300s POST api.internal/v1/orders -> no outcome recorded [allow allow_reads]
"
    );
    assert_eq!(search(&recording, "/USERS"), [1, 2]);
    assert_eq!(search(&recording, "limit=10"), [1]);
    assert_eq!(search(&recording, "orders"), [3]);
}

#[test]
fn an_incomplete_http_recording_says_so() {
    let recording = parse(&http_session(false)).unwrap();
    assert!(!recording.is_complete());
    assert!(rendered(&recording).ends_with(
        "no outcome recorded [allow allow_reads]\n-- recording incomplete: the gateway stopped before the session ended\n"
    ));
}

#[test]
fn file_round_trip() {
    let clock = Clock::default();
    let mut rec = clock.recorder(&header_of("s_sftp", KIND_FILE, "sftp"), Limits::default());
    let op = |op: &str, path: &str| FileOp {
        op: op.to_owned(),
        path: path.to_owned(),
        outcome: "ok".to_owned(),
        ..FileOp::default()
    };
    clock.set_ms(1_000);
    rec.request(1, "write", "/srv/data/report.csv", &allow());
    clock.set_ms(1_250);
    rec.file(
        1,
        &FileOp {
            bytes: Some(1024),
            ..op("write", "/srv/data/report.csv")
        },
    );
    clock.set_ms(2_000);
    rec.request(
        2,
        "rename",
        "/srv/data/report.csv -> /srv/data/old.csv",
        &allow(),
    );
    rec.file(
        2,
        &FileOp {
            target: Some("/srv/data/old.csv".to_owned()),
            ..op("rename", "/srv/data/report.csv")
        },
    );
    clock.set_ms(3_000);
    rec.request(3, "remove", "/etc/passwd", &deny());
    rec.file(
        3,
        &FileOp {
            outcome: "denied".to_owned(),
            message: "refused by policy".to_owned(),
            ..op("remove", "/etc/passwd")
        },
    );
    let bytes = rec.finish("client closed the connection").0;
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains(
        r#"{"type":"file","n":1,"t":1.25,"op":"write","path":"/srv/data/report.csv","target":null,"bytes":1024,"outcome":"ok","message":""}"#
    ));

    let recording = parse(&bytes).unwrap();
    assert_eq!(recording.header.kind, KIND_FILE);
    let rename = recording.request(2).unwrap().file.as_deref().unwrap();
    assert_eq!(rename.target.as_deref(), Some("/srv/data/old.csv"));
    assert_eq!(rename.bytes, None);
    assert_eq!(
        recording.request(1).unwrap().file.as_deref().unwrap().bytes,
        Some(1024)
    );
    assert_eq!(
        rendered(&recording),
        "\
1.000s write /srv/data/report.csv (1024B): ok [allow allow_reads]
2.000s rename /srv/data/report.csv -> /srv/data/old.csv: ok [allow allow_reads]
3.000s remove /etc/passwd: denied (refused by policy) [deny no_deletes]
"
    );
    assert_eq!(search(&recording, "old.csv"), [2]);
    assert_eq!(search(&recording, "/etc/"), [3]);
    assert_eq!(recording.end.as_ref().unwrap().statements, 3);
}

#[test]
fn unknown_line_types_inside_version_2_are_skipped() {
    let text = String::from_utf8(terminal_session()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(2, r#"{"type":"something_newer","n":1,"payload":[1,2]}"#);
    let joined = format!("{}\n", lines.join("\n"));
    let recording = parse(joined.as_bytes()).unwrap();
    assert_eq!(recording.skipped_lines, 1);
    assert_eq!(recording, {
        let mut plain = parse(text.as_bytes()).unwrap();
        plain.skipped_lines = 1;
        plain
    });
    // A known type that does not read is still an error.
    lines[2] = r#"{"type":"terminal","n":1,"data":"no time"}"#;
    let joined = format!("{}\n", lines.join("\n"));
    assert!(matches!(
        parse(joined.as_bytes()),
        Err(RecordError::Malformed { line: 3, .. })
    ));
}

#[test]
fn a_newer_version_of_a_terminal_recording_is_refused() {
    let text = String::from_utf8(terminal_session()).unwrap().replacen(
        r#""version":2"#,
        r#""version":7"#,
        1,
    );
    let err = parse(text.as_bytes()).unwrap_err();
    assert!(matches!(
        err,
        RecordError::UnsupportedVersion {
            found: 7,
            supported: 2
        }
    ));
    assert!(err.to_string().contains("format version 7"), "{err}");
}

/// A recording as version 1 wrote it (the same session `v1_sql_is_still_written_byte_for_byte`
/// records).
const V1_RECORDING: &str = r#"{"type":"header","format":"sluice-recording","version":1,"session":"s_v1","kind":"sql","identity":"ada@example.com","target":"shop","database":"shop","protocol":"postgres","client_addr":"127.0.0.1:50000","started_at":"2025-01-02T03:04:05.678Z"}
{"type":"statement","n":1,"t":0.25,"text":"SELECT id, name FROM users","decision":{"verdict":"allow","rule":"allow_reads","policy":"v1"}}
{"type":"columns","n":1,"columns":[{"name":"id","type_oid":23},{"name":"name","type_oid":25}]}
{"type":"rows","n":1,"rows":[["1","ada"],[null,"x"]]}
{"type":"complete","n":1,"t":0.251,"tag":"SELECT 2","duration_us":812}
{"type":"statement","n":2,"t":1.5,"text":"DELETE FROM users","decision":{"verdict":"deny","rule":"no_deletes","policy":"v1"}}
{"type":"error","n":2,"t":1.5,"sqlstate":"42501","message":"permission denied by policy"}
{"type":"notice","n":null,"t":1.7,"severity":"WARNING","sqlstate":"01000","message":"the gateway is shutting down"}
{"type":"end","t":3.5,"reason":"client terminated the session","statements":2}
"#;

const V1_RENDERED: &str = "\
shop=> SELECT id, name FROM users
 id | name 
----+------
  1 | ada
    | x
(2 rows)

shop=> DELETE FROM users
ERROR:  permission denied by policy
WARNING:  the gateway is shutting down
";

#[test]
fn v1_sql_is_still_written_byte_for_byte() {
    let clock = Clock::default();
    let mut rec = clock.recorder(&header("s_v1"), Limits::default());
    clock.set_ms(250);
    rec.statement(1, "SELECT id, name FROM users", &allow());
    rec.columns(1, &[("id", 23), ("name", 25)]);
    row(&mut rec, 1, &[Some("1"), Some("ada")]);
    row(&mut rec, 1, &[None, Some("x")]);
    clock.set_ms(251);
    rec.complete(1, "SELECT 2", 812);
    clock.set_ms(1_500);
    rec.statement(2, "DELETE FROM users", &deny());
    rec.error(Some(2), "42501", "permission denied by policy");
    clock.set_ms(1_700);
    rec.notice(None, "WARNING", "01000", "the gateway is shutting down");
    clock.set_ms(3_500);
    let (bytes, _) = rec.finish("client terminated the session");
    assert_eq!(String::from_utf8(bytes).unwrap(), V1_RECORDING);
}

#[test]
fn v1_recordings_read_and_render_as_before() {
    let recording = parse(V1_RECORDING.as_bytes()).unwrap();
    assert_eq!(recording.version, 1);
    assert!(recording.terminal.is_none());
    assert!(recording.is_complete());
    assert_eq!(recording.skipped_lines, 0);
    assert_eq!(recording.statements().count(), 2);
    assert_eq!(rendered(&recording), V1_RENDERED);
    let mut psql = String::new();
    render_psql(&recording, &mut psql).unwrap();
    assert_eq!(psql, V1_RENDERED);
    assert_eq!(search(&recording, "users"), [1, 2]);

    // Lines of the types version 2 added are, in a version 1 recording,
    // unknown types as they were to a version 1 reader: skipped whatever
    // they hold (here the terminal line version 1 sketched, with `stream`).
    let mut lines: Vec<&str> = V1_RECORDING.lines().collect();
    lines.insert(
        1,
        r#"{"type":"terminal","t":0.5,"stream":"o","data":"$ ls\r\n"}"#,
    );
    lines.insert(
        2,
        r#"{"type":"request","n":1,"t":0.2,"action":"exec","text":"ls","decision":{"verdict":"allow","rule":"r","policy":"v1"}}"#,
    );
    lines.insert(6, r#"{"type":"http","n":1}"#);
    lines.insert(
        7,
        r#"{"type":"file","n":2,"t":1.6,"op":"read","path":"/x","outcome":"ok"}"#,
    );
    let joined = format!("{}\n", lines.join("\n"));
    let with_v2_lines = parse(joined.as_bytes()).unwrap();
    assert_eq!(with_v2_lines.skipped_lines, 4);
    assert_eq!(with_v2_lines.requests().count(), 0);
    assert_eq!(with_v2_lines.terminal_events().count(), 0);
    assert_eq!(with_v2_lines.items, recording.items);
    assert_eq!(rendered(&with_v2_lines), V1_RENDERED);
    assert!(matches!(&with_v2_lines.items[1], Item::Statement(s) if s.n == 2));
}

/// FORMAT.md's examples: every one is JSON, and the version 2 ones, put
/// together as a recording, read as the specification says.
#[test]
fn the_specification_examples_read() {
    let spec = include_str!("../FORMAT.md");
    let mut examples = Vec::new();
    let mut inside = false;
    for line in spec.lines() {
        match line {
            "```json" => inside = true,
            "```" => inside = false,
            _ if inside => {
                let value: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("FORMAT.md example {line}: {e}"));
                examples.push((line, value));
            }
            _ => {}
        }
    }
    let of = |kind: &str| -> Vec<&str> {
        examples
            .iter()
            .filter(|(_, v)| v["type"] == kind)
            .map(|(l, _)| *l)
            .collect()
    };
    let header = of("header")
        .into_iter()
        .find(|l| l.contains(r#""version":2"#))
        .unwrap();
    let mut lines = vec![header];
    for kind in ["request", "terminal", "http", "file"] {
        let found = of(kind);
        assert!(!found.is_empty(), "FORMAT.md has a {kind} example");
        lines.extend(found);
    }
    lines.extend(of("end"));
    let recording = parse(format!("{}\n", lines.join("\n")).as_bytes()).unwrap();
    assert_eq!(recording.skipped_lines, 0);
    assert_eq!(recording.terminal.as_ref().unwrap().width, 80);
    assert_eq!(recording.terminal_events().count(), 2);
    let http = recording.request(2).unwrap().http.as_deref().unwrap();
    assert_eq!(http.response_body.bytes, 5120);
    let rename = recording.request(6).unwrap().file.as_deref().unwrap();
    assert_eq!(rename.target.as_deref(), Some("/srv/data/old.csv"));
    assert!(recording.is_complete());
}

#[test]
fn a_requests_messages_render_where_the_stream_reached_them() {
    let clock = Clock::default();
    let mut rec = clock.recorder_terminal(
        &header_of("s_order", KIND_TERMINAL, "ssh"),
        &screen(),
        Limits::default(),
    );
    rec.request(1, "shell", "", &allow());
    clock.set_ms(500);
    rec.terminal_output(Some(1), b"one\r\n");
    clock.set_ms(1_000);
    rec.notice(Some(1), "WARNING", "", "the session ends in 5 minutes");
    clock.set_ms(2_000);
    rec.terminal_output(Some(1), b"two\r\n");
    let recording = parse(&rec.finish("done").0).unwrap();
    assert_eq!(
        rendered(&recording),
        "one\r\nWARNING:  the session ends in 5 minutes\ntwo\r\n"
    );
    let times: Vec<Duration> = replay_timed(&recording, 1.0, None)
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(times, [500, 500, 1_000].map(Duration::from_millis));
}
