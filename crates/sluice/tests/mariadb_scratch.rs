#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The scratch MariaDB the MySQL tests, the demo and the benchmarks stand on: it starts, an
//! account made with a password logs in over TCP with the stock client, and TLS can be turned on.

use std::process::{Command, Output};

use sluice::scratch_mariadb::ScratchMariaDb;

fn client(db: &ScratchMariaDb, user: &str, password: &str, extra: &[&str], sql: &str) -> Output {
    Command::new("mariadb")
        .arg("--no-defaults")
        .args([
            "--batch",
            "--skip-column-names",
            "--protocol=TCP",
            "--host=127.0.0.1",
        ])
        .arg(format!("--port={}", db.port))
        .arg(format!("--user={user}"))
        .arg(format!("--password={password}"))
        .args(extra)
        .args(["--execute", sql])
        .output()
        .unwrap()
}

#[test]
fn an_account_logs_in_over_tcp_with_its_password() {
    let tmp = tempfile::tempdir().unwrap();
    let db = ScratchMariaDb::start(&tmp.path().join("mariadb")).unwrap();
    db.create_user("app", "s3cret'pw", None).unwrap();
    db.create_database("shop", "app").unwrap();

    let out = client(&db, "app", "s3cret'pw", &["--database=shop"], "SELECT 1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    let plugin = db
        .sql(
            None,
            "SELECT plugin FROM mysql.user WHERE user = 'app' AND host = '127.0.0.1'",
        )
        .unwrap();
    assert_eq!(plugin.trim(), "mysql_native_password");

    // Authentication is real: a wrong password is refused, and the administrator, who needs no
    // password on the socket, cannot come in over TCP.
    let wrong = client(&db, "app", "nope", &[], "SELECT 1");
    assert!(!wrong.status.success());
    let root = client(&db, "root", "", &[], "SELECT 1");
    assert!(!root.status.success());
    assert_eq!(
        db.direct_url("app", "pw", "shop"),
        format!("mysql://app:pw@127.0.0.1:{}/shop", db.port)
    );
}

#[test]
fn ed25519_accounts_log_in_too() {
    let tmp = tempfile::tempdir().unwrap();
    let db = ScratchMariaDb::start(&tmp.path().join("mariadb")).unwrap();
    db.create_user("edna", "pw", Some("ed25519")).unwrap();
    let out = client(&db, "edna", "pw", &[], "SELECT CURRENT_USER()");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "edna@127.0.0.1"
    );
}

#[test]
fn tls_is_verified_against_the_returned_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let mut db = ScratchMariaDb::start(&tmp.path().join("mariadb")).unwrap();
    db.create_user("app", "pw", None).unwrap();
    let ca = db.enable_tls().unwrap();
    let ca_arg = format!("--ssl-ca={}", ca.display());
    let out = client(
        &db,
        "app",
        "pw",
        &["--ssl", &ca_arg, "--ssl-verify-server-cert"],
        "SHOW SESSION STATUS LIKE 'Ssl_version'",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("TLSv1."));
}

#[test]
fn dropping_it_stops_the_server_and_removes_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mariadb");
    let db = ScratchMariaDb::start(&dir).unwrap();
    let port = db.port;
    drop(db);
    assert!(!dir.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
