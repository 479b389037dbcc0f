//! A stand-in Kubernetes API server, good enough for the real `kubectl` (v1.30+; proven with
//! 1.32 by tests/kube_fixture.rs), for the Kubernetes gateway's tests to put behind sluice.
//!
//! - Discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/apps`, `/apis/apps/v1`. Asked for
//!   aggregated discovery, it answers the legacy form as plain `application/json`, which kubectl
//!   accepts (it falls back on that Content-Type).
//! - OpenAPI: `/openapi/v3` lists a skeleton document per group-version holding only the PATCH
//!   operations' `fieldValidation` parameter, so that kubectl's default `--validate=strict`
//!   leaves validation to the server (which validates nothing) instead of downloading schemas;
//!   `/openapi/v2` is 404. `--validate=false` is never needed.
//! - Objects, in memory (see `objects.rs` for the seeds): namespaces default, prod, staging;
//!   pods web-1 (prod) and web-2 (staging), one container `app`, label app=web; secret
//!   db-creds (prod: password "hunter2-prod", username "app"); configmap settings (prod:
//!   admin_email ops@example.com, test_card "4111 1111 1111 1111", log_level info);
//!   deployment web (prod). Services and events exist, empty. get/list (JSON, or a Table when
//!   `Accept` asks for `as=Table`), label selectors (`k=v`, `k!=v`, `k`, `!k`), field
//!   selectors on metadata.name/namespace, watch (one JSON event per line), create, update,
//!   patch (merge, strategic treated as merge, JSON patch), delete, `dryRun=All`, `scale`.
//!   Bodies are JSON, or protobuf for ConfigMap, Secret and Namespace (what kubectl's typed
//!   `create configmap|secret|namespace` send). Errors are `Status` JSON (401, 404, 409, 415).
//! - Logs (`logs.rs`): a few lines with an email address and a card-like number; with
//!   `follow=true`, a "heartbeat N" line every 200 ms up to 50 lines.
//! - Exec: WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`) or SPDY/3.1 (`v4`, `v3`, `v2`
//!   `.channel.k8s.io`) into a fake container that runs `echo`, `cat`, `sh`/`bash`
//!   (interactive, or `-c LINE`), `fail` (stderr "boom", exit 2) and `env`; see `exec.rs`.
//! - Port-forward: SPDY/3.1 (`portforward.k8s.io`), plain or tunnelled through a WebSocket
//!   (`SPDY/3.1+portforward.k8s.io`, kubectl's default); every port echoes what it receives.
//! - Attach: as exec, to an interactive `sh` (the container's "main process").
//! - Not modelled: server-side apply, other resources and API groups,
//!   authorization (any request with the token is allowed), resourceVersion conflicts.
//!
//! It runs on a runtime of its own, on its own threads, so a test may call the blocking
//! [`kubectl`] helper from anywhere (even a current-thread test runtime) without starving it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod exec;
mod logs;
mod objects;
mod portforward;
mod protobuf;
pub mod spdy;
mod spdy_dictionary;
mod table;
mod websocket;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

pub use exec::ExecRecord;

/// One request as the fixture received it.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    /// The raw query string (still percent-encoded), empty when there was none.
    pub query: String,
    /// Lower-case names, in arrival order; includes `authorization`.
    pub headers: Vec<(String, String)>,
    /// The WebSocket subprotocol the fixture chose, or "SPDY/3.1" for a SPDY upgrade.
    pub upgrade: Option<String>,
    /// "HTTP/1.1" or "HTTP/2.0".
    pub version: String,
}

