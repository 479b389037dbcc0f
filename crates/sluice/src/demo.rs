//! `sluice demo`: a scratch PostgreSQL with a small shop schema, a gateway in front of it on the
//! embedded store enforcing the example policies, three identities with fresh tokens, and the
//! commands to try it. When Debian's MariaDB server is installed, a scratch MariaDB with the
//! same schema and rows sits behind the gateway's MySQL listener too; when OpenSSH's server is,
//! a scratch sshd is the target `host` behind the gateway's SSH listener, and each identity has
//! a key pair of its own to log in with.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;
use sluice_core::config::Config;

use crate::cli::DemoArgs;
use crate::scratch_http::ScratchHttp;
use crate::scratch_mariadb::{self, ScratchMariaDb};
use crate::scratch_pg::{self, ScratchPostgres, SCRAM_ROLE};
use crate::scratch_sshd::{self, ScratchSshd};

const DATABASE: &str = "shop";
/// The MariaDB copy of the shop: its target's name (what MySQL clients give as their database),
/// and the account sluice logs in to MariaDB as.
const MYSQL_TARGET: &str = "shop-mysql";
const MYSQL_ACCOUNT: &str = "sluice";
/// The scratch sshd's target: users log in as `IDENTITY+host`.
const SSH_TARGET: &str = "host";
/// The demo's HTTP service behind the HTTPS listener.
const HTTP_TARGET: &str = "api";
/// The same database as `shop`, reached through the demo's agent (docs/agent-connection.md).
const AGENT_TARGET: &str = "shop-via-agent";
const AGENT_NAME: &str = "demo-agent";
/// The demo's identities: name, kind, group, and what the example policies let them do,
/// printed beside their psql line so a first `SELECT 1` as dana is not a puzzle.
/// tests/demo.rs checks each claim through the running demo.
const IDENTITIES: [(&str, &str, &str, &str); 3] = [
    (
        "alice",
        "human",
        "developers",
        "a developer: reads (customers' personal data masked); writes wait for dana's \
         approval; no DDL on production",
    ),
    (
        "ci-bot",
        "service",
        "ci",
        "a CI job: reads (personal data masked) and writes at once; no schema changes",
    ),
    // Reviews what alice may not do alone (approval.rego).
    (
        "dana",
        "human",
        "dba",
        "a DBA who reviews alice's held writes and administers the gateway (admins); no rule \
         lets those groups read or write data, so even SELECT 1 is denied (default_deny)",
    ),
];

/// The example policies (examples/policies), built in so the demo runs from the binary alone.
const POLICIES: [(&str, &str); 24] = [
    (
        "approval.rego",
        include_str!("../../../examples/policies/approval.rego"),
    ),
    (
        "approval_test.rego",
        include_str!("../../../examples/policies/approval_test.rego"),
    ),
    (
        "connect.rego",
        include_str!("../../../examples/policies/connect.rego"),
    ),
    (
        "connect_test.rego",
        include_str!("../../../examples/policies/connect_test.rego"),
    ),
    (
        "decision.rego",
        include_str!("../../../examples/policies/decision.rego"),
    ),
    (
        "decision_test.rego",
        include_str!("../../../examples/policies/decision_test.rego"),
    ),
    (
        "groups.rego",
        include_str!("../../../examples/policies/groups.rego"),
    ),
    (
        "http.rego",
        include_str!("../../../examples/policies/http.rego"),
    ),
    (
        "identity.rego",
        include_str!("../../../examples/policies/identity.rego"),
    ),
    (
        "identity_test.rego",
        include_str!("../../../examples/policies/identity_test.rego"),
    ),
    (
        "inputs_test.rego",
        include_str!("../../../examples/policies/inputs_test.rego"),
    ),
    (
        "kinds_test.rego",
        include_str!("../../../examples/policies/kinds_test.rego"),
    ),
    (
        "kube.rego",
        include_str!("../../../examples/policies/kube.rego"),
    ),
    (
        "kube_test.rego",
        include_str!("../../../examples/policies/kube_test.rego"),
    ),
    (
        "mask.rego",
        include_str!("../../../examples/policies/mask.rego"),
    ),
    (
        "mask_test.rego",
        include_str!("../../../examples/policies/mask_test.rego"),
    ),
    (
        "mysql_test.rego",
        include_str!("../../../examples/policies/mysql_test.rego"),
    ),
    (
        "sql.rego",
        include_str!("../../../examples/policies/sql.rego"),
    ),
    (
        "sql_test.rego",
        include_str!("../../../examples/policies/sql_test.rego"),
    ),
    (
        "ssh.rego",
        include_str!("../../../examples/policies/ssh.rego"),
    ),
    (
        "ssh_facts_test.rego",
        include_str!("../../../examples/policies/ssh_facts_test.rego"),
    ),
    (
        "ssh_sessions.rego",
        include_str!("../../../examples/policies/ssh_sessions.rego"),
    ),
    (
        "ssh_sessions_test.rego",
        include_str!("../../../examples/policies/ssh_sessions_test.rego"),
    ),
    (
        "ssh_test.rego",
        include_str!("../../../examples/policies/ssh_test.rego"),
    ),
];

