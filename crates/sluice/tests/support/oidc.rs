//! The identity side of the harness: a real OpenID Provider (panva's oidc-provider, in
//! tests/fixtures/oidc/provider.mjs) and a GitHub-Actions-shaped workload issuer, started by
//! `node` on ephemeral 127.0.0.1 ports, stopped on Drop. Helpers act as the user in a browser
//! (a cookie jar, plain HTTP forms) so device and PKCE logins complete without mocks.
//!
//! The fixture's forms, which `complete_device` and `authorize` fill in:
//! - device code entry (`GET {issuer}/device`): hidden `xsrf`, text `user_code`;
//! - device confirmation: hidden `xsrf`, `user_code`, `confirm=yes`;
//! - login (`/interaction/UID`, posted to `/interaction/UID/login`): `login` (user id or email),
//!   `password`; a wrong password shows the login form again (`id="login-error"`);
//! - consent (posted to `/interaction/UID/confirm`): no fields;
//! - device success page: `id="device-authorized"`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::{redirect, Client, Url};
use serde_json::{json, Value};

/// How long node may take to print its ready line (it generates RSA keys first).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Any one HTTP request to the fixture.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects and form posts one login may take (a device login is about ten).
const MAX_BROWSER_STEPS: usize = 25;

/// A registered OAuth client. Unset fields get a native CLI client's defaults in the fixture:
/// application_type native (loopback redirects match on any port, RFC 8252 7.3), grant types
/// authorization_code, refresh_token and device_code, client_secret_basic.
#[derive(Clone, Debug)]
pub struct ClientSetup {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    /// `client_secret_basic` (default) or `client_secret_post`: oidc-provider accepts only the
    /// registered one.
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    /// `native` (default) or `web`: a web client's redirect URIs match exactly, port and all,
    /// and may be `https` on an IP address, which a native client's may not.
    pub application_type: Option<String>,
}

impl ClientSetup {
    /// A CLI client redirecting to `http://127.0.0.1:ANY/callback` or `http://[::1]:ANY/callback`.
    pub fn cli(client_id: &str, client_secret: &str) -> ClientSetup {
        ClientSetup {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            redirect_uris: vec![
                "http://127.0.0.1/callback".to_owned(),
                "http://[::1]/callback".to_owned(),
            ],
            token_endpoint_auth_method: None,
            grant_types: None,
            application_type: None,
        }
    }

    fn to_json(&self) -> Value {
        let mut client = json!({
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": self.redirect_uris,
        });
        if let Some(method) = &self.token_endpoint_auth_method {
            client["token_endpoint_auth_method"] = json!(method);
        }
        if let Some(grants) = &self.grant_types {
            client["grant_types"] = json!(grants);
        }
        if let Some(kind) = &self.application_type {
            client["application_type"] = json!(kind);
        }
        client
    }
}

/// A user of the provider; `id` is the subject and preferred_username.
#[derive(Clone, Debug)]
pub struct UserSetup {
    pub id: String,
    pub email: String,
    pub name: String,
    pub groups: Vec<String>,
    pub password: String,
}

