//! Webhooks end to end, against a plain receiver on loopback.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// What the test receiver saw of one request.
#[derive(Debug)]
struct Received {
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("body is JSON")
    }
}

/// Answer to hold a connection open without answering, to exercise the timeout.
const HANG: u16 = 0;

/// A plain-tokio HTTP/1 receiver on 127.0.0.1:0 answering the n-th request with
/// `statuses[n]` (200 once they run out). Returns its base URL and the requests it saw.
async fn receiver(statuses: Vec<u16>) -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (seen, requests) = mpsc::unbounded_channel();
    let served = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = served.fetch_add(1, Relaxed);
            let status = statuses.get(n).copied().unwrap_or(200);
            tokio::spawn(serve_one(stream, status, seen.clone()));
        }
    });
    (base, requests)
}

async fn serve_one(mut stream: TcpStream, status: u16, seen: mpsc::UnboundedSender<Received>) {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed inside the request head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("utf-8 head");
    let mut lines = head.split("\r\n");
    let request_line = lines.next().expect("request line");
    let target = request_line.split(' ').nth(1).expect("target").to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .map_or(0, |v| v.parse().expect("content-length"));
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read body");
        assert!(n > 0, "connection closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(request_line.split(' ').next(), Some("POST"));
    let _ = seen.send(Received {
        target,
        headers,
        body,
    });
    if status == HANG {
        tokio::time::sleep(Duration::from_secs(30)).await;
        return;
    }
    let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn hook(url: &str) -> WebhookConfig {
    WebhookConfig {
        url: Some(url.to_owned()),
        url_file: None,
        format: WebhookFormat::Json,
        secret_file: None,
        events: Vec::new(),
        timeout: Duration::from_secs(2),
        max_attempts: 3,
    }
}

fn review_created() -> Notification {
    Notification {
        event: "review.created",
        summary: "alice asks to run DELETE on app".into(),
        url: Some("https://sluice.example/admin/reviews/7".into()),
        data: serde_json::json!({"id": 7, "identity": "alice"}),
    }
}

fn grant_created() -> Notification {
    Notification {
        event: "grant.created",
        summary: "bob granted alice 1h on app".into(),
        url: None,
        data: serde_json::json!({"id": 3}),
    }
}

async fn next(requests: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(5), requests.recv())
        .await
        .expect("a request within 5s")
        .expect("receiver running")
}

fn metrics(n: &Notifier) -> String {
    let mut out = String::new();
    n.render_metrics(&mut out);
    out
}

/// Waits until the rendered metrics contain `line`: counters move after the answer is read.
async fn until_metric(n: &Notifier, line: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !metrics(n).contains(line) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never saw {line:?} in\n{}",
            metrics(n)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn secret_file(contents: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("tempfile");
    std::io::Write::write_all(&mut f, contents.as_bytes()).expect("write");
    f
}

#[tokio::test]
async fn signed_json_delivery() {
    let (base, mut requests) = receiver(vec![]).await;
    let key = secret_file("s3cr3t-key\n");
    let mut config = hook(&format!("{base}/hooks/sluice?team=db"));
    config.secret_file = Some(key.path().to_owned());
    let notifier = Notifier::start(&[config]).expect("start");
    notifier.notify(review_created());

    let r = next(&mut requests).await;
    assert_eq!(r.target, "/hooks/sluice?team=db");
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(
        r.header("user-agent"),
        format!("sluice/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(r.header("x-sluice-event"), "review.created");
    assert_eq!(r.header("host"), base.trim_start_matches("http://"));
    let timestamp: i64 = r
        .header("x-sluice-timestamp")
        .parse()
        .expect("unix seconds");
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);

    // What a receiver does: HMAC over "<timestamp>.<body>" with the key, newline trimmed.
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cr3t-key").expect("key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&r.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(r.header("x-sluice-signature"), expected);

    let body = r.json();
    assert_eq!(body["event"], "review.created");
    assert_eq!(body["delivery"], r.header("x-sluice-delivery"));
    assert_eq!(body["delivery"].as_str().map(str::len), Some(32));
    assert_eq!(body["summary"], "alice asks to run DELETE on app");
    assert_eq!(body["url"], "https://sluice.example/admin/reviews/7");
    assert_eq!(
        body["data"],
        serde_json::json!({"id": 7, "identity": "alice"})
    );
    let time = body["time"].as_str().expect("time");
    assert!(time.ends_with('Z'), "{time}");
    chrono::DateTime::parse_from_rfc3339(time).expect("RFC 3339");
    until_metric(&notifier, "{webhook=\"0\",result=\"delivered\"} 1").await;
}

#[tokio::test]
async fn slack_body_from_url_file() {
    let (base, mut requests) = receiver(vec![]).await;
    let url_file = secret_file(&format!("{base}/services/T0/B0/XYZ\n"));
    let mut config = hook("unused");
    config.url = None;
    config.url_file = Some(url_file.path().to_owned());
    config.format = WebhookFormat::Slack;
    let notifier = Notifier::start(&[config]).expect("start");
    let mut n = review_created();
    n.summary = "alice asks: DELETE FROM t WHERE a < 3 & b > 1".into();
    notifier.notify(n);
    notifier.notify(grant_created());

    let r = next(&mut requests).await;
    assert_eq!(r.target, "/services/T0/B0/XYZ");
    assert_eq!(r.header("x-sluice-signature"), "");
    assert_eq!(
        r.json(),
        serde_json::json!({"text": "alice asks: DELETE FROM t WHERE a &lt; 3 &amp; b &gt; 1 <https://sluice.example/admin/reviews/7|open>"})
    );
    let r = next(&mut requests).await;
    assert_eq!(
        r.json(),
        serde_json::json!({"text": "bob granted alice 1h on app"})
    );
}

#[tokio::test]
async fn retries_after_500_with_same_delivery() {
    let (base, mut requests) = receiver(vec![500, 200]).await;
    let notifier = Notifier::start(&[hook(&base)]).expect("start");
    notifier.notify(review_created());

    let first = next(&mut requests).await;
    let second = next(&mut requests).await;
    assert_eq!(
        first.header("x-sluice-delivery"),
        second.header("x-sluice-delivery")
    );
    assert_eq!(first.body, second.body);
    until_metric(&notifier, "{webhook=\"0\",result=\"delivered\"} 1").await;
    assert!(metrics(&notifier).contains("sluice_webhook_attempts_total{webhook=\"0\"} 2"));
}

#[tokio::test]
async fn does_not_retry_400() {
    let (base, mut requests) = receiver(vec![400, 200]).await;
    let notifier = Notifier::start(&[hook(&base)]).expect("start");
    notifier.notify(review_created());

    next(&mut requests).await;
    until_metric(&notifier, "{webhook=\"0\",result=\"failed\"} 1").await;
    assert!(requests.try_recv().is_err(), "a 400 was retried");
    assert!(metrics(&notifier).contains("sluice_webhook_attempts_total{webhook=\"0\"} 1"));
}

#[tokio::test]
async fn gives_up_after_max_attempts_of_timeouts() {
    let (base, mut requests) = receiver(vec![HANG, HANG]).await;
    let mut config = hook(&base);
    config.timeout = Duration::from_millis(50);
    config.max_attempts = 2;
    let notifier = Notifier::start(&[config]).expect("start");
    notifier.notify(review_created());

    next(&mut requests).await;
    next(&mut requests).await;
    until_metric(&notifier, "{webhook=\"0\",result=\"failed\"} 1").await;
    assert!(metrics(&notifier).contains("sluice_webhook_attempts_total{webhook=\"0\"} 2"));
}

#[tokio::test]
async fn event_filter() {
    let (base, mut requests) = receiver(vec![]).await;
    let mut config = hook(&base);
    config.events = vec!["grant.created".into()];
    let notifier = Notifier::start(&[config]).expect("start");
    notifier.notify(review_created());
    notifier.notify(grant_created());

    let r = next(&mut requests).await;
    assert_eq!(r.header("x-sluice-event"), "grant.created");
    until_metric(&notifier, "{webhook=\"0\",result=\"delivered\"} 1").await;
    assert!(requests.try_recv().is_err());
}

#[tokio::test]
async fn metrics_text() {
    let (base, mut requests) = receiver(vec![]).await;
    let secret_url = format!("{base}/services/SECRET");
    let mut filtered = hook(&secret_url);
    filtered.events = vec!["grant.revoked".into()];
    let notifier = Notifier::start(&[hook(&secret_url), filtered]).expect("start");
    notifier.notify(review_created());
    next(&mut requests).await;
    until_metric(&notifier, "{webhook=\"0\",result=\"delivered\"} 1").await;

    let text = metrics(&notifier);
    assert_eq!(
        text,
        "# HELP sluice_webhook_deliveries_total Webhook events by outcome: delivered, failed after the last attempt, or dropped because the queue was full.\n\
         # TYPE sluice_webhook_deliveries_total counter\n\
         sluice_webhook_deliveries_total{webhook=\"0\",result=\"delivered\"} 1\n\
         sluice_webhook_deliveries_total{webhook=\"0\",result=\"failed\"} 0\n\
         sluice_webhook_deliveries_total{webhook=\"0\",result=\"dropped\"} 0\n\
         sluice_webhook_deliveries_total{webhook=\"1\",result=\"delivered\"} 0\n\
         sluice_webhook_deliveries_total{webhook=\"1\",result=\"failed\"} 0\n\
         sluice_webhook_deliveries_total{webhook=\"1\",result=\"dropped\"} 0\n\
         # HELP sluice_webhook_attempts_total HTTP requests sent to the webhook, retries included.\n\
         # TYPE sluice_webhook_attempts_total counter\n\
         sluice_webhook_attempts_total{webhook=\"0\"} 1\n\
         sluice_webhook_attempts_total{webhook=\"1\"} 0\n"
    );
    assert!(!text.contains("SECRET") && !text.contains("127.0.0.1"));
    assert_eq!(metrics(&Notifier::disabled()), "");
}

/// The current-thread runtime cannot run the delivery task while this test holds it, so
/// exactly the queue's capacity is kept and the rest is dropped and counted.
#[tokio::test(flavor = "current_thread")]
async fn drops_and_counts_when_full() {
    let notifier = Notifier::start(&[hook("http://127.0.0.1:9/")]).expect("start");
    for _ in 0..QUEUE_CAPACITY + 5 {
        notifier.notify(review_created());
    }
    assert!(metrics(&notifier)
        .contains("sluice_webhook_deliveries_total{webhook=\"0\",result=\"dropped\"} 5"));
}

#[tokio::test]
async fn disabled_accepts_and_ignores() {
    let notifier = Notifier::disabled();
    notifier.clone().notify(review_created());
    assert_eq!(format!("{notifier:?}"), "Notifier { webhooks: 0 }");
    assert!(Notifier::start(&[]).is_ok());
}

#[tokio::test]
async fn start_rejects_bad_config_without_echoing_the_url() {
    let secret = "https://hooks.slack.com/services/T000/B000/TOKEN";
    let cases: Vec<(WebhookConfig, &str)> = vec![
        (
            WebhookConfig {
                url_file: Some("/nonexistent".into()),
                ..hook(secret)
            },
            "exactly one of url and url_file",
        ),
        (
            WebhookConfig {
                url: None,
                ..hook(secret)
            },
            "exactly one of url and url_file",
        ),
        (hook("ftp://example.com/TOKEN"), "http:// or https://"),
        (hook("TOKEN"), "http:// or https://"),
        (hook("https://user:TOKEN@example.com/"), "credentials"),
        (
            WebhookConfig {
                max_attempts: 0,
                ..hook(secret)
            },
            "max_attempts",
        ),
        (
            WebhookConfig {
                timeout: Duration::ZERO,
                ..hook(secret)
            },
            "timeout",
        ),
        (
            WebhookConfig {
                events: vec!["review.create".into()],
                ..hook(secret)
            },
            "unknown event \"review.create\"",
        ),
        (
            WebhookConfig {
                secret_file: Some("/nonexistent/key".into()),
                ..hook(secret)
            },
            "secret_file /nonexistent/key",
        ),
    ];
    for (config, wanted) in cases {
        let ok = hook("http://127.0.0.1:9/");
        let err = Notifier::start(&[ok, config])
            .expect_err(wanted)
            .to_string();
        assert!(err.contains("webhooks[1]"), "{err}");
        assert!(err.contains(wanted), "{err} lacks {wanted}");
        assert!(!err.contains("TOKEN"), "{err} leaks the URL");
    }
    let empty = secret_file("\n");
    let err = Notifier::start(&[WebhookConfig {
        secret_file: Some(empty.path().to_owned()),
        ..hook(secret)
    }])
    .expect_err("empty key")
    .to_string();
    assert!(err.contains("is empty"), "{err}");
}

#[tokio::test]
async fn https_and_ipv6_urls_are_accepted() {
    Notifier::start(&[hook("https://hooks.slack.com/services/T000/B000/TOKEN")]).expect("https");
    Notifier::start(&[hook("http://[::1]:8080/")]).expect("ipv6");
}

#[test]
fn config_from_toml() {
    #[derive(serde::Deserialize)]
    struct File {
        webhooks: Vec<WebhookConfig>,
    }
    let file: File = toml::from_str(
        r#"
        [[webhooks]]
        url = "https://example.com/hook"

        [[webhooks]]
        url_file = "/etc/sluice/slack-url"
        format = "slack"
        secret_file = "/etc/sluice/hook.key"
        events = ["review.created"]
        timeout = "250ms"
        max_attempts = 2
        "#,
    )
    .expect("parses");
    let [a, b] = &file.webhooks[..] else {
        panic!("two webhooks")
    };
    assert_eq!(a.format, WebhookFormat::Json);
    assert_eq!(a.timeout, Duration::from_secs(5));
    assert_eq!(a.max_attempts, 5);
    assert!(a.events.is_empty() && a.secret_file.is_none());
    assert_eq!(b.format, WebhookFormat::Slack);
    assert_eq!(b.timeout, Duration::from_millis(250));
    assert_eq!(b.max_attempts, 2);
    assert!(toml::from_str::<File>("[[webhooks]]\nurl = \"x\"\nretries = 3\n").is_err());
}