/// Customers hold personal data the example policies mask (mask.rego): whole columns, and
/// emails, SSNs, cards and phones inside `notes` (prose) and `profile` (JSON). Every value is
/// fake: reserved example domains, published test card numbers, fictional phone numbers.
/// The rows (`ROWS`) are one text for both databases, so that they cannot drift apart.
const SCHEMA: &str = r#"
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text NOT NULL, ssn text, card_number text, phone text, notes text, profile jsonb);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2) NOT NULL, placed_at timestamptz NOT NULL DEFAULT now());
"#;

/// The same tables in MariaDB's words: JSON for jsonb (MariaDB checks it is valid JSON),
/// AUTO_INCREMENT for serial, TIMESTAMP (stored in UTC) for timestamptz.
const MYSQL_SCHEMA: &str = r#"
CREATE TABLE customers (id int AUTO_INCREMENT PRIMARY KEY, name text NOT NULL, email text NOT NULL, ssn text, card_number text, phone text, notes text, profile json);
CREATE TABLE orders (id int AUTO_INCREMENT PRIMARY KEY, customer_id int, total decimal(10,2) NOT NULL, placed_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, FOREIGN KEY (customer_id) REFERENCES customers (id));
"#;

/// Written in the SQL both servers read alike: single-quoted strings, no backslashes.
const ROWS: &str = r#"
INSERT INTO customers (name, email, ssn, card_number, phone, notes, profile) VALUES
  ('Ada Lovelace', 'ada@example.com', '123-45-6789', '4111 1111 1111 1111', '+44 20 7946 0018',
   'Call +44 20 7946 0018 first; invoices to ada.l@example.com. SSN 123-45-6789, card 4111 1111 1111 1111.',
   '{"email": "ada@example.com", "card": 4111111111111111, "phones": ["+44 20 7946 0018"], "newsletter": true}'),
  ('Grace Hopper', 'grace@example.org', '219-09-9999', '5555 5555 5555 4444', '+1 202 555 0143',
   'Refund to card 5555555555554444, then write to grace@example.org. SSN 219-09-9999.',
   '{"email": "grace@example.org", "card": 5555555555554444, "phones": ["+1 202 555 0143", "+1 202 555 0178"], "newsletter": false}'),
  ('Alan Turing', 'alan@example.net', '078-05-1120', '3782 822463 10005', '+44 161 496 0752',
   'Gift order; no contact details given.',
   '{"email": "alan@example.net", "card": 378282246310005, "phones": [], "newsletter": false}');
INSERT INTO orders (customer_id, total) VALUES (1, 120.50), (1, 35.00), (2, 999.99), (3, 12.75);
"#;

