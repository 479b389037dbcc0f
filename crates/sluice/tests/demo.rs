#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `sluice demo` as README's first command runs it: the binary starts its scratch database and
//! gateway, prints its JSON, and each identity can do exactly what the role line printed beside
//! its psql command says.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

struct Demo {
    child: Child,
    info: Value,
    _dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        // SIGINT, as Ctrl-C: the demo stops its gateway and its scratch database.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start() -> Demo {
    let dir = tempfile::Builder::new()
        .prefix("sluice-test-demo-")
        .tempdir()
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["demo", "--json", "--dir"])
        .arg(dir.path().join("demo"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    Demo {
        child,
        info,
        _dir: dir,
    }
}

impl Demo {
    fn psql(&self, identity: &str, sql: &str) -> Output {
        Command::new("psql")
            .arg(self.info["postgres_url"][identity].as_str().unwrap())
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .unwrap()
    }

    fn allowed(&self, identity: &str, sql: &str) -> String {
        let out = self.psql(identity, sql);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{identity}: {sql}: {stderr}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Refused, with `why` in the message.
    fn denied(&self, identity: &str, sql: &str, why: &str) {
        let out = self.psql(identity, sql);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{identity}: {sql} ran");
        assert!(
            stderr.contains("sluice: denied by policy") && stderr.contains(why),
            "{identity}: {sql}: {stderr}"
        );
    }

    fn role(&self, identity: &str) -> &str {
        self.info["roles"][identity].as_str().unwrap()
    }
}

#[test]
fn each_identity_may_do_what_its_role_line_says() {
    let demo = start();

    // alice: reads, masked; no DDL on production. (Her held writes: tests/approvals.rs.)
    assert!(demo.role("alice").contains("writes wait for dana"));
    assert_eq!(demo.allowed("alice", "SELECT count(*) FROM orders"), "4");
    assert_eq!(
        demo.allowed("alice", "SELECT ssn FROM customers WHERE id = 1"),
        "****"
    );
    // What README shows: computed values are masked, predicates on masked columns denied.
    assert_eq!(
        demo.allowed(
            "alice",
            "SELECT replace(ssn, '-', '') FROM customers WHERE id = 1"
        ),
        "****"
    );
    demo.denied(
        "alice",
        "SELECT count(*) FROM customers WHERE ssn = '123-45-6789'",
        "rule mask_predicate_oracle: SELECT compares the masked column public.customers.ssn (equality where)",
    );
    demo.denied(
        "alice",
        "ALTER TABLE orders ADD note text",
        "(DDL) on production target shop is denied for people",
    );

    // ci-bot: reads, masked, and writes at once; no schema changes.
    assert!(demo.role("ci-bot").contains("no schema changes"));
    assert_eq!(
        demo.allowed("ci-bot", "SELECT ssn FROM customers WHERE id = 1"),
        "****"
    );
    assert_eq!(
        demo.allowed("ci-bot", "UPDATE orders SET total = total WHERE id = 1"),
        "UPDATE 1"
    );
    demo.denied(
        "ci-bot",
        "CREATE TABLE scratch (i int)",
        "CREATE TABLE (ddl) is not allowed for ci-bot",
    );

    // dana: a reviewer, who may not even SELECT 1.
    assert!(demo.role("dana").contains("default_deny"));
    demo.denied("dana", "SELECT 1", "rule default_deny");
}
