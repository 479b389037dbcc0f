//! The web console's test harness: a gateway with an OpenID provider (the oidc-provider
//! fixture) whose users sign in to the console, a table to hold statements on, and a cookie
//! jar that behaves like a browser's. Used by console.rs, console_browser.rs and the page
//! tests.

use std::time::{Duration, Instant};

use reqwest::{redirect, Client, StatusCode};

use super::oidc::{self, ClientSetup, OidcProvider, ProviderSetup, UserSetup};
use super::*;

/// DELETE and requests for access wait for a dba; the console (the admin operations) is for
/// dba and developers only.
pub const POLICY: &str = r#"package sluice

import rego.v1

command := input.request.statement.command if input.request.action == "statement"

console_user if {
	some g in input.identity.groups
	g in {"dba", "developers"}
}

decision := {
	"allow": true,
	"rule": "delete_needs_dba",
	"reasons": ["deleting rows"],
	"approval": {"groups": ["dba"]},
} if {
	command == "DELETE"
} else := {
	"allow": true,
	"rule": "access_needs_dba",
	"reasons": ["time-bound access"],
	"approval": {"groups": ["dba"]},
} if {
	input.request.action == "access"
} else := {
	"allow": false,
	"rule": "console_for_reviewers",
	"reasons": ["the console is for dba and developers"],
} if {
	input.request.action == "admin"
	not console_user
} else := {"allow": true, "rule": "allow_all", "reasons": []}
"#;

pub const CAROL: &str = "carol";
pub const CAROL_PASSWORD: &str = "carol-pw-77e1";

pub struct Console {
    pub h: Harness,
    pub idp: OidcProvider,
    pub admin: String,
    pub table: String,
    /// The policy directory (`[policy] watch = false`: changes take a reload).
    pub policy_dir: std::path::PathBuf,
}

impl Console {
    pub async fn start(name: &str) -> Console {
        Console::start_with_policy(name, POLICY).await
    }

    /// A console whose gateway runs `policy` instead of [`POLICY`] (which must still refuse
    /// carol the admin operations, if a test counts on it).
    pub async fn start_with_policy(name: &str, policy: &str) -> Console {
        Console::start_inner(name, policy, false).await
    }

    /// A console on an admin listener with a (self-signed) certificate, as in production: the
    /// session cookie is then `__Host-` and `Secure`. The provider needs an `https` redirect
    /// URI with its exact port, so the port is chosen before the gateway starts.
    pub async fn start_tls(name: &str) -> Console {
        Console::start_inner(name, POLICY, true).await
    }