#[derive(Serialize)]
struct DemoInfo {
    config: PathBuf,
    policies: PathBuf,
    admin_url: Option<String>,
    direct_url: String,
    postgres_url: BTreeMap<String, String>,
    /// Identity → URL of the same database through the demo's agent, a `sluice agent`
    /// process the demo enrolled and started.
    postgres_via_agent_url: BTreeMap<String, String>,
    /// Where agents connect.
    agents_addr: String,
    /// Only when MariaDB is installed: identity → URL through the gateway's MySQL listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    mysql_url: Option<BTreeMap<String, String>>,
    /// Only when MariaDB is installed: straight to the scratch MariaDB, bypassing sluice.
    #[serde(skip_serializing_if = "Option::is_none")]
    direct_mysql_url: Option<String>,
    /// Only when OpenSSH's server is installed: identity → how to log in to the target `host`
    /// through the gateway's SSH listener, with the identity's own key.
    #[serde(skip_serializing_if = "Option::is_none")]
    ssh: Option<BTreeMap<String, SshLogin>>,
    /// Only when OpenSSH's server is installed: straight to the scratch sshd, bypassing sluice,
    /// with the key sluice logs in with.
    #[serde(skip_serializing_if = "Option::is_none")]
    direct_ssh: Option<SshLogin>,
    /// Only with the SSH listener: its host key's fingerprint, as ssh shows it at the first
    /// connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    ssh_fingerprint: Option<String>,
    /// Straight to the scratch HTTP service, bypassing sluice.
    direct_http_url: String,
    /// Identity → the HTTP service `api` through the gateway's HTTPS listener (send the
    /// identity's token as `Authorization: Bearer`).
    http_url: BTreeMap<String, String>,
    /// The certificate that verifies the gateway's HTTPS listener (`curl --cacert`).
    http_ca: PathBuf,
    /// The MCP endpoint (streamable HTTP) on the HTTPS listener: an agent sends an identity's
    /// token as the bearer and acts as that identity's agent (docs/agents.md).
    mcp_url: String,
    tokens: BTreeMap<String, String>,
    /// What each identity may do under the example policies.
    roles: BTreeMap<String, String>,
}

/// `ssh -i KEY_FILE -p PORT USER@HOST`.
#[derive(Serialize)]
struct SshLogin {
    host: String,
    port: u16,
    user: String,
    key_file: PathBuf,
}

pub async fn run(args: DemoArgs) -> Result<()> {
    let (dir, _temporary) = match args.dir {
        Some(d) => (d, None),
        None => {
            let t = tempfile::Builder::new().prefix("sluice-demo-").tempdir()?;
            (t.path().to_owned(), Some(t))
        }
    };
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let setup_dir = dir.clone();
    let http = ScratchHttp::start()
        .await
        .context("starting the demo's scratch HTTP service")?;
    let http_port = http.port();
    let Prepared {
        pg,
        mariadb,
        ssh,
        config_path,
        target_password,
    } = tokio::task::spawn_blocking(move || prepare(&setup_dir, http_port, args.workers)).await??;

    let (config, text) = Config::load_with_text(&config_path)?;
    crate::logging::init(&config.log);
    let running = crate::runtime::start(config.clone(), &text).await?;

    let _agent = start_agent(&config, &running, &dir).await?;
    let mut tokens = BTreeMap::new();
    let mut urls = BTreeMap::new();
    let mut agent_urls = BTreeMap::new();
    let pg_addr = running
        .postgres_addr
        .context("the demo needs the PostgreSQL listener")?;
    let mysql_addr = match &mariadb {
        Some(_) => Some(
            running
                .mysql_addr
                .context("the demo's MariaDB needs the gateway's MySQL listener")?,
        ),
        None => None,
    };
    let ssh_addr = match &ssh {
        Some(_) => Some(
            running
                .ssh_addr
                .context("the demo's sshd needs the gateway's SSH listener")?,
        ),
        None => None,
    };
    let ssh_logins = match (&ssh, ssh_addr) {
        (Some(ssh), Some(addr)) => Some(
            ssh.identity_keys
                .iter()
                .map(|(name, key_file)| {
                    let login = SshLogin {
                        host: addr.ip().to_string(),
                        port: addr.port(),
                        user: format!("{name}+{SSH_TARGET}"),
                        key_file: key_file.clone(),
                    };
                    (name.clone(), login)
                })
                .collect(),
        ),
        _ => None,
    };
    let mut mysql_urls = BTreeMap::new();
    let http_addr = running
        .http_addr
        .context("the demo needs the HTTPS listener")?;
    let mut http_urls = BTreeMap::new();
    for (name, _, _, _) in IDENTITIES {
        http_urls.insert(
            name.to_owned(),
            format!("https://{http_addr}/{HTTP_TARGET}"),
        );
        let secret =
            crate::token_cmd::create(&config, name, Some(Duration::from_secs(8 * 3600))).await?;
        urls.insert(
            name.to_owned(),
            format!(
                "postgresql://{name}:{}@{pg_addr}/{DATABASE}",
                secret.expose()
            ),
        );
        agent_urls.insert(
            name.to_owned(),
            format!(
                "postgresql://{name}:{}@{pg_addr}/{AGENT_TARGET}",
                secret.expose()
            ),
        );
        if let Some(addr) = mysql_addr {
            mysql_urls.insert(
                name.to_owned(),
                format!("mysql://{name}:{}@{addr}/{MYSQL_TARGET}", secret.expose()),
            );
        }
        tokens.insert(name.to_owned(), secret.expose().to_owned());
    }
    let info = DemoInfo {
        policies: dir.join("policies"),
        config: config_path.clone(),
        admin_url: running.admin_addr.map(|a| format!("http://{a}")),
        direct_url: pg.direct_url(SCRAM_ROLE, &target_password, DATABASE),
        postgres_url: urls,
        postgres_via_agent_url: agent_urls,
        agents_addr: running
            .agents_addr
            .map(|a| a.to_string())
            .unwrap_or_default(),
        mysql_url: mysql_addr.map(|_| mysql_urls),
        direct_mysql_url: mariadb
            .as_ref()
            .map(|m| m.db.direct_url(MYSQL_ACCOUNT, &m.password, DATABASE)),
        ssh: ssh_logins,
        direct_ssh: ssh.as_ref().map(|s| SshLogin {
            host: s.sshd.host().to_owned(),
            port: s.sshd.port(),
            user: s.sshd.user().to_owned(),
            key_file: s.sshd.key_file(),
        }),
        ssh_fingerprint: ssh.as_ref().and(running.ssh_fingerprint.clone()),
        direct_http_url: http.url(),
        http_url: http_urls,
        http_ca: dir.join("data").join("tls").join("server.crt"),
        mcp_url: format!("https://{http_addr}/mcp"),
        tokens,
        roles: IDENTITIES
            .iter()
            .map(|(name, _, _, role)| (name.to_string(), role.to_string()))
            .collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&info)?);
    } else {
        print_human(&info, pg_addr, mysql_addr);
    }

    let signal = crate::runtime::shutdown_signal().await?;
    running
        .shutdown(&format!("demo stopped by {signal}"))
        .await?;
    drop(pg);
    drop(mariadb);
    // Ends the sessions it still serves too.
    drop(ssh);
    drop(http);
    Ok(())
}

