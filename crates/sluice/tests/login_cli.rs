#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! `sluice login | login status | login env | logout | token create --task` as a person runs
//! them, against a small fake of the gateway's identity endpoints (the issue 17 contract).
//! The fake stands in for the gateway and its identity provider at once; the real pair is
//! exercised by the gateway's own end-to-end tests.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const TOKEN: &str = "slc_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const AGENT_TOKEN: &str = "slc_ba9876543210_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

#[derive(Default)]
struct Fake {
    polls: u32,
    challenge: Option<String>,
    revoked: bool,
    task_request: Option<Value>,
}

type Shared = Arc<Mutex<Fake>>;

fn credential() -> Value {
    json!({"token": TOKEN, "token_id": "tok_0123456789ab", "identity": "alice@corp.example",
           "kind": "human", "groups": ["developers"], "expires_at": 4_102_444_800_i64})
}

fn authorized(fake: &Shared, headers: &HeaderMap) -> bool {
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    presented == format!("Bearer {TOKEN}") && !fake.lock().unwrap().revoked
}

fn unauthorized() -> (StatusCode, Json<Value>) {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid credential"})),
    )
}

async fn start_fake() -> (String, Shared) {
    let (url, fake, _server) = start_fake_server().await;
    (url, fake)
}

async fn start_fake_server() -> (String, Shared, tokio::task::JoinHandle<()>) {
    let fake: Shared = Arc::default();
    let app = Router::new()
        .route(
            "/v1/login",
            get(|| async {
                Json(json!({
                    "providers": [{"name": "corp", "issuer": "https://idp.example",
                                   "flows": ["device", "pkce"]}],
                    "listeners": {"postgres": 6432, "ssh": 2222},
                    "credential_ttl_seconds": 28800
                }))
            }),
        )
        .route(
            "/v1/login/device",
            post(|Json(body): Json<Value>| async move {
                assert_eq!(body["provider"], "corp");
                Json(json!({"login_id": "d1", "user_code": "ABCD-EFGH",
                            "verification_uri": "https://idp.example/device",
                            "interval": 1, "expires_in": 30}))
            }),
        )
        .route(
            "/v1/login/device/poll",
            post(
                |State(fake): State<Shared>, Json(body): Json<Value>| async move {
                    assert_eq!(body["login_id"], "d1");
                    let mut f = fake.lock().unwrap();
                    f.polls += 1;
                    if f.polls < 2 {
                        (
                            StatusCode::ACCEPTED,
                            Json(json!({"status": "authorization_pending", "interval": 1})),
                        )
                    } else {
                        (StatusCode::OK, Json(credential()))
                    }
                },
            ),
        )
        .route(
            "/v1/login/pkce",
            post(
                |State(fake): State<Shared>, Json(body): Json<Value>| async move {
                    assert_eq!(body["code_challenge_method"], "S256");
                    let redirect = body["redirect_uri"].as_str().unwrap().to_owned();
                    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
                    fake.lock().unwrap().challenge =
                        Some(body["code_challenge"].as_str().unwrap().to_owned());
                    let encoded: String = redirect
                        .bytes()
                        .map(|b| match b {
                            b':' => "%3A".to_owned(),
                            b'/' => "%2F".to_owned(),
                            b => char::from(b).to_string(),
                        })
                        .collect();
                    Json(json!({"login_id": "p1", "state": "st1",
                                "authorization_url": format!(
                                    "https://idp.example/authorize?client_id=sluice&redirect_uri={encoded}&state=st1")}))
                },
            ),
        )
        .route(
            "/v1/login/pkce/finish",
            post(
                |State(fake): State<Shared>, Json(body): Json<Value>| async move {
                    let verifier = body["code_verifier"].as_str().unwrap();
                    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                    let expected = fake.lock().unwrap().challenge.clone();
                    if body["code"] == "c0de"
                        && body["state"] == "st1"
                        && body["login_id"] == "p1"
                        && Some(challenge) == expected
                    {
                        (StatusCode::OK, Json(credential()))
                    } else {
                        (
                            StatusCode::BAD_REQUEST,
                            Json(json!({"error": "bad finish"})),
                        )
                    }
                },
            ),
        )
        .route(
            "/v1/whoami",
            get(|State(fake): State<Shared>, headers: HeaderMap| async move {
                if !authorized(&fake, &headers) {
                    return unauthorized();
                }
                (
                    StatusCode::OK,
                    Json(json!({"identity": "alice@corp.example", "kind": "human",
                                "groups": ["developers"], "token_id": "tok_0123456789ab",
                                "expires_at": 4_102_444_800_i64, "task": null, "targets": null})),
                )
            }),
        )
        .route(
            "/v1/logout",
            post(|State(fake): State<Shared>, headers: HeaderMap| async move {
                if !authorized(&fake, &headers) {
                    return unauthorized();
                }
                fake.lock().unwrap().revoked = true;
                (StatusCode::OK, Json(json!({"revoked": "tok_0123456789ab"})))
            }),
        )
        .route(
            "/v1/tokens",
            post(
                |State(fake): State<Shared>, headers: HeaderMap, Json(body): Json<Value>| async move {
                    if !authorized(&fake, &headers) {
                        return unauthorized();
                    }
                    fake.lock().unwrap().task_request = Some(body.clone());
                    (
                        StatusCode::OK,
                        Json(json!({"token": AGENT_TOKEN, "token_id": "tok_ba9876543210",
                                    "identity": "alice@corp.example", "expires_at": 4_102_444_800_i64,
                                    "targets": body["targets"], "task": body["task"]})),
                    )
                },
            ),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fake, server)
}