impl UserSetup {
    pub fn new(id: &str, email: &str, name: &str, groups: &[&str], password: &str) -> UserSetup {
        UserSetup {
            id: id.to_owned(),
            email: email.to_owned(),
            name: name.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            password: password.to_owned(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ProviderSetup {
    pub clients: Vec<ClientSetup>,
    pub users: Vec<UserSetup>,
    /// oidc-provider's TTLs in seconds, by its names: AccessToken, AuthorizationCode,
    /// DeviceCode, Grant, IdToken, Interaction, RefreshToken, Session.
    pub ttl: Vec<(String, u64)>,
    /// The `interval` the device authorization response announces (seconds).
    pub device_interval: u64,
}

/// The client and users of [`ProviderSetup::standard`].
pub const CLIENT_ID: &str = "sluice-cli";
pub const CLIENT_SECRET: &str = "sluice-cli-secret-0b7e";
pub const ALICE: &str = "alice";
pub const ALICE_EMAIL: &str = "alice@corp.example";
pub const ALICE_PASSWORD: &str = "alice-pw-41c9";
pub const BOB: &str = "bob";
pub const BOB_EMAIL: &str = "bob@corp.example";
pub const BOB_PASSWORD: &str = "bob-pw-93d2";

impl ProviderSetup {
    /// One CLI client; alice in `developers`, bob in `ops` and `dba`.
    pub fn standard() -> ProviderSetup {
        ProviderSetup {
            clients: vec![ClientSetup::cli(CLIENT_ID, CLIENT_SECRET)],
            users: vec![
                UserSetup::new(
                    ALICE,
                    ALICE_EMAIL,
                    "Alice Example",
                    &["developers"],
                    ALICE_PASSWORD,
                ),
                UserSetup::new(BOB, BOB_EMAIL, "Bob Example", &["ops", "dba"], BOB_PASSWORD),
            ],
            ttl: Vec::new(),
            device_interval: 1,
        }
    }

    fn to_json(&self) -> Value {
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|u| {
                json!({"id": u.id, "email": u.email, "name": u.name, "groups": u.groups,
                       "password": u.password})
            })
            .collect();
        let ttl: serde_json::Map<String, Value> = self
            .ttl
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        json!({
            "clients": self.clients.iter().map(ClientSetup::to_json).collect::<Vec<_>>(),
            "users": users,
            "ttl": ttl,
            "device_interval": self.device_interval,
        })
    }
}

/// A token request to the workload issuer's `POST /mint`. Defaults: iss = the workload
/// issuer, iat = now, nbf = now - 5, exp = now + 300, a fresh jti, no aud, RS256 with the
/// current published key. `claims` are applied over those; a claim set to null is removed.
#[derive(Clone, Debug, Default)]
pub struct MintRequest {
    pub claims: serde_json::Map<String, Value>,
    /// A string or an array of strings.
    pub aud: Option<Value>,
    pub iss: Option<String>,
    pub exp_in: Option<i64>,
    pub nbf_in: Option<i64>,
    pub iat_in: Option<i64>,
    /// "RS256" (default), "none", or "HS256" keyed with `secret` (default: the current public
    /// key's SPKI PEM, the alg-confusion attack).
    pub alg: Option<String>,
    pub secret: Option<String>,
    /// Flip a bit of the signature.
    pub tamper: bool,
    /// The header's kid instead of the signing key's.
    pub kid: Option<String>,
    /// Sign with a key that is not in the JWKS.
    pub unpublished_key: bool,
}

impl MintRequest {
    /// A GitHub-Actions-like token for `aud` with the given claims (sub, repository, ...).
    pub fn new(aud: &str, claims: Value) -> MintRequest {
        MintRequest {
            aud: Some(json!(aud)),
            claims: claims
                .as_object()
                .cloned()
                .expect("claims must be an object"),
            ..MintRequest::default()
        }
    }

    fn to_json(&self) -> Value {
        let mut body = json!({
            "claims": self.claims,
            "tamper": self.tamper,
            "sign_with": if self.unpublished_key { "unpublished" } else { "current" },
        });
        let optional = [
            ("aud", self.aud.clone()),
            ("iss", self.iss.as_ref().map(|v| json!(v))),
            ("exp_in", self.exp_in.map(|v| json!(v))),
            ("nbf_in", self.nbf_in.map(|v| json!(v))),
            ("iat_in", self.iat_in.map(|v| json!(v))),
            ("alg", self.alg.as_ref().map(|v| json!(v))),
            ("secret", self.secret.as_ref().map(|v| json!(v))),
            ("kid", self.kid.as_ref().map(|v| json!(v))),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                body[name] = value;
            }
        }
        body
    }
}

pub struct OidcProvider {
    child: Child,
    issuer: String,
    workload_issuer: String,
    http: Client,
    /// Holds the config file and node's stderr (quoted when something fails).
    dir: tempfile::TempDir,
}

/// tests/fixtures/oidc at the repository root.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/oidc")
}

impl OidcProvider {
    /// Starts the fixture and waits (bounded) for its ready line. Blocking: call it before the
    /// test's own work starts.
    pub fn start(setup: ProviderSetup) -> OidcProvider {
        let fixture = fixture_dir();
        assert!(
            fixture
                .join("node_modules/oidc-provider/package.json")
                .exists(),
            "{} has no node_modules: run scripts/install-deps.sh test",
            fixture.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("sluice-test-oidc-")
            .tempdir()
            .unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(&config, serde_json::to_vec(&setup.to_json()).unwrap()).unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr")).unwrap();
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .arg(&config)
            .current_dir(&fixture)
            // The fixture exits when stdin closes: it does not outlive a killed test binary.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("node (scripts/install-deps.sh test installs it)");

        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Sends the ready line, then drains stdout until node exits so that nothing it might
        // print later meets a closed pipe (EPIPE kills node).
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line);
            let _ = tx.send(read.map(|_| line));
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) if !line.is_empty() => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the OIDC fixture did not start ({other:?}); its stderr:\n{}",
                    std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default()
                );
            }
        };
        let ready: Value = serde_json::from_str(&line).unwrap();
        let http = Client::builder()
            .redirect(redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap();
        OidcProvider {
            child,
            issuer: ready["issuer"].as_str().unwrap().to_owned(),
            workload_issuer: ready["workload_issuer"].as_str().unwrap().to_owned(),
            http,
            dir,
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The GitHub-Actions-shaped issuer, `http://127.0.0.1:PORT2`.
    pub fn workload_issuer(&self) -> &str {
        &self.workload_issuer
    }

    /// What node wrote to stderr so far (warnings, errors), for failure messages.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// A token from the workload issuer.
    pub async fn mint(&self, request: MintRequest) -> String {
        let reply = self
            .post_json(&format!("{}/mint", self.workload_issuer), request.to_json())
            .await;
        reply["token"].as_str().unwrap().to_owned()
    }

    /// A new signing key for the workload issuer, published in its JWKS (the old ones stay
    /// unless `drop_old`); later tokens carry its kid, which is returned.
    pub async fn rotate(&self, drop_old: bool) -> String {
        let reply = self
            .post_json(
                &format!("{}/rotate", self.workload_issuer),
                json!({ "drop_old": drop_old }),
            )
            .await;
        reply["kid"].as_str().unwrap().to_owned()
    }

    async fn post_json(&self, url: &str, body: Value) -> Value {
        let response = self.http.post(url).json(&body).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "POST {url}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Acts as `user` in a fresh browser: opens the verification URI (with or without the
    /// user code in it), enters `user_code` when asked, confirms the device, logs in and
    /// consents, until the provider says the device is authorized. Panics otherwise.
    pub async fn complete_device(
        &self,
        verification_uri: &str,
        user_code: &str,
        user: &str,
        password: &str,
    ) {
        let mut browser = Browser::new(user, password, Some(user_code));
        match browser
            .run(Url::parse(verification_uri).unwrap(), None)
            .await
        {
            BrowserEnd::DeviceAuthorized => {}
            BrowserEnd::Redirected(location) => {
                panic!("the device login redirected away, to {location}")
            }
        }
    }

    /// Acts as `user` in a fresh browser: opens `authorization_url`, logs in and consents, and
    /// returns the redirect to the client (the loopback callback URL with `code` and `state`,
    /// or `error`) without following it.
    pub async fn authorize(&self, authorization_url: &str, user: &str, password: &str) -> String {
        let mut browser = Browser::new(user, password, None);
        let issuer = Url::parse(&self.issuer).unwrap();
        match browser
            .run(Url::parse(authorization_url).unwrap(), Some(&issuer))
            .await
        {
            BrowserEnd::Redirected(location) => location,
            BrowserEnd::DeviceAuthorized => {
                panic!("an authorization request ended on a device page")
            }
        }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the OIDC fixture's stderr:\n{}", self.stderr());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum BrowserEnd {
    DeviceAuthorized,
    Redirected(String),
}

/// A user agent of just enough HTML: follows redirects, and submits the one form of each page
/// with the user's input filled in.
struct Browser {
    http: Client,
    user: String,
    password: String,
    user_code: Option<String>,
    logins: usize,
}

impl Browser {
    fn new(user: &str, password: &str, user_code: Option<&str>) -> Browser {
        Browser {
            http: Client::builder()
                .cookie_store(true)
                .redirect(redirect::Policy::none())
                .timeout(REQUEST_TIMEOUT)
                .build()
                .unwrap(),
            user: user.to_owned(),
            password: password.to_owned(),
            user_code: user_code.map(str::to_owned),
            logins: 0,
        }
    }

    /// From `start` until the device success page, or until a redirect leaves `origin_of`'s
    /// origin (then its Location is the result).
    async fn run(&mut self, start: Url, origin_of: Option<&Url>) -> BrowserEnd {
        let mut request = self.http.get(start.clone());
        let mut url = start;
        let mut trail = Vec::new();
        for _ in 0..MAX_BROWSER_STEPS {
            trail.push(url.to_string());
            let response = request.send().await.unwrap();
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers()["location"].to_str().unwrap().to_owned();
                let next = url.join(&location).unwrap();
                if origin_of.is_some_and(|origin| next.origin() != origin.origin()) {
                    return BrowserEnd::Redirected(next.to_string());
                }
                request = self.http.get(next.clone());
                url = next;
                continue;
            }
            let body = response.text().await.unwrap();
            assert!(
                status.is_success(),
                "{status} at {url} (after {trail:?}):\n{body}"
            );
            if body.contains("id=\"device-authorized\"") {
                return BrowserEnd::DeviceAuthorized;
            }
            let form = Form::parse(&body)
                .unwrap_or_else(|| panic!("no form at {url} (after {trail:?}):\n{body}"));
            let fields = self.fill(&form, &url, &body);
            let action = url.join(&form.action).unwrap();
            request = self.http.post(action.clone()).form(&fields);
            url = action;
        }
        panic!("the login did not finish in {MAX_BROWSER_STEPS} steps: {trail:?}");
    }

    fn fill(&mut self, form: &Form, url: &Url, body: &str) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        for (name, value) in &form.inputs {
            let value = match (name.as_str(), value.is_empty()) {
                ("login", _) => {
                    self.logins += 1;
                    assert!(
                        self.logins == 1,
                        "the login of {} was refused at {url}:\n{body}",
                        self.user
                    );
                    self.user.clone()
                }
                ("password", _) => self.password.clone(),
                ("user_code", true) => self
                    .user_code
                    .clone()
                    .unwrap_or_else(|| panic!("a user code was asked for at {url}")),
                _ => value.clone(),
            };
            fields.push((name.clone(), value));
        }
        fields
    }
}

/// The first `<form>` of a page: its action and its inputs' names and values.
struct Form {
    action: String,
    inputs: Vec<(String, String)>,
}

impl Form {
    fn parse(html: &str) -> Option<Form> {
        let start = html.find("<form")?;
        let end = start + html[start..].find("</form>")?;
        let form = &html[start..end];
        let tag_end = form.find('>')?;
        let action = attribute(&form[..tag_end], "action")?;
        let mut inputs = Vec::new();
        let mut rest = &form[tag_end..];
        // Bounded by the form's length: each turn consumes one tag.
        while let Some(at) = rest.find("<input") {
            let close = rest[at..].find('>')? + at;
            let tag = &rest[at..close];
            if let Some(name) = attribute(tag, "name") {
                inputs.push((name, attribute(tag, "value").unwrap_or_default()));
            }
            rest = &rest[close..];
        }
        Some(Form { action, inputs })
    }
}

/// A double-quoted attribute of a tag's text, HTML-unescaped. Whole words only, so `name`
/// does not match inside `placeholder`-like attributes or quoted values.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let bytes = tag.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            // Skip a quoted value we are not looking for.
            i += 1 + tag[i + 1..].find('"')? + 1;
            continue;
        }
        let preceded = i == 0 || bytes[i - 1].is_ascii_whitespace();
        if preceded
            && bytes[i..].starts_with(name.as_bytes())
            && bytes[i + name.len()..].starts_with(b"=\"")
        {
            let value_start = i + name.len() + 2;
            let value_end = value_start + tag[value_start..].find('"')?;
            return Some(unescape(&tag[value_start..value_end]));
        }
        i += 1;
    }
    None
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A JWT's payload, decoded without verifying anything (the tests' own look at a token).
pub fn jwt_payload(token: &str) -> Value {
    jwt_part(token, 1)
}

/// A JWT's header, decoded without verifying anything.
pub fn jwt_header(token: &str) -> Value {
    jwt_part(token, 0)
}

fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let part = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("not a JWT: {token}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A PKCE pair (RFC 7636): a random verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    use base64::Engine as _;
    use rand::RngCore as _;
    use sha2::Digest as _;
    let mut random = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut random);
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let verifier = engine.encode(random);
    let challenge = engine.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}