/// The demo's agent: a `sluice agent` process enrolled now (or already, from a previous run
/// in the same directory), serving `shop-via-agent`; killed when the demo stops.
async fn start_agent(
    config: &Config,
    running: &crate::runtime::RunningGateway,
    dir: &Path,
) -> Result<AgentProcess> {
    let addr = running
        .agents_addr
        .context("the demo needs the agents' listener")?;
    let pin = sluice_agent::hub::listener_pin(config)?;
    let (token, record) = sluice_agent::enrollment::issue(
        AGENT_NAME,
        pin,
        sluice_core::gateway::unix_now().saturating_mul(1000),
        600_000,
    );
    crate::runtime::open_store(config)
        .await?
        .insert_enrollment(&record)
        .await?;
    let log = std::fs::File::create(dir.join("agent.log"))?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg("agent")
        .arg("--server")
        .arg(addr.to_string())
        .arg("--state-dir")
        .arg(dir.join("agent"))
        .env("SLUICE_AGENT_ENROLL", token)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting the demo's agent")?;
    Ok(AgentProcess(child))
}

/// Killed on drop, with the demo.
struct AgentProcess(std::process::Child);

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where the gateway's MySQL listener is. The demo's configuration gives it a fixed port, so
/// the configuration knows; this is the one place to ask the running gateway instead once it
/// reports the address it bound, as it does `postgres_addr`.
/// The scratch MariaDB and the password of the account sluice logs in to it as.
struct DemoMariaDb {
    db: ScratchMariaDb,
    password: String,
}

/// The scratch sshd, and each identity's private key (the public halves are in the
/// configuration's `ssh_keys`).
struct DemoSshd {
    sshd: ScratchSshd,
    identity_keys: BTreeMap<String, PathBuf>,
}

struct Prepared {
    pg: ScratchPostgres,
    mariadb: Option<DemoMariaDb>,
    ssh: Option<DemoSshd>,
    config_path: PathBuf,
    target_password: String,
}

