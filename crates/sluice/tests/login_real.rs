//! `sluice login` end to end: the real CLI binary signs in through a real gateway to a real
//! OpenID provider (panva's oidc-provider, started by the harness), with the device flow and
//! with a browser (PKCE), then uses the credential with psql, mints a per-task token, and
//! logs out, which ends the credential everywhere.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::oidc::{self, OidcProvider, ProviderSetup};
use support::{stderr, stdout, Harness};

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

struct Setup {
    h: Harness,
    idp: OidcProvider,
    server: String,
    home: tempfile::TempDir,
}

async fn setup() -> Setup {
    let idp = tokio::task::spawn_blocking(|| OidcProvider::start(ProviderSetup::standard()))
        .await
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let secret = home.path().join("client-secret");
    std::fs::write(&secret, oidc::CLIENT_SECRET).unwrap();
    // `alice` is declared (groups = ["dba"]); bob is not, and becomes an identity at sign-in.
    let extra = format!(
        "\n[[identity_providers]]\nname = \"corp\"\nissuer = \"{}\"\nclient_id = \"{}\"\n\
         client_secret_file = \"{}\"\nidentities = \"dynamic\"\n",
        idp.issuer(),
        oidc::CLIENT_ID,
        secret.display()
    );
    let h = Harness::start_with(&extra).await;
    let server = format!("http://{}", h.gateway.admin_addr.unwrap());
    Setup {
        h,
        idp,
        server,
        home,
    }
}

impl Setup {
    fn cli(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("SLUICE_CONFIG_DIR", self.home.path().join("config"))
            .env_remove("SLUICE_TOKEN")
            .env_remove("SLUICE_SERVER")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("RUST_LOG");
        c
    }

    async fn run(&self, args: &[&str]) -> std::process::Output {
        let mut c = self.cli();
        c.args(args);
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }

    /// Runs `sluice login` and drives the provider's pages as the person would; returns the
    /// CLI's output once it has stored the credential.
    async fn login(&self, flow: &str, user: &str, password: &str) -> std::process::Output {
        let mut child = self
            .cli()
            .args([
                "login",
                "--server",
                &self.server,
                "--flow",
                flow,
                "--no-browser",
                "--timeout",
                "60s",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let prompt = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.recv().await {
                seen.push(line.clone());
                let found = match flow {
                    "device" => line
                        .strip_prefix("Open ")
                        .and_then(|rest| rest.split_once(" and enter "))
                        .map(|(uri, code)| (uri.to_owned(), code.trim().to_owned())),
                    _ => line
                        .strip_prefix("Open: ")
                        .map(|url| (url.trim().to_owned(), String::new())),
                };
                if found.is_some() {
                    return found;
                }
            }
            None
        })
        .await;
        let Ok(Some((uri, code))) = prompt else {
            let _ = child.kill();
            panic!("sluice login printed no prompt: {seen:?}");
        };
        if flow == "device" {
            self.idp.complete_device(&uri, &code, user, password).await;
        } else {
            // The browser's last hop is the CLI's loopback listener.
            let callback = self.idp.authorize(&uri, user, password).await;
            let answer = reqwest::get(&callback).await.unwrap();
            assert!(answer.status().is_success(), "{}", answer.status());
        }
        let mut rest = Vec::new();
        let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        while let Ok(line) = lines.try_recv() {
            rest.push(line);
        }
        assert!(
            output.status.success(),
            "sluice login failed: {seen:?} {rest:?}"
        );
        output
    }

    fn psql_env(&self, env_lines: &str, sql: &str) -> std::process::Output {
        let mut c = Command::new("psql");
        c.args(["-X", "-At", "-c", sql]).env_remove("PGSERVICE");
        for line in env_lines.lines() {
            let Some(assignment) = line.strip_prefix("export ") else {
                continue;
            };
            let (name, value) = assignment.split_once('=').unwrap();
            c.env(name, value.trim_matches('\''));
        }
        // The test gateway's PostgreSQL listener has no TLS of its own configured.
        c.env("PGSSLMODE", "prefer");
        c.output().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn device_sign_in_gives_a_credential_psql_uses_until_logout() {
    let s = setup().await;
    s.login("device", oidc::ALICE, oidc::ALICE_PASSWORD).await;

    let status = s.run(&["login", "status", "--json"]).await;
    assert!(status.status.success(), "{}", stderr(&status));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["identity"], "alice", "{status}");
    let groups = status["groups"].to_string();
    // Declared groups joined with the provider's.
    assert!(
        groups.contains("dba") && groups.contains("developers"),
        "{groups}"
    );

    let env = s
        .run(&["login", "env", "--target", "app", "--protocol", "postgres"])
        .await;
    assert!(env.status.success(), "{}", stderr(&env));
    let env = stdout(&env);
    assert!(
        env.contains("PGUSER='alice'") || env.contains("PGUSER=alice"),
        "{env}"
    );
    let out = s.psql_env(&env, "SELECT 'through sluice'");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "through sluice");

    // The credential file is the person's only.
    let file = s.home.path().join("config").join("credentials.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // An agent's per-task token, tied to alice and to one target.
    let task = s
        .run(&[
            "token",
            "create",
            "--task",
            "nightly report",
            "--target",
            "app",
            "--ttl",
            "10m",
            "--server",
            &s.server,
        ])
        .await;
    assert!(task.status.success(), "{}", stderr(&task));
    let task_token = stdout(&task).trim().to_owned();
    assert!(task_token.starts_with("slc_"), "{task_token}");
    let out =
        s.h.psql_as("alice", &task_token, "app", &["-c", "SELECT 2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let audit = s.h.audit().await;
    assert!(
        audit.iter().any(|r| matches!(&r.event,
            sluice_audit::AuditEvent::SessionStarted { task: Some(t), .. } if t == "nightly report")),
        "the task token's session names its task"
    );

    let out = s.run(&["logout"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    // Revoked at the gateway: the same password no longer works.
    let out = s.psql_env(&env, "SELECT 1");
    assert!(!out.status.success());
    let status = s.run(&["login", "status"]).await;
    assert!(!status.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_sign_in_makes_a_dynamic_identity_from_the_providers_claims() {
    let s = setup().await;
    s.login("pkce", oidc::BOB, oidc::BOB_PASSWORD).await;
    let status = s.run(&["login", "status", "--json"]).await;
    assert!(status.status.success(), "{}", stderr(&status));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["identity"], "bob", "{status}");
    assert!(status["groups"].to_string().contains("ops"), "{status}");
    let env = stdout(
        &s.run(&["login", "env", "--target", "app", "--protocol", "postgres"])
            .await,
    );
    let out = s.psql_env(&env, "SELECT current_user IS NOT NULL");
    assert!(out.status.success(), "{}", stderr(&out));
    let audit = s.h.audit().await;
    assert!(audit.iter().any(|r| matches!(&r.event,
        sluice_audit::AuditEvent::CredentialIssued { identity, purpose, provider: Some(p), .. }
            if identity == "bob" && purpose == "login" && p == "corp")));
}
