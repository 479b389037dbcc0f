#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! psycopg 3 (from PyPI, installed by scripts/test.sh) through the gateway.

mod support;

use std::process::Command;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_through_the_gateway() {
    let h = Harness::start().await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/drivers/psycopg_check.py"
    );
    let python = std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(script)
        .env("SLUICE_DSN", h.conninfo("alice", "app"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psycopg failed (scripts/test.sh installs it):\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "psycopg ok\n");
    let texts = h.audited_statements().await;
    // Each execution of the prepared statement is audited with its SQL.
    let prepared = texts
        .iter()
        .filter(|t| t.starts_with("SELECT count(*) FROM items WHERE id <= $1"))
        .count();
    assert_eq!(prepared, 5, "{texts:#?}");
    assert!(texts.iter().any(|t| t.starts_with("COPY py")), "{texts:#?}");
    assert!(
        texts.iter().any(|t| t.contains("DECLARE \"server_side\"")),
        "{texts:#?}"
    );
    h.stop().await;
}
