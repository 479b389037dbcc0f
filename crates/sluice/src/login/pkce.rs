//! The browser flow's client half: an RFC 7636 verifier and S256 challenge, and the RFC 8252
//! loopback redirect (one HTTP/1.1 request on 127.0.0.1, answered with a small page).

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use sluice_core::secret::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const CALLBACK_PATH: &str = "/callback";

/// A browser's request line and headers fit easily; anything larger is not our redirect.
const MAX_REQUEST: usize = 16 * 1024;

/// A connection that opens and sends nothing (a browser's speculative preconnect) must not
/// hold up the real redirect.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// 32 random bytes, base64url: 43 characters from RFC 7636's unreserved set.
pub fn new_verifier() -> Secret {
    let bytes: [u8; 32] = rand::random();
    Secret::new(URL_SAFE_NO_PAD.encode(bytes))
}

/// `BASE64URL(SHA256(verifier))`, the S256 method.
pub fn challenge(verifier: &Secret) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()))
}

pub fn redirect_uri(port: u16) -> String {
    format!("http://127.0.0.1:{port}{CALLBACK_PATH}")
}

/// What the provider sent back through the browser.
#[derive(PartialEq, Eq)]
pub enum Callback {
    Code {
        code: Secret,
        state: String,
    },
    /// The provider's `error` (and `error_description`), e.g. the person declined.
    Refused(String),
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Callback::Code { state, .. } => {
                write!(f, "Code {{ code: <redacted>, state: {state:?} }}")
            }
            Callback::Refused(e) => write!(f, "Refused({e:?})"),
        }
    }
}

/// Reads `GET /callback?code=..&state=.. HTTP/1.1`'s request line. `Ok(None)` for another
/// path (a browser asking for /favicon.ico), which gets a 404 and does not end the wait.
pub fn parse_callback(request_line: &str) -> Result<Option<Callback>> {
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        bail!("the browser sent a malformed request");
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != CALLBACK_PATH {
        return Ok(None);
    }
    if method != "GET" {
        bail!("the browser sent {method} to the callback instead of GET");
    }
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)?;
        match key {
            "code" => code = Some(value),
            "state" => state = Some(value),
            "error" => error = Some(value),
            "error_description" => description = Some(value),
            _ => {}
        }
    }
    if let Some(error) = error {
        let text = match description {
            Some(d) => format!("{error}: {d}"),
            None => error,
        };
        return Ok(Some(Callback::Refused(crate::admin_client::one_line(
            &text, 300,
        ))));
    }
    match (code, state) {
        (Some(code), Some(state)) if !code.is_empty() => Ok(Some(Callback::Code {
            code: Secret::new(code),
            state,
        })),
        _ => bail!("the callback carries no code and state"),
    }
}

/// `+` is a space in a form-encoded query, which is how providers encode redirect parameters.
fn percent_decode(text: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .context("the callback has a malformed %-escape")?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| anyhow!("the callback is not UTF-8"))
}

/// Binds the loopback listener the provider redirects to; port 0 lets the system choose.
pub async fn bind() -> Result<(TcpListener, u16)> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("opening a loopback port for the browser's redirect")?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

/// Waits for the redirect and returns its code once its state matches `expected_state`.
/// Every other outcome ends the login with an error, after showing the browser why.
pub async fn wait_for_code(
    listener: &TcpListener,
    expected_state: &str,
    timeout: Duration,
) -> Result<Secret> {
    tokio::time::timeout(timeout, accept_callback(listener, expected_state))
        .await
        .map_err(|_| {
            anyhow!(
                "no sign-in arrived within {}: run `sluice login` again",
                crate::admin_client::exact(timeout.as_secs())
            )
        })?
}

