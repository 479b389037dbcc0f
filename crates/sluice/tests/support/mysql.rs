//! The MySQL side of the harness: one scratch MariaDB per test binary with the `shop`
//! database, and gateways with a MySQL listener and a `shop` target in front of it, enforcing
//! the example policies. Clients are the real ones: the `mariadb` CLI, mariadb-dump, sysbench,
//! mysql_async and Python drivers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use sluice::scratch_mariadb::ScratchMariaDb;

use super::Harness;

/// The account sluice logs in to MariaDB as.
pub const MY_USER: &str = "sluice_app";
pub const MY_PASSWORD: &str = "mysql-target-pw-5d1e";
/// The target's name, which clients give as their database.
pub const TARGET: &str = "shop";

/// The shop's customers: (id, name, email, ssn, card_number, age). Tests assert that none of
/// the personal values reach a masked client.
pub const CUSTOMERS: &[(i32, &str, &str, &str, &str, i32)] = &[
    (
        1,
        "Ada Lovelace",
        "ada@example.com",
        "123-45-6789",
        "4111111111111111",
        36,
    ),
    (
        2,
        "Alan Turing",
        "alan@turing.org",
        "234-56-7890",
        "5500005555555559",
        41,
    ),
    (
        3,
        "Grace Hopper",
        "grace@navy.mil",
        "345-67-8901",
        "340000000000009",
        85,
    ),
];

struct Shared {
    db: ScratchMariaDb,
    password_file: PathBuf,
    /// Holds the server's directory and the password file; removed after the server stops
    /// (field order: `db` drops first).
    _dir: tempfile::TempDir,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

/// The scratch MariaDB shared by all tests of this binary, started on first use.
pub fn mariadb() -> &'static ScratchMariaDb {
    &shared().db
}

fn shared() -> &'static Shared {
    SHARED.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("sluice-test-my-")
            .tempdir()
            .unwrap();
        let db = ScratchMariaDb::start(&dir.path().join("mariadb")).unwrap();
        db.create_user(MY_USER, MY_PASSWORD, None).unwrap();
        db.create_database("shop", MY_USER).unwrap();
        // sysbench's tables live apart from the shop, reached as `shop/bench`.
        db.create_database("bench", MY_USER).unwrap();
        let rows: Vec<String> = CUSTOMERS
            .iter()
            .map(|(id, name, email, ssn, card, age)| {
                format!("({id}, '{name}', '{email}', '{ssn}', '{card}', {age})")
            })
            .collect();
        db.sql(
            Some("shop"),
            &format!(
                "CREATE TABLE customers (id int PRIMARY KEY, name varchar(100), \
                   email varchar(200), ssn varchar(20), card_number varchar(30), age int);
                 INSERT INTO customers VALUES {};
                 CREATE TABLE orders (id int PRIMARY KEY, customer_id int, \
                   total decimal(10,2), created date);
                 INSERT INTO orders VALUES (1, 1, 19.99, '2024-01-05'), \
                   (2, 1, 5.00, '2024-02-01'), (3, 2, 120.50, '2024-03-10');
                 CREATE TABLE imports (id int, note varchar(50));",
                rows.join(", ")
            ),
        )
        .unwrap();
        // Rows over 16 MiB (one packet's most) in both directions; a SET GLOBAL reaches the
        // connections opened after it, which every test's are.
        db.sql(None, "SET GLOBAL max_allowed_packet = 64 * 1024 * 1024")
            .unwrap();
        let password_file = dir.path().join("mysql-target-password");
        std::fs::write(&password_file, MY_PASSWORD).unwrap();
        Shared {
            db,
            password_file,
            _dir: dir,
        }
    })
}

/// The example policies, enforced as shipped.
pub fn example_policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies")
}

/// Identities besides the base configuration's `alice` (here a developer who reads personal
/// data in clear) and `ci`: `bob`, a developer whose results are masked; `ann`, an analyst
/// (read only, masked).
const IDENTITIES: &str = r#"
[[identities]]
name = "bob"
kind = "human"
groups = ["developers"]

[[identities]]
name = "ann"
kind = "human"
groups = ["analysts"]

[[identities]]
name = "dana"
kind = "human"
groups = ["dba"]
"#;

/// The same database as a production target: people's writes there are held for a DBA.
pub const PRODUCTION_TARGET: &str = "shop-prod";

/// A gateway with a MySQL listener and the `shop` target, enforcing the example policies, with
/// tokens for alice, ci, bob, ann and dana (a DBA, who reviews held statements).
pub async fn start() -> Harness {
    start_with("", "").await
}

