//! The bridge's pure parts: the event-stream parser, the header derivation, stdin's lines.

use serde_json::json;

use super::headers::{mcp_headers, Session, Unsendable};
use super::lines::{next_line, Line};
use super::sse::{EventTooLarge, SseParser};

fn feed_all(parser: &mut SseParser, chunks: &[&[u8]]) -> Vec<String> {
    chunks
        .iter()
        .flat_map(|chunk| parser.feed(chunk).expect("within the limit"))
        .collect()
}

#[test]
fn events_complete_at_their_blank_line_whatever_the_chunking() {
    let stream = b": keepalive\nevent: message\nid: 7\ndata: {\"a\":1}\n\ndata:{\"b\":2}\r\n\r\n";
    let whole = feed_all(&mut SseParser::new(1024), &[stream]);
    assert_eq!(whole, vec![r#"{"a":1}"#, r#"{"b":2}"#]);
    // Byte by byte, each event is out as soon as its blank line is.
    let mut parser = SseParser::new(1024);
    let mut seen = Vec::new();
    for (i, byte) in stream.iter().enumerate() {
        let events = parser.feed(&[*byte]).expect("within the limit");
        if !events.is_empty() {
            seen.push((i, events));
        }
    }
    let first_end = stream
        .windows(2)
        .position(|w| w == b"\n\n")
        .expect("a blank line")
        + 1;
    assert_eq!(seen[0], (first_end, vec![r#"{"a":1}"#.to_owned()]));
    assert_eq!(seen.len(), 2);
}

#[test]
fn data_lines_join_with_newlines_and_cr_endings_split_across_chunks_count_once() {
    let mut parser = SseParser::new(1024);
    let events = feed_all(
        &mut parser,
        &[b"data: {\"a\":\r", b"\ndata:  1}\r", b"\n\r", b"\n"],
    );
    assert_eq!(events, vec!["{\"a\":\n 1}"]);
    // Bare CR line ends are line ends too.
    let events = feed_all(&mut SseParser::new(1024), &[b"data: x\r\rdata: y\r\r"]);
    assert_eq!(events, vec!["x", "y"]);
}

#[test]
fn events_without_data_and_unfinished_events_are_not_dispatched() {
    let mut parser = SseParser::new(1024);
    assert!(feed_all(&mut parser, &[b"event: ping\n\n: comment\n\nretry: 5\n\n"]).is_empty());
    assert!(feed_all(&mut parser, &[b"data: half"]).is_empty());
    // A BOM before the first field does not hide it.
    let events = feed_all(
        &mut SseParser::new(1024),
        &["\u{feff}data: z\n\n".as_bytes()],
    );
    assert_eq!(events, vec!["z"]);
}

#[test]
fn an_event_past_the_limit_is_refused() {
    let mut parser = SseParser::new(16);
    assert_eq!(parser.feed(b"data: 0123456789"), Ok(vec![]));
    assert_eq!(parser.feed(b"0123456789\n"), Err(EventTooLarge));
}

fn names<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

#[test]
fn legacy_requests_carry_the_session_and_the_negotiated_version_but_initialize_does_not() {
    let session = Session {
        id: Some("s-1".into()),
        protocol_version: Some("2025-06-18".into()),
    };
    let initialize = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}});
    assert!(mcp_headers(&initialize, &session)
        .expect("sendable")
        .is_empty());
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"query"}});
    assert_eq!(
        names(&mcp_headers(&call, &session).expect("sendable")),
        vec![
            ("mcp-session-id", "s-1"),
            ("mcp-protocol-version", "2025-06-18")
        ]
    );
    // Before initialize there is neither.
    let ping = json!({"jsonrpc":"2.0","id":3,"method":"ping"});
    assert!(mcp_headers(&ping, &Session::default())
        .expect("sendable")
        .is_empty());
    // A response to the server (no method) carries them too.
    let reply = json!({"jsonrpc":"2.0","id":"srv-1","result":{}});
    assert_eq!(mcp_headers(&reply, &session).expect("sendable").len(), 2);
}

#[test]
fn modern_messages_name_their_version_method_and_target() {
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28"});
    let cases = [
        (
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query","_meta":meta}}),
            Some("query"),
        ),
        (
            json!({"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"p","_meta":meta}}),
            Some("p"),
        ),
        (
            json!({"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"sluice://t/x","_meta":meta}}),
            Some("sluice://t/x"),
        ),
        (
            json!({"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta":meta}}),
            None,
        ),
        (
            json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"_meta":meta}}),
            None,
        ),
    ];
    // The message's own version wins over a negotiated one, and it joins no session.
    let session = Session {
        id: Some("s-1".into()),
        protocol_version: Some("2025-06-18".into()),
    };
    for (message, name) in cases {
        let headers = mcp_headers(&message, &session).expect("sendable");
        let method = message["method"].as_str().expect("a method");
        let mut expected = vec![
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", method),
        ];
        if let Some(name) = name {
            expected.push(("mcp-name", name));
        }
        assert_eq!(names(&headers), expected, "{message}");
    }
}

#[test]
fn a_value_http_cannot_carry_is_refused_by_header_name() {
    let message = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{
        "name":"a\nb","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}});
    assert_eq!(
        mcp_headers(&message, &Session::default()),
        Err(Unsendable("mcp-name"))
    );
}

#[tokio::test]
async fn stdin_lines_are_bounded_and_the_rest_of_a_long_line_is_dropped() {
    let input = b"{\"a\":1}\r\n\n0123456789abc\n{\"b\":2}\n0123456789\nlast".to_vec();
    let mut reader = tokio::io::BufReader::with_capacity(4, &input[..]);
    let mut lines = Vec::new();
    loop {
        match next_line(&mut reader, 10).await.expect("in memory") {
            Line::Eof => break,
            line => lines.push(line),
        }
    }
    assert_eq!(
        lines,
        vec![
            Line::Text(b"{\"a\":1}".to_vec()),
            Line::Text(Vec::new()),
            Line::TooLong,
            Line::Text(b"{\"b\":2}".to_vec()),
            Line::Text(b"0123456789".to_vec()),
            Line::Text(b"last".to_vec()),
        ]
    );
}
