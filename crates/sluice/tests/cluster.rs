#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Several `sluice serve` processes on one PostgreSQL store, as a load balancer would put them
//! behind one address: a statement held on one gateway is approved through another's API and
//! cancelled through a third; one gateway killed with -9 under pgbench load leaves the others
//! serving and every chain verified; the store restarted under load fails what needs it with
//! a clear error and recovers without a gateway restart; SIGTERM turns `/readyz` to 503 while
//! the gateway still serves.

mod support;

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cluster::Cluster;
use support::*;

/// DELETE waits for a dba; everything else is allowed.
const POLICY: &str = r#"package sluice

import rego.v1

decision := {
	"allow": true,
	"rule": "delete_needs_dba",
	"reasons": ["deleting rows"],
	"approval": {"groups": ["dba"]},
} if {
	input.request.action == "statement"
	input.request.statement.command == "DELETE"
} else := {"allow": true, "rule": "allow_all", "reasons": []}
"#;

/// A store and gateways named `names` on it enforcing [`POLICY`], with the table the holds
/// are on.
fn start_cluster(names: &[&str]) -> Cluster {
    static TABLE: std::sync::Once = std::sync::Once::new();
    TABLE.call_once(|| {
        pg().psql(
            DATABASE,
            "SET ROLE sluice_scram; CREATE TABLE cluster_hold (x int);",
        )
        .unwrap();
    });
    Cluster::start(names, POLICY)
}

/// A raw PostgreSQL session of `identity` on `port`, and its cancel key (pid, secret).
async fn raw_session(port: u16, identity: &str, token: &str) -> (RawClient, i32, Vec<u8>) {
    let mut c = RawClient::connect(port).await;
    c.startup((3, 0), &[("user", identity), ("database", "app")])
        .await;
    let msgs = c.login(token).await.unwrap();
    let key = msgs.iter().find(|m| m.tag == b'K').unwrap();
    let pid = i32::from_be_bytes(key.body[..4].try_into().unwrap());
    (c, pid, key.body[4..].to_vec())
}

/// Sends a CancelRequest for (pid, secret) to `port`.
fn send_cancel(port: u16, pid: i32, secret: &[u8]) {
    use std::io::{Read, Write};
    let mut packet = Vec::new();
    packet.extend_from_slice(&(16 + secret.len() as u32 - 4).to_be_bytes());
    packet.extend_from_slice(&80_877_102u32.to_be_bytes());
    packet.extend_from_slice(&pid.to_be_bytes());
    packet.extend_from_slice(secret);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(&packet).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.read(&mut [0u8; 16]);
}

/// Waits for the statement's outcome: the messages up to ReadyForQuery.
async fn outcome(c: &mut RawClient) -> Vec<Msg> {
    c.until_ready().await
}