    async fn start_inner(name: &str, policy: &str, tls: bool) -> Console {
        let tls_port = tls.then(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let mut setup = ProviderSetup::standard();
        // The console's callback on the admin listener: a loopback redirect, any port over
        // plain HTTP; over HTTPS the provider wants the exact URI.
        setup.clients = vec![match tls_port {
            // oidc-provider refuses https on an IP address for a native client: register the
            // console as the web application it is.
            Some(port) => ClientSetup {
                redirect_uris: vec![format!("https://127.0.0.1:{port}/console/callback")],
                application_type: Some("web".to_owned()),
                ..ClientSetup::cli(oidc::CLIENT_ID, oidc::CLIENT_SECRET)
            },
            None => ClientSetup {
                redirect_uris: vec![
                    "http://127.0.0.1/callback".to_owned(),
                    "http://127.0.0.1/console/callback".to_owned(),
                ],
                ..ClientSetup::cli(oidc::CLIENT_ID, oidc::CLIENT_SECRET)
            },
        }];
        setup.users.push(UserSetup::new(
            CAROL,
            "carol@corp.example",
            "Carol Example",
            &["analysts"],
            CAROL_PASSWORD,
        ));
        let idp = tokio::task::spawn_blocking(move || OidcProvider::start(setup))
            .await
            .unwrap();
        let dir = tempfile::Builder::new()
            .prefix("sluice-console-")
            .tempdir()
            .unwrap()
            .keep();
        std::fs::write(dir.join("policy.rego"), policy).unwrap();
        let secret = dir.join("client-secret");
        std::fs::write(&secret, oidc::CLIENT_SECRET).unwrap();
        let issuer = idp.issuer().to_owned();
        let policy_dir = dir.clone();
        let admin_tls = match tls_port {
            Some(port) => {
                let cert =
                    rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
                let (crt, key) = (dir.join("admin.crt"), dir.join("admin.key"));
                std::fs::write(&crt, cert.cert.pem()).unwrap();
                std::fs::write(&key, cert.key_pair.serialize_pem()).unwrap();
                Some((port, crt, key))
            }
            None => None,
        };
        let admin_tls_config = admin_tls.clone();
        let mut h = Harness::start_with_config(move |text| {
            let text = match &admin_tls_config {
                Some((port, crt, key)) => text.replacen(
                    "[admin]\nlisten = \"127.0.0.1:0\"\n",
                    &format!(
                        "[admin]\nlisten = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
                        crt.display(),
                        key.display()
                    ),
                    1,
                ),
                None => text,
            };
            text + &format!(
                "\n[[identities]]\nname = \"rita\"\nkind = \"human\"\ngroups = [\"developers\"]\n\
                 \n[[identity_providers]]\nname = \"corp\"\nissuer = \"{issuer}\"\nclient_id = \"{}\"\n\
                 client_secret_file = \"{}\"\nidentities = \"dynamic\"\n\
                 \n[policy]\ndir = \"{}\"\nwatch = false\n",
                oidc::CLIENT_ID,
                secret.display(),
                policy_dir.display()
            )
        })
        .await;
        h.add_tokens(&["rita"]).await;
        let admin = match &admin_tls {
            Some((port, _, _)) => format!("https://127.0.0.1:{port}"),
            None => h.admin_url(),
        };
        let table = format!("console_{name}");
        pg().psql(
            "app",
            &format!(
                "SET ROLE sluice_scram; DROP TABLE IF EXISTS {table};\n\
                 CREATE TABLE {table} (id int PRIMARY KEY, note text);\n\
                 INSERT INTO {table} SELECT g, 'row ' || g FROM generate_series(1, 10) g;"
            ),
        )
        .unwrap();
        Console {
            h,
            idp,
            admin,
            table,
            policy_dir: dir,
        }
    }

    /// A browser's cookie jar that follows no redirect by itself.
    pub fn agent() -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    /// Signs `user` in through the provider, as the console's login link does; the agent then
    /// holds the session cookie. Returns the callback's answer.
    pub async fn sign_in(&self, agent: &Client, user: &str, password: &str) -> reqwest::Response {
        let login = agent
            .get(format!(
                "{}/console/login?next=/console/reviews",
                self.admin
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(
            login.status(),
            StatusCode::SEE_OTHER,
            "{}",
            login.text().await.unwrap()
        );
        let to_provider = location(&login);
        assert!(to_provider.starts_with(self.idp.issuer()), "{to_provider}");
        assert!(
            to_provider.contains("code_challenge_method=S256"),
            "{to_provider}"
        );
        let back = self.idp.authorize(&to_provider, user, password).await;
        assert!(
            back.starts_with(&format!("{}/console/callback?", self.admin)),
            "{back}"
        );
        agent.get(back).send().await.unwrap()
    }

    pub async fn page(&self, agent: &Client, path: &str) -> (StatusCode, String) {
        let r = agent
            .get(format!("{}{path}", self.admin))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// The id of the first pending review on the inbox's live list, waiting for one.
    pub async fn wait_for_review(&self, agent: &Client) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.page(agent, "/console/reviews/live").await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if let Some(id) = attr(&body, "data-review") {
                return id;
            }
            assert!(Instant::now() < deadline, "no review appeared: {body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn decide(
        &self,
        agent: &Client,
        id: &str,
        verdict: &str,
        csrf: &str,
    ) -> reqwest::Response {
        agent
            .post(format!("{}/console/reviews/{id}/decide", self.admin))
            .header("origin", &self.admin)
            .form(&[
                ("csrf", csrf),
                ("verdict", verdict),
                ("comment", "checked"),
                ("grant", ""),
            ])
            .send()
            .await
            .unwrap()
    }
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// The value of the first `name="..."` attribute in `html`.
pub fn attr(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("{name}=\""))? + name.len() + 2;
    Some(html[at..].split('"').next()?.to_owned())
}

/// The page's form token.
pub fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}
