#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The browser harness (tests/support/browser.rs) against a tiny HTTPS site served here, before
//! any console test leans on it: a self-signed certificate is accepted, a script file runs, a
//! form posts, cookie attributes are read back, screenshots land where the docs say, every
//! request the page made is listed, and a phone-sized browser really has a phone's viewport.

mod support;

use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use support::browser::{Browser, Viewport};

/// What the site's form posted, in order.
type Posted = Arc<Mutex<Vec<String>>>;

/// The page sets a cookie with every attribute the console's session cookie will have, and a
/// CSP that allows no inline script: the console must work under one, so the harness must too.
const CSP: &str = "default-src 'self'; script-src 'self'; form-action 'self'";

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>harness</title>
<script src="/app.js" defer></script>
</head>
<body>
<p id="status">waiting</p>
<button id="go" type="button">Go</button>
<form id="note-form" method="post" action="/notes">
<label for="note">Note</label>
<input id="note" name="note" type="text">
<button id="send" type="submit">Send</button>
</form>
</body>
</html>
"#;

const APP_JS: &str = r#"document.getElementById("go").addEventListener("click", () => {
  document.getElementById("status").textContent = "clicked at " + location.origin;
});
"#;

/// A page that names a host outside loopback; `.invalid` never resolves anywhere (RFC 2606),
/// and the harness's resolver rules would refuse any other name too.
const OUTSIDE_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>outside</title></head>
<body><p id="outside">outside</p><img alt="" src="https://pixel.example.invalid/p.png"></body>
</html>
"#;

#[derive(serde::Deserialize)]
struct Note {
    note: String,
}

async fn page() -> impl IntoResponse {
    (
        [
            (
                header::SET_COOKIE,
                "t=1; HttpOnly; Secure; SameSite=Strict; Path=/",
            ),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        Html(PAGE),
    )
}

async fn app_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript")], APP_JS)
}

async fn notes(State(posted): State<Posted>, Form(note): Form<Note>) -> impl IntoResponse {
    posted.lock().unwrap().push(note.note.clone());
    let escaped = note
        .note
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    (
        [(header::CONTENT_SECURITY_POLICY, CSP)],
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>sent</title>\
             </head><body><p id=\"received\">received: {escaped}</p></body></html>"
        )),
    )
}

async fn outside() -> impl IntoResponse {
    Html(OUTSIDE_PAGE)
}

/// The site on 127.0.0.1 over HTTPS with a fresh self-signed certificate; returns its origin.
async fn serve_site(posted: Posted) -> String {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der())),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let app = Router::new()
        .route("/", get(page))
        .route("/app.js", get(app_js))
        .route("/notes", post(notes))
        .route("/outside", get(outside))
        // Chromium asks every origin for one, and a 404 is an error in the page's console.
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .with_state(posted);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                // Chromium opens speculative connections it may drop mid-handshake.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_browser_runs_scripts_posts_forms_and_keeps_cookie_attributes() {
    let posted = Posted::default();
    let origin = serve_site(posted.clone()).await;
    let browser = Browser::start().await;

    // The certificate is self-signed: acceptInsecureCerts lets the page load.
    browser.goto(&format!("{origin}/")).await;
    assert_eq!(browser.current_url().await, format!("{origin}/"));
    assert_eq!(browser.text("#status").await, "waiting");

    browser.click("#go").await;
    let status = browser.wait_for_text("#status", "clicked").await;
    assert_eq!(status, format!("clicked at {origin}"));

    let cookies = browser.cookies().await;
    let t = cookies
        .iter()
        .find(|c| c.name == "t")
        .unwrap_or_else(|| panic!("no cookie t in {cookies:?}"));
    assert_eq!(t.value, "1");
    assert!(t.http_only && t.secure, "{t:?}");
    assert_eq!(t.same_site.as_deref(), Some("Strict"), "{t:?}");
    assert_eq!(t.path.as_deref(), Some("/"), "{t:?}");
    // HttpOnly as the page's own script sees it: not at all.
    assert_eq!(
        browser.execute("return document.cookie;", Vec::new()).await,
        json!("")
    );
    assert_eq!(
        browser
            .execute(
                "return [window.innerWidth, window.innerHeight];",
                Vec::new()
            )
            .await,
        json!([Viewport::DESKTOP.width, Viewport::DESKTOP.height])
    );

    let shot = browser.screenshot("harness-desktop").await;
    assert!(shot.ends_with("test-artifacts/console/harness-desktop.png"));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", shot.display());

    let urls = browser.resource_urls().await;
    assert!(urls.contains(&format!("{origin}/")), "{urls:?}");
    assert!(urls.contains(&format!("{origin}/app.js")), "{urls:?}");
    let foreign: Vec<_> = urls
        .iter()
        .filter(|u| !u.starts_with(&format!("{origin}/")))
        .collect();
    assert!(foreign.is_empty(), "requests outside {origin}: {foreign:?}");

    browser
        .fill("#note", "hello from the browser & <friends>")
        .await;
    browser.click("#send").await;
    let received = browser.wait_for_text("#received", "hello").await;
    assert_eq!(received, "received: hello from the browser & <friends>");
    assert_eq!(browser.current_url().await, format!("{origin}/notes"));
    assert_eq!(
        *posted.lock().unwrap(),
        vec!["hello from the browser & <friends>".to_owned()]
    );
    let console = browser.console_messages().await;
    assert!(console.is_empty(), "{console:?}");

    // An outside name is listed, so a console test's origin check would catch it, and
    // nothing answered it.
    browser.goto(&format!("{origin}/outside")).await;
    browser.wait_for("#outside").await;
    let urls = browser.resource_urls().await;
    assert!(
        urls.contains(&"https://pixel.example.invalid/p.png".to_owned()),
        "{urls:?}"
    );
    let loaded = browser
        .execute(
            "return document.images[0].complete && document.images[0].naturalWidth > 0;",
            Vec::new(),
        )
        .await;
    assert_eq!(loaded, json!(false));

    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_browser_has_a_phone_viewport() {
    let origin = serve_site(Posted::default()).await;
    let browser = Browser::phone().await;
    browser.goto(&format!("{origin}/")).await;
    browser.click("#go").await;
    browser
        .wait_for_js(
            "the script changed the status",
            "return document.getElementById('status').textContent.startsWith('clicked');",
        )
        .await;
    let viewport = browser
        .execute(
            "return [window.innerWidth, window.innerHeight, \
             matchMedia('(pointer: coarse)').matches, window.devicePixelRatio];",
            Vec::new(),
        )
        .await;
    assert_eq!(
        viewport,
        json!([Viewport::PHONE.width, Viewport::PHONE.height, true, 3])
    );
    let shot = browser.screenshot("harness-phone").await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 0);
    browser.close().await;
}