fn error_text(msgs: &[Msg]) -> Option<String> {
    msgs.iter()
        .find(|m| m.tag == b'E')
        .and_then(|m| m.message())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_on_one_gateway_is_approved_through_another_and_cancelled_through_a_third() {
    let mut cluster = start_cluster(&["gw-a", "gw-b", "gw-c"]);
    let rita = cluster.token("rita");
    let dana = cluster.token("dana");
    let (a, b, c) = (cluster.gw("gw-a"), cluster.gw("gw-b"), cluster.gw("gw-c"));
    for g in [a, b, c] {
        assert_eq!(g.http("GET", "/readyz", None), (200, "ready\n".to_owned()));
    }
    // Each knows the others by their heartbeats.
    let (code, body) = b.http("GET", "/cluster", Some(&dana));
    assert_eq!(code, 200, "{body}");
    let view: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["gateway"], "gw-b");
    assert_eq!(view["store"], "postgres");
    assert_eq!(view["notified"], true);
    let names: Vec<&str> = view["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["alive"] == true)
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gw-a", "gw-b", "gw-c"], "{body}");

    // Held on A, approved through B's API: released by the store's notification.
    let (mut session, pid, secret) = raw_session(a.pg_port, "rita", &rita).await;
    session
        .send(&query_msg("DELETE FROM cluster_hold WHERE x = 1"))
        .await;
    let review = b.pending_review(&dana);
    let started = Instant::now();
    let (code, body) = b.http("POST", &format!("/reviews/{review}/approve"), Some(&dana));
    let approved = Instant::now();
    assert_eq!(code, 200, "{body}");
    let msgs = outcome(&mut session).await;
    let released = approved.elapsed();
    assert!(error_text(&msgs).is_none(), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.tag == b'C'), "{msgs:?}");
    eprintln!(
        "released {released:?} after the approval's answer ({:?} after it was sent)",
        started.elapsed()
    );

    // Held on A again, cancelled through C: A cancels its review.
    session
        .send(&query_msg("DELETE FROM cluster_hold WHERE x = 2"))
        .await;
    let review = c.pending_review(&dana);
    send_cancel(c.pg_port, pid, &secret);
    let msgs = outcome(&mut session).await;
    let said = error_text(&msgs).unwrap_or_default();
    assert!(said.contains("cancelled"), "{msgs:?}");
    let (_, body) = b.http("GET", &format!("/reviews/{review}"), Some(&dana));
    assert!(body.contains("\"cancelled\""), "{body}");
    // A key nobody holds is ignored, as PostgreSQL does, and breaks nothing.
    send_cancel(b.pg_port, pid ^ 0x5a5a, &secret);
    session.send(&query_msg("SELECT 1")).await;
    assert!(error_text(&outcome(&mut session).await).is_none());

    // SIGTERM: not ready at once, still serving during the drain delay, then gone.
    let a = cluster.gw_mut("gw-a");
    a.sigterm();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (code, body) = a.http("GET", "/readyz", None);
        if code == 503 {
            assert!(body.contains("draining"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "still ready after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = a.psql("rita", &rita, "SELECT 'still served'");
    assert!(out.status.success(), "{}", stderr(&out));
    drop(session);
    a.wait_exit(Duration::from_secs(15));
    // Each gateway's chain names it; together they verify.
    let records = std::fs::read_to_string(a.data.join("audit.jsonl")).unwrap();
    assert!(
        records.lines().all(|l| l.contains("\"gateway\":\"gw-a\"")),
        "a record without its gateway's name"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_gateway_under_load_leaves_the_others_serving_and_every_chain_verified() {
    let mut cluster = start_cluster(&["gw-a", "gw-b", "gw-c"]);
    let rita = cluster.token("rita");
    let script = cluster.dir.path().join("select.sql");
    std::fs::write(&script, "SELECT 1;\n").unwrap();
    // pgbench through A and B for the whole run.
    let load: Vec<Child> = ["gw-a", "gw-b"]
        .iter()
        .map(|n| {
            Command::new("pgbench")
                .args(["-n", "-T", "4", "-c", "2", "-f"])
                .arg(&script)
                .arg(cluster.gw(n).url("rita", &rita))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // A psql on C whose acknowledged results are counted, then C dies.
    let c = cluster.gw("gw-c");
    let (mut psql, mut lines) = numbered_psql(&c.url("rita", &rita), 3000, "");
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 200 {
        acknowledged.push(lines.next().unwrap().unwrap());
    }
    cluster.gw_mut("gw-c").kill9();
    acknowledged.extend(lines.map_while(Result::ok));
    let _ = psql.wait();

    // A's and B's clients never noticed.
    for (bench, name) in load.into_iter().zip(["gw-a", "gw-b"]) {
        let out = bench.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "pgbench through {name}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        let text = stdout(&out);
        assert!(text.contains("number of failed transactions: 0"), "{text}");
    }
    // C's clients reconnect elsewhere.
    let out = cluster
        .gw("gw-b")
        .psql("rita", &rita, "SELECT 'reconnected'");
    assert!(out.status.success(), "{}", stderr(&out));

    // Every acknowledged statement of C is in its chain.
    let c = cluster.gw("gw-c");
    let trail = std::fs::read_to_string(c.data.join("audit.jsonl")).unwrap();
    for n in &acknowledged {
        let text = format!("\"select {n} as acked_{n}\"");
        assert!(
            trail.contains(&text),
            "acknowledged {n} is not in gw-c's chain"
        );
    }
    for name in ["gw-a", "gw-b"] {
        let g = cluster.gw_mut(name);
        g.sigterm();
        g.wait_exit(Duration::from_secs(20));
    }
    // The three chains, checked together: each intact, reported per gateway.
    let trails: Vec<String> = cluster
        .gateways
        .iter()
        .map(|g| g.data.join("audit.jsonl").display().to_string())
        .collect();
    // Each gateway signs its checkpoints with a key of its own here (deploy/ shares one).
    let keys: Vec<String> = cluster
        .gateways
        .iter()
        .map(|g| {
            std::fs::read_to_string(g.data.join("audit-signing.key.pub"))
                .unwrap()
                .trim()
                .to_owned()
        })
        .collect();
    let mut args = vec!["audit", "verify"];
    for (t, k) in trails.iter().zip(&keys) {
        args.extend(["--trail", t.as_str(), "--public-key", k.as_str()]);
    }
    let out = cluster.gw("gw-a").run(&args);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    for name in ["gw-a", "gw-b", "gw-c"] {
        assert!(stdout(&out).contains(name), "{}", stdout(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_restarted_under_load_fails_what_needs_it_then_recovers() {
    let mut cluster = start_cluster(&["gw-a", "gw-b"]);
    let rita = cluster.token("rita");
    let dana = cluster.token("dana");
    let script = cluster.dir.path().join("select.sql");
    std::fs::write(&script, "SELECT 1;\n").unwrap();
    let (mut open, _, _) = raw_session(cluster.gw("gw-a").pg_port, "rita", &rita).await;
    let bench = Command::new("pgbench")
        .args(["-n", "-T", "6", "-c", "2", "-f"])
        .arg(&script)
        .arg(cluster.gw("gw-a").url("rita", &rita))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));

    // The store goes down, under load. A new session needs the store (its token): refused,
    // saying why; the gateway says it is not ready.
    cluster.store.stop();
    let a = cluster.gw("gw-a");
    let refused = a.psql("rita", &rita, "SELECT 1");
    let (code, body) = a.http("GET", "/readyz", None);
    std::thread::sleep(Duration::from_secs(1));
    cluster.store.start_again().unwrap();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("the gateway's store is unavailable"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("store"), "{body}");
    // An open session needs no store.
    open.send(&query_msg("SELECT 'open session'")).await;
    assert!(error_text(&outcome(&mut open).await).is_none());
    let out = bench.wait_with_output().unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("number of failed transactions: 0"),
        "{}",
        stdout(&out)
    );

    // Back without a gateway restart: logins, readiness, and holds released across gateways
    // by notification again.
    let a = cluster.gw("gw-a");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !a.psql("rita", &rita, "SELECT 1").status.success() {
        assert!(Instant::now() < deadline, "logins did not recover");
        std::thread::sleep(Duration::from_millis(200));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.http("GET", "/readyz", None).0 != 200 {
        assert!(Instant::now() < deadline, "not ready again");
        std::thread::sleep(Duration::from_millis(100));
    }
    open.send(&query_msg("DELETE FROM cluster_hold WHERE x = 3"))
        .await;
    let b = cluster.gw("gw-b");
    let review = b.pending_review(&dana);
    let (code, body) = b.http("POST", &format!("/reviews/{review}/approve"), Some(&dana));
    assert_eq!(code, 200, "{body}");
    assert!(error_text(&outcome(&mut open).await).is_none());
}

/// `bench/scale.sh`: two gateways on one store. Alternating in one run, the release latency
/// of a statement held on A when approved through A and when approved through B (send the
/// approval → the statement done), and the store's transactions per statement run through A
/// (the store's statement log, a one-connection pgbench minus the connection's own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run by bench/scale.sh"]
async fn scale_bench() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let statements: u64 = std::env::var("STATEMENTS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20_000);
    let cluster = start_cluster(&["gw-a", "gw-b"]);
    let rita = cluster.token("rita");
    let dana = cluster.token("dana");
    let (a, b) = (cluster.gw("gw-a"), cluster.gw("gw-b"));
    let (mut session, _, _) = raw_session(a.pg_port, "rita", &rita).await;
    let mut same = Vec::new();
    let mut across = Vec::new();
    for round in 0..rounds * 2 {
        let via = if round % 2 == 0 { a } else { b };
        session
            .send(&query_msg("DELETE FROM cluster_hold WHERE x = -1"))
            .await;
        let review = via.pending_review(&dana);
        let sent = Instant::now();
        let (code, body) = via.http("POST", &format!("/reviews/{review}/approve"), Some(&dana));
        assert_eq!(code, 200, "{body}");
        let msgs = outcome(&mut session).await;
        let took = sent.elapsed().as_secs_f64() * 1000.0;
        assert!(error_text(&msgs).is_none(), "{msgs:?}");
        if round % 2 == 0 {
            same.push(took);
        } else {
            across.push(took);
        }
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        (v[v.len() / 2], v[v.len() * 9 / 10], v[v.len() - 1])
    };
    let (s50, s90, smax) = stats(&mut same);
    let (x50, x90, xmax) = stats(&mut across);
    println!("release latency, {rounds} rounds each, alternating (ms: median / p90 / max):");
    println!("  approved through the holding gateway  {s50:7.1} / {s90:7.1} / {smax:7.1}");
    println!("  approved through another gateway      {x50:7.1} / {x90:7.1} / {xmax:7.1}");
    println!("  across/same median ratio              {:.2}", x50 / s50);

    // Store queries per statement: a one-connection pgbench of `statements` SELECTs, minus a
    // run of one statement (what logging in costs), counted in the store's own statement log.
    let script = cluster.dir.path().join("select.sql");
    std::fs::write(&script, "SELECT 1;\n").unwrap();
    cluster
        .store
        .psql("postgres", "ALTER SYSTEM SET log_statement = 'all'")
        .unwrap();
    cluster
        .store
        .psql("postgres", "SELECT pg_reload_conf()")
        .unwrap();
    let log = cluster.dir.path().join("store/postgres.log");
    let log_len = || std::fs::metadata(&log).unwrap().len() as usize;
    // Queries the gateways sent since `from` (the log's length then), and how many of those
    // were heartbeats.
    let store_queries = |from: usize| -> (u64, std::collections::BTreeMap<String, u64>) {
        std::thread::sleep(Duration::from_millis(300));
        let text = std::fs::read(&log).unwrap();
        let text = String::from_utf8_lossy(&text[from..]);
        let queries: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("LOG:  statement: ") || l.contains("LOG:  execute "))
            .collect();
        // What they were, by their first 60 characters of SQL.
        let mut kinds = std::collections::BTreeMap::new();
        for q in &queries {
            let sql = q.split_once(": ").map_or(*q, |(_, rest)| rest);
            let sql = sql.split_once(": ").map_or(sql, |(_, rest)| rest);
            *kinds
                .entry(sql.chars().take(60).collect::<String>())
                .or_insert(0) += 1;
        }
        (queries.len() as u64, kinds)
    };
    let pgbench = |n: u64| {
        let out = Command::new("pgbench")
            .args(["-n", "-c", "1", "-t", &n.to_string(), "-f"])
            .arg(&script)
            .arg(a.url("rita", &rita))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    let from = log_len();
    pgbench(1);
    let (one, _) = store_queries(from);
    let from = log_len();
    pgbench(statements);
    let (many, kinds) = store_queries(from);
    let per = (many as f64 - one as f64) / (statements - 1) as f64;
    println!(
        "store queries: {one} for a 1-statement connection, {many} for a {statements}-statement one: {per:.5} per statement; during the long run:"
    );
    for (sql, n) in kinds {
        println!("  {n:5}  {sql}");
    }
}
