#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `sluice demo` as README's first command runs it: the binary starts its scratch database and
//! gateway, prints its JSON, and each identity can do exactly what the role line printed beside
//! its psql command says. With MariaDB installed, the same shop sits behind the MySQL listener.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

#[path = "support/demo_process.rs"]
mod demo_process;
use demo_process::{start, Demo};

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

/// Runs `sql` with the mariadb client at a `mysql://user:password@host:port/database` URL.
fn mariadb(url: &str, sql: &str) -> Output {
    let rest = url.strip_prefix("mysql://").unwrap();
    let (credentials, rest) = rest.rsplit_once('@').unwrap();
    let (user, password) = credentials.split_once(':').unwrap();
    let (host_port, database) = rest.split_once('/').unwrap();
    let (host, port) = host_port.rsplit_once(':').unwrap();
    Command::new("mariadb")
        .arg("--no-defaults")
        .args(["--batch", "--skip-column-names", "--protocol=TCP"])
        .args([
            format!("--host={host}"),
            format!("--port={port}"),
            format!("--user={user}"),
            format!("--password={password}"),
            format!("--database={database}"),
        ])
        .args(["--execute", sql])
        .output()
        .unwrap()
}

fn mariadb_installed() -> bool {
    std::path::Path::new("/usr/sbin/mariadbd").exists()
}

#[test]
fn with_mariadb_installed_the_same_shop_is_behind_the_mysql_listener() {
    let demo = start();
    if !mariadb_installed() {
        // Without MariaDB the demo is PostgreSQL's alone, and says nothing of MySQL.
        assert!(demo.info.get("mysql_url").is_none());
        assert!(demo.info.get("direct_mysql_url").is_none());
        return;
    }
    let identities: Vec<&String> = demo.info["postgres_url"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let mysql_urls = demo.info["mysql_url"].as_object().unwrap();
    assert_eq!(mysql_urls.keys().collect::<Vec<_>>(), identities);
    for (name, url) in mysql_urls {
        let token = demo.info["tokens"][name].as_str().unwrap();
        let url = url.as_str().unwrap();
        assert!(
            url.starts_with(&format!("mysql://{name}:{token}@127.0.0.1:"))
                && url.ends_with("/shop-mysql"),
            "{url}"
        );
    }

    // Straight to MariaDB: the rows are PostgreSQL's, value for value.
    let direct = demo.info["direct_mysql_url"].as_str().unwrap();
    let columns = "name, email, ssn, card_number, phone, notes";
    let sql = format!("SELECT {columns} FROM customers ORDER BY id");
    let out = mariadb(direct, &sql);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_mariadb = String::from_utf8_lossy(&out.stdout).replace('\t', "|");
    let pg = Command::new("psql")
        .arg(demo.info["direct_url"].as_str().unwrap())
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", &sql])
        .output()
        .unwrap();
    assert!(
        pg.status.success(),
        "{}",
        String::from_utf8_lossy(&pg.stderr)
    );
    assert_eq!(from_mariadb, String::from_utf8_lossy(&pg.stdout));

    let profiles = |out: Output| -> Vec<Value> {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let sql = "SELECT profile FROM customers ORDER BY id";
    let pg = Command::new("psql")
        .arg(demo.info["direct_url"].as_str().unwrap())
        .args(["-X", "-A", "-t", "-c", sql])
        .output()
        .unwrap();
    assert_eq!(profiles(mariadb(direct, sql)), profiles(pg));
    let out = mariadb(direct, "SELECT COUNT(*), SUM(total) FROM orders");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4\t1168.24");
}

/// Waits for the MySQL listener in crates/sluice/src/runtime.rs, written alongside.
#[test]
fn mysql_clients_get_masked_rows_through_the_gateway() {
    if !mariadb_installed() {
        return;
    }
    let demo = start();
    let url = demo.info["mysql_url"]["alice"].as_str().unwrap();
    let out = mariadb(url, "SELECT ssn FROM customers WHERE id = 1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "****");
    let out = mariadb(url, "SELECT COUNT(*) FROM orders");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4");
}

fn sshd_installed() -> bool {
    std::path::Path::new("/usr/sbin/sshd").exists()
        && std::path::Path::new("/usr/bin/ssh-keygen").exists()
}

/// `ssh -i KEY -p PORT USER@HOST COMMAND` from one of the demo's JSON logins (`{"host",
/// "port", "user", "key_file"}`), as its printed line runs it; no prompts, no host key
/// memory, only the key given, and bounded.
fn ssh(login: &Value, user: &str, command: &str) -> Output {
    Command::new("timeout")
        .args(["60", "ssh", "-F", "/dev/null"])
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null"])
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
        ])
        .args(["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"])
        .args(["-o", "ConnectTimeout=10", "-i"])
        .arg(login["key_file"].as_str().unwrap())
        .arg("-p")
        .arg(login["port"].as_u64().unwrap().to_string())
        .arg(format!("{user}@{}", login["host"].as_str().unwrap()))
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn with_sshd_installed_the_host_is_behind_the_ssh_listener() {
    let demo = start();
    if !sshd_installed() {
        // Without OpenSSH's server the demo says nothing of SSH.
        assert!(demo.info.get("ssh").is_none());
        assert!(demo.info.get("direct_ssh").is_none());
        return;
    }
    let identities: Vec<&String> = demo.info["postgres_url"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let logins = demo.info["ssh"].as_object().unwrap();
    assert_eq!(logins.keys().collect::<Vec<_>>(), identities);
    for (name, login) in logins {
        assert_eq!(login["user"], format!("{name}+host"), "{login}");
        assert_eq!(login["host"], "127.0.0.1", "{login}");
        assert!(login["port"].as_u64().is_some(), "{login}");
        let key = std::path::Path::new(login["key_file"].as_str().unwrap());
        assert!(key.is_file(), "{login}");
    }
    let direct = &demo.info["direct_ssh"];
    for field in ["host", "port", "user", "key_file"] {
        assert!(!direct[field].is_null(), "direct_ssh.{field}: {direct}");
    }
    let fingerprint = demo.info["ssh_fingerprint"].as_str().unwrap();
    assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");

    // Straight to the sshd with the key sluice logs in with.
    let out = ssh(direct, direct["user"].as_str().unwrap(), "uname -s");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Linux");

    // Through sluice, as the demo's printed line has it: alice (developers) may run commands
    // off production (ssh.rego: developers_commands); ci-bot only the read-only programs, and
    // uname is not one of them.
    let out = ssh(&logins["alice"], "alice+host", "uname -a");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "alice: {stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("Linux"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = ssh(&logins["ci-bot"], "ci-bot+host", "uname -a");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "ci-bot ran uname -a: {stderr}");
    assert!(stderr.contains("sluice: denied by policy rule"), "{stderr}");
    assert!(out.stdout.is_empty());
    // Each key is its identity's alone.
    let out = ssh(&logins["alice"], "dana+host", "cat /proc/sys/kernel/ostype");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