/// As `start`, with `listener` lines in the MySQL listener's entry (`require_tls = true`) and
/// `more` appended to the configuration (another listener).
pub async fn start_with(listener: &str, more: &str) -> Harness {
    let shared = tokio::task::spawn_blocking(shared).await.unwrap();
    let version = shared
        .db
        .sql(None, "SELECT VERSION()")
        .unwrap()
        .trim()
        .split('-')
        .next()
        .unwrap_or_default()
        .to_owned();
    let extra = format!(
        r#"
[[listeners]]
protocol = "mysql"
listen = "127.0.0.1:0"
# mysqldump names no database when it connects.
default_target = "{TARGET}"
# The target's own version, so clients treat the gateway as the MariaDB it fronts.
server_version = "5.5.5-{version}-sluice"
{listener}

[[targets]]
name = "{TARGET}"
kind = "mysql"
host = "127.0.0.1"
port = {port}
database = "shop"
databases = ["bench"]
user = "{MY_USER}"
password_file = "{pw}"
tls = "disable"

[[targets]]
name = "{PRODUCTION_TARGET}"
kind = "mysql"
host = "127.0.0.1"
port = {port}
database = "shop"
user = "{MY_USER}"
password_file = "{pw}"
tls = "disable"
tags = {{ env = "production" }}
{IDENTITIES}
[policy]
dir = "{policies}"
watch = false
{more}
"#,
        port = shared.db.port,
        pw = shared.password_file.display(),
        policies = example_policies().display(),
    );
    let mut h = Harness::start_with_config(move |text| {
        text.replace(
            r#"groups = ["dba"]"#,
            r#"groups = ["developers", "pii_readers"]"#,
        ) + &extra
    })
    .await;
    for identity in ["bob", "ann", "dana"] {
        let secret = sluice::token_cmd::create(&h.config, identity, None)
            .await
            .unwrap();
        h.tokens
            .insert(identity.to_owned(), secret.expose().to_owned());
    }
    h
}

impl Harness {
    pub fn mysql_port(&self) -> u16 {
        self.gateway.mysql_addr.unwrap().port()
    }

    /// The `mariadb` CLI through the gateway as `identity`, in batch mode, with `args` before
    /// the database (`-e SQL`, `--force`, ...).
    pub fn mariadb_cmd(&self, identity: &str, database: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("mariadb");
        cmd.arg("--no-defaults")
            .args(["--batch", "--protocol=TCP", "-h127.0.0.1"])
            .arg(format!("-P{}", self.mysql_port()))
            .arg(format!("-u{identity}"))
            .arg(format!("-p{}", self.token(identity)))
            .args(args)
            .arg(database);
        cmd
    }

    /// Runs the `mariadb` CLI through the gateway as `identity` on the `shop` target.
    pub fn mariadb(&self, identity: &str, args: &[&str]) -> Output {
        self.mariadb_cmd(identity, TARGET, args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs the `mariadb` CLI through the gateway with `input` on its stdin, as a script piped
    /// into a session.
    pub fn mariadb_stdin(&self, identity: &str, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .mariadb_cmd(identity, TARGET, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// A mysql_async connection through the gateway as `identity` (the gateway's default
    /// certificate is self-signed, so TLS connections accept it unverified).
    pub fn mysql_opts(&self, identity: &str, tls: bool) -> mysql_async::OptsBuilder {
        let mut opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.mysql_port())
            .user(Some(identity))
            .pass(Some(self.token(identity)))
            .db_name(Some(TARGET))
            .prefer_socket(false);
        if tls {
            opts = opts
                .ssl_opts(mysql_async::SslOpts::default().with_danger_accept_invalid_certs(true));
        }
        opts
    }

    pub async fn mysql_conn(&self, identity: &str) -> mysql_async::Conn {
        mysql_async::Conn::new(self.mysql_opts(identity, false))
            .await
            .unwrap_or_else(|e| panic!("{identity} could not connect through sluice: {e}"))
    }

    /// A `mysql://` URL through the gateway, for Python drivers.
    pub fn mysql_url(&self, identity: &str) -> String {
        format!(
            "mysql://{identity}:{}@127.0.0.1:{}/{TARGET}",
            self.token(identity),
            self.mysql_port()
        )
    }
}

/// The `mariadb` CLI straight to the scratch server as the target account, bypassing sluice.
pub fn mariadb_direct(sql: &str) -> Output {
    Command::new("mariadb")
        .arg("--no-defaults")
        .args(["--batch", "--protocol=TCP", "-h127.0.0.1"])
        .arg(format!("-P{}", mariadb().port))
        .arg(format!("-u{MY_USER}"))
        .arg(format!("-p{MY_PASSWORD}"))
        .args(["-e", sql, "shop"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}
