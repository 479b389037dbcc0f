//! kubectl (the machine's, 1.30 or later) through the gateway's HTTPS listener to the
//! Kubernetes API fixture (tests/support/kube: no real kube-apiserver is packaged), under the
//! example policies: reads, Secrets redacted, watch and `logs -f` streamed, changes, a
//! production delete held until on-call approves, exec over WebSocket and SPDY decided before
//! the upgrade and recorded as a terminal, port-forward, impersonation refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::kube::{kubectl, kubectl_available, kubectl_until, kubectl_with, KubeFixture};
use support::Harness;

const FIXTURE_TOKEN: &str = "fixture-service-account-token-9f1c";
const BIN: &str = env!("CARGO_BIN_EXE_sluice");

struct Kube {
    h: Harness,
    fixture: KubeFixture,
    dir: PathBuf,
    tokens: std::collections::HashMap<String, String>,
}

impl Kube {
    async fn start() -> Option<Kube> {
        if !kubectl_available() {
            return None;
        }
        let fixture = KubeFixture::start(FIXTURE_TOKEN).await;
        let dir = tempfile::Builder::new()
            .prefix("sluice-kube-gw-")
            .tempdir()
            .unwrap()
            .keep();
        let policies = dir.join("policies");
        std::fs::create_dir_all(&policies).unwrap();
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
        for entry in std::fs::read_dir(examples).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, policies.join(path.file_name().unwrap())).unwrap();
        }
        std::fs::write(dir.join("cluster-ca.pem"), fixture.ca_pem()).unwrap();
        std::fs::write(dir.join("cluster-token"), FIXTURE_TOKEN).unwrap();
        let extra = format!(
            r#"
[[listeners]]
protocol = "http"
listen = "127.0.0.1:0"

[[identities]]
name = "dev"
kind = "human"
groups = ["developers"]

[[identities]]
name = "olga"
kind = "human"
groups = ["oncall"]

[[identities]]
name = "carol"
kind = "human"
groups = ["developers", "break-glass"]

[[targets]]
name = "cluster"
kind = "kubernetes"
url = "{url}"
tls_ca = "{dir}/cluster-ca.pem"
auth = "bearer"
password_file = "{dir}/cluster-token"

[policy]
dir = "{dir}/policies"
watch = false

[recording]
enabled = true
"#,
            url = fixture.url(),
            dir = dir.display()
        );
        let h = Harness::start_with(&extra).await;
        let mut tokens = std::collections::HashMap::new();
        for who in ["dev", "olga", "carol", "ci"] {
            let secret = sluice::token_cmd::create(&h.config, who, None)
                .await
                .unwrap();
            tokens.insert(who.to_owned(), secret.expose().to_owned());
        }
        Some(Kube {
            h,
            fixture,
            dir,
            tokens,
        })
    }

    fn https(&self) -> String {
        format!("https://{}", self.h.gateway.http_addr.unwrap())
    }

    /// A kubeconfig for `who` through the gateway, with the gateway's certificate as its CA.
    fn kubeconfig(&self, who: &str) -> PathBuf {
        let path = self.dir.join(format!("{who}.kubeconfig"));
        let ca =
            std::fs::read_to_string(self.h.config.gateway.data_dir.join("tls/server.crt")).unwrap();
        support::kube::write_kubeconfig(
            &path,
            &format!("{}/cluster", self.https()),
            &ca,
            &self.tokens[who],
            "default",
        );
        path
    }

    fn admin(&self) -> String {
        format!("http://{}", self.h.gateway.admin_addr.unwrap())
    }

    fn cli(&self, who: &str, args: &[&str]) -> std::process::Output {
        std::process::Command::new(BIN)
            .args(args)
            .env("SLUICE_SERVER", self.admin())
            .env("SLUICE_TOKEN", &self.tokens[who])
            .output()
            .unwrap()
    }
}

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_through_with_the_clusters_credential_and_are_audited() {
    let Some(k) = Kube::start().await else { return };
    let cfg = k.kubeconfig("dev");
    let table = kubectl(&cfg, &["get", "pods", "-n", "prod"]);
    assert!(table.status.success(), "{}", err(&table));
    assert!(out(&table).contains("web-1"), "{}", out(&table));
    let json = kubectl(
        &cfg,
        &["get", "deployment", "web", "-n", "prod", "-o", "json"],
    );
    assert!(json.status.success(), "{}", err(&json));
    assert!(out(&json).contains("\"kind\": \"Deployment\""));
    let resources = kubectl(&cfg, &["api-resources"]);
    assert!(resources.status.success(), "{}", err(&resources));
    // The cluster saw the gateway's credential, never the caller's.
    let seen = k.fixture.requests();
    assert!(!seen.is_empty());
    for r in &seen {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {FIXTURE_TOKEN}").as_str()),
            "{} {}",
            r.method,
            r.path
        );
    }
    let audit = k.h.audit().await;
    let text = format!("{audit:?}");
    assert!(text.contains("protocol: \"kubernetes\""), "{text}");
    assert!(text.contains("GET /api/v1/namespaces/prod/pods"), "{text}");
    assert!(text.contains("kube_read"), "{text}");
    assert!(!text.contains(&k.tokens["dev"]));
    assert!(!text.contains(FIXTURE_TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_redacted_unless_the_decision_reveals_them() {
    let Some(k) = Kube::start().await else { return };
    // base64 of "hunter2-prod", as the fixture stores it.
    let value = "aHVudGVyMi1wcm9k";
    for args in [
        &["get", "secret", "db-creds", "-n", "prod", "-o", "json"][..],
        &["get", "secrets", "-n", "prod", "-o", "yaml"][..],
        &[
            "get",
            "secret",
            "db-creds",
            "-n",
            "prod",
            "-o",
            "jsonpath={.data.password}",
        ][..],
    ] {
        let o = kubectl(&k.kubeconfig("dev"), args);
        assert!(o.status.success(), "{args:?}: {}", err(&o));
        assert!(!out(&o).contains(value), "{args:?}: {}", out(&o));
        assert!(!out(&o).contains("hunter2"), "{args:?}");
    }
    let decoded = kubectl(
        &k.kubeconfig("dev"),
        &[
            "get",
            "secret",
            "db-creds",
            "-n",
            "prod",
            "-o",
            "jsonpath={.data.password}",
        ],
    );
    let plain = base64_decode(out(&decoded).trim());
    assert_eq!(plain, "<redacted by sluice>");
    let o = kubectl(
        &k.kubeconfig("carol"),
        &["get", "secret", "db-creds", "-n", "prod", "-o", "json"],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains(value), "break-glass sees the value");
    // A configmap's card number and email go through the detectors for people outside
    // pii_readers.
    let cm = kubectl(
        &k.kubeconfig("dev"),
        &["get", "configmap", "settings", "-n", "prod", "-o", "json"],
    );
    assert!(cm.status.success(), "{}", err(&cm));
    assert!(!out(&cm).contains("4111 1111 1111 1111"), "{}", out(&cm));
    assert!(!out(&cm).contains("ops@example.com"), "{}", out(&cm));
}

fn base64_decode(text: &str) -> String {
    use base64::Engine;
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_and_logs_follow_stream_masked_lines_as_they_come() {
    let Some(k) = Kube::start().await else { return };
    let cfg = k.kubeconfig("dev");
    let (seen, found) = kubectl_until(
        &cfg,
        &[
            "get",
            "pods",
            "-n",
            "prod",
            "--watch",
            "--output-watch-events",
        ],
        &[],
        "web-1",
        Duration::from_secs(20),
    );
    assert!(found, "watch: {seen}");
    let started = Instant::now();
    let (seen, found) = kubectl_until(
        &cfg,
        &["logs", "-f", "web-1", "-n", "prod"],
        &[],
        "heartbeat 3",
        Duration::from_secs(20),
    );
    assert!(found, "logs -f: {seen}");
    // Streamed: the fourth heartbeat arrives long before the 50th would be written.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(!seen.contains("4111 1111 1111 1111"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_decided_and_a_production_delete_waits_for_on_call() {
    let Some(k) = Kube::start().await else { return };
    let manifest = k.dir.join("cm.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: feature-flags\ndata:\n  beta: \"on\"\n",
    )
    .unwrap();
    let dev = k.kubeconfig("dev");
    let m = manifest.to_str().unwrap();
    let applied = kubectl(&dev, &["apply", "-f", m, "-n", "staging"]);
    assert!(applied.status.success(), "{}", err(&applied));
    let created = kubectl(
        &dev,
        &[
            "create",
            "configmap",
            "extra",
            "-n",
            "prod",
            "--from-literal=a=b",
        ],
    );
    assert!(created.status.success(), "{}", err(&created));
    assert!(k.fixture.object("configmaps", "prod", "extra").is_some());
    let deleted = kubectl(
        &dev,
        &["delete", "configmap", "feature-flags", "-n", "staging"],
    );
    assert!(deleted.status.success(), "{}", err(&deleted));
    // ci may only read.
    let ci = kubectl(
        &k.kubeconfig("ci"),
        &["delete", "pod", "web-2", "-n", "staging"],
    );
    assert!(!ci.status.success());
    assert!(
        err(&ci).contains("Error from server (Forbidden)")
            && err(&ci).contains("sluice: denied by policy rule"),
        "{}",
        err(&ci)
    );
    // A dry run in production is not held.
    let dry = kubectl(
        &dev,
        &[
            "delete",
            "configmap",
            "extra",
            "-n",
            "prod",
            "--dry-run=server",
        ],
    );
    assert!(dry.status.success(), "{}", err(&dry));
    assert!(k.fixture.object("configmaps", "prod", "extra").is_some());
    // The real delete waits until olga (on call) approves it.
    let waiting = {
        let dev = dev.clone();
        std::thread::spawn(move || kubectl(&dev, &["delete", "configmap", "extra", "-n", "prod"]))
    };
    let id = wait_for_review(&k).await;
    assert!(k.fixture.object("configmaps", "prod", "extra").is_some());
    let approve = k.cli("olga", &["review", "approve", &id]);
    assert!(approve.status.success(), "{}", err(&approve));
    let done = waiting.join().unwrap();
    assert!(done.status.success(), "{}", err(&done));
    assert!(k.fixture.object("configmaps", "prod", "extra").is_none());
}

async fn wait_for_review(k: &Kube) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = k.cli("olga", &["review", "list", "--json"]);
        let value: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap_or_default();
        if let Some(id) = value
            .as_array()
            .and_then(|a| a.iter().find(|r| r["state"] == "pending"))
            .and_then(|r| r["id"].as_str())
        {
            return id.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no review opened: {}",
            err(&list)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_is_decided_before_the_upgrade_over_websocket_and_spdy_and_recorded() {
    let Some(k) = Kube::start().await else { return };
    let olga = k.kubeconfig("olga");
    let ws = kubectl(
        &olga,
        &["exec", "web-1", "-n", "prod", "--", "echo", "hello", "ws"],
    );
    assert!(ws.status.success(), "{}", err(&ws));
    assert_eq!(out(&ws).trim(), "hello ws");
    let spdy = kubectl_with(
        &olga,
        &["exec", "web-1", "-n", "prod", "--", "echo", "hello", "spdy"],
        &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")],
        None,
    );
    assert!(spdy.status.success(), "{}", err(&spdy));
    assert_eq!(out(&spdy).trim(), "hello spdy");
    let piped = kubectl_with(
        &olga,
        &["exec", "-i", "web-1", "-n", "prod", "--", "cat"],
        &[],
        Some(b"typed input\n"),
    );
    assert_eq!(out(&piped), "typed input\n", "{}", err(&piped));
    let shell = interactive_exec(&olga);
    assert!(shell.contains("interactive-marker"), "{shell}");
    let failing = kubectl(&olga, &["exec", "web-1", "-n", "prod", "--", "fail"]);
    assert_eq!(failing.status.code(), Some(2), "{}", err(&failing));
    // Denied before any upgrade reaches the cluster.
    let before = k.fixture.execs().len();
    let denied = kubectl(
        &k.kubeconfig("dev"),
        &["exec", "web-1", "-n", "prod", "--", "sh"],
    );
    assert!(!denied.status.success());
    assert!(
        err(&denied).contains("kube_connect_production"),
        "{}",
        err(&denied)
    );
    assert_eq!(k.fixture.execs().len(), before);
    // The WebSocket execs are in the session recordings as terminal streams, and export as
    // asciicast.
    let recordings = k.h.config.gateway.data_dir.join("recordings");
    let mut casts = Vec::new();
    for entry in std::fs::read_dir(&recordings).unwrap() {
        let path = entry.unwrap().path();
        let session = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        if !text.contains("\"type\":\"terminal\"") {
            continue;
        }
        let replay = std::process::Command::new(BIN)
            .args(["sessions", "replay", &session, "--asciicast", "--config"])
            .arg(&k.h.config_path)
            .output()
            .unwrap();
        assert!(replay.status.success(), "{}", err(&replay));
        casts.push(out(&replay));
    }
    let all = casts.concat();
    assert!(all.contains("hello ws"), "{all}");
    assert!(all.contains("typed input"), "{all}");
    assert!(all.contains("interactive-marker"), "{all}");
    // asciinema plays it (Debian's 2.2 plays without a terminal).
    let cast = k.dir.join("exec.cast");
    let with_exec = casts.iter().find(|c| c.contains("hello ws")).unwrap();
    std::fs::write(&cast, with_exec).unwrap();
    let mut play = std::process::Command::new("asciinema");
    play.args(["play", "-s", "100"]).arg(&cast);
    let played = support::kube::run_bounded(play, None, Duration::from_secs(20));
    assert!(played.status.success(), "{}", err(&played));
    assert!(out(&played).contains("hello ws"), "{}", out(&played));
}

/// `kubectl exec -it ... sh` on a pseudo-terminal (python's pty), typing like a person: the
/// line and its echo come back, and `exit` ends it.
fn interactive_exec(kubeconfig: &Path) -> String {
    let script = r#"
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
seen = b""
def read_until(needle, limit=20):
    global seen
    end = time.time() + limit
    while needle not in seen and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            seen += chunk
read_until(b"$ ")
os.write(fd, b"echo interactive-marker\r")
read_until(b"interactive-marker\r\n$ ")
os.write(fd, b"exit\r")
read_until(b"\x00never", 5)
os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
"#;
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-c")
        .arg(script)
        .arg("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["exec", "-it", "web-1", "-n", "prod", "--", "sh"])
        .env("HOME", kubeconfig.parent().unwrap());
    let o = support::kube::run_bounded(cmd, None, Duration::from_secs(60));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_is_allowed_by_policy_and_counted() {
    let Some(k) = Kube::start().await else { return };
    for (env, label) in [
        (&[][..], "websocket"),
        (&[("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")][..], "spdy"),
    ] {
        let port = free_port();
        let mapping = format!("{port}:80");
        let cfg = k.kubeconfig("olga");
        let child = {
            let cfg = cfg.clone();
            let env: Vec<(String, String)> = env
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            std::thread::spawn(move || {
                let env: Vec<(&str, &str)> =
                    env.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                kubectl_until(
                    &cfg,
                    &["port-forward", "-n", "prod", "pod/web-1", &mapping],
                    &env,
                    "never printed",
                    Duration::from_secs(8),
                )
            })
        };
        let echoed = echo_through(port, format!("ping over {label}\n").as_bytes());
        assert_eq!(echoed, format!("ping over {label}\n"), "{label}");
        let _ = child.join();
    }
    let metrics = reqwest::get(format!("{}/metrics", k.admin()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sluice_kube_port_forwards_total 2"),
        "{metrics}"
    );
    let denied = kubectl(
        &k.kubeconfig("dev"),
        &["port-forward", "-n", "prod", "pod/web-1", "1:80"],
    );
    assert!(!denied.status.success());
    assert!(
        err(&denied).contains("kube_connect_production"),
        "{}",
        err(&denied)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects to the forwarded port (retrying while kubectl starts) and reads the echo.
fn echo_through(port: u16, payload: &[u8]) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(payload).unwrap();
            let mut buf = vec![0u8; payload.len()];
            if s.read_exact(&mut buf).is_ok() {
                return String::from_utf8_lossy(&buf).into_owned();
            }
        }
        assert!(
            Instant::now() < deadline,
            "port-forward on {port} never echoed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_and_unreadable_paths_are_refused() {
    let Some(k) = Kube::start().await else { return };
    let before = k.fixture.requests().len();
    let o = kubectl(
        &k.kubeconfig("carol"),
        &["get", "pods", "-n", "prod", "--as", "system:admin"],
    );
    assert!(!o.status.success());
    // kubectl's discovery client prints its own words for the refusal; the audit trail names
    // the rule, and nothing reached the cluster.
    assert_eq!(k.fixture.requests().len(), before);
    assert!(
        format!("{:?}", k.h.audit().await).contains("sluice.kube_impersonation"),
        "{}",
        err(&o)
    );
    // kubectl decodes what it is given; curl sends an encoded slash as it is.
    let ca = k.h.config.gateway.data_dir.join("tls/server.crt");
    let curl = std::process::Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(&ca)
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", k.tokens["dev"]))
        .arg(format!(
            "{}/cluster/api/v1/namespaces/prod/pods/a%2Fb",
            k.https()
        ))
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&curl.stdout).unwrap();
    assert_eq!(status["kind"], "Status", "{status}");
    assert_eq!(status["code"], 403, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("sluice.kube_unreadable"),
        "{status}"
    );
    assert_eq!(k.fixture.requests().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_kubeconfig_writes_a_working_kubeconfig() {
    let Some(k) = Kube::start().await else { return };
    let ca = k.h.config.gateway.data_dir.join("tls/server.crt");
    for embed in [false, true] {
        let path = k.dir.join(format!("generated-{embed}.kubeconfig"));
        let mut args = vec![
            "kubeconfig".to_owned(),
            "cluster".to_owned(),
            "-n".to_owned(),
            "prod".to_owned(),
            "-o".to_owned(),
            path.display().to_string(),
            "--https-ca".to_owned(),
            ca.display().to_string(),
        ];
        if embed {
            args.push("--embed-token".to_owned());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let written = k.cli("dev", &args);
        assert!(written.status.success(), "{}", err(&written));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.contains(&k.tokens["dev"]), embed, "{text}");
        let admin = k.admin();
        let token = k.tokens["dev"].clone();
        let env: Vec<(&str, &str)> = vec![("SLUICE_SERVER", &admin), ("SLUICE_TOKEN", &token)];
        let pods = kubectl_with(&path, &["get", "pods"], &env, None);
        assert!(pods.status.success(), "{}", err(&pods));
        assert!(out(&pods).contains("web-1"), "{}", out(&pods));
    }
}

/// An agent reaches the cluster through the MCP endpoint's tools, with what kubectl gets:
/// reads allowed and Secrets redacted, under the person's minted per-task credential.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_reaches_the_cluster_through_mcp_tools() {
    let Some(k) = Kube::start().await else { return };
    let url = format!("{}/mcp", k.https());
    let ca = k.h.config.gateway.data_dir.join("tls/server.crt");
    let token = k.tokens["dev"].clone();
    let (tools, pods, secret) = tokio::task::spawn_blocking(move || {
        let curl = support::mcp_curl::McpCurl::open(url, ca.display().to_string(), token);
        let pods = curl.call(
            "cluster.get",
            serde_json::json!({"path": "/api/v1/namespaces/prod/pods"}),
        );
        let secret = curl.call(
            "cluster.get",
            serde_json::json!({"path": "/api/v1/namespaces/prod/secrets"}),
        );
        (curl.tools(), pods, secret)
    })
    .await
    .unwrap();
    assert!(tools.contains(&"cluster.request".to_owned()), "{tools:?}");
    assert_eq!(pods["structuredContent"]["status"], 200, "{pods}");
    assert_eq!(
        pods["structuredContent"]["body"]["kind"], "PodList",
        "{pods}"
    );
    let listed = secret["structuredContent"].to_string();
    assert_eq!(secret["structuredContent"]["status"], 200, "{secret}");
    // base64 of "hunter2-prod", as the fixture stores it.
    assert!(
        !listed.contains("aHVudGVyMi1wcm9k"),
        "a Secret reached the agent: {listed}"
    );
    assert!(listed.contains("db-creds"), "{listed}");
    let audit = k.h.audit().await;
    assert!(audit.iter().any(|r| matches!(&r.event,
        sluice_audit::AuditEvent::SessionStarted { protocol, identity_kind, task: Some(task), .. }
            if protocol == "kubernetes" && identity_kind == "agent" && task == "mcp: curl")));
}
