//! The console's session pages over HTTP: a psql session through the gateway (one statement
//! allowed with masked results, one refused) and a terminal and an HTTP recording written
//! into the gateway's store with sluice-record's own recorder (no SSH server or HTTP target
//! needed) are listed with their filters, shown with decisions, results and the seal, downloaded
//! as stored and, the terminal one, served as asciicast to the player. A person the policy
//! refuses gets 403; an unknown or malformed id 404; an altered recording shows as altered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::StatusCode;
use sluice_audit::AuditEvent;
use sluice_record::{
    Body, FileStore, Header, HttpExchange, Limits, RecordedDecision, Recorder, RecordingStore,
    TerminalHeader,
};
use support::browser::Browser;
use support::console::*;
use support::*;

/// Carol is refused the admin operations; statements are masked (so the recorded results are
/// the masked ones); DELETE is refused.
const POLICY: &str = r#"package sluice

import rego.v1

console_user if {
	some g in input.identity.groups
	g in {"dba", "developers"}
}

decision := {
	"allow": false,
	"rule": "no_deletes",
	"reasons": ["deleting rows"],
} if {
	input.request.action == "statement"
	input.request.statement.command == "DELETE"
} else := {
	"allow": false,
	"rule": "console_for_reviewers",
	"reasons": ["the console is for dba and developers"],
} if {
	input.request.action == "admin"
	not console_user
} else := {
	"allow": true,
	"rule": "masked_reads",
	"reasons": [],
	"mask": {"content": [{"detector": "*", "strategy": "redact"}]},
} if {
	input.request.action == "statement"
} else := {"allow": true, "rule": "allow_all", "reasons": []}
"#;

fn header(session: &str, identity: &str, target: &str, protocol: &str) -> Header {
    Header {
        session: session.to_owned(),
        identity: identity.to_owned(),
        target: target.to_owned(),
        database: String::new(),
        protocol: protocol.to_owned(),
        client_addr: "127.0.0.1:50022".to_owned(),
        started_at: "2025-01-02T03:04:05.678Z".to_owned(),
        kind: String::new(),
    }
}

fn decision(verdict: &str, rule: &str) -> RecordedDecision {
    RecordedDecision {
        verdict: verdict.to_owned(),
        rule: rule.to_owned(),
        policy: "v7".to_owned(),
    }
}

async fn keep(store: &FileStore, session: &str, mut recorder: Recorder) {
    store.append(session, &recorder.take()).await.unwrap();
    let (rest, _) = recorder.finish("client closed the connection");
    store.append(session, &rest).await.unwrap();
    store.finish(session).await.unwrap();
}

/// A shell with some output, as an SSH session's recording has it.
async fn terminal_recording(store: &FileStore) {
    let header = header("t_term", "ada", "web-1", "ssh");
    let screen = TerminalHeader {
        width: 80,
        height: 24,
        term: "xterm-256color".to_owned(),
        command: None,
    };
    let mut r = Recorder::new_terminal(&header, &screen, Limits::default());
    r.request(1, "shell", "", &decision("allow", "ops_shell"));
    r.terminal_output(Some(1), b"$ ls\r\nreport.csv\r\n$ ");
    r.complete(1, "exit 0", 1_000);
    keep(store, "t_term", r).await;
}

