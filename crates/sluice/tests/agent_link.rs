#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Targets behind a network-resident agent, with real processes and a network namespace the
//! test creates (`ip netns`, root; skipped elsewhere, failed in CI).
//!
//! The topology is the issue's mirrored: the **gateway** runs in the namespace, whose only
//! ways out are its loopback and a veth pair to the host, while the targets (the scratch
//! PostgreSQL, sshd and HTTP service every other test uses) listen on the host's loopback and
//! the agent runs on the host. The gateway cannot reach a target (a target without `via` to
//! the same address is refused), the agent reaches the gateway over the veth, and every
//! session goes gateway → agent → target. Clients run inside the namespace too, against the
//! gateway's loopback listeners (`ip netns exec`).
//!
//! One test walks the life of an agent: enrollment, psql (TLS to the target end to end
//! through the link), a login the agent performs with a credential only it holds, mariadb,
//! ssh, curl and kubectl through the agent, a malformed hello refused and audited, a copy of
//! the used enrollment token refused, the agent killed mid-session (the client gets an error
//! naming the link) and restarted, a second agent frozen mid-result without holding up the
//! first's sessions, the gateway restarted (the agent reconnects by itself), the agent revoked
//! (its link closes, it cannot come back), an agent cut off before it noted its enrollment
//! coming back with the spent token, and the audit trail of all of it, verified.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sluice::scratch_http::ScratchHttp;
use support::ssh::{ssh_password_cmd, sshd};
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// A network namespace with a veth pair to the host; removed (with the pair) on drop.
struct Netns {
    name: String,
    ns_ip: String,
}

impl Netns {
    fn create() -> Netns {
        let pid = std::process::id();
        let name = format!("sluice-gw-{pid}");
        let subnet = pid % 250 + 1;
        let (host_if, ns_if) = (format!("slh{pid}"), format!("sln{pid}"));
        let host_ip = format!("10.231.{subnet}.1");
        let ns_ip = format!("10.231.{subnet}.2");
        let ns = Netns {
            name: name.clone(),
            ns_ip: ns_ip.clone(),
        };
        for args in [
            vec!["netns", "add", &name],
            vec!["-n", &name, "link", "set", "lo", "up"],
            vec![
                "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
            ],
            vec!["link", "set", &ns_if, "netns", &name],
            vec!["addr", "add", &format!("{host_ip}/30"), "dev", &host_if],
            vec!["link", "set", &host_if, "up"],
            vec![
                "-n",
                &name,
                "addr",
                "add",
                &format!("{ns_ip}/30"),
                "dev",
                &ns_if,
            ],
            vec!["-n", &name, "link", "set", &ns_if, "up"],
        ] {
            let out = Command::new("ip").args(&args).output().unwrap();
            assert!(out.status.success(), "ip {args:?}: {}", stderr(&out));
        }
        ns
    }