/// Starts the scratch MariaDB in `dir` with the shop's tables and rows, and an account for
/// sluice that owns the database. Blocking.
fn prepare_mariadb(dir: &Path) -> Result<DemoMariaDb> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let password = random_password();
    let db = ScratchMariaDb::start(dir)?;
    // mysql_native_password: the plugin every MySQL-protocol client and server speaks, and
    // the one the gateway's MySQL upstream login is first written for.
    db.create_user(MYSQL_ACCOUNT, &password, None)?;
    db.create_database(DATABASE, MYSQL_ACCOUNT)?;
    db.sql(Some(DATABASE), &format!("{MYSQL_SCHEMA}{ROWS}"))?;
    Ok(DemoMariaDb { db, password })
}

/// Starts the scratch sshd in `dir` and makes a fresh key pair per identity in `keys_dir`.
/// Returns it with each identity's public line. Blocking.
fn prepare_sshd(dir: &Path, keys_dir: &Path) -> Result<(DemoSshd, BTreeMap<String, String>)> {
    // Both are scratch, as the databases are: a re-run starts afresh (keygen and the sshd's own
    // keys refuse to overwrite a key).
    for d in [dir, keys_dir] {
        if d.exists() {
            std::fs::remove_dir_all(d)?;
        }
    }
    std::fs::create_dir_all(keys_dir)?;
    std::fs::set_permissions(keys_dir, std::fs::Permissions::from_mode(0o700))?;
    let mut identity_keys = BTreeMap::new();
    let mut public_lines = BTreeMap::new();
    for (name, _, _, _) in IDENTITIES {
        let (private, public) = scratch_sshd::keygen(keys_dir, name)?;
        identity_keys.insert(name.to_owned(), private);
        public_lines.insert(name.to_owned(), public);
    }
    let sshd = ScratchSshd::start(dir)?;
    Ok((
        DemoSshd {
            sshd,
            identity_keys,
        },
        public_lines,
    ))
}

