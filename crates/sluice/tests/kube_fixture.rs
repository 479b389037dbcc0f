//! The Kubernetes API server fixture (tests/support/kube/) driven by the real kubectl, so that
//! gateway tests can trust it as a stand-in for kube-apiserver.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::kube::{
    kubectl, kubectl_available, kubectl_until, kubectl_with, run_bounded, KubeFixture,
};

const TOKEN: &str = "fixture-token-3b9c";

struct Setup {
    fixture: KubeFixture,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

async fn setup() -> Option<Setup> {
    if !kubectl_available() {
        return None;
    }
    let fixture = KubeFixture::start(TOKEN).await;
    let dir = tempfile::Builder::new()
        .prefix("sluice-kube-fixture-")
        .tempdir()
        .unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fixture.write_kubeconfig(&kubeconfig, "default");
    Some(Setup {
        fixture,
        kubeconfig,
        _dir: dir,
    })
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs kubectl and fails unless it succeeds; returns its stdout.
fn ok(s: &Setup, args: &[&str]) -> String {
    let o = kubectl(&s.kubeconfig, args);
    assert!(
        o.status.success(),
        "kubectl {args:?} failed: {}\n{}",
        out(&o),
        err(&o)
    );
    out(&o)
}

#[tokio::test]
async fn discovery_version_and_authentication() {
    let Some(s) = setup().await else { return };
    let version: serde_json::Value =
        serde_json::from_str(&ok(&s, &["version", "-o", "json"])).unwrap();
    assert_eq!(version["serverVersion"]["minor"], "32", "{version}");

    let resources = ok(&s, &["api-resources"]);
    for needle in [
        "pods",
        "secrets",
        "configmaps",
        "namespaces",
        "services",
        "deployments",
    ] {
        assert!(
            resources.lines().any(|l| l.starts_with(needle)),
            "{needle} missing from:\n{resources}"
        );
    }
    assert!(resources.contains("apps/v1"), "{resources}");

    // Aggregated discovery was asked for and answered in the legacy form.
    let requests = s.fixture.requests();
    let api = requests.iter().find(|r| r.path == "/api").unwrap();
    assert!(
        api.header("accept")
            .unwrap()
            .contains("as=APIGroupDiscoveryList"),
        "{api:?}"
    );
    assert!(requests
        .iter()
        .all(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}")[..])));

    // A wrong token gets 401 and kubectl says so.
    let bad = s.kubeconfig.with_file_name("bad-kubeconfig");
    support::kube::write_kubeconfig(&bad, &s.fixture.url(), &s.fixture.ca_pem(), "wrong", "prod");
    let o = kubectl(&bad, &["get", "pods"]);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("Unauthorized") || err(&o).contains("must be logged in"),
        "{}",
        err(&o)
    );
}

#[tokio::test]
async fn http2_when_offered() {
    if !kubectl_available() {
        return;
    }
    let fixture = KubeFixture::start_with(TOKEN, true).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fixture.write_kubeconfig(&kubeconfig, "prod");
    let pods = kubectl(&kubeconfig, &["get", "pods", "-o", "name"]);
    assert_eq!(out(&pods), "pod/web-1\n", "{}", err(&pods));
    let (logs, found) = kubectl_until(
        &kubeconfig,
        &["logs", "-f", "web-1"],
        &[],
        "heartbeat 1\n",
        Duration::from_secs(30),
    );
    assert!(found, "{logs}");
    let hello = kubectl(&kubeconfig, &["exec", "web-1", "--", "echo", "hello"]);
    assert_eq!(out(&hello), "hello\n", "{}", err(&hello));
    let requests = fixture.requests();
    let get = requests
        .iter()
        .find(|r| r.path == "/api/v1/namespaces/prod/pods")
        .unwrap();
    assert_eq!(get.version, "HTTP/2.0");
    let exec = requests.iter().find(|r| r.path.ends_with("/exec")).unwrap();
    assert_eq!(exec.version, "HTTP/1.1");
}

#[tokio::test]
async fn objects_get_list_and_tables() {
    let Some(s) = setup().await else { return };
    let pods = ok(&s, &["get", "pods", "-n", "prod"]);
    let header = pods.lines().next().unwrap();
    for column in ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] {
        assert!(header.contains(column), "{pods}");
    }
    assert!(pods.contains("web-1") && pods.contains("Running"), "{pods}");
    assert!(!pods.contains("web-2"), "{pods}");

    let all = ok(&s, &["get", "pods", "-A", "-l", "app=web", "-o", "name"]);
    assert_eq!(all, "pod/web-1\npod/web-2\n");
    let none = ok(&s, &["get", "pods", "-A", "-l", "app=db", "-o", "name"]);
    assert_eq!(none, "");

    let namespaces = ok(&s, &["get", "namespaces", "-o", "name"]);
    assert_eq!(
        namespaces,
        "namespace/default\nnamespace/prod\nnamespace/staging\n"
    );

    let password = ok(
        &s,
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
    assert_eq!(password, "aHVudGVyMi1wcm9k");

    let settings = ok(
        &s,
        &["get", "configmap", "settings", "-n", "prod", "-o", "json"],
    );
    assert!(settings.contains("ops@example.com") && settings.contains("4111 1111 1111 1111"));

    let by_field = ok(
        &s,
        &[
            "get",
            "cm",
            "-n",
            "prod",
            "--field-selector",
            "metadata.name=settings",
            "-o",
            "name",
        ],
    );
    assert_eq!(by_field, "configmap/settings\n");

    let deploy = ok(&s, &["get", "deploy", "web", "-n", "prod"]);
    assert!(deploy.contains("1/1"), "{deploy}");

    let missing = kubectl(&s.kubeconfig, &["get", "pod", "nope", "-n", "prod"]);
    assert!(!missing.status.success());
    assert!(
        err(&missing).contains("pods \"nope\" not found"),
        "{}",
        err(&missing)
    );

    // kubectl asked for Tables.
    assert!(s
        .fixture
        .requests()
        .iter()
        .any(|r| r.header("accept").is_some_and(|a| a.contains("as=Table"))));
}

#[tokio::test]
async fn objects_create_apply_patch_delete() {
    let Some(s) = setup().await else { return };
    let manifest = s.kubeconfig.with_file_name("cm.yaml");
    let write = |value: &str| {
        std::fs::write(
            &manifest,
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: prod\n  labels:\n    tier: test\ndata:\n  key: {value}\n"
            ),
        )
        .unwrap();
    };
    write("one");
    let path = manifest.to_str().unwrap();
    assert!(ok(&s, &["create", "-f", path]).contains("configmap/extra created"));
    let again = kubectl(&s.kubeconfig, &["create", "-f", path]);
    assert!(!again.status.success());
    assert!(
        err(&again).contains("AlreadyExists") || err(&again).contains("already exists"),
        "{}",
        err(&again)
    );

    write("two");
    let applied = ok(&s, &["apply", "-f", path]);
    assert!(applied.contains("configmap/extra configured"), "{applied}");
    let value = ok(
        &s,
        &[
            "get",
            "cm",
            "extra",
            "-n",
            "prod",
            "-o",
            "jsonpath={.data.key}",
        ],
    );
    assert_eq!(value, "two");

    ok(
        &s,
        &[
            "patch",
            "cm",
            "extra",
            "-n",
            "prod",
            "--type=merge",
            "-p",
            r#"{"data":{"more":"x"}}"#,
        ],
    );
    ok(
        &s,
        &[
            "patch",
            "cm",
            "extra",
            "-n",
            "prod",
            "-p",
            r#"{"data":{"key":"three"}}"#,
        ],
    );
    ok(
        &s,
        &[
            "patch",
            "cm",
            "extra",
            "-n",
            "prod",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/data/more"}]"#,
        ],
    );
    let data = ok(
        &s,
        &["get", "cm", "extra", "-n", "prod", "-o", "jsonpath={.data}"],
    );
    assert_eq!(data, r#"{"key":"three"}"#);

    // apply of something new creates it.
    let fresh = s.kubeconfig.with_file_name("fresh.yaml");
    std::fs::write(
        &fresh,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fresh\ndata:\n  a: b\n",
    )
    .unwrap();
    let created = ok(
        &s,
        &["apply", "-n", "staging", "-f", fresh.to_str().unwrap()],
    );
    assert!(created.contains("configmap/fresh created"), "{created}");
    assert!(s.fixture.object("configmaps", "staging", "fresh").is_some());

    let dry = ok(
        &s,
        &["delete", "cm", "extra", "-n", "prod", "--dry-run=server"],
    );
    assert!(dry.contains("deleted (server dry run)"), "{dry}");
    assert!(s.fixture.object("configmaps", "prod", "extra").is_some());
    let deleted = ok(&s, &["delete", "cm", "extra", "-n", "prod"]);
    assert!(deleted.contains("configmap \"extra\" deleted"), "{deleted}");
    assert!(s.fixture.object("configmaps", "prod", "extra").is_none());
    let gone = kubectl(&s.kubeconfig, &["delete", "cm", "extra", "-n", "prod"]);
    assert!(err(&gone).contains("not found"), "{}", err(&gone));

    ok(
        &s,
        &["scale", "deploy", "web", "-n", "prod", "--replicas=3"],
    );
    let replicas = ok(
        &s,
        &[
            "get",
            "deploy",
            "web",
            "-n",
            "prod",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    );
    assert_eq!(replicas, "3");
}

#[tokio::test]
async fn objects_watch() {
    let Some(s) = setup().await else { return };
    // The raw stream: one ADDED per existing object, then the end at timeoutSeconds.
    let started = Instant::now();
    let raw = ok(
        &s,
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/prod/configmaps?watch=1&timeoutSeconds=1",
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let events: Vec<serde_json::Value> = raw
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{raw}");
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "settings");

    // kubectl get -w sees a change made while it watches.
    let kubeconfig = s.kubeconfig.clone();
    let watcher = std::thread::spawn(move || {
        kubectl_until(
            &kubeconfig,
            &["get", "configmaps", "-n", "prod", "-w", "-o", "name"],
            &[],
            "configmap/watched",
            Duration::from_secs(40),
        )
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.fixture.active_streams() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(s.fixture.active_streams(), 1);
    ok(
        &s,
        &[
            "create",
            "configmap",
            "watched",
            "-n",
            "prod",
            "--from-literal=a=b",
        ],
    );
    let (seen, found) = watcher.join().unwrap();
    assert!(found, "{seen}");
    assert!(seen.contains("configmap/settings"), "{seen}");
    let watch = s
        .fixture
        .requests()
        .into_iter()
        .find(|r| r.query.contains("watch=true"))
        .unwrap();
    assert!(watch.query.contains("resourceVersion="), "{watch:?}");
    wait_no_streams(&s.fixture);
}

fn wait_no_streams(fixture: &KubeFixture) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while fixture.active_streams() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(fixture.active_streams(), 0, "streams left open");
}

#[tokio::test]
async fn logs_plain_and_followed() {
    let Some(s) = setup().await else { return };
    let logs = ok(&s, &["logs", "web-1", "-n", "prod"]);
    assert!(logs.contains("alice@example.com"), "{logs}");
    assert!(logs.contains("4111 1111 1111 1111"), "{logs}");
    let tail = ok(&s, &["logs", "web-1", "-n", "prod", "--tail=1"]);
    assert_eq!(tail.lines().count(), 1, "{tail}");
    let bad = kubectl(
        &s.kubeconfig,
        &["logs", "web-1", "-n", "prod", "-c", "sidecar"],
    );
    assert!(!bad.status.success());

    // Followed to the end: 50 lines at 200 ms each after the first few.
    let started = Instant::now();
    let followed = ok(&s, &["logs", "-f", "web-1", "-n", "prod"]);
    assert_eq!(followed.lines().count(), 50, "{followed}");
    assert!(started.elapsed() >= Duration::from_secs(8));
    assert!(followed.lines().last().unwrap().starts_with("heartbeat"));

    // A follower that leaves early frees its stream.
    let (partial, found) = kubectl_until(
        &s.kubeconfig,
        &["logs", "-f", "web-2", "-n", "staging"],
        &[],
        "heartbeat 2\n",
        Duration::from_secs(30),
    );
    assert!(found, "{partial}");
    assert!(!partial.contains("heartbeat 40"), "{partial}");
    wait_no_streams(&s.fixture);
}

/// kubectl exec with `env` added to its environment.
fn exec(s: &Setup, env: &[(&str, &str)], stdin: Option<&[u8]>, args: &[&str]) -> Output {
    let mut full = vec!["exec"];
    full.extend_from_slice(args);
    kubectl_with(&s.kubeconfig, &full, env, stdin)
}

fn exec_suite(s: &Setup, env: &[(&str, &str)]) {
    let o = exec(
        s,
        env,
        None,
        &["web-1", "-n", "prod", "--", "echo", "hello", "world"],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "hello world\n");

    let o = exec(
        s,
        env,
        Some(b"input line\nsecond\n"),
        &["-i", "web-1", "-n", "prod", "--", "cat"],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "input line\nsecond\n");
    let cat = s.fixture.execs().pop().unwrap();
    assert_eq!(cat.command, ["cat"]);
    assert_eq!(cat.stdin, b"input line\nsecond\n");
    assert_eq!(cat.exit_code, Some(0));

    let o = exec(s, env, None, &["web-1", "-n", "prod", "--", "fail"]);
    assert_eq!(o.status.code(), Some(2), "{}{}", out(&o), err(&o));
    assert!(err(&o).contains("boom"), "{}", err(&o));

    let o = kubectl_with(
        &s.kubeconfig,
        &["attach", "-i", "web-1", "-n", "prod", "-c", "app"],
        env,
        Some(b"echo attached\nexit\n"),
    );
    assert!(o.status.success(), "{}{}", out(&o), err(&o));
    assert!(out(&o).contains("attached\n"), "{}", out(&o));

    let o = exec(
        s,
        env,
        None,
        &["web-2", "-n", "staging", "-c", "app", "--", "env"],
    );
    assert!(out(&o).contains("HOSTNAME=web-2"), "{}", out(&o));

    let o = exec(
        s,
        env,
        Some(b"echo hi\nnope\nexit 3\n"),
        &["-i", "web-1", "-n", "prod", "--", "sh"],
    );
    assert_eq!(o.status.code(), Some(3), "{}{}", out(&o), err(&o));
    assert!(out(&o).contains("hi\n"), "{}", out(&o));
    assert!(err(&o).contains("sh: nope: not found"), "{}", err(&o));
}

/// `kubectl exec -it ... sh` on a pseudo-terminal, typing like a person.
fn exec_tty(s: &Setup, env: &[(&str, &str)]) -> String {
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
os.write(fd, b"echo typed-by-hand\r")
read_until(b"typed-by-hand\r\n$ ")
os.write(fd, b"exit\r")
read_until(b"\x00never", 5)
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.stdout.write("\nEXIT=%d\n" % os.waitstatus_to_exitcode(status))
"#;
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(script)
        .arg("kubectl")
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .args(["exec", "-it", "web-1", "-n", "prod", "--", "sh"])
        .env("HOME", s.kubeconfig.parent().unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = run_bounded(cmd, None, Duration::from_secs(60));
    out(&o) + &err(&o)
}

/// The interactive session as the fixture recorded it: raw keystrokes, the terminal's size.
fn check_tty_record(fixture: &KubeFixture) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let record = loop {
        let record = fixture.execs().pop().unwrap();
        if record.exit_code.is_some() || Instant::now() > deadline {
            break record;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(record.tty);
    assert_eq!(record.stdin, b"echo typed-by-hand\rexit\r", "{record:?}");
    assert!(!record.resizes.is_empty(), "{record:?}");
    assert_eq!(record.exit_code, Some(0));
}

#[tokio::test]
async fn exec_over_websocket() {
    let Some(s) = setup().await else { return };
    exec_suite(&s, &[]);
    let upgrades: Vec<_> = s
        .fixture
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/exec"))
        .map(|r| r.upgrade)
        .collect();
    assert!(!upgrades.is_empty());
    assert!(
        upgrades
            .iter()
            .all(|u| u.as_deref() == Some("v5.channel.k8s.io")),
        "{upgrades:?}"
    );
    let session = exec_tty(&s, &[]);
    assert!(
        session.contains("typed-by-hand\r\ntyped-by-hand"),
        "{session:?}"
    );
    assert!(session.contains("EXIT=0"), "{session:?}");
    check_tty_record(&s.fixture);
    wait_no_streams(&s.fixture);
}

#[tokio::test]
async fn exec_over_spdy() {
    let Some(s) = setup().await else { return };
    let env = [("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")];
    exec_suite(&s, &env);
    let upgrades: Vec<_> = s
        .fixture
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/exec"))
        .map(|r| r.upgrade)
        .collect();
    assert!(
        upgrades.iter().all(|u| u.as_deref() == Some("SPDY/3.1")),
        "{upgrades:?}"
    );
    let session = exec_tty(&s, &env);
    assert!(
        session.contains("typed-by-hand\r\ntyped-by-hand"),
        "{session:?}"
    );
    assert!(session.contains("EXIT=0"), "{session:?}");
    check_tty_record(&s.fixture);
    wait_no_streams(&s.fixture);
}

/// An exec over SPDY by a hand-written client, for the older stream protocols kubectl no
/// longer picks: returns what came on stdout and on the error stream.
async fn raw_spdy_exec(f: &KubeFixture, protocol: &str, command: &str) -> (String, String) {
    use support::kube::spdy::{read_frame, syn_stream, Frame, HeaderCodec, FLAG_FIN, SYN_REPLY};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(f.ca_der().into()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(f.addr()).await.unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect("127.0.0.1".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let request = format!(
        "POST /api/v1/namespaces/prod/pods/web-1/exec?command={command}&stdout=true&stderr=true HTTP/1.1\r\n\
         Host: {}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\
         X-Stream-Protocol-Version: {protocol}\r\nContent-Length: 0\r\n\r\n",
        f.addr()
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tls.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap().to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains(&format!("x-stream-protocol-version: {protocol}")),
        "{head}"
    );

    let mut codec = HeaderCodec::default();
    for (id, kind) in [(1u32, "error"), (3, "stdout"), (5, "stderr")] {
        let block = codec.encode(&[("streamtype", kind)]);
        tls.write_all(&syn_stream(id, false, &block)).await.unwrap();
    }
    let (mut stdout, mut error, mut replies, mut finished) = (Vec::new(), Vec::new(), 0, 0);
    while finished < 3 {
        let frame = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut tls))
            .await
            .expect("the fixture stopped answering")
            .expect("the fixture closed early");
        match frame {
            Frame::Control {
                kind: SYN_REPLY,
                payload,
                ..
            } => {
                // Inflating each reply proves the server's compression context.
                assert_eq!(codec.decode(&payload[4..]), Some(vec![]));
                replies += 1;
            }
            Frame::Control { .. } => {}
            Frame::Data {
                stream,
                flags,
                payload,
            } => {
                match stream {
                    1 => error.extend_from_slice(&payload),
                    3 => stdout.extend_from_slice(&payload),
                    _ => {}
                }
                if flags & FLAG_FIN != 0 {
                    finished += 1;
                }
            }
        }
    }
    assert_eq!(replies, 3);
    (
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(error).unwrap(),
    )
}

#[tokio::test]
async fn exec_over_spdy_older_protocols() {
    let fixture = KubeFixture::start(TOKEN).await;
    for protocol in [
        "v4.channel.k8s.io",
        "v3.channel.k8s.io",
        "v2.channel.k8s.io",
    ] {
        let (stdout, error) = raw_spdy_exec(&fixture, protocol, "echo&command=hi").await;
        assert_eq!(stdout, "hi\n", "{protocol}");
        let (_, failure) = raw_spdy_exec(&fixture, protocol, "fail").await;
        if protocol.starts_with("v4") {
            assert!(error.contains("Success"), "{error}");
            assert!(failure.contains("NonZeroExitCode"), "{failure}");
        } else {
            assert_eq!(error, "", "{protocol}");
            assert!(failure.contains("exit code 2"), "{failure}");
        }
    }
    assert_eq!(support::kube::spdy_dictionary_len(), 1423);
}

/// Runs `kubectl port-forward` to an echo port, checks two connections echo, stops it.
fn port_forward(s: &Setup, env: &[(&str, &str)]) {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .args([
            "port-forward",
            "-n",
            "prod",
            "pod/web-1",
            ":80",
            "--address",
            "127.0.0.1",
        ])
        .env("HOME", s.kubeconfig.parent().unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        let mut text = String::new();
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            // Keeps reading after the port is known: kubectl writes a line per connection,
            // and a closed pipe would kill it (SIGPIPE).
            if let Some(rest) = text.split("Forwarding from 127.0.0.1:").nth(1) {
                if let Some(port) = rest.split_whitespace().next() {
                    let _ = tx.send(port.parse::<u16>().unwrap());
                }
            }
        }
    });
    let port = rx.recv_timeout(Duration::from_secs(30));
    let result = std::panic::catch_unwind(|| {
        let port = port.expect("kubectl port-forward printed no local port");
        for round in 0..2 {
            let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let message = format!("ping {round} through the tunnel\n");
            conn.write_all(message.as_bytes()).unwrap();
            let mut got = vec![0u8; message.len()];
            conn.read_exact(&mut got).unwrap();
            assert_eq!(String::from_utf8(got).unwrap(), message);
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        let mut stderr = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
        eprintln!("kubectl port-forward stderr:\n{stderr}");
        std::panic::resume_unwind(e);
    }
}

#[tokio::test]
async fn port_forward_default_and_spdy() {
    let Some(s) = setup().await else { return };
    port_forward(&s, &[("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")]);
    port_forward(&s, &[]);
    let upgrades: Vec<_> = s
        .fixture
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/portforward"))
        .map(|r| r.upgrade)
        .collect();
    assert!(
        upgrades.contains(&Some("SPDY/3.1".to_owned())),
        "{upgrades:?}"
    );
    assert!(
        upgrades.contains(&Some("SPDY/3.1+portforward.k8s.io".to_owned())),
        "{upgrades:?}"
    );
    wait_no_streams(&s.fixture);
}

/// Not a test: `SLUICE_KUBE_FIXTURE_SECS=300 cargo test --test kube_fixture manual -- --ignored
/// --nocapture` starts a fixture and prints a kubeconfig path, to try kubectl by hand.
#[tokio::test]
#[ignore]
async fn manual() {
    let Some(s) = setup().await else { return };
    let secs: u64 = std::env::var("SLUICE_KUBE_FIXTURE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let path = std::env::temp_dir().join("kube-fixture-manual.kubeconfig");
    std::fs::copy(&s.kubeconfig, &path).unwrap();
    println!("kubeconfig: {}", path.display());
    tokio::time::sleep(Duration::from_secs(secs)).await;
}
