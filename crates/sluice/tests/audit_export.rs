#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Getting the trail out, end to end: a `file` sink and an `http` sink (to a local receiver that
//! fails its first request) get every record of a gateway's audit file byte for byte, and after
//! a restart on the same data directory resume from their cursors without losing one; the real
//! `sluice audit export` prints exactly the lines of a time window, byte for byte.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_sluice");
const TOKEN: &str = "siem-token-5d1e";

/// One request the receiver read whole, and what it answered.
#[derive(Debug, Clone)]
struct Request {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A plain-tokio HTTP/1 receiver on 127.0.0.1:0 that answers 500 to its first request and 200
/// to the others, and keeps every request it read whole.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Request>>>,
    served: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/ingest", listener.local_addr().unwrap());
        let receiver = Receiver::default();
        let serving = receiver.clone();
        tokio::spawn(async move {
            for _ in 0..10_000 {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serving.clone().serve(stream));
            }
        });
        (receiver, url)
    }

    async fn serve(self, mut stream: TcpStream) {
        let Some(mut request) = read_request(&mut stream).await else {
            return;
        };
        request.status = match self.served.fetch_add(1, Ordering::SeqCst) {
            0 => 500,
            _ => 200,
        };
        // Kept before answering, so nothing the sink counts as delivered is missing here.
        let status = request.status;
        self.seen.lock().unwrap().push(request);
        let answer =
            format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

/// `None` if the connection ends or stalls before the whole request is in.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = read_some(stream, &mut chunk).await?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).ok()?;
    let headers: BTreeMap<String, String> = head
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = read_some(stream, &mut chunk).await?;
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        status: 0,
        headers,
        body,
    })
}

async fn read_some(stream: &mut TcpStream, chunk: &mut [u8]) -> Option<usize> {
    match tokio::time::timeout(Duration::from_secs(10), stream.read(chunk)).await {
        Ok(Ok(n)) if n > 0 => Some(n),
        _ => None,
    }
}

fn split_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn field(line: &[u8], name: &str) -> serde_json::Value {
    let value: serde_json::Value = serde_json::from_slice(line).unwrap();
    value[name].clone()
}

fn seq(line: &[u8]) -> u64 {
    field(line, "seq").as_u64().unwrap()
}

/// The audit file's lines once everything pending is written.
async fn audit_lines(h: &Harness) -> Vec<Vec<u8>> {
    h.audit().await;
    split_lines(&std::fs::read(h.config.audit_path()).unwrap())
}

/// The lines the `file` sink wrote so far (its path is relative to the configuration's).
fn exported(dir: &Path) -> Vec<Vec<u8>> {
    split_lines(&std::fs::read(dir.join("export.jsonl")).unwrap_or_default())
}

/// The lines of the requests the receiver accepted (2xx), from the `skip`-th request on.
fn posted(receiver: &Receiver, skip: usize) -> Vec<Vec<u8>> {
    receiver
        .requests()
        .iter()
        .skip(skip)
        .filter(|r| r.status == 200)
        .flat_map(|r| split_lines(&r.body))
        .collect()
}