/// Starts the scratch databases and writes the gateway's configuration. Blocking.
fn prepare(dir: &Path, http_port: u16, workers: usize) -> Result<Prepared> {
    // MariaDB, when installed, starts beside PostgreSQL rather than after it: each spends
    // most of its start-up waiting on its own disk writes.
    let mariadb_dir = dir.join("mysql");
    let mariadb = scratch_mariadb::installed()
        .then(|| std::thread::spawn(move || prepare_mariadb(&mariadb_dir)));
    let pg_dir = dir.join("pg");
    if pg_dir.exists() {
        // The database is scratch: a re-run starts it afresh, while the gateway's state
        // (store, audit trail) in `data/` carries on.
        std::fs::remove_dir_all(&pg_dir)?;
    }
    let superuser_password = random_password();
    let target_password = random_password();
    let pg = ScratchPostgres::start(&pg_dir, &superuser_password)?;
    pg.create_roles_and_database(&target_password, DATABASE)?;
    pg.psql(DATABASE, &format!("SET ROLE {SCRAM_ROLE}; {SCHEMA}{ROWS}"))?;
    let (ssh, ssh_public_lines) = if scratch_sshd::installed() {
        let (ssh, lines) = prepare_sshd(&dir.join("sshd"), &dir.join("ssh-keys"))
            .context("could not start the demo's sshd (openssh-server is installed)")?;
        (Some(ssh), lines)
    } else {
        (None, BTreeMap::new())
    };
    let mariadb = match mariadb {
        Some(started) => Some(
            started
                .join()
                .map_err(|_| anyhow::anyhow!("starting the demo's MariaDB panicked"))?
                .context("could not start the demo's MariaDB (mariadb-server is installed)")?,
        ),
        None => None,
    };

    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies)?;
    for (name, text) in POLICIES {
        std::fs::write(policies.join(name), text)?;
    }
    let password_file = dir.join("target-password");
    sluice_core::secret::write_private(&password_file, target_password.as_bytes())?;
    let pg_port = scratch_pg::free_port()?;
    let admin_port = scratch_pg::free_port()?;
    let https_port = scratch_pg::free_port()?;
    let agents_port = scratch_pg::free_port()?;
    // The credential the gateway injects towards the HTTP service; callers never see it.
    sluice_core::secret::write_private(&dir.join("api-token"), random_password().as_bytes())?;
    let mysql = match &mariadb {
        Some(m) => {
            let password_file = dir.join("mysql-target-password");
            sluice_core::secret::write_private(&password_file, m.password.as_bytes())?;
            let listen_port = scratch_pg::free_port()?;
            // Clients adapt to the version the greeting announces: MariaDB's own, so that they
            // treat the gateway as the MariaDB it fronts (docs/mysql-connection.md).
            let version = m.db.sql(None, "SELECT VERSION()")?;
            let version = version.trim().split('-').next().unwrap_or_default();
            format!(
                "\n[[listeners]]\nprotocol = \"mysql\"\nlisten = \"127.0.0.1:{listen_port}\"\n\
                 default_target = \"{MYSQL_TARGET}\"\nserver_version = \"5.5.5-{version}-MariaDB-sluice\"\n\n\
                 [[targets]]\nname = \"{MYSQL_TARGET}\"\nkind = \"mysql\"\nhost = \"127.0.0.1\"\n\
                 port = {}\ndatabase = \"{DATABASE}\"\nuser = \"{MYSQL_ACCOUNT}\"\n\
                 password_file = \"mysql-target-password\"\ntls = \"disable\"\n\
                 tags = {{ env = \"production\" }}\n",
                m.db.port
            )
        }
        None => String::new(),
    };
    let ssh_section = match &ssh {
        Some(s) => {
            let listen_port = scratch_pg::free_port()?;
            // The target's key file relative to the configuration, as the password files are;
            // its host key pinned, since the demo made it.
            let key_file = s
                .sshd
                .key_file()
                .strip_prefix(dir)
                .map(Path::to_owned)
                .context("the demo's sshd keeps its keys outside the demo's directory")?;
            format!(
                "\n[[listeners]]\nprotocol = \"ssh\"\nlisten = \"127.0.0.1:{listen_port}\"\n\
                 default_target = \"{SSH_TARGET}\"\n\n\
                 [[targets]]\nname = \"{SSH_TARGET}\"\nkind = \"ssh\"\nhost = \"{}\"\nport = {}\n\
                 user = {}\nkey_file = {}\nhost_key = {}\n\
                 tags = {{ env = \"staging\" }}\n",
                s.sshd.host(),
                s.sshd.port(),
                toml_string(s.sshd.user()),
                toml_string(&key_file.to_string_lossy()),
                toml_string(s.sshd.host_public_key()),
            )
        }
        None => String::new(),
    };
    let mut identities = String::new();
    for (name, kind, group, _) in IDENTITIES {
        // The reviewer also runs the gateway: the admin API's policy reload is for admins
        // (identity.rego).
        let admins = if name == "dana" { ", \"admins\"" } else { "" };
        identities.push_str(&format!(
            "\n[[identities]]\nname = \"{name}\"\nkind = \"{kind}\"\ngroups = [\"{group}\"{admins}]\n"
        ));
        if let Some(line) = ssh_public_lines.get(name) {
            identities.push_str(&format!("ssh_keys = [{}]\n", toml_string(line)));
        }
    }
    let config = format!(
        "# Written by `sluice demo`. Every field is described in docs/configuration.md.\n\
         [gateway]\ndata_dir = \"data\"\nmax_connections = {max_connections}\n\
         worker_threads = {workers}\n\n\
         [[listeners]]\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:{pg_port}\"\n\n\
         [admin]\nlisten = \"127.0.0.1:{admin_port}\"\n\n\
         [audit]\ndurability = \"buffered\"\n\n\
         [log]\nlevel = \"info\"\n\n\
         [policy]\ndir = \"policies\"\n\
         {identities}\n\
         [[targets]]\nname = \"{DATABASE}\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\n\
         database = \"{DATABASE}\"\nuser = \"{SCRAM_ROLE}\"\npassword_file = \"target-password\"\n\
         tls = \"disable\"\ntags = {{ env = \"production\" }}\n\n\
         [[targets]]\nname = \"{AGENT_TARGET}\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\n\
         port = {}\ndatabase = \"{DATABASE}\"\nuser = \"{SCRAM_ROLE}\"\n\
         password_file = \"target-password\"\ntls = \"disable\"\nvia = \"{AGENT_NAME}\"\n\
         tags = {{ env = \"production\" }}\n\n\
         [agents]\nlisten = \"127.0.0.1:{agents_port}\"\n\n\
         [[listeners]]\nprotocol = \"http\"\nlisten = \"127.0.0.1:{https_port}\"\n\n\
         [[targets]]\nname = \"{HTTP_TARGET}\"\nkind = \"http\"\n\
         url = \"http://127.0.0.1:{http_port}\"\nauth = \"bearer\"\npassword_file = \"api-token\"\n\
         tags = {{ env = \"production\" }}\n\
         {mysql}{ssh_section}",
        pg.port,
        pg.port,
        // The gateway's own default, unless a benchmark raised the scratch server's.
        max_connections = crate::scratch_pg::max_connections().max(1000),
    );
    let config_path = dir.join("sluice.toml");
    std::fs::write(&config_path, config)?;
    Ok(Prepared {
        pg,
        mariadb,
        ssh,
        config_path,
        target_password,
    })
}