impl SeenRequest {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the server's tasks share.
pub(crate) struct State {
    token: String,
    addr: SocketAddr,
    requests: Mutex<Vec<SeenRequest>>,
    active: AtomicUsize,
    store: objects::Store,
    execs: Mutex<Vec<Arc<Mutex<ExecRecord>>>>,
}

/// Counts one open long-lived stream for as long as it lives.
pub(crate) struct StreamGuard(Arc<State>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

impl State {
    pub(crate) fn stream_guard(self: &Arc<Self>) -> StreamGuard {
        self.active.fetch_add(1, Ordering::SeqCst);
        StreamGuard(self.clone())
    }
}

/// A running fixture; dropping it stops the server and every stream it has open.
pub struct KubeFixture {
    state: Arc<State>,
    ca_pem: String,
    ca_der: Vec<u8>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl KubeFixture {
    /// HTTPS (HTTP/1.1) on 127.0.0.1 with a fresh CA; every request must carry
    /// `Authorization: Bearer <token>`.
    pub async fn start(token: &str) -> KubeFixture {
        KubeFixture::start_with(token, false).await
    }

    /// Like [`KubeFixture::start`], offering HTTP/2 too (ALPN `h2`, as kube-apiserver does):
    /// kubectl then sends its ordinary requests over HTTP/2 and its upgrades (exec,
    /// port-forward) over separate HTTP/1.1 connections.
    pub async fn start_with(token: &str, http2: bool) -> KubeFixture {
        let (ca_pem, ca_der, config) = tls_config(http2);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            token: token.to_owned(),
            addr,
            requests: Mutex::new(Vec::new()),
            active: AtomicUsize::new(0),
            store: objects::Store::seeded(),
            execs: Mutex::new(Vec::new()),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kube-fixture")
            .enable_all()
            .build()
            .unwrap();
        runtime.spawn(serve(listener, config, state.clone()));
        KubeFixture {
            state,
            ca_pem,
            ca_der,
            runtime: Some(runtime),
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.state.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.state.addr
    }

    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// The same CA, DER-encoded (for a rustls client of a test's own).
    pub fn ca_der(&self) -> Vec<u8> {
        self.ca_der.clone()
    }

    pub fn token(&self) -> &str {
        &self.state.token
    }

    /// A kubeconfig whose only context points straight at the fixture.
    pub fn write_kubeconfig(&self, path: &Path, namespace: &str) {
        write_kubeconfig(
            path,
            &self.url(),
            &self.ca_pem,
            &self.state.token,
            namespace,
        );
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Every exec upgraded so far, in order, as far as it has got.
    pub fn execs(&self) -> Vec<ExecRecord> {
        let execs = self.state.execs.lock().unwrap();
        execs.iter().map(|r| r.lock().unwrap().clone()).collect()
    }

    pub fn active_streams(&self) -> usize {
        self.state.active.load(Ordering::SeqCst)
    }

    /// A stored object as JSON (`resource` is the plural, e.g. "configmaps"; `namespace` is
    /// empty for cluster-scoped ones).
    pub fn object(&self, resource: &str, namespace: &str, name: &str) -> Option<serde_json::Value> {
        self.state.store.get(resource, namespace, name)
    }
}

impl Drop for KubeFixture {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A kubeconfig with one cluster, user and context (named "fixture").
pub fn write_kubeconfig(path: &Path, server: &str, ca_pem: &str, token: &str, namespace: &str) {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: fixture
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: fixture
  user:
    token: {token}
contexts:
- name: fixture
  context:
    cluster: fixture
    user: fixture
    namespace: {namespace}
current-context: fixture
"
    );
    std::fs::write(path, text).unwrap();
}

/// A CA and a server certificate it signed (SAN 127.0.0.1 and localhost), as a rustls config.
fn tls_config(http2: bool) -> (String, Vec<u8>, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "sluice kube fixture CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        leaf_key.serialize_der(),
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf_cert.der().clone(), ca_cert.der().clone()], key)
    .unwrap();
    // Upgrades (exec, port-forward) need HTTP/1.1; kubectl asks for it on those connections.
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    (ca_cert.pem(), ca_cert.der().to_vec(), Arc::new(config))
}

async fn serve(
    listener: std::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    state: Arc<State>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(api::handle(state, req).await) }
            });
            let io = hyper_util::rt::TokioIo::new(tls);
            if io.inner().get_ref().1.alpn_protocol() == Some(b"h2") {
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(io, service)
                        .await;
            } else {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .with_upgrades()
                    .await;
            }
        });
    }
}

/// The SPDY/3 dictionary's length (1423 bytes in the specification): a check on its text.
pub fn spdy_dictionary_len() -> usize {
    spdy_dictionary::dictionary().len()
}

// ---- Running the real kubectl ----

/// How long one kubectl run may take before it is killed.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `kubectl --kubeconfig PATH ARGS...` with no standard input, killed after 60 s.
pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    kubectl_with(kubeconfig, args, &[], None)
}

/// Like [`kubectl`], with extra environment variables and, when given, bytes on its stdin.
pub fn kubectl_with(
    kubeconfig: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> Output {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
    // Nothing from the developer's own setup: no cache or config of theirs.
    cmd.env_remove("KUBECONFIG")
        .env("HOME", kubeconfig.parent().unwrap_or(Path::new("/tmp")));
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_bounded(cmd, stdin, KUBECTL_TIMEOUT)
}

/// Runs a long-lived kubectl (`get -w`, `logs -f`, `port-forward`) until its stdout contains
/// `needle` or `limit` passes, then kills it; returns (stdout so far, whether `needle` came).
pub fn kubectl_until(
    kubeconfig: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    needle: &str,
    limit: Duration,
) -> (String, bool) {
    use std::io::Read;
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", kubeconfig.parent().unwrap_or(Path::new("/tmp")))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut found = false;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.extend_from_slice(&chunk),
            Err(_) => break,
        }
        if String::from_utf8_lossy(&seen).contains(needle) {
            found = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    (String::from_utf8_lossy(&seen).into_owned(), found)
}

/// Runs `cmd` to completion, feeding `stdin`, killing it after `limit`.
pub fn run_bounded(mut cmd: Command, stdin: Option<&[u8]>, limit: Duration) -> Output {
    use std::io::{Read, Write};
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_thread.join().unwrap(),
        stderr: err_thread.join().unwrap(),
    }
}

/// Whether a kubectl of at least 1.30 is on PATH; says why not on stderr when it is not.
pub fn kubectl_available() -> bool {
    let out = Command::new("kubectl")
        .args(["version", "--client", "-o", "json"])
        .output();
    let Ok(out) = out else {
        eprintln!("skipped: kubectl is not installed");
        return false;
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let minor: u32 = v["clientVersion"]["minor"]
        .as_str()
        .unwrap_or("0")
        .trim_end_matches('+')
        .parse()
        .unwrap_or(0);
    let major = v["clientVersion"]["major"].as_str().unwrap_or("0");
    if major != "1" || minor < 30 {
        eprintln!("skipped: kubectl is older than 1.30 (or unreadable)");
        return false;
    }
    true
}
