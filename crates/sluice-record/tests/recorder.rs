//! The recorder and the reader: the format round trip, caps, the digest, and
//! how damaged or foreign recordings read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{allow, header, row, Clock};
use sha2::{Digest as _, Sha256};
use sluice_record::{parse, CapHit, Event, Item, Limits, RecordError, RecordedDecision, Recorder};

fn lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
fn format_round_trip() {
    let clock = Clock::default();
    let mut rec = clock.recorder(&header("s_round"), Limits::default());
    let mut bytes = rec.take();

    clock.set_ms(250);
    assert_eq!(
        rec.statement(1, "SELECT id, name FROM users", &allow()),
        CapHit::None
    );
    assert_eq!(rec.columns(1, &[("id", 23), ("name", 25)]), CapHit::None);
    assert_eq!(
        row(&mut rec, 1, &[Some("1"), Some("ada \"quoted\"\n")]),
        CapHit::None
    );
    let binary: [Option<&[u8]>; 2] = [None, Some(&[0xde, 0xad])];
    assert_eq!(rec.row(1, &binary, &[false, true]), CapHit::None);
    let lossy: [Option<&[u8]>; 1] = [Some(&[b'o', 0xff])];
    assert_eq!(rec.row(1, &lossy, &[false]), CapHit::None);
    clock.set_ms(251);
    assert_eq!(
        rec.notice(Some(1), "WARNING", "01000", "careful"),
        CapHit::None
    );
    assert_eq!(rec.complete(1, "SELECT 3", 812), CapHit::None);
    bytes.extend(rec.take());

    let deny = RecordedDecision {
        verdict: "deny".to_owned(),
        rule: "no_deletes".to_owned(),
        policy: "v1".to_owned(),
    };
    clock.set_ms(1_500);
    rec.statement(2, "DELETE FROM users", &deny);
    rec.error(Some(2), "42501", "permission denied by policy");
    rec.notice(None, "NOTICE", "00000", "session notice");
    rec.error(None, "57P01", "terminating connection");
    clock.set_ms(3_500);
    let (tail, digest) = rec.finish("client terminated the session");
    bytes.extend(tail);
    assert!(!digest.truncated);

    let text = String::from_utf8(bytes.clone()).unwrap();
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        r#"{"type":"header","format":"sluice-recording","version":1,"session":"s_round","kind":"sql","identity":"ada@example.com","target":"shop","database":"shop","protocol":"postgres","client_addr":"127.0.0.1:50000","started_at":"2025-01-02T03:04:05.678Z"}"#
    );
    assert!(text.contains(
        r#"{"type":"statement","n":1,"t":0.25,"text":"SELECT id, name FROM users","decision":{"verdict":"allow","rule":"allow_reads","policy":"v1"}}"#
    ));
    assert!(text.contains(r#"{"type":"columns","n":1,"columns":[{"name":"id","type_oid":23},{"name":"name","type_oid":25}]}"#));
    // Three rows in one line; binary as \x + hex, invalid UTF-8 replaced.
    assert!(text.contains(
        r#"{"type":"rows","n":1,"rows":[["1","ada \"quoted\"\n"],[null,"\\xdead"],["o�"]]}"#
    ));
    assert!(
        text.contains(r#"{"type":"complete","n":1,"t":0.251,"tag":"SELECT 3","duration_us":812}"#)
    );
    assert!(text.ends_with("{\"type\":\"end\",\"t\":3.5,\"reason\":\"client terminated the session\",\"statements\":2}\n"));
    for line in lines(&bytes) {
        assert!(line["type"].is_string());
    }

    let recording = parse(&bytes).unwrap();
    assert_eq!(recording.version, 1);
    assert_eq!(recording.header, header("s_round"));
    assert!(recording.is_complete());
    assert!(!recording.is_truncated());
    assert!(!recording.torn_tail);
    let end = recording.end.as_ref().unwrap();
    assert_eq!(
        (end.t, end.reason.as_str(), end.statements),
        (3.5, "client terminated the session", 2)
    );

    let s1 = recording.statement(1).unwrap();
    assert_eq!(s1.t, 0.25);
    assert_eq!(s1.text, "SELECT id, name FROM users");
    assert_eq!(s1.decision, allow());
    let columns = s1.columns.as_ref().unwrap();
    assert_eq!((columns[0].name.as_str(), columns[0].type_oid), ("id", 23));
    assert_eq!(
        s1.rows,
        vec![
            vec![Some("1".to_owned()), Some("ada \"quoted\"\n".to_owned())],
            vec![None, Some("\\xdead".to_owned())],
            vec![Some("o\u{fffd}".to_owned())],
        ]
    );
    let complete = s1.complete.as_ref().unwrap();
    assert_eq!(
        (complete.tag.as_str(), complete.duration_us, complete.t),
        ("SELECT 3", 812, 0.251)
    );
    assert!(
        matches!(&s1.events[..], [Event::Notice(m)] if m.severity == "WARNING" && m.message == "careful")
    );

    let s2 = recording.statement(2).unwrap();
    assert_eq!(s2.decision.verdict, "deny");
    assert!(matches!(&s2.events[..], [Event::Error(m)] if m.sqlstate == "42501" && m.n == Some(2)));
    assert!(s2.complete.is_none());

    // Session-level events stay in order after the statements.
    assert_eq!(recording.items.len(), 4);
    assert!(matches!(&recording.items[2], Item::Event(Event::Notice(m)) if m.n.is_none()));
    assert!(matches!(&recording.items[3], Item::Event(Event::Error(m)) if m.sqlstate == "57P01"));
}

#[test]
fn digest_is_sha256_of_everything_produced() {
    let mut rec = Recorder::new(&header("s_digest"), Limits::default());
    let mut all = rec.take();
    assert!(rec.take().is_empty(), "take drains");
    for n in 1..=3 {
        rec.statement(n, "SELECT generate_series(1, 250)", &allow());
        rec.columns(n, &[("generate_series", 23)]);
        for i in 0..250 {
            row(&mut rec, n, &[Some(&i.to_string())]);
            if i % 77 == 0 {
                all.extend(rec.take());
            }
        }
        rec.complete(n, "SELECT 250", 10);
    }
    all.extend(rec.take());
    let (tail, digest) = rec.finish("client terminated the session");
    all.extend(tail);
    assert_eq!(digest.sha256, hex::encode(Sha256::digest(&all)));
    assert_eq!(digest.bytes, all.len() as u64);
    assert!(!digest.truncated);

    // Rows are batched at most 100 to a line.
    let recording = parse(&all).unwrap();
    for s in recording.statements() {
        assert_eq!(s.rows.len(), 250);
    }
    for line in lines(&all).iter().filter(|l| l["type"] == "rows") {
        assert!(line["rows"].as_array().unwrap().len() <= 100);
    }
}

#[test]
fn large_rows_batch_by_size() {
    let mut rec = Recorder::new(&header("s_big"), Limits::default());
    rec.statement(1, "SELECT big", &allow());
    let big = "x".repeat(40 * 1024);
    for _ in 0..5 {
        row(&mut rec, 1, &[Some(&big)]);
    }
    let (bytes, _) = rec.finish("done");
    let row_lines: Vec<_> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(br#"{"type":"rows""#))
        .collect();
    // 40 KiB rows: one per 64 KiB line.
    assert_eq!(row_lines.len(), 5);
    assert_eq!(parse(&bytes).unwrap().statement(1).unwrap().rows.len(), 5);
}

#[test]
fn row_cap_writes_one_marker_per_statement() {
    let limits = Limits {
        max_rows_per_statement: 3,
        ..Limits::default()
    };
    let mut rec = Recorder::new(&header("s_rowcap"), limits);
    for n in 1..=2 {
        rec.statement(n, "SELECT * FROM t", &allow());
        rec.columns(n, &[("a", 23)]);
        let hits: Vec<CapHit> = (0..10)
            .map(|i| row(&mut rec, n, &[Some(&i.to_string())]))
            .collect();
        assert_eq!(&hits[..3], &[CapHit::None; 3]);
        assert!(hits[3..].iter().all(|h| *h == CapHit::RowCap));
        assert_eq!(
            rec.complete(n, "SELECT 10", 5),
            CapHit::None,
            "the statement's completion is still recorded"
        );
    }
    assert!(rec.is_truncated());
    assert!(!rec.is_session_capped());
    let (bytes, digest) = rec.finish("done");
    assert!(digest.truncated);

    let markers: Vec<_> = lines(&bytes)
        .into_iter()
        .filter(|l| l["type"] == "truncated")
        .collect();
    assert_eq!(markers.len(), 2);
    assert_eq!(markers[0]["reason"], "row_cap");
    assert_eq!(markers[0]["n"], 1);
    assert_eq!(
        markers[0]["detail"],
        "recorded 3 of the statement's rows; the rest were sent to the client but not recorded"
    );

    let recording = parse(&bytes).unwrap();
    assert!(recording.is_truncated());
    for s in recording.statements() {
        assert_eq!(s.rows.len(), 3);
        let truncations: Vec<_> = s
            .events
            .iter()
            .filter(|e| matches!(e, Event::Truncated(_)))
            .collect();
        assert_eq!(truncations.len(), 1);
    }
}

#[test]
fn session_cap_writes_one_marker_then_only_end() {
    let cap = 4096;
    let limits = Limits {
        max_rows_per_statement: 1_000_000,
        max_session_bytes: cap,
    };
    let mut rec = Recorder::new(&header("s_sesscap"), limits);
    let mut all = rec.take();
    let mut first_cap = None;
    for n in 1..=50_u64 {
        let hit = rec.statement(n, "SELECT * FROM t", &allow());
        if hit != CapHit::None && first_cap.is_none() {
            first_cap = Some(n);
        }
        rec.columns(n, &[("a", 25)]);
        for _ in 0..20 {
            let hit = row(&mut rec, n, &[Some("some text value")]);
            if hit != CapHit::None {
                assert_eq!(hit, CapHit::SessionCap);
                first_cap.get_or_insert(n);
            }
        }
        rec.complete(n, "SELECT 20", 1);
        all.extend(rec.take());
    }
    assert!(first_cap.is_some());
    assert!(rec.is_session_capped());
    assert_eq!(rec.notice(None, "NOTICE", "00000", "x"), CapHit::SessionCap);
    assert_eq!(rec.error(None, "XX000", "x"), CapHit::SessionCap);
    let (tail, digest) = rec.finish("client terminated the session");
    all.extend(tail);
    assert!(digest.truncated);
    assert_eq!(digest.bytes, all.len() as u64);

    let parsed = lines(&all);
    let markers: Vec<_> = parsed.iter().filter(|l| l["type"] == "truncated").collect();
    assert_eq!(markers.len(), 1);
    assert_eq!(markers[0]["reason"], "session_cap");
    // After the marker, only `end`.
    let at = parsed
        .iter()
        .position(|l| l["type"] == "truncated")
        .unwrap();
    assert_eq!(parsed.len(), at + 2);
    assert_eq!(parsed[at + 1]["type"], "end");
    assert_eq!(parsed[at + 1]["statements"], 50);
    // Bounded: the cap, then the marker and the end line.
    let marker_and_end: usize = all
        .split(|&b| b == b'\n')
        .rev()
        .take(3)
        .map(|l| l.len() + 1)
        .sum();
    assert!(
        all.len() as u64 <= cap + marker_and_end as u64,
        "{} bytes",
        all.len()
    );
    assert!((all.len() - marker_and_end) as u64 <= cap);

    let recording = parse(&all).unwrap();
    assert!(recording.is_complete());
    assert!(recording.is_truncated());
}

#[test]
fn a_row_cap_marker_that_would_pass_the_session_cap_becomes_the_session_marker() {
    let mut reasons = std::collections::BTreeSet::new();
    for cap in (300..900).step_by(10) {
        let mut rec = Recorder::new(
            &header("s_both"),
            Limits {
                max_rows_per_statement: 2,
                max_session_bytes: cap,
            },
        );
        rec.statement(1, "SELECT 1", &allow());
        row(&mut rec, 1, &[Some("a")]);
        row(&mut rec, 1, &[Some("b")]);
        let hit = row(&mut rec, 1, &[Some("c")]);
        let (bytes, _) = rec.finish("done");
        let markers: Vec<_> = lines(&bytes)
            .into_iter()
            .filter(|l| l["type"] == "truncated")
            .collect();
        assert_eq!(markers.len(), 1, "cap {cap}");
        let reason = markers[0]["reason"].as_str().unwrap().to_owned();
        let expected = if reason == "row_cap" {
            CapHit::RowCap
        } else {
            CapHit::SessionCap
        };
        assert_eq!(hit, expected, "cap {cap}");
        reasons.insert(reason);
    }
    assert_eq!(reasons.len(), 2, "both paths taken: {reasons:?}");
}

fn sample() -> Vec<u8> {
    let mut rec = Recorder::new(&header("s_sample"), Limits::default());
    rec.statement(1, "SELECT 1", &allow());
    rec.columns(1, &[("?column?", 23)]);
    row(&mut rec, 1, &[Some("1")]);
    rec.complete(1, "SELECT 1", 3);
    rec.statement(2, "SELECT 2", &allow());
    rec.finish("client terminated the session").0
}

#[test]
fn missing_end_reads_as_incomplete() {
    let bytes = sample();
    let without_end: Vec<u8> = {
        let text = String::from_utf8(bytes).unwrap();
        let keep: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains(r#""type":"end""#))
            .collect();
        format!("{}\n", keep.join("\n")).into_bytes()
    };
    let recording = parse(&without_end).unwrap();
    assert!(!recording.is_complete());
    assert!(!recording.torn_tail);
    assert_eq!(recording.statements().count(), 2);
}

#[test]
fn torn_last_line_is_tolerated() {
    let bytes = sample();
    let text = String::from_utf8(bytes).unwrap();
    let end_at = text.find(r#"{"type":"end""#).unwrap();
    // Cut in the middle of the end line, and in the middle of the line before.
    for cut in [end_at + 10, end_at - 10] {
        let recording = parse(&text.as_bytes()[..cut]).unwrap();
        assert!(recording.torn_tail);
        assert!(!recording.is_complete());
    }
    // A last line complete but for its newline is kept.
    let recording = parse(text.trim_end().as_bytes()).unwrap();
    assert!(recording.is_complete());
    assert!(!recording.torn_tail);
    // A torn line in the middle is not tolerated.
    let mut broken = text[..end_at - 10].to_owned();
    broken.push('\n');
    broken.push_str(&text[end_at..]);
    assert!(matches!(
        parse(broken.as_bytes()),
        Err(RecordError::Malformed { .. })
    ));
    // Nothing but a torn header is no recording.
    assert!(matches!(
        parse(&text.as_bytes()[..20]),
        Err(RecordError::NotARecording(_))
    ));
    assert!(matches!(parse(b""), Err(RecordError::NotARecording(_))));
}

#[test]
fn unknown_line_types_are_skipped() {
    let text = String::from_utf8(sample()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(
        1,
        r#"{"type":"terminal","t":0.5,"stream":"o","data":"$ ls\r\n"}"#,
    );
    lines.insert(3, r#"{"type":"something_new","n":1,"payload":{"x":[1,2]}}"#);
    let joined = format!("{}\n", lines.join("\n"));
    let recording = parse(joined.as_bytes()).unwrap();
    assert_eq!(recording.skipped_lines, 2);
    assert_eq!(recording.statements().count(), 2);
    assert!(recording.is_complete());
}

#[test]
fn newer_versions_are_refused() {
    let text = String::from_utf8(sample())
        .unwrap()
        .replace(r#""version":1"#, r#""version":3"#);
    let err = parse(text.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::UnsupportedVersion {
                found: 3,
                supported: 2
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
    assert!(err.to_string().contains("version 3"), "{err}");

    let other = String::from_utf8(sample())
        .unwrap()
        .replace("sluice-recording", "something-else");
    assert!(matches!(
        parse(other.as_bytes()),
        Err(RecordError::NotARecording(_))
    ));
    assert!(matches!(
        parse(b"{\"type\":\"statement\",\"n\":1}\n"),
        Err(RecordError::NotARecording(_))
    ));
}

#[test]
fn lines_after_end_are_refused() {
    let mut bytes = sample();
    bytes.extend_from_slice(b"{\"type\":\"statement\",\"n\":9,\"t\":9.0,\"text\":\"x\"}\n");
    assert!(matches!(parse(&bytes), Err(RecordError::Malformed { .. })));
}

#[test]
fn started_at_is_rfc3339_utc_milliseconds() {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_735_787_045_678);
    assert_eq!(
        sluice_record::format_started_at(at),
        "2025-01-02T03:04:05.678Z"
    );
}