fn print_human(info: &DemoInfo, pg_addr: SocketAddr, mysql_addr: Option<SocketAddr>) {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "sluice".into());
    println!(
        "sluice demo is ready: a scratch PostgreSQL database \"{DATABASE}\" behind a gateway.\n"
    );
    for (name, token) in &info.tokens {
        let role = info.roles.get(name).map(String::as_str).unwrap_or_default();
        println!("Connect as {name}, {role}:");
        println!(
            "  PGPASSWORD='{token}' psql \"host={} port={} user={name} dbname={DATABASE}\"\n",
            pg_addr.ip(),
            pg_addr.port()
        );
    }
    println!(
        "The same database is target \"{AGENT_TARGET}\", reached through a network-resident \
         agent (a `sluice agent` process the demo enrolled, as if inside a private network; \
         docs/agent-connection.md):\n  \
         {exe} agent list --config {}\n",
        info.config.display()
    );
    if let Some(addr) = mysql_addr {
        println!(
            "The same shop is in a scratch MariaDB, target \"{MYSQL_TARGET}\" behind the MySQL \
             listener; connect to it with a MySQL client:"
        );
        for (name, token) in &info.tokens {
            println!(
                "  mariadb -h {} -P {} -u {name} -p'{token}' {MYSQL_TARGET}",
                addr.ip(),
                addr.port()
            );
        }
        println!();
    }
    if let Some(logins) = &info.ssh {
        println!(
            "A scratch OpenSSH server is target \"{SSH_TARGET}\" behind the SSH listener \
             (host key {}); log in with each identity's own key:",
            info.ssh_fingerprint.as_deref().unwrap_or("unknown")
        );
        for login in logins.values() {
            println!(
                "  ssh -i {} -p {} {}@{} 'uname -a'",
                login.key_file.display(),
                login.port,
                login.user,
                login.host
            );
        }
        println!();
    }
    println!(
        "The example policies in {} bind them; as alice, try:",
        info.policies.display()
    );
    println!("  SELECT * FROM orders;                allowed");
    println!("  DELETE FROM orders;                  denied: no WHERE clause");
    println!("  ALTER TABLE orders ADD note text;    denied: no DDL by humans on production");
    println!("  SELECT pg_read_file('/etc/passwd');  denied: dangerous function");
    println!("  DELETE FROM orders WHERE id = 1;     held until dana (dba) approves it");
    println!("Edit a .rego file there and the gateway reloads it once its tests pass.\n");
    if let (Some(admin), Some((_, token))) = (&info.admin_url, info.tokens.get_key_value("dana")) {
        println!("Review held statements as dana, from another terminal:");
        println!("  export SLUICE_SERVER={admin} SLUICE_TOKEN='{token}'");
        println!("  {exe} review list");
        println!("  {exe} review approve r-1 --comment \"ok\"\n");
    }
    println!(
        "Agents reach the same targets through MCP tools (query, describe, run, get, request) at\n  \
         {}\nwith an identity's token as the bearer; for stdio-only clients:\n  \
         SLUICE_TOKEN='<token>' {exe} mcp --server {} --ca {}\n(docs/agents.md)\n",
        info.mcp_url,
        info.mcp_url,
        info.http_ca.display()
    );
    println!("See what was done, and check the audit chain:");
    println!("  {exe} audit search --config {}", info.config.display());
    println!("  {exe} audit verify --config {}", info.config.display());
    if let Some(admin) = &info.admin_url {
        println!("Metrics: {admin}/metrics");
    }
    println!("\nPress Ctrl-C to stop.");
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn random_password() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}