async fn accept_callback(listener: &TcpListener, expected_state: &str) -> Result<Secret> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let line = match tokio::time::timeout(READ_TIMEOUT, read_request_line(&mut stream)).await {
            Ok(Ok(line)) => line,
            // A stray or silent connection is not the redirect: keep waiting for it.
            _ => continue,
        };
        let outcome = match parse_callback(&line) {
            Ok(None) => {
                respond(&mut stream, "404 Not Found", "Not found", "").await;
                continue;
            }
            Ok(Some(Callback::Code { code, state })) if state == expected_state => Ok(code),
            Ok(Some(Callback::Code { .. })) => Err(anyhow!(
                "the browser's redirect carries another login's state; it was refused \
                 (run `sluice login` again)"
            )),
            Ok(Some(Callback::Refused(why))) => {
                Err(anyhow!("the identity provider refused the sign-in: {why}"))
            }
            Err(e) => Err(e),
        };
        match &outcome {
            Ok(_) => {
                respond(
                    &mut stream,
                    "200 OK",
                    "Signed in",
                    "You are signed in to sluice; you can close this tab.",
                )
                .await
            }
            Err(e) => {
                respond(
                    &mut stream,
                    "400 Bad Request",
                    "Sign-in failed",
                    &format!("{e}. Return to the terminal."),
                )
                .await
            }
        }
        return outcome;
    }
}

async fn read_request_line(stream: &mut TcpStream) -> Result<String> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("the connection closed before a request");
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(2).position(|w| w == b"\r\n") {
            // Only the request line matters; the headers are not read.
            return String::from_utf8(buffer[..end].to_vec())
                .map_err(|_| anyhow!("the request line is not UTF-8"));
        }
        if buffer.len() > MAX_REQUEST {
            bail!("the request is too large");
        }
    }
}

/// Best effort: the browser's page is a courtesy, the terminal carries the outcome.
async fn respond(stream: &mut TcpStream, status: &str, title: &str, text: &str) {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{}</p></body></html>\n",
        html_escape(text)
    );
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let verifier = Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(
            challenge(&verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_are_long_enough_unreserved_and_fresh() {
        let a = new_verifier();
        let b = new_verifier();
        assert_ne!(a.expose(), b.expose());
        let len = a.expose().len();
        assert!((43..=128).contains(&len), "{len}");
        assert!(a
            .expose()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')));
    }

    #[test]
    fn the_callback_yields_code_and_state() {
        let c = parse_callback("GET /callback?code=a%2Fb+c&state=xyz HTTP/1.1")
            .unwrap()
            .unwrap();
        assert_eq!(
            c,
            Callback::Code {
                code: Secret::new("a/b c".into()),
                state: "xyz".into()
            }
        );
        assert!(!format!("{c:?}").contains("a/b"));
    }

    #[test]
    fn other_paths_are_not_the_callback_and_bad_callbacks_fail() {
        assert!(parse_callback("GET /favicon.ico HTTP/1.1")
            .unwrap()
            .is_none());
        assert!(parse_callback("GET /callback?state=x HTTP/1.1").is_err());
        assert!(parse_callback("GET /callback?code=%zz&state=x HTTP/1.1").is_err());
        assert!(parse_callback("POST /callback?code=a&state=x HTTP/1.1").is_err());
        assert!(parse_callback("garbage").is_err());
        assert_eq!(
            parse_callback(
                "GET /callback?error=access_denied&error_description=no+thanks HTTP/1.1"
            )
            .unwrap(),
            Some(Callback::Refused("access_denied: no thanks".into()))
        );
    }

    async fn get(port: u16, target: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn the_loopback_listener_takes_one_matching_redirect() {
        let (listener, port) = bind().await.unwrap();
        let waiting =
            tokio::spawn(
                async move { wait_for_code(&listener, "s1", Duration::from_secs(10)).await },
            );
        assert!(get(port, "/favicon.ico").await.starts_with("HTTP/1.1 404"));
        let page = get(port, "/callback?code=c0de&state=s1").await;
        assert!(
            page.starts_with("HTTP/1.1 200") && page.contains("close this tab"),
            "{page}"
        );
        assert_eq!(waiting.await.unwrap().unwrap().expose(), "c0de");
    }

    #[tokio::test]
    async fn a_mismatched_state_fails_the_login_and_says_so_in_the_browser() {
        let (listener, port) = bind().await.unwrap();
        let waiting =
            tokio::spawn(
                async move { wait_for_code(&listener, "s1", Duration::from_secs(10)).await },
            );
        let page = get(port, "/callback?code=c0de&state=other").await;
        assert!(page.starts_with("HTTP/1.1 400"), "{page}");
        let e = waiting.await.unwrap().unwrap_err().to_string();
        assert!(e.contains("state"), "{e}");
    }

    #[tokio::test]
    async fn waiting_is_bounded() {
        let (listener, _) = bind().await.unwrap();
        let e = wait_for_code(&listener, "s", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no sign-in arrived"), "{e}");
    }
}
