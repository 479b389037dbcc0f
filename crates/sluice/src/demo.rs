//! `sluice demo`: a scratch PostgreSQL with a small shop schema, a gateway in front of it on the
//! embedded store enforcing the example policies, three identities with fresh tokens, and the
//! commands to try it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;
use sluice_core::config::Config;

use crate::cli::DemoArgs;
use crate::scratch_pg::{self, ScratchPostgres, SCRAM_ROLE};

const DATABASE: &str = "shop";
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
        "a DBA who reviews alice's held writes; no rule lets the dba group read or write \
         data, so even SELECT 1 is denied (default_deny)",
    ),
];

/// The example policies (examples/policies), built in so the demo runs from the binary alone.
const POLICIES: [(&str, &str); 12] = [
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
        "inputs_test.rego",
        include_str!("../../../examples/policies/inputs_test.rego"),
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
        "sql.rego",
        include_str!("../../../examples/policies/sql.rego"),
    ),
    (
        "sql_test.rego",
        include_str!("../../../examples/policies/sql_test.rego"),
    ),
];

/// Customers hold personal data the example policies mask (mask.rego): whole columns, and
/// emails, SSNs, cards and phones inside `notes` (prose) and `profile` (JSON). Every value is
/// fake: reserved example domains, published test card numbers, fictional phone numbers.
const SCHEMA: &str = r#"
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text NOT NULL, ssn text, card_number text, phone text, notes text, profile jsonb);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2) NOT NULL, placed_at timestamptz NOT NULL DEFAULT now());
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
    tokens: BTreeMap<String, String>,
    /// What each identity may do under the example policies.
    roles: BTreeMap<String, String>,
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
    let (pg, config_path, target_password) =
        tokio::task::spawn_blocking(move || prepare(&setup_dir)).await??;

    let (config, text) = Config::load_with_text(&config_path)?;
    crate::logging::init(&config.log);
    let running = crate::runtime::start(config.clone(), &text).await?;

    let mut tokens = BTreeMap::new();
    let mut urls = BTreeMap::new();
    let pg_addr = running
        .postgres_addr
        .context("the demo needs the PostgreSQL listener")?;
    for (name, _, _, _) in IDENTITIES {
        let secret =
            crate::token_cmd::create(&config, name, Some(Duration::from_secs(8 * 3600))).await?;
        urls.insert(
            name.to_owned(),
            format!(
                "postgresql://{name}:{}@{pg_addr}/{DATABASE}",
                secret.expose()
            ),
        );
        tokens.insert(name.to_owned(), secret.expose().to_owned());
    }
    let info = DemoInfo {
        policies: dir.join("policies"),
        config: config_path.clone(),
        admin_url: running.admin_addr.map(|a| format!("http://{a}")),
        direct_url: pg.direct_url(SCRAM_ROLE, &target_password, DATABASE),
        postgres_url: urls,
        tokens,
        roles: IDENTITIES
            .iter()
            .map(|(name, _, _, role)| (name.to_string(), role.to_string()))
            .collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&info)?);
    } else {
        print_human(&info, pg_addr);
    }

    let signal = crate::runtime::shutdown_signal().await?;
    running
        .shutdown(&format!("demo stopped by {signal}"))
        .await?;
    drop(pg);
    Ok(())
}

/// Starts the scratch database and writes the gateway's configuration. Blocking.
fn prepare(dir: &Path) -> Result<(ScratchPostgres, PathBuf, String)> {
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
    pg.psql(DATABASE, &format!("SET ROLE {SCRAM_ROLE}; {SCHEMA}"))?;

    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies)?;
    for (name, text) in POLICIES {
        std::fs::write(policies.join(name), text)?;
    }
    let password_file = dir.join("target-password");
    sluice_core::secret::write_private(&password_file, target_password.as_bytes())?;
    let pg_port = scratch_pg::free_port()?;
    let admin_port = scratch_pg::free_port()?;
    let mut identities = String::new();
    for (name, kind, group, _) in IDENTITIES {
        identities.push_str(&format!(
            "\n[[identities]]\nname = \"{name}\"\nkind = \"{kind}\"\ngroups = [\"{group}\"]\n"
        ));
    }
    let config = format!(
        "# Written by `sluice demo`. Every field is described in docs/configuration.md.\n\
         [gateway]\ndata_dir = \"data\"\n\n\
         [[listeners]]\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:{pg_port}\"\n\n\
         [admin]\nlisten = \"127.0.0.1:{admin_port}\"\n\n\
         [audit]\ndurability = \"buffered\"\n\n\
         [log]\nlevel = \"info\"\n\n\
         [policy]\ndir = \"policies\"\n\
         {identities}\n\
         [[targets]]\nname = \"{DATABASE}\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\n\
         database = \"{DATABASE}\"\nuser = \"{SCRAM_ROLE}\"\npassword_file = \"target-password\"\n\
         tls = \"disable\"\ntags = {{ env = \"production\" }}\n",
        pg.port
    );
    let config_path = dir.join("sluice.toml");
    std::fs::write(&config_path, config)?;
    Ok((pg, config_path, target_password))
}

fn print_human(info: &DemoInfo, pg_addr: std::net::SocketAddr) {
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
    println!("See what was done, and check the audit chain:");
    println!("  {exe} audit search --config {}", info.config.display());
    println!("  {exe} audit verify --config {}", info.config.display());
    if let Some(admin) = &info.admin_url {
        println!("Metrics: {admin}/metrics");
    }
    println!("\nPress Ctrl-C to stop.");
}

fn random_password() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}