/// An HTTP exchange whose recorded path, header and body are hostile markup: the page must
/// show them as text.
async fn http_recording(store: &FileStore) {
    let header = Header {
        kind: sluice_record::KIND_HTTP.to_owned(),
        ..header("t_http", "ada", "api", "https")
    };
    let mut r = Recorder::new(&header, Limits::default());
    r.request(
        1,
        "GET",
        "api.internal/v1/<script>alert(1)</script>",
        &decision("allow", "read_api"),
    );
    r.http(
        1,
        &HttpExchange {
            method: "GET".to_owned(),
            host: "api.internal".to_owned(),
            path: "/v1/<script>alert(1)</script>".to_owned(),
            status: Some(200),
            response_headers: vec![("content-type".to_owned(), "text/html".to_owned())],
            response_body: Body {
                bytes: 30,
                excerpt: "<img src=x onerror=alert(2)>".to_owned(),
                ..Body::default()
            },
            duration_us: 8_000,
            ..HttpExchange::default()
        },
    );
    keep(store, "t_http", r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_shown_downloaded_replayed_and_their_seal_checked() {
    let c = Console::start_with_policy("sessions", POLICY).await;
    let table = &c.table;
    pg().psql(
        "app",
        &format!(
            "SET ROLE sluice_scram; UPDATE {table} SET note = 'ann@example.com' WHERE id = 1;"
        ),
    )
    .unwrap();
    let out = c.h.psql(
        "rita",
        "app",
        &[
            "-c",
            &format!("SELECT id, note FROM {table} WHERE id <= 2 ORDER BY id"),
            "-c",
            &format!("DELETE FROM {table} WHERE id = 3"),
        ],
    );
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(
        seen.contains("****") && !seen.contains("ann@example.com"),
        "{seen}"
    );

    let store = FileStore::new(c.h.config.recording_dir());
    terminal_recording(&store).await;
    http_recording(&store).await;

    // The psql session's id, once its end (and seal) is in the audit trail.
    let session =
        c.h.audit()
            .await
            .into_iter()
            .find_map(|r| match r.event {
                AuditEvent::SessionEnded {
                    session,
                    identity,
                    recording: Some(_),
                    ..
                } if identity == "rita" => Some(session),
                _ => None,
            })
            .expect("rita's session ended with a sealed recording");

    let bob = Console::agent();
    let back = c.sign_in(&bob, oidc::BOB, oidc::BOB_PASSWORD).await;
    let cookie = back
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("sluice="))
        .and_then(|v| v.split(';').next())
        .expect("the session cookie")
        .to_owned();

    // The list, and its filters.
    let (status, body) = c.page(&bob, "/console/sessions").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for id in [session.as_str(), "t_term", "t_http"] {
        assert!(
            body.contains(&format!("data-session=\"{id}\"")),
            "{id}: {body}"
        );
    }
    assert!(body.contains("<th scope=\"col\">Identity</th>"), "{body}");
    assert!(body.contains("class=\"table-wrap\""), "{body}");
    let listed = |body: &str| -> Vec<String> {
        body.match_indices("data-session=\"")
            .map(|(at, m)| body[at + m.len()..].split('"').next().unwrap().to_owned())
            .collect()
    };
    for (query, expected) in [
        ("?identity=rita", vec![session.clone()]),
        ("?kind=terminal", vec!["t_term".to_owned()]),
        ("?target=api", vec!["t_http".to_owned()]),
        ("?q=delete+from", vec![session.clone()]),
        ("?q=report", vec![]),
        (
            "?from=2025-01-01T00:00:00Z&to=2025-01-03T00:00:00Z&identity=ada",
            vec!["t_http".to_owned(), "t_term".to_owned()],
        ),
        ("?from=1h", vec![session.clone()]),
    ] {
        let (status, body) = c.page(&bob, &format!("/console/sessions{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        let mut got = listed(&body);
        got.sort();
        assert_eq!(got, expected, "{query}");
    }
    // Paging: 25 a page, and the next page goes on where this one stopped.
    for i in 0..27 {
        let id = format!("t_page_{i:02}");
        let header = Header {
            kind: sluice_record::KIND_HTTP.to_owned(),
            ..header(&id, "pat", "api", "https")
        };
        keep(&store, &id, Recorder::new(&header, Limits::default())).await;
    }
    let (_, first) = c.page(&bob, "/console/sessions?identity=pat").await;
    let mut paged = listed(&first);
    assert_eq!(paged.len(), 25, "{first}");
    let marker = "href=\"/console/sessions?identity=pat&amp;at=";
    let at = first[first.find(marker).expect("a next page") + marker.len()..]
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (_, second) = c
        .page(&bob, &format!("/console/sessions?identity=pat&at={at}"))
        .await;
    assert!(!second.contains("rel=\"next\""), "{second}");
    paged.extend(listed(&second));
    paged.sort();
    paged.dedup();
    assert_eq!(paged.len(), 27, "every session once: {paged:?}");

    let (_, body) = c.page(&bob, "/console/sessions?q=delete").await;
    assert!(
        body.contains("#entry-2"),
        "the match links to its statement: {body}"
    );
    let (status, body) = c.page(&bob, "/console/sessions?from=yesterday-ish").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("role=\"alert\"") && body.contains("From:"),
        "{body}"
    );

    // The psql session: statements, decisions, the masked rows as recorded, the seal.
    let r = bob
        .get(format!("{}/console/sessions/{session}", c.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!csp.contains("wasm"), "no player, no WebAssembly: {csp}");
    let body = r.text().await.unwrap();
    assert!(
        body.contains(&format!("SELECT id, note FROM {table}")),
        "{body}"
    );
    assert!(
        body.contains("data-verdict=\"allow\"") && body.contains("masked_reads"),
        "{body}"
    );
    assert!(
        body.contains("data-verdict=\"deny\"") && body.contains("no_deletes"),
        "{body}"
    );
    assert!(body.contains("<th scope=\"col\">note</th>"), "{body}");
    assert!(
        body.contains("****") && !body.contains("ann@example.com"),
        "{body}"
    );
    assert!(body.contains("<td>row 2</td>"), "{body}");
    assert!(body.contains("data-field=\"identity\">rita<"), "{body}");
    assert!(body.contains("data-seal=\"matches\""), "{body}");
    assert!(
        body.contains(&format!("/console/sessions/{session}/recording")),
        "{body}"
    );

    // The download is the stored bytes, as a file.
    let path = c.h.config.recording_dir().join(format!("{session}.jsonl"));
    let r = bob
        .get(format!("{}/console/sessions/{session}/recording", c.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-disposition"],
        format!("attachment; filename=\"{session}.jsonl\"").as_str()
    );
    assert_eq!(r.bytes().await.unwrap(), std::fs::read(&path).unwrap());

    // The terminal session: the player, its WebAssembly allowed on this page, the cast.
    let r = bob
        .get(format!("{}/console/sessions/t_term", c.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval';"),
        "{csp}"
    );
    let body = r.text().await.unwrap();
    assert!(
        body.contains("data-cast=\"/console/sessions/t_term/cast\""),
        "{body}"
    );
    assert!(
        body.contains("/console/assets/asciinema-player.min.js"),
        "{body}"
    );
    assert!(body.contains("data-seal=\"no-record\""), "{body}");
    let r = bob
        .get(format!("{}/console/sessions/t_term/cast", c.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/x-asciicast");
    let cast = r.text().await.unwrap();
    let first: serde_json::Value = serde_json::from_str(cast.lines().next().unwrap()).unwrap();
    assert_eq!(first["version"], 2, "{cast}");
    assert!(cast.contains("report.csv"), "{cast}");
    let (status, _) = c
        .page(&bob, &format!("/console/sessions/{session}/cast"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a SQL session has no cast");
    for asset in [
        "asciinema-player.min.js",
        "asciinema-player.css",
        "console-sessions.js",
    ] {
        let (status, _) = c.page(&bob, &format!("/console/assets/{asset}")).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
    }

    replays_in_a_phone_browser(&c, cookie, &session).await;

    // Recorded markup is shown as text, never as markup.
    let (status, body) = c.page(&bob, "/console/sessions/t_http").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        !body.contains("<script>alert") && !body.contains("<img src=x"),
        "{body}"
    );
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{body}"
    );
    assert!(
        body.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "{body}"
    );
    assert!(body.contains("data-status=\"200\""), "{body}");

    // Unknown and malformed ids.
    for id in ["s_0000000000000000", "..%2F..%2Fetc%2Fpasswd", "a.b"] {
        for tail in ["", "/recording", "/cast"] {
            let (status, body) = c.page(&bob, &format!("/console/sessions/{id}{tail}")).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{id}{tail}: {body}");
        }
    }

    // Refused: carol sees none of it.
    let carol = Console::agent();
    c.sign_in(&carol, CAROL, CAROL_PASSWORD).await;
    for path in [
        "/console/sessions".to_owned(),
        format!("/console/sessions/{session}"),
        format!("/console/sessions/{session}/recording"),
        "/console/sessions/t_term/cast".to_owned(),
    ] {
        let (status, body) = c.page(&carol, &path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(!body.contains("row 2"), "{body}");
    }

    // Altered after it was sealed: the page says so, whether or not it still reads as a
    // recording.
    let sealed = std::fs::read(&path).unwrap();
    let edited = String::from_utf8(sealed.clone())
        .unwrap()
        .replace("row 2", "row 9");
    std::fs::write(&path, edited).unwrap();
    let (status, body) = c.page(&bob, &format!("/console/sessions/{session}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("data-seal=\"altered\"") && body.contains("row 9"),
        "{body}"
    );
    let mut appended = sealed;
    appended.extend_from_slice(b"{}\n");
    std::fs::write(&path, appended).unwrap();
    let (status, body) = c.page(&bob, &format!("/console/sessions/{session}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("data-seal=\"altered\""), "{body}");
    assert!(body.contains("cannot be read"), "{body}");
}

/// In a real (phone-sized) Chromium with the console's CSP: the list fits the screen, and the
/// player compiles its WebAssembly, plays the cast, and the page logs no refusal.
async fn replays_in_a_phone_browser(c: &Console, cookie: String, sql_session: &str) {
    let browser = Browser::phone().await;
    // The cookie is set on the console's origin, whose page (an HTML one: an image document
    // takes no cookies) the browser must be on first.
    browser
        .goto(&format!("{}/console/login?provider=none", c.admin))
        .await;
    // With the attributes the console gives it: fantoccini would otherwise send an empty
    // domain and SameSite=None without Secure, which Chromium refuses.
    let cookie = fantoccini::cookies::Cookie::parse(format!(
        "sluice={cookie}; Domain=127.0.0.1; Path=/; HttpOnly; SameSite=Lax"
    ))
    .unwrap();
    browser.client().add_cookie(cookie).await.unwrap();
    // Wide tables scroll in their own box; the page itself never scrolls sideways.
    for (path, shown) in [
        ("/console/sessions".to_owned(), "table.sessions"),
        (format!("/console/sessions/{sql_session}"), "table.result"),
    ] {
        browser.goto(&format!("{}{path}", c.admin)).await;
        browser.wait_for(shown).await;
        let fits = browser
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await;
        assert_eq!(
            fits,
            serde_json::Value::Bool(true),
            "{path} scrolls sideways on a phone"
        );
    }

    browser
        .goto(&format!("{}/console/sessions/t_term", c.admin))
        .await;
    browser.click(".player .ap-play-button").await;
    browser
        .wait_for_js(
            "the replayed output",
            "return document.querySelector('.player').textContent.includes('report.csv');",
        )
        .await;
    let messages = browser.console_messages().await;
    assert!(
        !messages
            .iter()
            .any(|m| m.contains("Content Security") || m.contains("SEVERE")),
        "{messages:?}"
    );
    browser.close().await;
}
