#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The scratch HTTP service the HTTP gateway's demo, tests and benchmark stand on, driven
//! directly by real clients: curl (HTTP/1.1 keep-alive, HTTP/2 with prior knowledge, `-N` for
//! server-sent events) and Python's urllib.
//!
//! `cargo test -p sluice --test scratch_http -- --ignored --nocapture serve_until_killed` runs
//! one and prints its URL, for trying bench/http.sh's direct half (`DIRECT_ONLY=1
//! DIRECT_URL=...`) without a gateway.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice::scratch_http::ScratchHttp;

const CURL: &str = "/usr/bin/curl";

fn python() -> String {
    std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

async fn run(program: &str, args: &[&str]) -> Output {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{program} {args:?} did not finish within 60 s"))
    .unwrap_or_else(|e| panic!("could not run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// curl's body, then a line with the status code appended by `-w`.
async fn curl(args: &[&str]) -> (u16, String) {
    let mut all = vec!["-sS", "--max-time", "30", "-w", "\n%{http_code}"];
    all.extend_from_slice(args);
    let out = run(CURL, &all).await;
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

async fn curl_json(args: &[&str]) -> (u16, Value) {
    let (code, body) = curl(args).await;
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (code, value)
}

async fn py(script: &str, args: &[&str]) -> String {
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    String::from_utf8(run(&python(), &all).await.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_is_answered_and_counted_but_not_kept() {
    let http = ScratchHttp::start().await.unwrap();
    assert_eq!(http.url(), format!("http://127.0.0.1:{}", http.port()));
    let (code, body) = curl(&[&format!("{}/hello", http.url())]).await;
    assert_eq!((code, body.as_str()), (200, r#"{"hello":"world"}"#));
    let out = run(
        CURL,
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{content_type} %{size_download}",
            &format!("{}/hello", http.url()),
        ],
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "application/json 17");
    assert_eq!(http.hello_count(), 2);
    assert!(http.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_serves_many_requests_over_http1_and_http2() {
    let http = ScratchHttp::start().await.unwrap();
    let url = http.url();
    // curl reuses its connection between the URLs of one run: one connect, then none.
    let out = run(
        CURL,
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-w",
            "%{num_connects} %{http_version}\n",
            &format!("{url}/hello"),
            &format!("{url}/customers"),
            &format!("{url}/echo"),
        ],
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1 1.1\n0 1.1\n0 1.1\n"
    );

    let (code, echo) = curl_json(&["--http2-prior-knowledge", &format!("{url}/echo")]).await;
    assert_eq!(code, 200);
    assert_eq!(echo["version"], "HTTP/2.0");
    let seen = http.requests();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].version, "HTTP/1.1");
    assert_eq!(seen[2].version, "HTTP/2.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_are_listed_fetched_deleted_and_created() {
    let http = ScratchHttp::start().await.unwrap();
    let url = http.url();
    let (code, list) = curl_json(&[&format!("{url}/customers")]).await;
    assert_eq!(code, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    for c in list {
        for field in [
            "id",
            "name",
            "email",
            "phone",
            "card_number",
            "ssn",
            "notes",
        ] {
            assert!(!c[field].is_null(), "{field} missing in {c}");
        }
        assert!(c["email"].as_str().unwrap().contains('@'));
        assert!(c["notes"].as_str().unwrap().contains("@example."));
        assert_eq!(c["ssn"].as_str().unwrap().len(), 11);
    }
    assert_eq!(list[0]["email"], "ada@example.com");
    assert_eq!(list[0]["card_number"], "4111 1111 1111 1111");
    assert_eq!(list[0]["ssn"], "123-45-6789");

    let (code, one) = curl_json(&[&format!("{url}/customers/2")]).await;
    assert_eq!((code, one["id"].as_u64()), (200, Some(2)));
    assert_eq!(one, list[1]);
    let (code, missing) = curl_json(&[&format!("{url}/customers/9")]).await;
    assert_eq!((code, &missing["error"]), (404, &Value::from("not found")));

    let (code, body) = curl(&["-X", "DELETE", &format!("{url}/customers/1")]).await;
    assert_eq!((code, body.as_str()), (204, ""));

    let out = run(
        CURL,
        &[
            "-sS",
            "-D",
            "-",
            "-H",
            "content-type: application/json",
            "--data",
            r#"{"name":"Edsger","email":"ewd@example.com"}"#,
            &format!("{url}/customers"),
        ],
    )
    .await;
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 201"), "{head}");
    assert!(
        head.to_lowercase().contains("location: /customers/4"),
        "{head}"
    );
    let created: Value = serde_json::from_str(body).unwrap();
    assert_eq!(created["id"], 4);
    assert_eq!(created["name"], "Edsger");
    assert_eq!(created["email"], "ewd@example.com");

    let (code, err) = curl_json(&["--data", "not json", &format!("{url}/customers")]).await;
    assert_eq!(code, 400, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_shows_every_header_and_the_body_and_so_do_the_kept_requests() {
    let http = ScratchHttp::start().await.unwrap();
    let url = http.url();
    let (code, echo) = curl_json(&[
        "-H",
        "Authorization: Bearer caller-token",
        "-H",
        "X-Trace: one",
        "-H",
        "X-Trace: two",
        "--data-binary",
        "hello body",
        &format!("{url}/echo/deeper?a=1&b=two"),
    ])
    .await;
    assert_eq!(code, 200);
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo/deeper");
    assert_eq!(echo["query"], "a=1&b=two");
    assert_eq!(echo["headers"]["authorization"], "Bearer caller-token");
    assert_eq!(echo["headers"]["x-trace"], "one, two");
    assert!(echo["headers"]["user-agent"]
        .as_str()
        .unwrap()
        .starts_with("curl/"));
    assert_eq!(echo["body"], "hello body");
    assert_eq!(echo["body_len"], 10);
    let list = echo["header_list"].as_array().unwrap();
    assert!(list.contains(&serde_json::json!(["x-trace", "one"])));
    assert!(list.contains(&serde_json::json!(["x-trace", "two"])));

    let (_, get) = curl_json(&[&format!("{url}/echo")]).await;
    assert_eq!((&get["method"], &get["body"]), (&"GET".into(), &"".into()));
    assert!(get["headers"].get("authorization").is_none());

    let seen = http.requests();
    assert_eq!(seen.len(), 2);
    let post = &seen[0];
    assert_eq!(post.method, "POST");
    assert_eq!(post.path, "/echo/deeper?a=1&b=two");
    assert_eq!(post.body_len, 10);
    assert_eq!(post.header("Authorization"), Some("Bearer caller-token"));
    assert_eq!(post.header_all("x-trace"), ["one", "two"]);
    assert!(post.headers.iter().all(|(n, _)| *n == n.to_lowercase()));
    assert_eq!(seen[1].header("authorization"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_urllib_reads_customers_echo_and_errors() {
    let http = ScratchHttp::start().await.unwrap();
    let out = py(
        r#"
import json, sys, urllib.request, urllib.error
base = sys.argv[1]
with urllib.request.urlopen(base + "/customers", timeout=10) as r:
    customers = json.load(r)
    print(r.status, r.headers["Content-Type"], len(customers), customers[2]["email"])
req = urllib.request.Request(base + "/echo?x=1", data=b'{"k":"v"}', method="POST",
    headers={"Authorization": "Bearer from-python", "Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as r:
    echo = json.load(r)
    print(echo["method"], echo["query"], echo["headers"]["authorization"], echo["body"])
for path in ("/nothing-here", "/status/503"):
    try:
        urllib.request.urlopen(base + path, timeout=10)
    except urllib.error.HTTPError as e:
        print(e.code, json.load(e))
with urllib.request.urlopen(base + "/admin/users", timeout=10) as r:
    print(r.status, json.load(r))
"#,
        &[&http.url()],
    )
    .await;
    assert_eq!(
        out,
        "200 application/json 3 alan@example.com\n\
         POST x=1 Bearer from-python {\"k\":\"v\"}\n\
         404 {'error': 'not found'}\n\
         503 {'status': 503}\n\
         200 {'admin': True}\n"
    );
    let seen = http.requests();
    assert_eq!(seen[1].header("authorization"), Some("Bearer from-python"));
    assert_eq!(seen[1].body_len, 9);
}

/// Runs `curl -N` on `url` and stamps each line of its output with the time it arrived.
fn timed_lines(url: &str) -> Vec<(Duration, String)> {
    let mut child = Command::new(CURL)
        .args(["-sS", "-N", "--max-time", "30", url])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| (start.elapsed(), l.unwrap()))
        .collect();
    assert!(child.wait().unwrap().success());
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_one_by_one_as_they_are_made() {
    let http = ScratchHttp::start().await.unwrap();
    let url = format!("{}/events?count=5", http.url());
    let lines = tokio::task::spawn_blocking(move || timed_lines(&url))
        .await
        .unwrap();
    let events: Vec<&(Duration, String)> = lines
        .iter()
        .filter(|(_, l)| l.starts_with("data: "))
        .collect();
    let texts: Vec<&str> = events.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        texts,
        [
            r#"data: {"n":1}"#,
            r#"data: {"n":2}"#,
            r#"data: {"n":3}"#,
            r#"data: {"n":4}"#,
            r#"data: {"n":5}"#
        ]
    );
    // 100 ms apart: the first is out long before the last is made, had it been buffered.
    let spread = events[4].0 - events[0].0;
    assert!(spread >= Duration::from_millis(300), "{lines:?}");
    assert!(events[0].0 < Duration::from_millis(2000), "{lines:?}");

    let (code, body) = curl(&[&format!("{}/events?count=2&interval_ms=1", http.url())]).await;
    assert_eq!(code, 200);
    assert_eq!(body, "data: {\"n\":1}\n\ndata: {\"n\":2}\n\n");
    let out = run(
        CURL,
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{content_type}",
            &format!("{}/events?count=0", http.url()),
        ],
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "text/event-stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_reads_the_event_stream_as_it_comes() {
    let http = ScratchHttp::start().await.unwrap();
    let out = py(
        r#"
import sys, time, urllib.request
t0 = time.monotonic()
stamps = []
with urllib.request.urlopen(sys.argv[1] + "/events?count=4&interval_ms=150", timeout=10) as r:
    assert r.headers["Content-Type"] == "text/event-stream", r.headers
    for line in r:
        if line.startswith(b"data: "):
            stamps.append((time.monotonic() - t0, line.decode().strip()))
print(len(stamps), stamps[-1][1], stamps[-1][0] - stamps[0][0] >= 0.4)
"#,
        &[&http.url()],
    )
    .await;
    assert_eq!(out, "4 data: {\"n\":4} True\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_is_chunked_text_with_an_email_address_in_it() {
    let http = ScratchHttp::start().await.unwrap();
    let out = run(
        CURL,
        &["-sS", "-N", "-D", "-", &format!("{}/stream", http.url())],
    )
    .await;
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let head = head.to_lowercase();
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(head.contains("content-type: text/plain"), "{head}");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 10, "{body}");
    assert_eq!(lines[0], "line 1");
    assert_eq!(
        lines.iter().filter(|l| l.contains("@example.com")).count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_is_exactly_the_size_asked_and_json() {
    let http = ScratchHttp::start().await.unwrap();
    let url = http.url();
    let (code, body) = curl(&[&format!("{url}/big?kib=3")]).await;
    assert_eq!((code, body.len()), (200, 3072));
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["pad"].as_str().unwrap().len(), 3072 - 10);

    // Past the cap, the cap: 64 MiB, with its Content-Length.
    let out = run(
        CURL,
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_download} %header{content-length}",
            &format!("{url}/big?kib=999999"),
        ],
    )
    .await;
    let expected = format!("200 {n} {n}", n = 64 * 1024 * 1024);
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    // The default: 1 MiB.
    let out = run(
        CURL,
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            &format!("{url}/big"),
        ],
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1048576");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_admin_and_unknown_paths() {
    let http = ScratchHttp::start().await.unwrap();
    let url = http.url();
    let (code, body) = curl_json(&[&format!("{url}/status/418")]).await;
    assert_eq!((code, body), (418, serde_json::json!({"status": 418})));
    let (code, body) = curl(&[&format!("{url}/status/204")]).await;
    assert_eq!((code, body.as_str()), (204, ""));
    let (code, _) = curl_json(&[&format!("{url}/status/99")]).await;
    assert_eq!(code, 400);
    let (code, body) = curl_json(&[&format!("{url}/admin/users/1")]).await;
    assert_eq!((code, body), (200, serde_json::json!({"admin": true})));
    let (code, body) = curl_json(&["-X", "PUT", &format!("{url}/customers/1")]).await;
    assert_eq!((code, &body["error"]), (404, &Value::from("not found")));
    let (code, _) = curl_json(&[&format!("{url}/")]).await;
    assert_eq!(code, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_last_thousand_requests_are_kept() {
    let http = ScratchHttp::start().await.unwrap();
    py(
        r#"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
for i in range(1005):
    c.request("GET", "/echo?i=%d" % i)
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
"#,
        &[&http.port().to_string()],
    )
    .await;
    let seen = http.requests();
    assert_eq!(seen.len(), 1000);
    assert_eq!(seen[0].path, "/echo?i=5");
    assert_eq!(seen[999].path, "/echo?i=1004");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_it_stops_it() {
    let http = ScratchHttp::start().await.unwrap();
    let port = http.port();
    // A keep-alive connection open at the time is closed too.
    let mut open = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    drop(http);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
    {
        assert!(Instant::now() < deadline, "still listening on {port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut open, &mut buf),
    )
    .await
    .expect("the open connection was not closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

/// Not a test: serves until killed, for running bench/http.sh's direct half by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn serve_until_killed() {
    let http = ScratchHttp::start().await.unwrap();
    let seconds: u64 = std::env::var("SCRATCH_HTTP_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    println!("SCRATCH_HTTP_URL={}", http.url());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}