fn sluice(config_dir: &std::path::Path, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_sluice"));
    c.args(args)
        .env("SLUICE_CONFIG_DIR", config_dir)
        .env("HOME", config_dir)
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_SERVER")
        .env_remove("SLUICE_CA")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn run(config_dir: &std::path::Path, args: &[&str]) -> Run {
    let out = sluice(config_dir, args).output().await.unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn stored(config_dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(config_dir.join("credentials.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_then_status_env_task_token_and_logout() {
    let (url, fake) = start_fake().await;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("sluice");

    let r = run(&home, &["login", "--server", &url]).await;
    assert!(r.ok, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Open https://idp.example/device and enter ABCD-EFGH"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(TOKEN) && !r.stdout.contains(TOKEN));
    let file = stored(&home);
    assert_eq!(file["default"], url.as_str());
    assert_eq!(file["servers"][url.as_str()]["provider"], "corp");

    // The stored default serves every later command without --server.
    let r = run(&home, &["login", "status"]).await;
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("alice@corp.example"), "{}", r.stdout);
    assert!(r.stdout.contains("accepted by the gateway"), "{}", r.stdout);
    assert!(!r.stdout.contains(TOKEN));
    let r = run(&home, &["login", "status", "--json"]).await;
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["live"], true);
    assert_eq!(v["whoami"]["identity"], "alice@corp.example");

    let r = run(&home, &["login", "env", "--target", "app"]).await;
    assert!(r.ok, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("export PGPASSWORD='{TOKEN}'")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("export PGPORT='6432'"), "{}", r.stdout);
    assert!(
        r.stdout.contains("export PGHOST='127.0.0.1'"),
        "{}",
        r.stdout
    );
    assert!(r
        .stdout
        .contains("sshpass -e ssh -p 2222 alice@corp.example+app@127.0.0.1"));
    assert!(
        !r.stdout.contains("MYSQL_PWD"),
        "no mysql listener: {}",
        r.stdout
    );

    let r = run(
        &home,
        &[
            "token",
            "create",
            "--task",
            "fix the report",
            "--target",
            "app",
            "--ttl",
            "15m",
        ],
    )
    .await;
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), AGENT_TOKEN);
    assert!(r.stderr.contains("tok_ba9876543210"), "{}", r.stderr);
    let asked = fake.lock().unwrap().task_request.clone().unwrap();
    assert_eq!(
        asked,
        json!({"task": "fix the report", "targets": ["app"], "ttl_seconds": 900})
    );

    let r = run(&home, &["logout"]).await;
    assert!(r.ok, "{}", r.stderr);
    assert!(fake.lock().unwrap().revoked);
    assert!(stored(&home)["servers"].as_object().unwrap().is_empty());
    let r = run(&home, &["login", "status", "--server", &url]).await;
    assert!(!r.ok);
    assert!(r.stderr.contains("not signed in"), "{}", r.stderr);
    let r = run(&home, &["review", "list", "--server", &url]).await;
    assert!(!r.ok);
    assert!(r.stderr.contains("sluice login --server"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_login_through_the_loopback_redirect_and_a_revoked_credential() {
    let (url, fake) = start_fake().await;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("sluice");
    let mut child = sluice(
        &home,
        &[
            "login",
            "--server",
            &url,
            "--flow",
            "pkce",
            "--no-browser",
            "--timeout",
            "30s",
        ],
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let authorization_url = loop {
        let line = lines.next_line().await.unwrap().expect("an Open: line");
        if let Some(url) = line.strip_prefix("Open: ") {
            break url.to_owned();
        }
    };
    // The test is the browser: it follows the provider's redirect itself.
    let redirect = authorization_url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("redirect_uri="))
        .unwrap()
        .replace("%3A", ":")
        .replace("%2F", "/");
    let port: u16 = redirect
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/callback")
        .parse()
        .unwrap();
    let mut browser = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    browser
        .write_all(b"GET /callback?code=c0de&state=st1 HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut page = String::new();
    browser.read_to_string(&mut page).await.unwrap();
    assert!(page.contains("close this tab"), "{page}");
    let mut rest = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        rest.push_str(&line);
        rest.push('\n');
    }
    assert!(child.wait().await.unwrap().success(), "{rest}");
    assert!(rest.contains("signed in to"), "{rest}");
    assert_eq!(stored(&home)["servers"][url.as_str()]["token"], TOKEN);

    fake.lock().unwrap().revoked = true;
    let r = run(&home, &["login", "status"]).await;
    assert!(!r.ok);
    assert!(
        r.stdout.contains("revoked or expired on the gateway"),
        "{}",
        r.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (url, _fake) = start_fake().await;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("sluice");
    assert!(run(&home, &["login", "--server", &url]).await.ok);
    let file = home.join("credentials.json");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = run(&home, &["login", "status"]).await;
    assert!(!r.ok);
    assert!(r.stderr.contains("chmod 600"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_keeps_the_credential_when_the_gateway_cannot_be_reached() {
    let (url, _fake, server) = start_fake_server().await;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("sluice");
    assert!(run(&home, &["login", "--server", &url]).await.ok);
    server.abort();
    let _ = server.await;
    let r = run(&home, &["logout"]).await;
    assert!(!r.ok);
    assert!(r.stderr.contains("still stored"), "{}", r.stderr);
    assert_eq!(stored(&home)["servers"][url.as_str()]["token"], TOKEN);
}
