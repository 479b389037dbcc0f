//! The browser side of the harness: a real headless Chromium driven over WebDriver, so the web
//! console is tested as people use it (its scripts run, its cookies are kept by the browser's
//! own rules, its layout is drawn) rather than through an HTTP client that only reads markup.
//!
//! Debian's `chromedriver` is started on a free 127.0.0.1 port and opens one session with a
//! fresh profile; both are killed on Drop. Everything waits at most [`WAIT`], and a failure
//! says where the browser was: its URL, the start of the page's source, and the end of
//! chromedriver's log.
//!
//! The browser is kept on loopback: Chromium's background services are switched off and its
//! host resolver answers only `localhost`, so a page that names any other host fails to load it
//! instead of reaching out (and [`Browser::resource_urls`] still shows that it tried).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// How long any one wait for the page (an element, a text, a navigation) may take.
pub const WAIT: Duration = Duration::from_secs(20);
/// chromedriver answering `/status` after it was started.
const DRIVER_START: Duration = Duration::from_secs(20);
/// The first session starts Chromium itself, which on two shared cores can take a while.
const SESSION_START: Duration = Duration::from_secs(60);
/// A WebDriver command that is not a wait of ours (a click, a screenshot) gets this long before
/// the test gives up on chromedriver; longer than [`WAIT`] so that page loads, which Chromium
/// bounds by the session's pageLoad timeout (set to [`WAIT`]), fail with Chromium's own error.
const COMMAND: Duration = Duration::from_secs(30);
/// Ports tried for chromedriver: it needs a number up front, so a free one is picked and
/// released first, and another process may take it in between.
const DRIVER_ATTEMPTS: usize = 3;
/// How often waits look again.
const POLL: Duration = Duration::from_millis(50);

/// The binary itself, not Debian's /usr/bin/chromium wrapper: the wrapper adds flags of its own
/// (extensions from /usr/share/chromium/extensions, GPU rasterization) and Google API keys that
/// switch background services on.
pub const CHROMIUM: &str = "/usr/lib/chromium/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The size of the page's viewport, and whether Chromium emulates a phone for it (touch, the
/// `<meta name="viewport">` rules, a device pixel ratio above 1, a mobile user agent).
#[derive(Clone, Copy, Debug)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
    pub mobile: bool,
}

impl Viewport {
    pub const DESKTOP: Viewport = Viewport {
        width: 1280,
        height: 900,
        mobile: false,
    };
    /// A current mid-size phone, in CSS pixels.
    pub const PHONE: Viewport = Viewport {
        width: 390,
        height: 844,
        mobile: true,
    };
}

/// A cookie as the browser holds it, with the attributes a page's script cannot see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrowserCookie {
    pub name: String,
    pub value: String,
    pub http_only: bool,
    pub secure: bool,
    /// `Strict`, `Lax` or `None` as the browser stored it; `None` here when it has none.
    pub same_site: Option<String>,
    pub path: Option<String>,
    pub domain: Option<String>,
}

pub struct Browser {
    /// Taken by [`Browser::close`]; always there otherwise.
    client: Option<Client>,
    driver: Child,
    driver_log: PathBuf,
    pub viewport: Viewport,
    /// The profile (`--user-data-dir`) and chromedriver's log; removed after the kill.
    dir: tempfile::TempDir,
}

impl Browser {
    /// A desktop-sized browser (1280x900).
    pub async fn start() -> Browser {
        Browser::start_with(Viewport::DESKTOP).await
    }

    /// A phone-sized browser (390x844, emulating a phone).
    pub async fn phone() -> Browser {
        Browser::start_with(Viewport::PHONE).await
    }