fn cursor(data_dir: &Path, sink: &str) -> u64 {
    let path = data_dir.join("audit-sinks").join(format!("{sink}.cursor"));
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Waits (at most 30 s) until both sinks have every record of the audit file.
async fn until_delivered(h: &Harness, receiver: &Receiver) -> Vec<Vec<u8>> {
    for _ in 0..300 {
        let audit = audit_lines(h).await;
        let has_all = |got: Vec<Vec<u8>>| {
            let got: std::collections::HashSet<u64> = got.iter().map(|l| seq(l)).collect();
            audit.iter().all(|l| got.contains(&seq(l)))
        };
        if has_all(exported(h.dir.path())) && has_all(posted(receiver, 0)) {
            return audit;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the sinks never caught up: audit has {} records, file sink {}, http sink {}",
        audit_lines(h).await.len(),
        exported(h.dir.path()).len(),
        posted(receiver, 0).len()
    )
}

/// Every audit record arrived exactly as written; a record arrived more than once only if it
/// was sent after the cursor saved last before the restart and before the stop (the batch in
/// flight when the gateway stopped).
fn check(sink: &str, audit: &[Vec<u8>], got: &[Vec<u8>], in_flight: (u64, u64)) {
    let by_seq: BTreeMap<u64, &Vec<u8>> = audit.iter().map(|l| (seq(l), l)).collect();
    let mut times: BTreeMap<u64, usize> = BTreeMap::new();
    for line in got {
        let s = seq(line);
        assert_eq!(
            Some(&line),
            by_seq.get(&s),
            "{sink}: record {s} differs from the audit file's line"
        );
        *times.entry(s).or_default() += 1;
    }
    for s in by_seq.keys() {
        assert!(times.contains_key(s), "{sink}: record {s} was lost");
    }
    for (s, n) in times {
        assert!(
            n == 1 || (s > in_flight.0 && s <= in_flight.1 && n == 2),
            "{sink}: record {s} arrived {n} times, outside the batch in flight {in_flight:?}"
        );
    }
}

fn psql_ok(h: &Harness, statements: &[&str]) {
    let mut args = Vec::new();
    for s in statements {
        args.extend(["-c", *s]);
    }
    let out = h.psql("alice", "app", &args);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn sinks_deliver_every_record_and_resume_from_their_cursors_after_a_restart() {
    let (receiver, url) = Receiver::start().await;
    let secrets = tempfile::tempdir().unwrap();
    let token_file = secrets.path().join("siem.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    // The file sink's path is relative: it resolves against the configuration's directory.
    let sinks = format!(
        r#"
[[audit_sinks]]
name = "shipper"
kind = "file"
path = "export.jsonl"

[[audit_sinks]]
name = "siem"
kind = "http"
url = "{url}"
token_file = "{}"
batch_size = 4
timeout = "5s"
"#,
        token_file.display()
    );
    let h = Harness::start_with_config(|text| text + &sinks).await;
    psql_ok(&h, &["SELECT 1", "SELECT count(*) FROM items"]);
    psql_ok(&h, &["SELECT name FROM items WHERE id = 7"]);
    let audit = until_delivered(&h, &receiver).await;
    assert!(audit.len() >= 8, "{} records", audit.len());

    // The first request was refused and sent again, the same batch, as NDJSON with the token.
    let requests = receiver.requests();
    assert_eq!(requests[0].status, 500);
    assert_eq!(requests[1].status, 200);
    assert_eq!(requests[0].body, requests[1].body);
    for r in &requests {
        assert_eq!(r.headers["content-type"], "application/x-ndjson");
        assert_eq!(r.headers["authorization"], format!("Bearer {TOKEN}"));
        let lines = split_lines(&r.body);
        assert!((1..=4).contains(&lines.len()), "batch of {}", lines.len());
        assert_eq!(r.headers["x-sluice-first-seq"], seq(&lines[0]).to_string());
        assert_eq!(
            r.headers["x-sluice-last-seq"],
            seq(&lines[lines.len() - 1]).to_string()
        );
    }

    // Stop, and start another gateway on the same data directory.
    let Harness {
        gateway,
        config,
        config_path,
        tokens,
        dir,
    } = h;
    gateway.shutdown("restart").await.unwrap();
    // An aborted sink's last cursor write runs to its end off the async workers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let file_at_stop = exported(dir.path());
    let requests_at_stop = receiver.requests().len();
    let posted_at_stop = posted(&receiver, 0);
    let data_dir = config.gateway.data_dir.clone();
    let (file_cursor, http_cursor) = (cursor(&data_dir, "shipper"), cursor(&data_dir, "siem"));
    assert!(file_cursor > 0 && http_cursor > 0);
    assert!(
        file_at_stop.len() >= audit.len(),
        "caught up before the stop"
    );
    let text = std::fs::read_to_string(&config_path).unwrap();
    let h = Harness {
        gateway: sluice::runtime::start(config.clone(), &text).await.unwrap(),
        config,
        config_path,
        tokens,
        dir,
    };

    psql_ok(
        &h,
        &["SELECT 2", "SELECT count(*) FROM items WHERE id < 50"],
    );
    let audit = until_delivered(&h, &receiver).await;
    let starts = audit
        .iter()
        .filter(|l| field(l, "type") == "gateway_started")
        .count();
    assert_eq!(starts, 2);

    // Each sink went on from its cursor: what it sent first after the restart follows it.
    let file_all = exported(h.dir.path());
    assert_eq!(seq(&file_all[file_at_stop.len()]), file_cursor + 1);
    let http_after = posted(&receiver, requests_at_stop);
    assert_eq!(seq(&http_after[0]), http_cursor + 1);

    let last_sent = |lines: &[Vec<u8>]| lines.iter().map(|l| seq(l)).max().unwrap_or(0);
    check(
        "file",
        &audit,
        &file_all,
        (file_cursor, last_sent(&file_at_stop)),
    );
    check(
        "http",
        &audit,
        &posted(&receiver, 0),
        (http_cursor, last_sent(&posted_at_stop)),
    );

    // The exporter, against the finished file.
    let Harness {
        gateway,
        config_path,
        dir,
        config,
        ..
    } = h;
    gateway.shutdown("test over").await.unwrap();
    check_export(&config_path, &config.audit_path());
    drop(dir);
}

/// `sluice audit export` prints the lines of a window exactly as the file has them.
fn check_export(config_path: &Path, audit_path: &Path) {
    let file = std::fs::read(audit_path).unwrap();
    let lines = split_lines(&file);
    let middle = field(&lines[lines.len() / 2], "time");
    let middle = middle.as_str().unwrap();
    // The fixed-width UTC times order as text.
    let (before, after): (Vec<_>, Vec<_>) = lines
        .iter()
        .partition(|l| field(l, "time").as_str().unwrap() < middle);
    let joined = |part: &[&Vec<u8>]| {
        part.iter()
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect::<Vec<u8>>()
    };

    let since = export(config_path, &["--since", middle]);
    assert!(!after.is_empty());
    assert_eq!(since, joined(&after), "--since {middle}");
    let until = export(config_path, &["--until", middle, "--format", "jsonl"]);
    assert_eq!(until, joined(&before), "--until {middle}");
    assert_eq!(export(config_path, &["--since", "1h"]), file);
    assert_eq!(export(config_path, &[]), file);

    let refused = Command::new(BIN)
        .args(["audit", "export", "--format", "csv", "--config"])
        .arg(config_path)
        .output()
        .unwrap();
    assert!(!refused.status.success());
}

fn export(config_path: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(BIN)
        .args(["audit", "export", "--config"])
        .arg(config_path)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    out.stdout
}
