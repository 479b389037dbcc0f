#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! psycopg 3 (from PyPI, installed by scripts/test.sh) through the gateway.

mod support;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_through_the_gateway() {
    let h = Harness::start().await;
    run_python_driver(
        "psycopg_check.py",
        h.conninfo("alice", "app"),
        "psycopg ok\n",
    )
    .await;
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