    pub async fn start_with(viewport: Viewport) -> Browser {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "no {binary}: scripts/install-deps.sh test installs chromium and chromium-driver"
            );
        }
        let mut dir = tempfile::Builder::new()
            .prefix("sluice-test-browser-")
            .tempdir()
            .unwrap();
        let driver_log = dir.path().join("chromedriver.log");
        let mut last_error = String::new();
        for _ in 0..DRIVER_ATTEMPTS {
            let (driver, port) = spawn_driver(&driver_log);
            let mut browser = Browser {
                client: None,
                driver,
                driver_log: driver_log.clone(),
                viewport,
                dir,
            };
            match browser.driver_ready(port).await {
                Ok(()) => {
                    browser.open_session(port).await;
                    return browser;
                }
                Err(e) => {
                    last_error = format!("{e}\nchromedriver's log:\n{}", browser.driver_log_tail());
                    // Drop kills this chromedriver; the directory goes on to the next one.
                    dir = std::mem::replace(&mut browser.dir, tempfile::tempdir().unwrap());
                }
            }
        }
        panic!("chromedriver did not start in {DRIVER_ATTEMPTS} attempts: {last_error}")
    }

    /// Waits until chromedriver answers `/status` with `ready`, or exits.
    async fn driver_ready(&mut self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + DRIVER_START;
        loop {
            if let Some(status) = self.driver.try_wait().unwrap() {
                return Err(format!("chromedriver exited ({status})"));
            }
            let answer = tokio::task::spawn_blocking(move || driver_status(port))
                .await
                .unwrap();
            if answer
                .as_deref()
                .is_some_and(|a| a.contains("\"ready\":true"))
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "chromedriver on port {port} not ready after {DRIVER_START:?}: {answer:?}"
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn open_session(&mut self, port: u16) {
        let user_data = self.dir.path().join("profile");
        let mut args = vec![
            "--headless=new".to_owned(),
            // CI runs as root, where Chromium's sandbox cannot start.
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            // /dev/shm is small in containers; Chromium crashes when it fills.
            "--disable-dev-shm-usage".to_owned(),
            format!("--user-data-dir={}", user_data.display()),
            format!(
                "--window-size={},{}",
                self.viewport.width, self.viewport.height
            ),
            "--lang=en-US".to_owned(),
            "--password-store=basic".to_owned(),
        ];
        // Chromium's own traffic, which would leave loopback: first-run and default-browser
        // checks, component and extension updates, sync, pings, metrics and crash uploads,
        // Safe Browsing's phishing model, translation and autofill servers.
        args.extend(
            [
                "--no-first-run",
                "--no-default-browser-check",
                "--no-pings",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-extensions",
                "--disable-domain-reliability",
                "--disable-client-side-phishing-detection",
                "--disable-breakpad",
                "--disable-crash-reporter",
                "--metrics-recording-only",
                "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
                // Names other than localhost and the loopback addresses resolve to nothing, so
                // a page that names an outside host fails to load it instead of reaching it.
                // (The rules match IP literals too: without the EXCLUDEs 127.0.0.1 would not
                // load.) Other IP addresses are not refused: resource_urls() shows them.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]",
            ]
            .map(str::to_owned),
        );
        let mut chrome = json!({ "binary": CHROMIUM, "args": args });
        if self.viewport.mobile {
            chrome["mobileEmulation"] = json!({
                "deviceMetrics": {
                    "width": self.viewport.width,
                    "height": self.viewport.height,
                    "pixelRatio": 3.0,
                    "mobile": true,
                    "touch": true,
                },
            });
        }
        let wait_ms = u64::try_from(WAIT.as_millis()).unwrap();
        let capabilities = json!({
            "browserName": "chrome",
            // The gateway's admin listener has a self-signed certificate in tests.
            "acceptInsecureCerts": true,
            "timeouts": { "pageLoad": wait_ms, "script": wait_ms, "implicit": 0 },
            "goog:chromeOptions": chrome,
            // The performance log lists every request the page made, including ones the
            // Resource Timing API leaves out (failed ones, WebSockets, redirects).
            "goog:loggingPrefs": { "performance": "ALL", "browser": "ALL" },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let driver_url = format!("http://127.0.0.1:{port}");
        let connect = builder.connect(&driver_url);
        let client = match tokio::time::timeout(SESSION_START, connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!(
                "no WebDriver session: {e}\nchromedriver's log:\n{}",
                self.driver_log_tail()
            ),
            Err(_) => panic!(
                "no WebDriver session after {SESSION_START:?}\nchromedriver's log:\n{}",
                self.driver_log_tail()
            ),
        };
        self.client = Some(client);
        if !self.viewport.mobile {
            self.fit_viewport().await;
        }
        // Chromium's start page (its own chrome:// new tab page) is in the logs already.
        self.log("performance").await;
        self.log("browser").await;
    }

    /// `--window-size` sizes the window, and headless Chromium still draws a window frame
    /// (about 140 px of it) above the page: grows the window by that much so the page's own
    /// viewport (`innerWidth` x `innerHeight`) is the size asked for, as on a real screen.
    async fn fit_viewport(&self) {
        let frame = self
            .execute(
                "return [window.outerWidth - window.innerWidth, \
                 window.outerHeight - window.innerHeight];",
                Vec::new(),
            )
            .await;
        let extra = |i: usize| {
            frame[i]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0)
        };
        let (width, height) = (
            self.viewport.width + extra(0),
            self.viewport.height + extra(1),
        );
        if let Err(e) = self
            .bounded(
                "set_window_size",
                self.client().set_window_size(width, height),
            )
            .await
        {
            self.fail(format!("resizing the window to {width}x{height}: {e}"))
                .await
        }
    }

    /// The fantoccini client, for what the helpers here do not cover. Its calls are not
    /// bounded: wrap them in a timeout.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser was closed")
    }

    /// Ends the session cleanly (Chromium exits and flushes its profile), then stops
    /// chromedriver. Drop does the same by killing both.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(COMMAND, client.close()).await;
        }
    }

    // ---- Navigation and the page ----

    /// Loads `url` and waits until it has loaded (the document's load event). Starts
    /// [`Browser::resource_urls`]'s and [`Browser::console_messages`]'s lists afresh.
    pub async fn goto(&self, url: &str) {
        self.log("performance").await;
        self.log("browser").await;
        if let Err(e) = self.bounded("goto", self.client().goto(url)).await {
            self.fail(format!("loading {url}: {e}")).await
        }
    }

    pub async fn current_url(&self) -> String {
        match self
            .bounded("current_url", self.client().current_url())
            .await
        {
            Ok(url) => url.to_string(),
            Err(e) => self.fail(format!("reading the URL: {e}")).await,
        }
    }

    /// The page's DOM as markup now (after its scripts ran), not the bytes the server sent.
    pub async fn page_source(&self) -> String {
        match self.bounded("source", self.client().source()).await {
            Ok(source) => source,
            Err(e) => self.fail(format!("reading the page source: {e}")).await,
        }
    }

    /// Runs `js` as a function body in the page (`arguments[0]`... are `args`) and returns what
    /// it returns.
    pub async fn execute(&self, js: &str, args: Vec<Value>) -> Value {
        match self
            .bounded("execute", self.client().execute(js, args))
            .await
        {
            Ok(value) => value,
            Err(e) => self.fail(format!("running {js:?}: {e}")).await,
        }
    }

    // ---- Elements ----

    /// The first element matching the CSS selector `css`, waiting until there is one.
    pub async fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            match self
                .bounded("find", self.client().find(Locator::Css(css)))
                .await
            {
                Ok(element) => return element,
                Err(e) if Instant::now() >= deadline => {
                    return self
                        .fail(format!("no element {css:?} after {WAIT:?}: {e}"))
                        .await
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Whether an element matches `css` now, without waiting.
    pub async fn exists(&self, css: &str) -> bool {
        match self
            .bounded("find_all", self.client().find_all(Locator::Css(css)))
            .await
        {
            Ok(found) => !found.is_empty(),
            Err(e) => self.fail(format!("looking for {css:?}: {e}")).await,
        }
    }

    /// Clicks the element matching `css` once there is one. A click that starts a navigation
    /// returns before the new page has loaded: wait for something on it.
    pub async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        if let Err(e) = self.bounded("click", element.click()).await {
            self.fail(format!("clicking {css:?}: {e}")).await
        }
    }

    /// Replaces the value of the input matching `css` with `text`, typed as keys (so the page's
    /// input events fire).
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.wait_for(css).await;
        let typed = async {
            element.clear().await?;
            element.send_keys(text).await
        };
        if let Err(e) = self.bounded("fill", typed).await {
            self.fail(format!("filling {css:?}: {e}")).await
        }
    }

    /// The rendered text of the element matching `css` (what a person sees: hidden text is
    /// left out).
    pub async fn text(&self, css: &str) -> String {
        let element = self.wait_for(css).await;
        match self.bounded("text", element.text()).await {
            Ok(text) => text,
            Err(e) => self.fail(format!("reading the text of {css:?}: {e}")).await,
        }
    }

    /// Waits until the element matching `css` shows text containing `needle`; returns its text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut last = None;
        loop {
            if let Ok(element) = self
                .bounded("find", self.client().find(Locator::Css(css)))
                .await
            {
                // The element may be replaced between finding and reading it.
                if let Ok(text) = self.bounded("text", element.text()).await {
                    if text.contains(needle) {
                        return text;
                    }
                    last = Some(text);
                }
            }
            if Instant::now() >= deadline {
                return self
                    .fail(format!(
                        "{css:?} did not show {needle:?} within {WAIT:?}; its last text: {last:?}"
                    ))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the page's URL satisfies `check` (after a form post or a redirect).
    pub async fn wait_for_url(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.current_url().await;
            if check(&url) {
                return url;
            }
            if Instant::now() >= deadline {
                return self
                    .fail(format!("the URL was not {what} within {WAIT:?}"))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `js` (a function body, as in [`Browser::execute`]) returns something other
    /// than `false`, `null`, `undefined`, `0` or `""`; returns that. `what` names the
    /// condition in the failure.
    pub async fn wait_for_js(&self, what: &str, js: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self.execute(js, Vec::new()).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(_) | Value::Object(_) => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() >= deadline {
                return self
                    .fail(format!("{what}: not so within {WAIT:?} (last {value})"))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    // ---- What the browser kept and loaded ----

    /// The cookies the browser sends to the current page's URL, with the attributes only the
    /// browser knows (`document.cookie` shows neither HttpOnly cookies nor any attribute).
    pub async fn cookies(&self) -> Vec<BrowserCookie> {
        let cookies = match self
            .bounded("cookies", self.client().get_all_cookies())
            .await
        {
            Ok(cookies) => cookies,
            Err(e) => return self.fail(format!("reading cookies: {e}")).await,
        };
        cookies
            .into_iter()
            .map(|c| BrowserCookie {
                name: c.name().to_owned(),
                value: c.value().to_owned(),
                http_only: c.http_only().unwrap_or(false),
                secure: c.secure().unwrap_or(false),
                same_site: c.same_site().map(|s| s.to_string()),
                path: c.path().map(str::to_owned),
                domain: c.domain().map(str::to_owned),
            })
            .collect()
    }

    /// Saves what the viewport shows as `target/test-artifacts/console/NAME.png` (under
    /// `CARGO_TARGET_DIR` when that is set) and returns its path, for a person to look at.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = match self.bounded("screenshot", self.client().screenshot()).await {
            Ok(png) => png,
            Err(e) => return self.fail(format!("taking screenshot {name}: {e}")).await,
        };
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Every URL the browser requested since the last [`Browser::goto`] (or the previous call):
    /// the current page itself, each resource in its Resource Timing entries, and each request
    /// in Chromium's performance log, which also has the ones Resource Timing leaves out (failed
    /// loads, WebSockets, redirects, pages left by a click or a form post). Sorted, without
    /// repeats.
    pub async fn resource_urls(&self) -> Vec<String> {
        let page = self
            .execute(
                "return [location.href].concat(\
                 performance.getEntriesByType('navigation').map(e => e.name),\
                 performance.getEntriesByType('resource').map(e => e.name));",
                Vec::new(),
            )
            .await;
        let mut urls: Vec<String> = page
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect();
        for entry in self.log("performance").await {
            let Some(text) = entry["message"].as_str() else {
                continue;
            };
            let Ok(message) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            let message = &message["message"];
            let url = match message["method"].as_str() {
                Some("Network.requestWillBeSent") => &message["params"]["request"]["url"],
                Some("Network.webSocketCreated") => &message["params"]["url"],
                _ => continue,
            };
            if let Some(url) = url.as_str() {
                urls.push(url.to_owned());
            }
        }
        urls.sort();
        urls.dedup();
        urls
    }

    /// The messages the page wrote to its console and the errors it raised (a CSP refusal, an
    /// exception, a failed load) since the last [`Browser::goto`] or the previous call
    /// (Chromium's `browser` log), each `LEVEL message`.
    pub async fn console_messages(&self) -> Vec<String> {
        self.log("browser")
            .await
            .into_iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["level"].as_str().unwrap_or("?"),
                    e["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    /// Drains one of Chromium's logs: `goog:loggingPrefs` names them; WebDriver itself has no
    /// command to read them, chromedriver keeps Selenium's.
    async fn log(&self, kind: &str) -> Vec<Value> {
        let read = self.client().issue_cmd(ReadLog {
            kind: kind.to_owned(),
        });
        match self.bounded("log", read).await {
            Ok(Value::Array(entries)) => entries,
            Ok(other) => {
                self.fail(format!("the {kind} log is not a list: {other}"))
                    .await
            }
            Err(e) => self.fail(format!("reading the {kind} log: {e}")).await,
        }
    }

    // ---- Failure reports ----

    /// Bounds one WebDriver command, so that a hung chromedriver fails the test rather than
    /// holding it.
    async fn bounded<T>(
        &self,
        what: &str,
        command: impl std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    ) -> Result<T, fantoccini::error::CmdError> {
        match tokio::time::timeout(COMMAND, command).await {
            Ok(result) => result,
            Err(_) => {
                panic!(
                    "WebDriver command {what} did not answer within {COMMAND:?}\nchromedriver's log:\n{}",
                    self.driver_log_tail()
                )
            }
        }
    }

    /// Fails the test with `message` and where the browser was.
    async fn fail<T>(&self, message: String) -> T {
        let client = self.client();
        let url = match tokio::time::timeout(Duration::from_secs(5), client.current_url()).await {
            Ok(Ok(url)) => url.to_string(),
            other => format!("(unknown: {other:?})"),
        };
        // The visible text first: an error page's source is mostly its stylesheet.
        let visible = client.execute(
            "return document.body ? document.body.innerText : '';",
            Vec::new(),
        );
        let visible = match tokio::time::timeout(Duration::from_secs(5), visible).await {
            Ok(Ok(Value::String(text))) => snippet(&text, 1000),
            other => format!("(unknown: {other:?})"),
        };
        let source = match tokio::time::timeout(Duration::from_secs(5), client.source()).await {
            Ok(Ok(source)) => snippet(&source, 2000),
            other => format!("(unknown: {other:?})"),
        };
        panic!(
            "{message}\n  at {url}\n  page text:\n{visible}\n  page source:\n{source}\n  chromedriver's log:\n{}",
            self.driver_log_tail()
        )
    }

    fn driver_log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.driver_log).unwrap_or_default();
        let start = log.char_indices().rev().nth(3000).map_or(0, |(at, _)| at);
        log[start..].to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver leads a process group of its own (spawn_driver), and Chromium's
        // processes stay in it: one signal to the group ends them all, even when the test
        // panicked before it could close the session.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `target/test-artifacts/console`, under `CARGO_TARGET_DIR` when that is set (relative to the
/// workspace, as cargo reads it).
pub fn artifacts_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target"),
    };
    target.join("test-artifacts").join("console")
}

/// Starts chromedriver on a port that was free a moment ago, in its own process group, its
/// output appended to `log`.
fn spawn_driver(log: &Path) -> (Child, u16) {
    use std::os::unix::process::CommandExt;
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let err = out.try_clone().unwrap();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .unwrap();
    (child, port)
}

/// chromedriver's `/status` answer, or None while it does not answer.
fn driver_status(port: u16) -> Option<String> {
    let addr = (Ipv4Addr::LOCALHOST, port).into();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    // chromedriver keeps the connection open whatever the request says, so the answer ends
    // where its Content-Length says.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })?;
        if body.len() >= length {
            return Some(text.into_owned());
        }
    }
}

/// The first `max` characters of `text`, saying how much was left out.
fn snippet(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}\n[... {} more bytes]", &text[..at], text.len() - at),
        None => text.to_owned(),
    }
}

/// Selenium's log command, which chromedriver still serves: `POST /session/ID/se/log`.
#[derive(Debug)]
struct ReadLog {
    kind: String,
}

impl WebDriverCompatibleCommand for ReadLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": self.kind }).to_string()),
        )
    }
}