    /// `cmd`, run inside the namespace.
    fn exec(&self, cmd: &Command) -> Command {
        let mut wrapped = Command::new("ip");
        wrapped
            .args(["netns", "exec", &self.name])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        wrapped.stdin(Stdio::null());
        wrapped
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth pair with it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A child process killed on drop.
struct Proc(Child);

impl Proc {
    fn pid(&self) -> String {
        self.0.id().to_string()
    }

    fn signal(&self, name: &str) {
        let _ = Command::new("kill").args([name, &self.pid()]).status();
    }

    /// Waits up to `timeout` for it to exit.
    fn exited_within(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct World {
    ns: Netns,
    dir: tempfile::TempDir,
    config: PathBuf,
    token: String,
    pg_listen: u16,
    ssh_listen: u16,
    http_listen: u16,
    agent_listen: u16,
    my_listen: u16,
    /// What the agents may connect to: the targets' addresses, not `localhost`.
    allow: String,
}

impl World {
    fn sluice(&self, args: &[&str]) -> Output {
        let out = Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(out.status.success(), "sluice {args:?}: {}", stderr(&out));
        out
    }

    fn log(&self, name: &str) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(name))
            .unwrap()
    }

    /// `sluice serve` inside the namespace, once it says it is ready.
    fn serve(&self) -> Proc {
        let log_path = self.dir.path().join("serve.log");
        let before = std::fs::read_to_string(&log_path).unwrap_or_default().len();
        let mut serve = Command::new(BIN);
        serve.args(["serve", "--config"]).arg(&self.config);
        let child = self
            .ns
            .exec(&serve)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(self.log("serve.log"))
            .spawn()
            .unwrap();
        let proc = Proc(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if log[before.min(log.len())..].contains("sluice is ready") {
                return proc;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not start:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `sluice agent` on the host, its state in `state`.
    fn agent(&self, state: &str, enroll: Option<&str>) -> Proc {
        let mut cmd = Command::new(BIN);
        cmd.arg("agent")
            .arg("--server")
            .arg(format!("{}:{}", self.ns.ns_ip, self.agent_listen))
            .arg("--state-dir")
            .arg(self.dir.path().join(state))
            .args(["--heartbeat", "1s"])
            .arg("--targets")
            .arg(self.dir.path().join("agent-targets.toml"))
            .arg("--allow")
            .arg(&self.allow)
            .env_remove("SLUICE_AGENT_ENROLL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(self.log(&format!("{state}.log")));
        if let Some(token) = enroll {
            cmd.arg("--enroll").arg(token);
        }
        Proc(cmd.spawn().unwrap())
    }

    fn agent_log(&self, state: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{state}.log"))).unwrap_or_default()
    }

    fn psql(&self, target: &str, sql: &str) -> Output {
        let mut psql = Command::new("psql");
        psql.arg(format!(
            "host=127.0.0.1 port={} user=alice dbname={target} sslmode=disable \
             connect_timeout=10",
            self.pg_listen
        ))
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGPASSWORD", &self.token);
        self.ns.exec(&psql).output().unwrap()
    }

    /// psql until it answers `want` (the agent may still be connecting), or fails the test.
    fn psql_until(&self, target: &str, sql: &str, want: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let out = self.psql(target, sql);
            if out.status.success() && stdout(&out).trim() == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "psql {target} never answered {want}: {}\n{}",
                stderr(&out),
                self.agent_log("agent")
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn audit_types(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.path().join("data/audit.jsonl")).unwrap();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["event"]["type"]
                    .as_str()
                    .or_else(|| v["type"].as_str())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| stdout(&o).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    sluice::scratch_pg::free_port().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn targets_behind_an_agent_are_reached_only_through_it() {
    if !is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root: the agent test needs `ip netns`"
        );
        eprintln!("skipped: creating a network namespace needs root");
        return;
    }
    let pg = tokio::task::spawn_blocking(pg).await.unwrap();
    let mariadb = tokio::task::spawn_blocking(support::mysql::mariadb)
        .await
        .unwrap();
    let sshd = tokio::task::spawn_blocking(sshd).await.unwrap();
    let web = ScratchHttp::start().await.unwrap();
    let cluster = support::kube::KubeFixture::start(CLUSTER_TOKEN).await;
    let (cluster_addr, cluster_ca) = (cluster.addr(), cluster.ca_pem());
    tokio::task::spawn_blocking(move || {
        life_of_an_agent(
            pg.port,
            mariadb.port,
            sshd,
            web.port(),
            (cluster_addr, cluster_ca),
        )
    })
    .await
    .unwrap();
    drop(cluster);
}

/// The Kubernetes fixture's bearer, which only the gateway holds.
const CLUSTER_TOKEN: &str = "cluster-token-7c1";

fn life_of_an_agent(
    pg_port: u16,
    my_port: u16,
    sshd: &sluice::scratch_sshd::ScratchSshd,
    web_port: u16,
    (cluster_addr, cluster_ca): (std::net::SocketAddr, String),
) {
    let ns = Netns::create();
    let dir = tempfile::Builder::new()
        .prefix("sluice-test-agent-")
        .tempdir()
        .unwrap();
    let password = write(dir.path(), "target-password", TARGET_PASSWORD);
    let bearer = write(dir.path(), "web-bearer", "web-secret-1");
    let my_password = write(dir.path(), "my-password", support::mysql::MY_PASSWORD);
    let cluster_ca = write(dir.path(), "cluster-ca.pem", &cluster_ca);
    let cluster_token = write(dir.path(), "cluster-token", CLUSTER_TOKEN);
    // Ports inside the namespace: nothing else listens there.
    let (pg_listen, ssh_listen, http_listen, agent_listen, my_listen) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let text = format!(
        r#"
[gateway]
data_dir = "{data}"
handshake_timeout = "3s"
shutdown_grace = "2s"

[postgres]
listen = "127.0.0.1:{pg_listen}"

[[listeners]]
protocol = "ssh"
listen = "127.0.0.1:{ssh_listen}"
password_auth = true

[[listeners]]
protocol = "http"
listen = "127.0.0.1:{http_listen}"

[[listeners]]
protocol = "mysql"
listen = "127.0.0.1:{my_listen}"

[agents]
listen = "{ns_ip}:{agent_listen}"
heartbeat = "1s"

[policy]
builtin = "allow-all"

[[identities]]
name = "alice"
kind = "human"

# TLS to the target end to end, through the agent.
[[targets]]
name = "app"
kind = "postgres"
host = "127.0.0.1"
port = {pg_port}
database = "app"
user = "sluice_scram"
password_file = "{password}"
tls = "require"
via = "dc1"

# The agent logs in: the gateway holds no credential for this target.
[[targets]]
name = "app-agent-login"
kind = "postgres"
host = "127.0.0.1"
port = {pg_port}
database = "app"
user = "sluice_scram"
tls = "disable"
via = "dc1"

# Served by whichever of two agents is connected.
[[targets]]
name = "app-pair"
kind = "postgres"
host = "127.0.0.1"
port = {pg_port}
database = "app"
user = "sluice_scram"
password_file = "{password}"
tls = "disable"
via = ["dc1", "dc2"]

# Only through dc2.
[[targets]]
name = "app-dc2"
kind = "postgres"
host = "127.0.0.1"
port = {pg_port}
database = "app"
user = "sluice_scram"
password_file = "{password}"
tls = "disable"
via = "dc2"

# An address the agents are not allowed to connect to.
[[targets]]
name = "app-not-allowed"
kind = "postgres"
host = "localhost"
port = {pg_port}
database = "app"
user = "sluice_scram"
password_file = "{password}"
tls = "disable"
via = "dc1"

# The same server without the agent: the gateway cannot reach it.
[[targets]]
name = "app-direct"
kind = "postgres"
host = "127.0.0.1"
port = {pg_port}
database = "app"
user = "sluice_scram"
password_file = "{password}"
tls = "disable"

[[targets]]
name = "host"
kind = "ssh"
host = "127.0.0.1"
port = {ssh_port}
user = "{ssh_user}"
key_file = "{ssh_key}"
via = ["dc1"]

[[targets]]
name = "shop-my"
kind = "mysql"
host = "127.0.0.1"
port = {my_port}
database = "shop"
user = "{my_user}"
password_file = "{my_password}"
tls = "disable"
via = "dc1"

# TLS to the API server inside the stream, checked against the cluster's CA.
[[targets]]
name = "cluster"
kind = "kubernetes"
url = "https://{cluster_addr}"
tls_ca = "{cluster_ca}"
auth = "bearer"
password_file = "{cluster_token}"
via = "dc1"

[[targets]]
name = "web"
kind = "http"
url = "http://127.0.0.1:{web_port}"
auth = "bearer"
password_file = "{bearer}"
via = "dc1"
"#,
        data = dir.path().join("data").display(),
        ns_ip = ns.ns_ip,
        password = password.display(),
        bearer = bearer.display(),
        my_user = support::mysql::MY_USER,
        my_password = my_password.display(),
        cluster_ca = cluster_ca.display(),
        cluster_token = cluster_token.display(),
        ssh_port = sshd.port(),
        ssh_user = sshd.user(),
        ssh_key = sshd.key_file().display(),
    );
    let config = write(dir.path(), "sluice.toml", &text);
    write(
        dir.path(),
        "agent-targets.toml",
        &format!(
            "[[targets]]\nname = \"app-agent-login\"\nkind = \"postgres\"\n\
             password_file = \"{}\"\ntls = \"require\"\n",
            password.display()
        ),
    );
    let mut world = World {
        ns,
        dir,
        config,
        token: String::new(),
        pg_listen,
        ssh_listen,
        http_listen,
        agent_listen,
        my_listen,
        allow: [pg_port, my_port, sshd.port(), web_port, cluster_addr.port()]
            .map(|p| format!("127.0.0.1:{p}"))
            .join(","),
    };
    let out = world.sluice(&["token", "create", "--identity", "alice", "--ttl", "1h"]);
    world.token = stdout(&out).trim().to_owned();
    let out = world.sluice(&["agent", "enroll", "dc1"]);
    let enrollment = stdout(&out).trim().to_owned();
    assert!(enrollment.starts_with("sluice-enroll_"), "{enrollment}");
    let out = world.sluice(&["agent", "enroll", "dc2"]);
    let enrollment2 = stdout(&out).trim().to_owned();

    let mut gateway = world.serve();
    // The host's veth address answers from the namespace; the targets' loopback does not.
    let direct = world.psql("app-direct", "SELECT 1");
    assert!(
        !direct.status.success(),
        "the gateway reached the target directly"
    );
    let agent = world.agent("agent", Some(&enrollment));

    // psql through the agent, TLS to the target inside the stream.
    world.psql_until(
        "app",
        "SELECT count(*) FROM items",
        "100",
        Duration::from_secs(20),
    );
    let out = world.psql(
        "app",
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    assert_eq!(stdout(&out).trim(), "t", "{}", stderr(&out));

    // Anyone may reach the agents' listener: a malformed hello (here after a TLS handshake
    // without a client certificate) is answered, audited and counted, and harms no link.
    let probe = Command::new("timeout")
        .args(["10", "openssl", "s_client", "-quiet", "-connect"])
        .arg(format!("{}:{}", world.ns.ns_ip, world.agent_listen))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    probe
        .stdin
        .as_ref()
        .unwrap()
        .write_all(b"\0\0\0\x07garbage")
        .unwrap();
    let answer = probe.wait_with_output().unwrap();
    let answer = String::from_utf8_lossy(&answer.stdout);
    assert!(
        answer.contains(r#""answer":"refused""#) && answer.contains("malformed hello"),
        "{answer}"
    );
    let out = world.psql("app", "SELECT 2");
    assert_eq!(stdout(&out).trim(), "2", "{}", stderr(&out));

    // An address outside the agent's --allow is refused by the agent.
    let out = world.psql("app-not-allowed", "SELECT 1");
    assert!(!out.status.success());
    assert!(
        world.agent_log("agent").contains("not in its --allow"),
        "{}",
        world.agent_log("agent")
    );

    // The agent performs the login to a target whose credential only it holds, over its own
    // TLS to the target.
    let out = world.psql(
        "app-agent-login",
        "SELECT current_user || ' ' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "sluice_scram true");

    // mariadb, ssh, curl and kubectl through the same agent.
    let mut mariadb = Command::new("mariadb");
    mariadb
        .args([
            "--no-defaults",
            "--batch",
            "--skip-column-names",
            "--protocol=TCP",
            "-h127.0.0.1",
        ])
        .arg(format!("-P{}", world.my_listen))
        .arg("-ualice")
        .arg(format!("-p{}", world.token))
        .args(["-e", "SELECT count(*) FROM customers", "shop-my"]);
    let out = world.ns.exec(&mariadb).output().unwrap();
    assert!(out.status.success(), "mariadb: {}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        support::mysql::CUSTOMERS.len().to_string()
    );
    let ssh = ssh_password_cmd(
        world.ssh_listen,
        "alice+host",
        &world.token,
        &["echo", "via-agent"],
    );
    let out = world.ns.exec(&ssh).output().unwrap();
    assert!(out.status.success(), "ssh: {}", stderr(&out));
    assert_eq!(stdout(&out), "via-agent\n");
    let mut curl = Command::new("curl");
    curl.args(["-sS", "-k", "--max-time", "20", "-H"])
        .arg(format!("Authorization: Bearer {}", world.token))
        .arg(format!("https://127.0.0.1:{}/web/hello", world.http_listen));
    let out = world.ns.exec(&curl).output().unwrap();
    assert!(out.status.success(), "curl: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), r#"{"hello":"world"}"#);

    // The Kubernetes fixture through the agent: with kubectl when it is installed (Debian
    // packages none), else with curl on the same API path.
    let gateway_ca = world.dir.path().join("data/tls/server.crt");
    let out = if support::kube::kubectl_available() {
        let kubeconfig = world.dir.path().join("alice.kubeconfig");
        support::kube::write_kubeconfig(
            &kubeconfig,
            &format!("https://127.0.0.1:{}/cluster", world.http_listen),
            &std::fs::read_to_string(&gateway_ca).unwrap(),
            &world.token,
            "default",
        );
        let mut kubectl = Command::new("kubectl");
        kubectl
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["get", "pods", "-n", "prod", "--request-timeout=20s"])
            .env_remove("KUBECONFIG")
            .env("HOME", world.dir.path());
        world.ns.exec(&kubectl).output().unwrap()
    } else {
        let mut curl = Command::new("curl");
        curl.args(["-sS", "--max-time", "20", "--cacert"])
            .arg(&gateway_ca)
            .arg("-H")
            .arg(format!("Authorization: Bearer {}", world.token))
            .arg(format!(
                "https://127.0.0.1:{}/cluster/api/v1/namespaces/prod/pods",
                world.http_listen
            ));
        world.ns.exec(&curl).output().unwrap()
    };
    assert!(out.status.success(), "kubernetes: {}", stderr(&out));
    assert!(stdout(&out).contains("web-1"), "{}", stdout(&out));

    // A copy of the redeemed token is worth nothing.
    let mut thief = world.agent("thief", Some(&enrollment));
    let status = thief
        .exited_within(Duration::from_secs(15))
        .expect("an agent with a used token kept running");
    assert!(!status.success());
    assert!(
        world
            .agent_log("thief")
            .contains("the enrollment token is unknown, used or expired"),
        "{}",
        world.agent_log("thief")
    );

    // The agent killed mid-session: the client gets an error, not a hang.
    let mut long = Command::new("psql");
    long.arg(format!(
        "host=127.0.0.1 port={} user=alice dbname=app sslmode=disable",
        world.pg_listen
    ))
    .args(["-X", "-At", "-c", "SELECT pg_sleep(5)"])
    .env("PGPASSWORD", &world.token);
    let started = Instant::now();
    let session = world
        .ns
        .exec(&long)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    agent.signal("-KILL");
    let out = session.wait_with_output().unwrap();
    assert!(!out.status.success(), "the session outlived its agent");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the session waited for the statement instead of ending with the link"
    );
    let said = stderr(&out);
    assert!(said.contains("the link to agent dc1 was lost"), "{said}");
    // A new session has no way to the target until the agent is back.
    let out = world.psql("app", "SELECT 1");
    assert!(!out.status.success());
    // The reason (no agent of `via` connected) is the gateway's log's; the client is told
    // what it is told of any target it cannot reach.
    assert!(
        stderr(&out).contains("the target database is unreachable"),
        "{}",
        stderr(&out)
    );
    // Back with its state alone: no token needed again.
    let mut agent = world.agent("agent", None);
    world.psql_until("app", "SELECT 2", "2", Duration::from_secs(20));

    // A second agent, frozen in the middle of a large result: sessions through the first are
    // not held up by it.
    let dc2 = world.agent("agent2", Some(&enrollment2));
    world.psql_until("app-dc2", "SELECT 5", "5", Duration::from_secs(20));
    let mut flood = Command::new("psql");
    flood
        .arg(format!(
            "host=127.0.0.1 port={} user=alice dbname=app-dc2 sslmode=disable",
            world.pg_listen
        ))
        .args([
            "-X",
            "-At",
            "-c",
            "SELECT repeat('x', 1000) FROM generate_series(1, 50000)",
        ])
        .env("PGPASSWORD", &world.token);
    let flooding = Proc(
        world
            .ns
            .exec(&flood)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(300));
    dc2.signal("-STOP");
    for i in 0..5 {
        let started = Instant::now();
        let out = world.psql("app", &format!("SELECT {i}"));
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a session through dc1 waited {:?} behind frozen dc2",
            started.elapsed()
        );
    }
    dc2.signal("-CONT");
    drop(flooding);
    drop(dc2);

    // The gateway restarts; the agent reconnects by itself.
    gateway.signal("-TERM");
    assert!(gateway.exited_within(Duration::from_secs(15)).is_some());
    drop(gateway);
    let gateway = world.serve();
    world.psql_until("app", "SELECT 3", "3", Duration::from_secs(40));

    // Revoked: the link closes within a heartbeat and the agent cannot come back.
    let list = world.sluice(&["agent", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert_eq!(listed[0]["name"], "dc1");
    assert!(listed[0]["last_seen_ms"].as_i64().is_some(), "{listed}");
    world.sluice(&["agent", "revoke", "dc1"]);
    let status = agent
        .exited_within(Duration::from_secs(20))
        .expect("a revoked agent kept running");
    assert!(!status.success());
    assert!(
        world.agent_log("agent").contains("agent dc1 is revoked"),
        "{}",
        world.agent_log("agent")
    );
    let out = world.psql("app", "SELECT 1");
    assert!(!out.status.success());
    // A target that names two agents is served by the one still enrolled and connected.
    let _dc2 = world.agent("agent2", None);
    world.psql_until("app-pair", "SELECT 4", "4", Duration::from_secs(20));
    let out = world.psql("app", "SELECT 1");
    assert!(
        !out.status.success(),
        "dc2 served a target that names only dc1"
    );

    // An agent stopped after the gateway redeemed its token but before it wrote its state comes
    // back with the same token: refused as spent, then admitted by its registered key.
    let out = world.sluice(&["agent", "enroll", "dc3"]);
    let enrollment3 = stdout(&out).trim().to_owned();
    let mut dc3 = world.agent("agent3", Some(&enrollment3));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !world
        .agent_log("agent3")
        .contains("connected to the gateway")
    {
        assert!(Instant::now() < deadline, "{}", world.agent_log("agent3"));
        std::thread::sleep(Duration::from_millis(100));
    }
    dc3.signal("-KILL");
    dc3.exited_within(Duration::from_secs(5));
    std::fs::remove_file(world.dir.path().join("agent3/enrolled")).unwrap();
    let mut dc3 = world.agent("agent3", Some(&enrollment3));
    let deadline = Instant::now() + Duration::from_secs(20);
    while world
        .agent_log("agent3")
        .matches("connected to the gateway")
        .count()
        < 2
    {
        assert!(
            dc3.0.try_wait().unwrap().is_none(),
            "the agent gave up: {}",
            world.agent_log("agent3")
        );
        assert!(Instant::now() < deadline, "{}", world.agent_log("agent3"));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(world.dir.path().join("agent3/enrolled").exists());

    drop(gateway);
    let types = world.audit_types();
    for kind in [
        "agent_enrolled",
        "agent_connected",
        "agent_disconnected",
        "agent_revoked",
    ] {
        assert!(types.iter().any(|t| t == kind), "no {kind} in {types:?}");
    }
    let rejected = types.iter().filter(|t| *t == "connection_rejected").count();
    assert!(
        rejected >= 3,
        "the probe, the thief and the revoked agent: {types:?}"
    );
    let audit = std::fs::read_to_string(world.dir.path().join("data/audit.jsonl")).unwrap();
    assert!(audit.contains("malformed hello (Syntax"), "{audit}");
}
