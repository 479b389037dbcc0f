#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Real MySQL clients through the gateway's MySQL listener to a scratch MariaDB, under the
//! example policies: the `mariadb` CLI (one-shot and piped sessions), mariadb-dump, sysbench,
//! mysql_async (server-side prepared statements, TLS, KILL, rows over 16 MiB) and the Python
//! drivers PyMySQL and mysql-connector-python.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use support::mysql::{self, mariadb, CUSTOMERS, MY_PASSWORD, MY_USER};
use support::*;

/// What a MySQL client shows of a policy denial: error 1142 (SQLSTATE 42000) and sluice's
/// message naming the rule.
const DENIED: &str = "ERROR 1142 (42000)";
const DENIED_PREFIX: &str = "sluice: denied by policy rule";

fn assert_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Every raw personal value of the shop's customers that a masked client must never see.
fn raw_pii() -> Vec<&'static str> {
    CUSTOMERS
        .iter()
        .flat_map(|(_, name, email, ssn, card, _)| [*name, *email, *ssn, *card])
        .collect()
}

fn assert_no_raw_pii(text: &str) {
    for raw in raw_pii() {
        assert!(
            !text.contains(raw),
            "{raw:?} reached a masked client:\n{text}"
        );
    }
}

fn server_error(e: mysql_async::Error) -> mysql_async::ServerError {
    match e {
        mysql_async::Error::Server(e) => e,
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_reads_rows_through_sluice_and_the_statements_are_audited() {
    let h = mysql::start().await;
    let out = h.mariadb(
        "alice",
        &[
            "--skip-column-names",
            "-e",
            "SELECT id, name, ssn FROM customers ORDER BY id",
        ],
    );
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "1\tAda Lovelace\t123-45-6789\n2\tAlan Turing\t234-56-7890\n3\tGrace Hopper\t345-67-8901\n"
    );

    let texts = h.audited_statements().await;
    assert!(
        texts
            .iter()
            .any(|t| t == "SELECT id, name, ssn FROM customers ORDER BY id"),
        "{texts:#?}"
    );
    // The session is on the record as a MySQL session of alice on shop.
    let started = h.audit().await.into_iter().any(|r| {
        matches!(
            r.event,
            sluice_audit::AuditEvent::SessionStarted { ref identity, ref target, ref protocol, .. }
                if identity == "alice" && target == "shop" && protocol == "mysql"
        )
    });
    assert!(started);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_multi_statement_text_returns_every_result() {
    let h = mysql::start().await;
    let out = h.mariadb(
        "alice",
        &["--skip-column-names", "-e", "SELECT 1; SELECT 2"],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "1\n2\n");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_denied_statement_gets_1142_and_is_audited_as_denied() {
    let h = mysql::start().await;
    let before = mysql::mariadb_direct("SELECT count(*) FROM orders");
    let out = h.mariadb("alice", &["-e", "DELETE FROM orders"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(DENIED), "{err}");
    assert!(
        err.contains(&format!("{DENIED_PREFIX} unbounded_write:")),
        "{err}"
    );
    assert_eq!(
        stdout(&mysql::mariadb_direct("SELECT count(*) FROM orders")),
        stdout(&before)
    );

    let denied = h.audit().await.into_iter().any(|r| {
        matches!(
            r.event,
            sluice_audit::AuditEvent::Statement { ref text, ref decision, .. }
                if text == "DELETE FROM orders"
                    && decision.verdict == "deny"
                    && decision.rule == "unbounded_write"
        )
    });
    assert!(denied, "{:#?}", h.audit().await);

    // A server-file function is denied too, under its own rule.
    let out = h.mariadb("alice", &["-e", "SELECT load_file('/etc/passwd')"]);
    let err = stderr(&out);
    assert!(
        err.contains(DENIED) && err.contains("dangerous_function"),
        "{err}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_analyst_gets_masked_customers() {
    let h = mysql::start().await;
    let out = h.mariadb(
        "ann",
        &[
            "--skip-column-names",
            "-e",
            "SELECT * FROM customers ORDER BY id",
        ],
    );
    assert_ok(&out);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert_no_raw_pii(&text);
    // Unmasked columns come through as they are.
    for (id, .., age) in CUSTOMERS {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{id}\t")) && l.ends_with(&format!("\t{age}"))),
            "{text}"
        );
    }
    // email_domain keeps the domain; keep_last 4 keeps the card's last four digits.
    assert!(text.contains("example.com"), "{text}");
    assert!(text.contains("1111"), "{text}");

    // An analyst may not write.
    let out = h.mariadb("ann", &["-e", "INSERT INTO imports VALUES (1, 'x')"]);
    assert!(stderr(&out).contains(DENIED), "{}", stderr(&out));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_piped_session_goes_on_after_a_denial() {
    let h = mysql::start().await;
    // A script piped into one session; --force is how the client keeps going after an error
    // when it reads a script (as it does with stdin not a terminal).
    let out = h.mariadb_stdin(
        "alice",
        &["--skip-column-names", "--force"],
        "SELECT CONNECTION_ID();\n\
         SELECT 'first';\n\
         DELETE FROM orders;\n\
         SELECT 'after the denial';\n\
         SELECT count(*) FROM orders;\n\
         SELECT CONNECTION_ID();\n",
    );
    let err = stderr(&out);
    assert!(err.contains(DENIED), "{err}");
    assert!(err.contains("unbounded_write"), "{err}");
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 5, "{lines:?}\n{err}");
    assert_eq!(lines[1], "first");
    assert_eq!(lines[2], "after the denial");
    assert_eq!(lines[3], "3");
    // The same connection throughout: the denial did not end it (the client did not
    // reconnect).
    assert_eq!(lines[0], lines[4]);

    let sessions = h
        .audit()
        .await
        .into_iter()
        .filter(|r| matches!(r.event, sluice_audit::AuditEvent::SessionStarted { .. }))
        .count();
    assert_eq!(sessions, 1);
    h.stop().await;
}

/// `mariadb-dump` of the customers table, with options that need no LOCK TABLES (a utility
/// statement analysts are not granted) and no tablespace listing.
fn dump(port: u16, user: &str, password: &str, database: &str) -> std::process::Output {
    Command::new("mariadb-dump")
        .arg("--no-defaults")
        .args(["--protocol=TCP", "-h127.0.0.1"])
        .arg(format!("-P{port}"))
        .arg(format!("-u{user}"))
        .arg(format!("-p{password}"))
        .args([
            "--single-transaction",
            "--skip-lock-tables",
            "--no-tablespaces",
        ])
        .args([database, "customers"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn insert_lines(dump: &str) -> Vec<String> {
    dump.lines()
        .filter(|l| l.starts_with("INSERT INTO"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_dump_is_masked_for_an_analyst_and_exact_for_a_pii_reader() {
    let h = mysql::start().await;
    let port = h.mysql_port();
    let direct = dump(mariadb().port, MY_USER, MY_PASSWORD, "shop");
    assert_ok(&direct);
    let direct_rows = insert_lines(&stdout(&direct));
    assert!(!direct_rows.is_empty(), "{}", stdout(&direct));

    // mariadb-dump logs in without a database and picks it with USE afterwards.
    let analyst = dump(port, "ann", h.token("ann"), "shop");
    assert_ok(&analyst);
    let analyst_text = stdout(&analyst);
    let analyst_rows = insert_lines(&analyst_text);
    assert!(!analyst_rows.is_empty(), "{analyst_text}");
    assert_no_raw_pii(&analyst_text);
    assert!(
        analyst_text.contains("CREATE TABLE `customers`"),
        "{analyst_text}"
    );

    let developer = dump(port, "alice", h.token("alice"), "shop");
    assert_ok(&developer);
    assert_eq!(insert_lines(&stdout(&developer)), direct_rows);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sysbench_point_selects_through_sluice_without_errors() {
    let h = mysql::start().await;
    let db = tokio::task::spawn_blocking(mariadb).await.unwrap();
    let common = |host_port: u16, user: &str, password: &str, database: &str| {
        let mut cmd = Command::new("sysbench");
        cmd.arg("oltp_point_select")
            .args(["--db-driver=mysql", "--mysql-host=127.0.0.1"])
            .arg(format!("--mysql-port={host_port}"))
            .arg(format!("--mysql-user={user}"))
            .arg(format!("--mysql-password={password}"))
            .arg(format!("--mysql-db={database}"))
            .args(["--tables=1", "--table-size=1000"])
            .stdin(Stdio::null());
        cmd
    };
    let _ = mysql::mariadb_direct("DROP TABLE IF EXISTS bench.sbtest1");
    let prepare = common(db.port, MY_USER, MY_PASSWORD, "bench")
        .arg("prepare")
        .output()
        .unwrap();
    assert_ok(&prepare);

    // Through sluice as a developer, into the target's second database.
    let run = common(h.mysql_port(), "alice", h.token("alice"), "shop/bench")
        .args(["--time=3", "--threads=2", "run"])
        .output()
        .unwrap();
    assert_ok(&run);
    let report = stdout(&run);
    // sysbench aborts on an error it does not ignore; the ones it ignores and the reconnects
    // it made are counted.
    for counter in ["ignored errors:", "reconnects:"] {
        let line = report
            .lines()
            .find(|l| l.trim_start().starts_with(counter))
            .unwrap_or_else(|| panic!("no {counter} line:\n{report}"));
        let count: u64 = line[line.find(':').unwrap() + 1..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(count, 0, "{report}");
    }
    let queries = report
        .lines()
        .find(|l| l.trim_start().starts_with("read:"))
        .unwrap_or_else(|| panic!("no read line:\n{report}"));
    let reads: u64 = queries.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(reads > 100, "{report}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_async_prepared_statements_through_sluice() {
    let h = mysql::start().await;
    let mut conn = h.mysql_conn("alice").await;

    // One statement, executed several times with parameters.
    let stmt = conn
        .prep("SELECT name, ssn FROM customers WHERE id = ?")
        .await
        .unwrap();
    for (id, name, _, ssn, ..) in CUSTOMERS {
        let row: Option<(String, String)> = conn.exec_first(&stmt, (*id,)).await.unwrap();
        assert_eq!(row, Some((name.to_string(), ssn.to_string())));
    }
    let none: Option<(String, String)> = conn.exec_first(&stmt, (99,)).await.unwrap();
    assert_eq!(none, None);

    // A NULL parameter, and a write with one.
    let null: Option<(i64,)> = conn
        .exec_first("SELECT ? IS NULL", (None::<i32>,))
        .await
        .unwrap();
    assert_eq!(null, Some((1,)));
    conn.exec_drop(
        "INSERT INTO imports VALUES (?, ?)",
        (200 + conn.id() as i64, None::<String>),
    )
    .await
    .unwrap();
    let stored: Option<(Option<String>,)> = conn
        .exec_first(
            "SELECT note FROM imports WHERE id = ?",
            (200 + conn.id() as i64,),
        )
        .await
        .unwrap();
    assert_eq!(stored, Some((None,)));

    // A statement the policy denies, prepared and executed: whichever step refuses it, the
    // client sees 1142 and the rows stay.
    let denied = match conn.prep("DELETE FROM orders").await {
        Err(e) => server_error(e),
        Ok(stmt) => server_error(conn.exec_drop(&stmt, ()).await.unwrap_err()),
    };
    assert_eq!(denied.code, 1142, "{denied:?}");
    assert_eq!(denied.state, "42000");
    assert!(denied.message.starts_with(DENIED_PREFIX), "{denied:?}");
    // The connection is still usable, and the statement cache still works.
    let count: Option<i64> = conn
        .exec_first("SELECT count(*) FROM orders", ())
        .await
        .unwrap();
    assert_eq!(count, Some(3));
    let row: Option<(String, String)> = conn.exec_first(&stmt, (1,)).await.unwrap();
    assert_eq!(row.unwrap().0, "Ada Lovelace");
    conn.disconnect().await.unwrap();

    // Each execution is audited with its text.
    let texts = h.audited_statements().await;
    let executions = texts
        .iter()
        .filter(|t| t.starts_with("SELECT name, ssn FROM customers WHERE id = ?"))
        .count();
    assert_eq!(executions, CUSTOMERS.len() + 2, "{texts:#?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_async_binary_rows_are_masked_for_an_analyst() {
    let h = mysql::start().await;
    let mut conn = h.mysql_conn("ann").await;
    let rows: Vec<(i32, String, String, String, i32)> = conn
        .exec(
            "SELECT id, email, ssn, card_number, age FROM customers WHERE age > ? ORDER BY id",
            (0,),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), CUSTOMERS.len());
    assert_no_raw_pii(&format!("{rows:?}"));
    for (row, (id, .., age)) in rows.iter().zip(CUSTOMERS) {
        assert_eq!((row.0, row.4), (*id, *age));
    }
    conn.disconnect().await.unwrap();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_async_over_tls() {
    let h = mysql::start().await;
    let mut conn = mysql_async::Conn::new(h.mysql_opts("alice", true))
        .await
        .unwrap();
    let name: Option<String> = conn
        .exec_first("SELECT name FROM customers WHERE id = ?", (3,))
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("Grace Hopper"));
    conn.disconnect().await.unwrap();
    let tls = h.audit().await.into_iter().any(|r| {
        matches!(
            r.event,
            sluice_audit::AuditEvent::SessionStarted { tls: true, ref protocol, .. }
                if protocol == "mysql"
        )
    });
    assert!(tls, "no TLS session on the record");

    // A second login over TLS (after the first one's full authentication) works the same.
    let mut again = mysql_async::Conn::new(h.mysql_opts("alice", true))
        .await
        .unwrap();
    let one: Option<i64> = again.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    again.disconnect().await.unwrap();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_drivers_through_sluice() {
    let h = mysql::start().await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drivers/mysql_check.py");
    let python = std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let (developer, analyst) = (h.mysql_url("alice"), h.mysql_url("ann"));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("SLUICE_MYSQL_DEVELOPER", developer)
            .env("SLUICE_MYSQL_ANALYST", analyst)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the driver script failed (scripts/test.sh installs PyMySQL and \
         mysql-connector-python):\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "mysql drivers ok\n");
    let texts = h.audited_statements().await;
    let prepared = texts
        .iter()
        .filter(|t| t.starts_with("SELECT name FROM customers WHERE id = ?"))
        .count();
    assert_eq!(prepared, 3, "{texts:#?}");
    h.stop().await;
}

/// mysql-connector-python with nothing but the connection's address and credentials, as an
/// application would start: it sets its default collation for the server it was greeted by.
#[tokio::test(flavor = "multi_thread")]
async fn mysql_connector_python_connects_with_its_defaults() {
    let h = mysql::start().await;
    let python = std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let (port, token) = (h.mysql_port(), h.token("alice").to_owned());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg("-c")
            .arg(
                "import sys, mysql.connector\n\
                 cn = mysql.connector.connect(host='127.0.0.1', port=int(sys.argv[1]), \
                   user='alice', password=sys.argv[2], database='shop')\n\
                 cur = cn.cursor()\n\
                 cur.execute('SELECT name FROM customers WHERE id = 1')\n\
                 print(cur.fetchone()[0])\n",
            )
            .arg(port.to_string())
            .arg(token)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), "Ada Lovelace\n");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_query_reaches_only_the_killers_own_connections() {
    let h = mysql::start().await;
    let mut a = h.mysql_conn("alice").await;
    let mut b = h.mysql_conn("alice").await;
    let mut y = h.mysql_conn("bob").await;
    let a_id = a.id();

    // Another identity cannot reach alice's connection, by the id she was given or by the
    // target's.
    let target_id: Option<u32> = a.query_first("SELECT CONNECTION_ID()").await.unwrap();
    for id in [a_id, target_id.unwrap()] {
        let e = server_error(y.query_drop(format!("KILL QUERY {id}")).await.unwrap_err());
        assert_eq!(e.code, 1094, "{e:?}");
    }
    let e = server_error(y.query_drop(format!("KILL {a_id}")).await.unwrap_err());
    assert_eq!(e.code, 1094, "{e:?}");

    let started = Instant::now();
    let sleeper = tokio::spawn(async move {
        let r = a.query_first::<i64, _>("SELECT SLEEP(5)").await;
        (a, r, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.query_drop(format!("KILL QUERY {a_id}")).await.unwrap();
    let (mut a, result, took) = tokio::time::timeout(Duration::from_secs(10), sleeper)
        .await
        .unwrap()
        .unwrap();
    assert!(took < Duration::from_secs(3), "the query ran {took:?}");
    let e = server_error(result.unwrap_err());
    assert_eq!(e.code, 1317, "{e:?}");
    // KILL QUERY ends the statement, not the connection.
    let one: Option<i64> = a.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    for c in [a, b, y] {
        c.disconnect().await.unwrap();
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn load_data_local_infile_is_a_write_that_policy_decides() {
    let h = mysql::start().await;
    let file = h.dir.path().join("imports.tsv");
    std::fs::write(
        &file,
        "100\tloaded-through-sluice\n101\tloaded-through-sluice\n",
    )
    .unwrap();
    let load = format!(
        "LOAD DATA LOCAL INFILE '{}' INTO TABLE imports",
        file.display()
    );
    let count = || {
        stdout(&mysql::mariadb_direct(
            "SELECT count(*) FROM imports WHERE note = 'loaded-through-sluice'",
        ))
        .lines()
        .last()
        .unwrap()
        .to_owned()
    };

    // An analyst: LOAD DATA LOCAL is a write of the table (the file is the client's own), and
    // analysts may not write.
    let out = h.mariadb("ann", &["--local-infile=1", "-e", &load]);
    let err = stderr(&out);
    assert!(err.contains(DENIED), "{err}");
    assert!(err.contains("default_deny"), "{err}");
    assert_eq!(count(), "0");

    // LOAD DATA without LOCAL reads a file on the database server: procedural, which the
    // example policy leaves to break-glass.
    let out = h.mariadb("alice", &["-e", &load.replace(" LOCAL", "")]);
    let err = stderr(&out);
    assert!(err.contains(DENIED), "{err}");
    assert!(err.contains("procedural_code"), "{err}");
    assert_eq!(count(), "0");

    // A developer may write: the file crosses through the gateway.
    let out = h.mariadb("alice", &["--local-infile=1", "-e", &load]);
    assert_ok(&out);
    assert_eq!(count(), "2");

    // The client must also have allowed it: without --local-infile the client refuses the
    // server's request for the file, and nothing is loaded.
    let out = h.mariadb("alice", &["--local-infile=0", "-e", &load]);
    assert!(!out.status.success());
    assert_eq!(count(), "2");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_and_parameters_over_16_mib_come_through_intact() {
    const LEN: usize = 17 * 1024 * 1024;
    let h = mysql::start().await;
    let mut conn = mysql_async::Conn::new(
        h.mysql_opts("alice", false)
            .max_allowed_packet(Some(64 * 1024 * 1024)),
    )
    .await
    .unwrap();
    // Server to client: one row over several packets.
    let big: Option<Vec<u8>> = conn
        .query_first(format!("SELECT REPEAT('a', {LEN})"))
        .await
        .unwrap();
    let big = big.unwrap();
    assert_eq!(big.len(), LEN);
    assert!(big.iter().all(|&b| b == b'a'));

    // Client to server: a parameter over several packets.
    let mut param = vec![b'b'; LEN];
    param[LEN - 1] = b'z';
    let len: Option<(i64, String)> = conn
        .exec_first("SELECT LENGTH(?), RIGHT(?, 2)", (param.clone(), param))
        .await
        .unwrap();
    assert_eq!(len, Some((LEN as i64, "bz".to_owned())));
    conn.disconnect().await.unwrap();
    h.stop().await;
}

/// A write on production waits for a DBA inside the live session: approved, it runs and the
/// client gets its answer; a second held write is cancelled by KILL QUERY from another of the
/// requester's connections, and the first connection goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_held_write_runs_once_approved_and_kill_query_cancels_a_hold() {
    let h = mysql::start().await;
    let production = |identity: &str| {
        h.mysql_opts(identity, false)
            .db_name(Some(mysql::PRODUCTION_TARGET))
    };
    let gateway = h.gateway.gateway.clone();
    let pending = || async {
        poll_until(Duration::from_secs(10), || async {
            gateway
                .reviews(&gateway.declared_reviewer("dana"), false)
                .await
                .unwrap()
                .into_iter()
                .next()
        })
        .await
        .expect("no review was opened")
    };

    let mut bob = mysql_async::Conn::new(production("bob")).await.unwrap();
    let held = tokio::spawn(async move {
        let r = bob
            .query_drop("UPDATE orders SET total = total WHERE id = 1")
            .await;
        (bob, r)
    });
    let review = pending().await;
    assert_eq!(review.protocol.as_deref(), Some("mysql"));
    assert!(
        review.summary.contains("UPDATE orders"),
        "{}",
        review.summary
    );
    assert!(
        !held.is_finished(),
        "the write ran before its review was decided"
    );
    gateway
        .decide_review(
            &gateway.declared_reviewer("dana"),
            &review.id,
            sluice_core::approvals::ReviewerVerdict {
                approve: true,
                comment: None,
                grant: None,
            },
        )
        .await
        .unwrap();
    let (mut bob, result) = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .unwrap()
        .unwrap();
    result.unwrap();

    let bob_id = bob.id();
    let again = tokio::spawn(async move {
        let r = bob
            .query_drop("UPDATE orders SET total = total WHERE id = 2")
            .await;
        (bob, r)
    });
    let second = pending().await;
    let mut killer = mysql_async::Conn::new(production("bob")).await.unwrap();
    killer
        .query_drop(format!("KILL QUERY {bob_id}"))
        .await
        .unwrap();
    let (mut bob, result) = tokio::time::timeout(Duration::from_secs(10), again)
        .await
        .unwrap()
        .unwrap();
    let e = server_error(result.unwrap_err());
    assert_eq!(e.code, 1317, "{e:?}");
    assert!(e.message.contains("cancelled"), "{e:?}");
    let state = gateway
        .review(&gateway.declared_reviewer("dana"), &second.id)
        .await
        .unwrap()
        .state;
    assert_eq!(state, "cancelled");
    let one: Option<i64> = bob.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    for c in [bob, killer] {
        c.disconnect().await.unwrap();
    }
    h.stop().await;
}

/// In GBK, SJIS, BIG5, CP932 and GB18030 a multi-byte character may end in the byte of a
/// quote or a backslash, which the analysis (reading UTF-8) would take for one: a session in
/// such a character set is refused at login, and a session that switches to one ends there.
#[tokio::test(flavor = "multi_thread")]
async fn character_sets_that_hide_quotes_are_refused() {
    let h = mysql::start().await;
    let gbk = h.mariadb("alice", &["--default-character-set=gbk", "-e", "SELECT 1"]);
    assert!(!gbk.status.success());
    assert!(
        stderr(&gbk).contains("character set gbk is not supported"),
        "{}",
        stderr(&gbk)
    );

    // The switch reaches the target, but the session ends with it: its answer is the
    // refusal, and nothing after it is read.
    let mut conn = h.mysql_conn("alice").await;
    let e = conn.query_drop("SET NAMES sjis").await.unwrap_err();
    assert!(e.to_string().contains("sjis is not supported"), "{e}");
    assert!(conn.query_drop("SELECT 1").await.is_err());
    // utf8mb4 and latin1 stay usable.
    let mut conn = h.mysql_conn("alice").await;
    conn.query_drop("SET NAMES latin1").await.unwrap();
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    h.stop().await;
}

/// A session cannot outlive its credential: revoking the token a mysql_async connection
/// logged in with ends the connection with the reason, and the end record says why.
#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_ends_its_open_sessions() {
    let h = mysql::start().await;
    let mut conn = h.mysql_conn("ann").await;
    let one: Option<u64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    let id = sluice_core::token::token_id(h.token("ann")).unwrap();
    assert!(h
        .gateway
        .gateway
        .revoke_credential(&id, "test")
        .await
        .unwrap());
    let ended = poll_until(Duration::from_secs(10), || async {
        h.audit().await.into_iter().find_map(|r| match r.event {
            sluice_audit::AuditEvent::SessionEnded {
                identity, reason, ..
            } if identity == "ann" && reason.contains("revoked") => Some(reason),
            _ => None,
        })
    })
    .await
    .expect("the session ended on revocation");
    assert!(ended.contains(&id), "{ended}");
    let after: Result<Option<u64>, _> = conn.query_first("SELECT 1").await;
    assert!(
        after.is_err(),
        "the connection is closed after the revocation"
    );
    // And the token no longer logs in.
    let out = h.mariadb("ann", &["-e", "SELECT 1"]);
    assert!(!out.status.success());
}
