//! A fake identity provider: fixed HTTP answers on 127.0.0.1:0, counting what it is asked.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::{ProviderConfig, Providers};

pub(crate) struct Idp {
    pub url: String,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    jwks: (u16, String),
    /// Answers of the token endpoint, in order; the last one given repeats.
    token: VecDeque<(u16, String)>,
    last_token: (u16, String),
    device: (u16, String),
    hits: HashMap<String, usize>,
    /// Each request's head and body, as received.
    requests: Vec<String>,
}

impl Idp {
    pub async fn start(jwks: String) -> Idp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            jwks: (200, jwks),
            ..State::default()
        }));
        let (shared, base) = (state.clone(), url.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, shared.clone(), base.clone()));
            }
        });
        Idp { url, state }
    }

    pub fn set_jwks(&self, status: u16, body: String) {
        self.state.lock().expect("state").jwks = (status, body);
    }

    pub fn push_token_answer(&self, status: u16, body: Value) {
        let mut state = self.state.lock().expect("state");
        state.token.push_back((status, body.to_string()));
    }

    pub fn set_device_answer(&self, status: u16, body: Value) {
        self.state.lock().expect("state").device = (status, body.to_string());
    }

    pub fn hits(&self, path: &str) -> usize {
        let state = self.state.lock().expect("state");
        state.hits.get(path).copied().unwrap_or(0)
    }

    pub fn last_request(&self) -> String {
        let state = self.state.lock().expect("state");
        state.requests.last().cloned().unwrap_or_default()
    }

    /// A provider of this issuer, as the gateway's configuration would read it.
    pub fn config(&self, extra: &str) -> ProviderConfig {
        let text = format!(
            "name = \"corp\"\nissuer = \"{}\"\nclient_id = \"sluice\"\n{extra}",
            self.url
        );
        toml::from_str(&text).expect("provider config")
    }

    pub fn providers(&self, extra: &str) -> Providers {
        Providers::new(vec![self.config(extra)]).expect("providers")
    }

    /// With the kid refetch interval shortened so rotation can be tested without waiting.
    pub fn providers_refetching_after(&self, extra: &str, interval: Duration) -> Providers {
        Providers::build(vec![self.config(extra)], interval).expect("providers")
    }
}

async fn serve(mut stream: tokio::net::TcpStream, state: Arc<Mutex<State>>, base: String) {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let request = String::from_utf8_lossy(&buf).into_owned();
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (status, body) = {
        let mut state = state.lock().expect("state");
        *state.hits.entry(path.clone()).or_default() += 1;
        state.requests.push(request);
        match path.as_str() {
            "/.well-known/openid-configuration" => (
                200,
                json!({
                    "issuer": base,
                    "jwks_uri": format!("{base}/jwks"),
                    "authorization_endpoint": format!("{base}/authorize"),
                    "token_endpoint": format!("{base}/token"),
                    "device_authorization_endpoint": format!("{base}/device"),
                    "code_challenge_methods_supported": ["S256"],
                })
                .to_string(),
            ),
            "/jwks" => state.jwks.clone(),
            "/device" => state.device.clone(),
            "/token" => {
                if let Some(next) = state.token.pop_front() {
                    state.last_token = next;
                }
                state.last_token.clone()
            }
            _ => (404, "{}".into()),
        }
    };
    let answer = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
}
