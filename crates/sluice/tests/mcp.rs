#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Agents through the MCP endpoint, driven by the official MCP SDK (PyPI `mcp`, installed by
//! scripts/test.sh) against `sluice demo`: tools listed per target, an allowed query masked, a
//! denied one naming its rule, a held production write approved with the CLI while the agent
//! waits, SSH, HTTP and MySQL tools, both protocol eras, the stdio bridge (`sluice mcp`), and
//! JSON-RPC errors for what the SDK never sends (tests/drivers/mcp_agent.py). Then the audit
//! trail and the recordings the calls left: every session the agent's, kind `agent`, its task
//! named, the masked values recorded masked.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

#[path = "support/demo_process.rs"]
mod demo_process;
mod support;

use demo_process::{start, BIN};
use support::mcp_curl::McpCurl;
use support::{set_in_table, stderr, stdout, Harness};

/// The driver's `name: json` lines.
fn checks(out: &str) -> BTreeMap<String, Value> {
    out.lines()
        .filter_map(|l| l.split_once(": "))
        .filter_map(|(k, v)| Some((k.to_owned(), serde_json::from_str(v).ok()?)))
        .collect()
}

fn audit(config: &Path) -> Vec<Value> {
    let out = Command::new(BIN)
        .args(["audit", "search", "--json", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn an_agent_on_the_mcp_sdk_goes_through_the_same_enforcement() {
    let demo = start();
    let info = &demo.info;
    let python = std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drivers/mcp_agent.py");
    let out = Command::new(python)
        .arg(script)
        .env("MCP_URL", info["mcp_url"].as_str().unwrap())
        .env("MCP_CA", info["http_ca"].as_str().unwrap())
        .env("ADMIN_URL", info["admin_url"].as_str().unwrap())
        .env("TOKENS", info["tokens"].to_string())
        .env("SLUICE_BIN", BIN)
        .env("HAS_SSH", if info.get("ssh").is_some() { "1" } else { "0" })
        .env(
            "HAS_MYSQL",
            if info.get("mysql_url").is_some() {
                "1"
            } else {
                "0"
            },
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the agent failed (scripts/test.sh installs the mcp SDK):\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let c = checks(&stdout(&out));
    let get = |k: &str| {
        c.get(k)
            .unwrap_or_else(|| panic!("no {k} in {c:#?}"))
            .clone()
    };

    // Tools per target and protocol; the SDK picked the stateless era.
    let tools = get("tools");
    for t in ["shop.query", "shop.describe", "api.get", "api.request"] {
        assert!(tools.as_array().unwrap().contains(&json!(t)), "{tools}");
    }
    assert_eq!(get("era"), json!("modern"));
    // Masked like psql's answer; parameters typed by the server; the row cap.
    assert_eq!(get("masked.rows"), json!([[1, "****"], [2, "****"]]));
    assert_eq!(get("params.rows"), json!([["3"]]));
    assert_eq!(
        get("capped"),
        json!({"rows": 2, "truncated": true, "row_count": 4})
    );
    // A denial is the tool's error and names the rule.
    assert_eq!(get("ddl.error"), json!(true));
    let ddl = get("ddl.text");
    assert!(
        ddl.as_str().unwrap().contains("denied by policy rule"),
        "{ddl}"
    );
    assert_eq!(get("describe.tables"), json!(["customers", "orders"]));
    // Columns marked with the masking alice's reads of them get.
    let columns = get("describe.columns");
    assert_eq!(columns["ssn"], json!("redact"), "{columns}");
    assert_eq!(columns["email"], json!("email_domain"), "{columns}");
    assert_eq!(columns["card_number"], json!({"keep_last": 4}), "{columns}");
    assert_eq!(columns["id"], Value::Null, "{columns}");
    assert_eq!(get("badargs")["error"], json!(true));
    assert_eq!(get("http.get"), json!({"error": false, "status": 200}));
    if info.get("ssh").is_some() {
        assert_eq!(get("ssh.run")["exit"], json!(0));
        assert!(get("ssh.run")["stdout"]
            .as_str()
            .unwrap()
            .starts_with("hello from"));
    }
    if info.get("mysql_url").is_some() {
        assert_eq!(get("mysql.rows"), json!([["****"]]));
    }
    // Held: the review's id came as progress, dana approved it, the DELETE ran.
    assert_eq!(get("held.progress"), json!(true));
    assert_eq!(get("approve.exit"), json!(0));
    assert_eq!(get("held.command"), json!("DELETE 1"));
    // The handshake era, and the stdio bridge.
    assert_eq!(get("legacy.era"), json!("handshake"));
    assert_eq!(get("legacy.rows"), json!([["****"]]));
    assert_eq!(get("stdio.tools"), json!(true));
    let denied = get("stdio.denied");
    assert_eq!(denied["error"], json!(true));
    assert!(
        denied["text"]
            .as_str()
            .unwrap()
            .contains("rule unbounded_write"),
        "{denied}"
    );
    // Malformed, oversized, unknown: JSON-RPC errors, and the endpoint goes on.
    assert_eq!(get("raw.parse"), json!([400, -32700]));
    assert_eq!(get("raw.oversized"), json!([413, -32600]));
    assert_eq!(get("raw.unknown_method"), json!([404, -32601]));
    assert_eq!(get("raw.unknown_tool"), json!([400, -32602]));
    assert_eq!(get("raw.batch"), json!([400, -32600]));
    assert_eq!(get("raw.stale_session"), json!(404));
    assert_eq!(get("raw.still_serving"), json!([200, {}]));
    assert_eq!(get("raw.cross_origin"), json!(403));
    assert_eq!(get("raw.no_bearer"), json!(401));
    assert_eq!(get("raw.wrong_bearer"), json!(401));

    // The audit trail: every session of the calls is an agent's, with its task.
    let config = Path::new(info["config"].as_str().unwrap());
    let records = audit(config);
    let started: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "session_started")
        .collect();
    let protocols_of = |task: &str| -> Vec<String> {
        let mut p: Vec<String> = started
            .iter()
            .filter(|r| r["task"] == task)
            .map(|r| r["protocol"].as_str().unwrap().to_owned())
            .collect();
        p.sort();
        p.dedup();
        p
    };
    for r in started
        .iter()
        .filter(|r| r["task"].as_str().is_some_and(|t| t.starts_with("mcp: ")))
    {
        assert_eq!(r["identity_kind"], "agent", "{r}");
        if r["protocol"] == "postgres" {
            // Where the call came from, since the session's own address is the loopback.
            let name = r["application_name"].as_str().unwrap();
            assert!(name.starts_with("mcp ") && name.contains(" from "), "{r}");
        }
    }
    let alice = protocols_of("mcp: mcp-test-agent");
    assert!(alice.contains(&"postgres".to_owned()), "{alice:?}");
    assert!(alice.contains(&"http".to_owned()), "{alice:?}");
    let tasks: Vec<&Value> = started.iter().map(|r| &r["task"]).collect();
    assert_eq!(protocols_of("mcp: legacy-agent"), ["postgres"], "{tasks:?}");
    assert_eq!(protocols_of("mcp: stdio-agent"), ["postgres"], "{tasks:?}");
    // The credentials were minted per task and target, by the policy's rule, once each: the
    // agent's many calls to shop reuse one.
    let minted: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r["type"] == "credential_issued"
                && r["purpose"] == "task"
                && r["task"] == "mcp: mcp-test-agent"
                && r["rule"] == "task_credential"
        })
        .collect();
    assert_eq!(
        minted
            .iter()
            .filter(|r| r["targets"] == json!(["shop"]))
            .count(),
        1,
        "{minted:#?}"
    );
    // The held DELETE: requested as an agent's, approved by dana, in the agent's session.
    let held = records
        .iter()
        .find(|r| {
            r["type"] == "review_requested" && r["summary"] == "DELETE FROM orders WHERE id = $1"
        })
        .unwrap_or_else(|| panic!("no review: {records:#?}"));
    assert!(
        held["reason"].as_str().unwrap().ends_with("by an agent"),
        "{held}"
    );
    assert!(records.iter().any(|r| r["type"] == "review_settled"
        && r["review"] == held["review"]
        && r["state"] == "approved"
        && r["approvers"] == json!(["dana"])));
    assert!(started
        .iter()
        .any(|r| r["session"] == held["session"] && r["task"] == "mcp: mcp-test-agent"));
    // The agent that gave up: its call ended, and its review was cancelled, not left open.
    assert_eq!(get("abandoned"), json!("gave up"));
    assert_eq!(get("abandoned.pending"), json!(false));
    let impatient: Vec<&Value> = started
        .iter()
        .filter(|r| r["task"] == "mcp: impatient-agent")
        .map(|r| &r["session"])
        .collect();
    let review = records
        .iter()
        .find(|r| r["type"] == "review_requested" && impatient.contains(&&r["session"]))
        .unwrap_or_else(|| panic!("no review for the impatient agent: {impatient:?}"));
    assert!(records.iter().any(|r| r["type"] == "review_settled"
        && r["review"] == review["review"]
        && r["state"] == "cancelled"));
    // Every record of every session the calls opened names its task.
    let mcp_sessions: Vec<&Value> = started
        .iter()
        .filter(|r| r["task"].as_str().is_some_and(|t| t.starts_with("mcp: ")))
        .map(|r| &r["session"])
        .collect();
    for r in records.iter().filter(|r| {
        mcp_sessions.contains(&&r["session"])
            && [
                "session_started",
                "statement",
                "statement_result",
                "session_ended",
            ]
            .contains(&r["type"].as_str().unwrap())
    }) {
        assert!(
            r["task"].as_str().is_some_and(|t| t.starts_with("mcp: ")),
            "{r}"
        );
    }
    // The denial through the bridge names the rule and the bridge's task.
    assert!(records.iter().any(|r| r["type"] == "statement"
        && r["task"] == "mcp: stdio-agent"
        && r["decision"]["rule"] == "unbounded_write"));

    // The recording of the masked query holds what the agent saw, masked.
    let select = records
        .iter()
        .find(|r| {
            r["type"] == "statement"
                && r["text"] == "SELECT id, ssn FROM customers ORDER BY id LIMIT 2"
        })
        .unwrap();
    let replay = Command::new(BIN)
        .args(["sessions", "replay", "--config"])
        .arg(config)
        .arg(select["session"].as_str().unwrap())
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", stderr(&replay));
    let replayed = stdout(&replay);
    assert!(replayed.contains("****"), "{replayed}");
    assert!(!replayed.contains("123-45-6789"), "{replayed}");

    let verify = Command::new(BIN)
        .args(["audit", "verify", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}{}",
        stdout(&verify),
        stderr(&verify)
    );
}

/// A PostgreSQL listener that requires TLS is reached over TLS, its own certificate pinned; a
/// client that takes only JSON gets the whole answer at the end.
#[tokio::test(flavor = "multi_thread")]
async fn a_listener_that_requires_tls_is_reached_over_tls() {
    let h = Harness::start_with_config(|t| {
        set_in_table(t, "postgres", "require_tls = true")
            + "\n[[listeners]]\nprotocol = \"http\"\nlisten = \"127.0.0.1:0\"\n"
    })
    .await;
    let url = format!("https://{}/mcp", h.gateway.http_addr.unwrap());
    let ca = h.config.gateway.data_dir.join("tls/server.crt");
    let token = h.token("alice").to_owned();
    let curl = tokio::task::spawn_blocking(move || {
        let curl = McpCurl::open(url, ca.display().to_string(), token);
        let tools = curl.tools();
        let answer = curl.call(
            "app.query",
            json!({"sql": "SELECT count(*) AS n FROM items"}),
        );
        (tools, answer)
    });
    let (tools, answer) = curl.await.unwrap();
    assert!(tools.contains(&"app.query".to_owned()), "{tools:?}");
    assert_eq!(answer["isError"], json!(false), "{answer}");
    assert_eq!(
        answer["structuredContent"]["results"][0]["rows"],
        json!([["100"]])
    );
    let audit = h.audit().await;
    assert!(audit.iter().any(|r| matches!(&r.event,
        sluice_audit::AuditEvent::SessionStarted { tls: true, identity_kind, task: Some(task), .. }
            if identity_kind == "agent" && task == "mcp: curl")));
}

/// A MySQL listener that requires TLS is reached over TLS too, its own certificate the only
/// root; bob's answer is masked as the mariadb client's would be.
#[tokio::test(flavor = "multi_thread")]
async fn a_mysql_listener_that_requires_tls_is_reached_over_tls() {
    let h = support::mysql::start_with(
        "require_tls = true",
        "[[listeners]]\nprotocol = \"http\"\nlisten = \"127.0.0.1:0\"\n",
    )
    .await;
    let url = format!("https://{}/mcp", h.gateway.http_addr.unwrap());
    let ca = h.config.gateway.data_dir.join("tls/server.crt");
    let token = h.token("bob").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        McpCurl::open(url, ca.display().to_string(), token).call(
            "shop.query",
            json!({"sql": "SELECT email FROM customers WHERE id = ?", "params": [1]}),
        )
    })
    .await
    .unwrap();
    assert_eq!(answer["isError"], json!(false), "{answer}");
    let rows = &answer["structuredContent"]["results"][0]["rows"];
    assert!(
        rows[0][0].as_str().unwrap().starts_with("****@"),
        "{answer}"
    );
    let audit = h.audit().await;
    assert!(audit.iter().any(|r| matches!(&r.event,
        sluice_audit::AuditEvent::SessionStarted { tls: true, protocol, identity_kind, .. }
            if protocol == "mysql" && identity_kind == "agent")));
}
