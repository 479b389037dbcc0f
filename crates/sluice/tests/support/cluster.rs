//! Several `sluice serve` processes on one PostgreSQL store, as a load balancer would put them
//! behind one address (tests/cluster.rs, tests/signals.rs).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice::scratch_pg::{free_port, ScratchPostgres};

use super::{base_config, stderr, stdout, TARGET_PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_sluice");
pub const STORE_PASSWORD: &str = "store-secret-5d1e";

/// The shared store, a policy directory, and the gateways on them.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub store: ScratchPostgres,
    pub gateways: Vec<Node>,
}

/// One gateway: its configuration, ports and process.
pub struct Node {
    pub name: String,
    pub config: PathBuf,
    pub data: PathBuf,
    pub pg_port: u16,
    pub admin_port: u16,
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Cluster {
    /// A store and gateways named `names` on it, all enforcing `policy`, each serving.
    pub fn start(names: &[&str], policy: &str) -> Cluster {
        let nodes: Vec<(&str, &str)> = names.iter().map(|n| (*n, policy)).collect();
        Cluster::start_with(&nodes, "")
    }

    /// A store and one gateway per `(name, policy)` on it, each enforcing its own copy of its
    /// policy text, with `extra` appended to every configuration; each serving.
    pub fn start_with(nodes: &[(&str, &str)], extra: &str) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("sluice-cluster-")
            .tempdir()
            .unwrap();
        let store = ScratchPostgres::start(&dir.path().join("store"), STORE_PASSWORD).unwrap();
        store
            .psql("postgres", "CREATE DATABASE sluice_store")
            .unwrap();
        std::fs::write(dir.path().join("store-password"), STORE_PASSWORD).unwrap();
        std::fs::write(dir.path().join("target-password"), TARGET_PASSWORD).unwrap();
        let mut cluster = Cluster {
            dir,
            store,
            gateways: Vec::new(),
        };
        for (name, policy) in nodes {
            let policy_dir = cluster.dir.path().join(format!("policy-{name}"));
            std::fs::create_dir_all(&policy_dir).unwrap();
            std::fs::write(policy_dir.join("policy.rego"), policy).unwrap();
            let node = cluster.node(name, &policy_dir, extra);
            cluster.gateways.push(node);
        }
        // All at once: their migrations meet on the store's advisory lock.
        for g in &mut cluster.gateways {
            g.spawn();
        }
        for g in &mut cluster.gateways {
            g.wait_serving();
        }
        cluster
    }

    fn node(&self, name: &str, policy: &Path, extra: &str) -> Node {
        let root = self.dir.path();
        let data = root.join(format!("data-{name}"));
        let (pg_port, admin_port) = (free_port().unwrap(), free_port().unwrap());
        let base = base_config(&data, &root.join("target-password"), "");
        let text = base
            .replacen(
                "[postgres]\nlisten = \"127.0.0.1:0\"",
                &format!("[postgres]\nlisten = \"127.0.0.1:{pg_port}\""),
                1,
            )
            .replacen(
                "[admin]\nlisten = \"127.0.0.1:0\"",
                &format!("[admin]\nlisten = \"127.0.0.1:{admin_port}\""),
                1,
            )
            .replacen(
                "[gateway]\n",
                &format!("[gateway]\nname = \"{name}\"\ndrain_delay = \"2s\"\n"),
                1,
            )
            // Longer than the store's connection timeout, so that a login while the store is
            // down is answered with why.
            .replacen(
                "handshake_timeout = \"3s\"",
                "handshake_timeout = \"8s\"",
                1,
            );
        assert_ne!(text, base);
        let text = format!(
            "{text}
[store]
url = \"postgres://postgres@127.0.0.1:{store}/sluice_store\"
password_file = \"{pw}\"

[policy]
dir = \"{policy}\"
watch = false

[[identities]]
name = \"rita\"
kind = \"human\"
groups = [\"developers\"]

[[identities]]
name = \"dana\"
kind = \"human\"
groups = [\"dba\"]
{extra}
",
            store = self.store.port,
            pw = root.join("store-password").display(),
            policy = policy.display(),
        );
        let config = root.join(format!("{name}.toml"));
        std::fs::write(&config, text).unwrap();
        Node {
            name: name.to_owned(),
            config,
            log: root.join(format!("{name}.log")),
            data,
            pg_port,
            admin_port,
            child: None,
        }
    }

    pub fn gw(&self, name: &str) -> &Node {
        self.gateways.iter().find(|g| g.name == name).unwrap()
    }

    pub fn gw_mut(&mut self, name: &str) -> &mut Node {
        self.gateways.iter_mut().find(|g| g.name == name).unwrap()
    }

    /// A token made with one gateway's CLI; every gateway on the store accepts it.
    pub fn token(&self, identity: &str) -> String {
        let out = self.gateways[0].run(&["token", "create", "--identity", identity, "--ttl", "1h"]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    }
}

impl Node {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).arg("--config").arg(&self.config);
        c.env("SLUICE_TEST_WRONG_PASSWORD", "not-the-password")
            .env_remove("RUST_LOG");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        self.child = Some(
            self.command(&["serve"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    pub fn wait_serving(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.pg_port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{} exited with {status}: {}", self.name, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{} not serving: {}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub fn sigterm(&mut self) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
    }

    pub fn wait_exit(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        let child = self.child.as_mut().unwrap();
        while child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "{} still running: {}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = None;
    }

    /// `curl` against the admin API: status and body.
    pub fn http(&self, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
        let mut c = Command::new("curl");
        c.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method]);
        if let Some(t) = token {
            c.arg("-H").arg(format!("Authorization: Bearer {t}"));
        }
        if method == "POST" {
            c.args(["-H", "Content-Type: application/json", "-d", "{}"]);
        }
        let out = c
            .arg(format!("http://127.0.0.1:{}{path}", self.admin_port))
            .output()
            .unwrap();
        let text = stdout(&out);
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }

    pub fn url(&self, identity: &str, token: &str) -> String {
        format!(
            "postgresql://{identity}:{token}@127.0.0.1:{}/app?sslmode=disable",
            self.pg_port
        )
    }

    pub fn psql(&self, identity: &str, token: &str, sql: &str) -> Output {
        Command::new("psql")
            .arg("-X")
            .arg(self.url(identity, token))
            .args(["-A", "-t", "-c", sql])
            .output()
            .unwrap()
    }

    /// The only pending review, as this gateway's API shows it to `reviewer`.
    pub fn pending_review(&self, reviewer: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (code, body) = self.http("GET", "/reviews", Some(reviewer));
            assert_eq!(code, 200, "{body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            if let Some(r) = v["reviews"].as_array().and_then(|a| a.first()) {
                return r["id"].as_str().unwrap().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no pending review on {}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
