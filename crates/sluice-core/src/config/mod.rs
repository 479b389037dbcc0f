//! The configuration file (`sluice.toml`), documented field by field in docs/configuration.md.
//!
//! Loading validates everything that can be checked without a network: unknown fields are
//! errors (a typo must not silently weaken a setting), names are unique, credentials are given
//! by reference (environment variable or file), never inline.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

mod agents;

pub use agents::{valid_agent_name, AgentsConfig};

use crate::secret::Secret;
use crate::CoreError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub gateway: GatewayConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    /// Where tokens, reviews and grants live: SQLite in the data directory, or a PostgreSQL
    /// database several gateways share.
    #[serde(default)]
    pub store: StoreConfig,
    /// The PostgreSQL listener, from `[[listeners]] protocol = "postgres"` or the older
    /// `[postgres]` table (folded in at load).
    #[serde(skip)]
    pub postgres: PostgresListenerConfig,
    /// `[postgres]` as written; the older spelling of a PostgreSQL `[[listeners]]` entry.
    #[serde(default, rename = "postgres")]
    postgres_table: Option<PostgresListenerConfig>,
    /// The MySQL listener, from `[[listeners]] protocol = "mysql"`; `None` when there is none.
    #[serde(skip)]
    pub mysql: Option<MysqlListenerConfig>,
    /// The SSH listener, from `[[listeners]] protocol = "ssh"`; `None` when there is none.
    #[serde(skip)]
    pub ssh: Option<SshListenerConfig>,
    /// The HTTPS listener for HTTP services and Kubernetes API servers, from
    /// `[[listeners]] protocol = "http"`; `None` when there is none.
    #[serde(skip)]
    pub http: Option<HttpListenerConfig>,
    /// `[[listeners]]`: one per protocol, each with its protocol's settings.
    #[serde(default)]
    listeners: Vec<ListenerConfig>,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub masking: MaskingConfig,
    #[serde(default)]
    pub approvals: ApprovalsConfig,
    /// Credential lifetimes, failed-login limits, sessions bound to their credential.
    #[serde(default)]
    pub auth: crate::identity::AuthConfig,
    /// OpenID providers trusted to say who someone is: for people's sign-in and for
    /// workloads' token exchange (docs/identity.md).
    #[serde(default)]
    pub identity_providers: Vec<sluice_identity::ProviderConfig>,
    #[serde(default)]
    pub recording: RecordingConfig,
    /// The self-reflection signals (docs/signals.md).
    #[serde(default)]
    pub signals: sluice_signals::SignalsConfig,
    /// Outgoing webhooks for review and grant events (docs/approvals.md).
    #[serde(default)]
    pub webhooks: Vec<sluice_outbound::webhooks::WebhookConfig>,
    /// Streams of the audit trail to files, HTTP endpoints and syslog (sluice-outbound's sinks).
    #[serde(
        default,
        deserialize_with = "sluice_outbound::sinks::deserialize_sinks"
    )]
    pub audit_sinks: Vec<sluice_outbound::sinks::AuditSinkConfig>,
    #[serde(default, rename = "identities")]
    pub identities: Vec<IdentityConfig>,
    #[serde(default, rename = "targets")]
    pub targets: Vec<TargetConfig>,
    /// Network-resident agents that reach targets in private networks.
    #[serde(default)]
    pub agents: AgentsConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Where the store, the audit trail, the generated TLS certificate and the gateway key live.
    pub data_dir: PathBuf,
    pub max_connections: usize,
    /// Session worker threads, each with its own single-threaded runtime; 0 = one per two cores.
    pub worker_threads: usize,
    #[serde(deserialize_with = "duration")]
    pub handshake_timeout: Duration,
    /// Largest client message accepted, in bytes.
    pub max_message_bytes: usize,
    #[serde(deserialize_with = "duration")]
    pub shutdown_grace: Duration,
    /// The gateway's name among those sharing a store: in every audit record it writes and on
    /// the sessions it serves. `None`: the host name (a pod's name in Kubernetes).
    pub name: Option<String>,
    /// On SIGTERM, how long `/readyz` says "draining" while everything is still served, so
    /// that a load balancer stops sending new connections before the listeners close.
    #[serde(deserialize_with = "duration")]
    pub drain_delay: Duration,
    /// The gateway key (32 bytes), which keys the fake salts of unknown identities. Gateways
    /// behind one address share one, or a name's salt differing between them would show it is
    /// unknown. `None`: `gateway.key` in the data directory, created at first start.
    pub key_file: Option<PathBuf>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            data_dir: PathBuf::from("sluice-data"),
            max_connections: 1000,
            worker_threads: 0,
            handshake_timeout: Duration::from_secs(10),
            max_message_bytes: 64 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(30),
            name: None,
            drain_delay: Duration::ZERO,
            key_file: None,
        }
    }
}

/// `[store]`. `Debug` leaves out the URL's password, should one be written there.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://USER@HOST:PORT/DATABASE[?sslmode=...]`: a PostgreSQL store shared by every
    /// gateway given the same URL. `None`: the embedded SQLite file in the data directory.
    pub url: Option<String>,
    /// The store user's password, read from this file (one line), so that it is in neither
    /// the URL nor the configuration.
    pub password_file: Option<PathBuf>,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.url.as_deref().map(sluice_store::redact_url))
            .field("password_file", &self.password_file)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address of the HTTP listener for /healthz and /metrics; absent disables it.
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain and key; when set the listener speaks HTTPS only.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address anyway. Bearer tokens then cross the network
    /// in clear, so this is an explicit choice rather than what a missing certificate means.
    pub allow_plaintext: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9187))),
            tls_cert: None,
            tls_key: None,
            allow_plaintext: false,
        }
    }
}

impl AdminConfig {
    /// The configured certificate and key, when the listener serves HTTPS.
    pub fn tls(&self) -> Option<(&Path, &Path)> {
        Some((self.tls_cert.as_deref()?, self.tls_key.as_deref()?))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    /// SCRAM-SHA-256 with the token as password; works with and without TLS.
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    /// Cleartext password, accepted only on TLS connections, for drivers without SCRAM.
    Password,
}

/// A `[[listeners]]` entry: `protocol` says which, the rest is that protocol's.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "protocol", rename_all = "lowercase")]
enum ListenerConfig {
    Postgres(PostgresListenerConfig),
    Mysql(MysqlListenerConfig),
    Ssh(SshListenerConfig),
    Http(HttpListenerConfig),
}

/// How the HTTPS listener picks the target of a request (docs/http-request.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpRouting {
    /// `https://GATEWAY/TARGET/rest-of-path`: works with one certificate and no DNS.
    Path,
    /// `https://TARGET.DOMAIN/rest-of-path`, by the `Host` header (and SNI): needs a wildcard
    /// name and certificate for `*.DOMAIN`.
    Host,
}

/// `[[listeners]] protocol = "http"` (docs/http-request.md): one HTTPS listener for both
/// `kind = "http"` and `kind = "kubernetes"` targets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpListenerConfig {
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain and key; when absent the generated pair in data_dir is used (the
    /// same one the PostgreSQL listener uses).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub routing: HttpRouting,
    /// With `routing = "host"`: the gateway's domain, so `TARGET.DOMAIN` names a target.
    pub domain: Option<String>,
    /// Longest request body read before the request is decided (bodies are decided, recorded
    /// and forwarded whole); a longer one gets 413.
    pub max_request_body: usize,
    /// Longest response body held to be masked (JSON is masked whole); a longer one that needs
    /// masking is refused with 502 rather than passed unmasked. Line-based bodies (logs,
    /// watches, event streams) are masked a line at a time and have no such limit.
    pub max_masked_body: usize,
    /// The longest a client's request head may take to arrive, and an idle connection may stay.
    pub idle_timeout_seconds: u64,
    /// The MCP endpoint at `/mcp` (docs/agents.md).
    pub mcp: McpSettings,
}

/// `[listeners.mcp]` under the HTTPS listener: agents' tool calls (docs/agents.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpSettings {
    pub enabled: bool,
    /// Longest JSON-RPC message read; a longer one gets 413 and a JSON-RPC error.
    pub max_message_bytes: usize,
    /// Rows kept per result of a query (a call may ask for fewer).
    pub max_rows: usize,
    /// Bytes kept of a command's output or an HTTP answer.
    pub max_output_bytes: usize,
    /// A handshake-era session unused this long is forgotten (the client initializes again).
    pub session_idle_seconds: u64,
    /// How often a running call (a held one, above all) tells the client it is still waiting.
    pub progress_interval_seconds: u64,
}

impl Default for McpSettings {
    fn default() -> Self {
        McpSettings {
            enabled: true,
            max_message_bytes: 1024 * 1024,
            max_rows: 500,
            max_output_bytes: 256 * 1024,
            session_idle_seconds: 3600,
            progress_interval_seconds: 10,
        }
    }
}

impl Default for HttpListenerConfig {
    fn default() -> Self {
        HttpListenerConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 8443))),
            tls_cert: None,
            tls_key: None,
            routing: HttpRouting::Path,
            domain: None,
            max_request_body: 8 * 1024 * 1024,
            max_masked_body: 32 * 1024 * 1024,
            idle_timeout_seconds: 300,
            mcp: McpSettings::default(),
        }
    }
}

/// `[[listeners]] protocol = "ssh"` (docs/ssh-connection.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshListenerConfig {
    pub listen: Option<SocketAddr>,
    /// The gateway's Ed25519 host key (OpenSSH format). Absent: `data_dir/ssh/host_ed25519_key`,
    /// generated at first start.
    pub host_key_file: Option<PathBuf>,
    /// Accept a token as the password (password and keyboard-interactive methods), besides
    /// the public keys registered to identities.
    pub password_auth: bool,
    /// The target of a user name without `+TARGET`. Unset: such logins are refused.
    pub default_target: Option<String>,
}

impl Default for SshListenerConfig {
    fn default() -> Self {
        SshListenerConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 2222))),
            host_key_file: None,
            password_auth: true,
            default_target: None,
        }
    }
}

/// `[[listeners]] protocol = "mysql"` (docs/mysql-connection.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MysqlListenerConfig {
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain and key; when absent the generated pair in data_dir is used (the
    /// same one the PostgreSQL listener uses).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Refuse clients that do not negotiate TLS.
    pub require_tls: bool,
    /// Accept mysql_native_password from clients that insist on it. Weaker than
    /// caching_sha2_password (SHA-1, and the exchange seen once lets a holder of the
    /// verifier log in), so off unless a client needs it.
    pub allow_native_password: bool,
    /// The target of a client that names no database (mysqldump connects without one and
    /// picks databases with USE). Unset: such clients are refused.
    pub default_target: Option<String>,
    /// The version the gateway's greeting announces. Clients adapt to it (MySQL
    /// Connector/Python picks MySQL 8's default collation for an 8.0 server, which MariaDB
    /// lacks): set it to the targets' own version string when they are MariaDB
    /// (`5.5.5-10.11.6-MariaDB`).
    pub server_version: String,
}

impl Default for MysqlListenerConfig {
    fn default() -> Self {
        MysqlListenerConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 3307))),
            tls_cert: None,
            tls_key: None,
            require_tls: false,
            allow_native_password: false,
            default_target: None,
            server_version: "8.0.36-sluice".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresListenerConfig {
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain and key; when absent a self-signed pair is generated in data_dir.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Refuse clients that do not negotiate TLS.
    pub require_tls: bool,
    pub client_auth: ClientAuth,
}

impl Default for PostgresListenerConfig {
    fn default() -> Self {
        PostgresListenerConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 6432))),
            tls_cert: None,
            tls_key: None,
            require_tls: false,
            client_auth: ClientAuth::ScramSha256,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditDurability {
    /// A record is in the kernel before its statement is forwarded (survives a gateway crash);
    /// the file is synced every `sync_interval` (bounds what a power failure can lose).
    Buffered,
    /// A record is on disk before its statement is forwarded.
    Strict,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Defaults to `<data_dir>/audit.jsonl`.
    pub path: Option<PathBuf>,
    pub durability: AuditDurability,
    #[serde(deserialize_with = "duration")]
    pub sync_interval: Duration,
    /// Record the values bound to extended-protocol statements (off: they may hold personal data).
    pub record_parameters: bool,
    /// The Ed25519 seed that signs checkpoints (hex, 0600, created on first start); its public
    /// key is written to `<file>.pub`. Defaults to `<data_dir>/audit-signing.key`.
    pub signing_key_file: Option<PathBuf>,
    /// How often a signed checkpoint seals the records appended since the last one (one is
    /// also written at stop).
    #[serde(deserialize_with = "duration")]
    pub checkpoint_interval: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            path: None,
            durability: AuditDurability::Buffered,
            sync_interval: Duration::from_millis(100),
            record_parameters: false,
            signing_key_file: None,
            checkpoint_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter such as `info` or `sluice=debug`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Where the Rego policy lives and how it is evaluated (docs/policy.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Directory of `.rego` files. Required unless `builtin` says explicitly that the gateway
    /// runs without a policy.
    pub dir: Option<PathBuf>,
    /// `"allow-all"`: no policy; every request is allowed and audited (an audit-only
    /// deployment). Never implied: without `dir` or this, the gateway does not start.
    pub builtin: Option<BuiltinPolicyName>,
    /// IANA time zone for `input.time` (weekday and hour rules).
    pub timezone: String,
    /// An evaluation that takes longer is a denial.
    #[serde(deserialize_with = "duration")]
    pub eval_timeout: Duration,
    /// Reload when a file in `dir` changes (SIGHUP always reloads).
    pub watch: bool,
    #[serde(deserialize_with = "duration")]
    pub watch_interval: Duration,
    /// Decisions remembered for repeated statements; 0 disables the cache.
    pub cache_entries: usize,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            dir: None,
            builtin: None,
            timezone: "UTC".into(),
            eval_timeout: Duration::from_millis(50),
            watch: true,
            watch_interval: Duration::from_secs(1),
            cache_entries: 10_000,
        }
    }
}

/// The policies the gateway has without a policy directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum BuiltinPolicyName {
    /// Allows and audits every request.
    #[serde(rename = "allow-all")]
    AllowAll,
}

/// How masking rules from policy decisions are carried out (docs/masking.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskingConfig {
    /// The key of the `token` strategy's HMAC: 32 bytes, hex-encoded. Unset: a random key is
    /// created in `<data_dir>/masking-token.key` on first start and kept, so tokens are stable
    /// across restarts. Gateways that must produce the same tokens share one key file.
    pub token_key_file: Option<PathBuf>,
    /// Detectors of your own, beside the built-in ones; policy names them in `content` rules.
    pub detectors: Vec<sluice_mask::CustomDetector>,
    /// How long a table's column names, read from the target's catalog to trace result
    /// columns to their source, are trusted before they are read again.
    #[serde(deserialize_with = "duration")]
    pub catalog_ttl: Duration,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        MaskingConfig {
            token_key_file: None,
            detectors: Vec::new(),
            catalog_ttl: Duration::from_secs(10),
        }
    }
}

/// Session recordings (docs/recording.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Record every session. Off, sessions run unrecorded and their end says so.
    pub enabled: bool,
    /// Where recordings are written. Unset: `<data_dir>/recordings`.
    pub dir: Option<PathBuf>,
    /// Rows of one statement's result recorded before a `truncated` marker.
    pub max_rows_per_statement: u64,
    /// Bytes of one session's recording before a `truncated` marker.
    pub max_session_bytes: u64,
    /// At a cap: `truncate` (say so and go on) or `end_session`.
    pub on_cap: sluice_decision::CapAction,
    /// Recordings older than this are deleted, each deletion audited. Unset: kept.
    #[serde(deserialize_with = "optional_duration")]
    pub retention: Option<Duration>,
    /// Upload finished recordings to an S3-compatible object store; the directory is then
    /// only the spool of sessions in progress. Credentials left out come from `AWS_*`.
    pub s3: Option<sluice_record::S3Config>,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            enabled: true,
            dir: None,
            max_rows_per_statement: 10_000,
            max_session_bytes: 256 * 1024 * 1024,
            on_cap: sluice_decision::CapAction::Truncate,
            retention: None,
            s3: None,
        }
    }
}

/// How held statements and access requests wait for reviewers (docs/approvals.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalsConfig {
    /// How long a held statement waits for reviewers before the client gets an error.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// How long a request for an access grant waits for reviewers.
    #[serde(deserialize_with = "duration")]
    pub access_timeout: Duration,
    /// The longest grant anyone may ask for or be given, whatever the policy says.
    #[serde(deserialize_with = "duration")]
    pub max_grant: Duration,
    /// The admin API's address as reviewers reach it, for links in notices and webhooks.
    /// Unset: `http://` (`https://` with `[admin] tls_cert`) + the admin listener's address.
    pub public_url: Option<String>,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            timeout: Duration::from_secs(300),
            access_timeout: Duration::from_secs(3600),
            max_grant: Duration::from_secs(24 * 3600),
            public_url: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityKind {
    Human,
    Service,
    Agent,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Human => "human",
            IdentityKind::Service => "service",
            IdentityKind::Agent => "agent",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    pub name: String,
    pub kind: IdentityKind,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Free-form facts for policy (`input.identity.attributes`), e.g. `team = "payments"`.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// SSH public keys that authenticate this identity, as `authorized_keys` lines
    /// (`ssh-ed25519 AAAA... comment`); more are added to the store with
    /// `sluice identity add-key`.
    #[serde(default)]
    pub ssh_keys: Vec<String>,
    /// What an identity provider said about this identity at sign-in (never in the file).
    #[serde(skip)]
    pub claims: sluice_decision::Claims,
    /// The identity provider that vouched for it (never in the file).
    #[serde(skip)]
    pub provider: Option<String>,
    /// The task of the per-task credential the session runs under (never in the file).
    #[serde(skip)]
    pub task: Option<String>,
}

impl IdentityKind {
    /// The kind named in a claim or a store row; `None` for anything else.
    pub fn parse(kind: &str) -> Option<IdentityKind> {
        match kind {
            "human" => Some(IdentityKind::Human),
            "service" => Some(IdentityKind::Service),
            "agent" => Some(IdentityKind::Agent),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Postgres,
    Mysql,
    Ssh,
    /// An HTTP service, reached through the HTTPS listener.
    Http,
    /// A Kubernetes API server, reached through the HTTPS listener.
    Kubernetes,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Postgres => "postgres",
            TargetKind::Mysql => "mysql",
            TargetKind::Ssh => "ssh",
            TargetKind::Http => "http",
            TargetKind::Kubernetes => "kubernetes",
        }
    }

    /// The port a target of this kind listens on unless its `port` says otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            TargetKind::Postgres => 5432,
            TargetKind::Mysql => 3306,
            TargetKind::Ssh => 22,
            // Filled in from `url`.
            TargetKind::Http | TargetKind::Kubernetes => 0,
        }
    }

    /// Checks the fields only some kinds take; the message names the target and what to
    /// change.
    fn check(self, t: &TargetConfig) -> Result<(), String> {
        match self {
            TargetKind::Postgres => {
                if t.database.is_empty() {
                    return Err(format!(
                        "target {}: a postgres target needs `database`, the database a client \
                         gets when it names only the target",
                        t.name
                    ));
                }
                if t.user.is_empty() {
                    return Err(format!(
                        "target {}: a postgres target needs `user`, the role sluice logs in as",
                        t.name
                    ));
                }
                Ok(())
            }
            TargetKind::Mysql => {
                if t.user.is_empty() {
                    return Err(format!(
                        "target {}: a mysql target needs `user`, the account sluice logs in as",
                        t.name
                    ));
                }
                Ok(())
            }
            TargetKind::Ssh => {
                if t.user.is_empty() {
                    return Err(format!(
                        "target {}: an ssh target needs `user`, the account sluice logs in as",
                        t.name
                    ));
                }
                if t.key_file.is_none() && t.password_file.is_none() && t.password_env.is_none() {
                    return Err(format!(
                        "target {}: an ssh target needs `key_file` (a private key) or \
                         `password_file`/`password_env`, the credential sluice logs in with",
                        t.name
                    ));
                }
                Ok(())
            }
            TargetKind::Http | TargetKind::Kubernetes => {
                t.upstream_url()?;
                t.check_upstream_auth()
            }
        }
    }

    /// The protocol clients of a target of this kind speak, as listeners name it.
    pub fn protocol(self) -> &'static str {
        self.as_str()
    }

    /// How requests to a target of this kind are read.
    pub fn dialect(self) -> &'static dyn sluice_sql::Dialect {
        match self {
            TargetKind::Postgres => &sluice_sql::POSTGRESQL,
            TargetKind::Mysql => &sluice_sql::MYSQL,
            // These sessions ask no SQL; the dialect only shapes a session's (empty) names.
            TargetKind::Ssh | TargetKind::Http | TargetKind::Kubernetes => &sluice_sql::POSTGRESQL,
        }
    }

    /// What a recording of a session on a target of this kind holds (sluice-record's kinds).
    pub fn recording_kind(self) -> &'static str {
        match self {
            TargetKind::Postgres | TargetKind::Mysql => sluice_record::KIND_SQL,
            TargetKind::Ssh => sluice_record::KIND_TERMINAL,
            TargetKind::Http | TargetKind::Kubernetes => sluice_record::KIND_HTTP,
        }
    }
}

/// TLS toward the target, with libpq's sslmode meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetTls {
    Disable,
    /// TLS if the server offers it, without verifying the certificate.
    Prefer,
    /// TLS or fail, without verifying the certificate.
    Require,
    /// TLS with the certificate verified against `tls_ca` (or the system roots) and the host name.
    VerifyFull,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub name: String,
    pub kind: TargetKind,
    /// Filled in from `url` for HTTP and Kubernetes targets.
    #[serde(default)]
    pub host: String,
    /// Defaults by kind ([`TargetKind::default_port`]), filled in at load.
    #[serde(default)]
    pub port: u16,
    /// The database a client gets when it names only the target (SQL kinds).
    #[serde(default)]
    pub database: String,
    /// Further databases a client may pick with `TARGET/DATABASE`.
    #[serde(default)]
    pub databases: Vec<String>,
    /// The account sluice logs in as (the database role for SQL kinds).
    #[serde(default)]
    pub user: String,
    /// Name of the environment variable holding the password.
    pub password_env: Option<String>,
    /// Path of a file holding the password (trailing newline ignored).
    pub password_file: Option<PathBuf>,
    #[serde(default = "default_target_tls")]
    pub tls: TargetTls,
    pub tls_ca: Option<PathBuf>,
    /// SSH: the private key (OpenSSH format, unencrypted) sluice logs in with.
    pub key_file: Option<PathBuf>,
    /// SSH: the target's host key, pinned (`ssh-ed25519 AAAA...`, as in known_hosts without
    /// the host name). Absent: the key seen at the first connection is trusted, kept in the
    /// store and audited, and any other key later is refused.
    pub host_key: Option<String>,
    /// HTTP and Kubernetes: where the service is, `http://HOST[:PORT]` or
    /// `https://HOST[:PORT]`, optionally with a base path every request is sent under.
    pub url: Option<String>,
    /// HTTP and Kubernetes: the credential sluice adds to every request it forwards
    /// (the caller's own `Authorization` never reaches the target).
    #[serde(default)]
    pub auth: UpstreamAuth,
    /// `auth = "header"`: the header that carries the secret (`X-Api-Key`).
    pub auth_header: Option<String>,
    /// `auth = "client_cert"`: the PEM certificate chain and key sluice presents.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The agents that reach this target from inside its network (any healthy one is used);
    /// empty: the gateway connects itself.
    #[serde(default, deserialize_with = "agents::via")]
    pub via: Vec<String>,
}

/// The credential sluice injects towards an HTTP or Kubernetes target. The secret itself
/// comes from `password_file` or `password_env`, never from the configuration file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamAuth {
    /// Nothing is added.
    #[default]
    None,
    /// `Authorization: Bearer SECRET` (a Kubernetes service-account token).
    Bearer,
    /// `Authorization: Basic base64(user:SECRET)`.
    Basic,
    /// `auth_header: SECRET`.
    Header,
    /// A client certificate in the TLS handshake (`client_cert`, `client_key`).
    ClientCert,
}

impl UpstreamAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamAuth::None => "none",
            UpstreamAuth::Bearer => "bearer",
            UpstreamAuth::Basic => "basic",
            UpstreamAuth::Header => "header",
            UpstreamAuth::ClientCert => "client_cert",
        }
    }
}

/// Where an HTTP or Kubernetes target is, read from its `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// `""` or a path starting with `/` and not ending with one.
    pub base_path: String,
}

fn default_target_tls() -> TargetTls {
    TargetTls::Prefer
}

impl TargetConfig {
    /// An HTTP or Kubernetes target's `url`, read; the message names the target and the fix.
    pub fn upstream_url(&self) -> Result<UpstreamUrl, String> {
        let name = &self.name;
        let Some(url) = &self.url else {
            return Err(format!(
                "target {name}: a {} target needs `url` (https://HOST:PORT)",
                self.kind.as_str()
            ));
        };
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!(
                "target {name}: url {url:?} must start with http:// or https://"
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') || path.contains(['?', '#']) {
            return Err(format!(
                "target {name}: url {url:?} may not carry credentials, a query or a fragment"
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("target {name}: url {url:?} has a bad port"))?;
                (h, port)
            }
            _ => (authority, if tls { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(format!("target {name}: url {url:?} names no host or port"));
        }
        Ok(UpstreamUrl {
            tls,
            host: host.to_owned(),
            port,
            base_path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// The injected credential's settings go together.
    fn check_upstream_auth(&self) -> Result<(), String> {
        let name = &self.name;
        let has_secret = self.password_file.is_some() || self.password_env.is_some();
        match self.auth {
            UpstreamAuth::None => Ok(()),
            UpstreamAuth::Bearer | UpstreamAuth::Basic | UpstreamAuth::Header if !has_secret => {
                Err(format!(
                    "target {name}: auth = \"{}\" needs password_file or password_env, the \
                     secret sluice sends",
                    self.auth.as_str()
                ))
            }
            UpstreamAuth::Basic if self.user.is_empty() => {
                Err(format!("target {name}: auth = \"basic\" needs `user`"))
            }
            UpstreamAuth::Header if self.auth_header.as_deref().is_none_or(str::is_empty) => Err(
                format!("target {name}: auth = \"header\" needs `auth_header`, the header's name"),
            ),
            UpstreamAuth::ClientCert if self.client_cert.is_none() || self.client_key.is_none() => {
                Err(format!(
                    "target {name}: auth = \"client_cert\" needs client_cert and client_key"
                ))
            }
            _ => Ok(()),
        }
    }

    /// Whether a client may select `database` on this target.
    pub fn allows_database(&self, database: &str) -> bool {
        self.database == database || self.databases.iter().any(|d| d == database)
    }

    /// Reads the credential from where the configuration points. Never inline.
    pub fn load_password(&self) -> Result<Option<Secret>, CoreError> {
        if let Some(var) = &self.password_env {
            return std::env::var(var)
                .map(|v| Some(Secret::new(v)))
                .map_err(|_| {
                    CoreError::Config(format!(
                        "target {}: environment variable {var} is not set",
                        self.name
                    ))
                });
        }
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CoreError::Config(format!(
                    "target {}: cannot read password file {}: {e}",
                    self.name,
                    path.display()
                ))
            })?;
            return Ok(Some(Secret::new(
                text.trim_end_matches(['\n', '\r']).to_owned(),
            )));
        }
        Ok(None)
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, CoreError> {
        Config::load_with_text(path).map(|(config, _)| config)
    }

    /// Loads the file and also returns the exact text parsed, so a digest of the configuration
    /// describes the configuration in force, not a later edit of the file.
    pub fn load_with_text(path: &Path) -> Result<(Config, String), CoreError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CoreError::Config(format!("cannot read {}: {e}", path.display())))?;
        let mut config = Config::parse(&text)?;
        // Relative paths in the file are relative to the file, so a config can move with its dir.
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok((config, text))
    }

    pub fn parse(text: &str) -> Result<Config, CoreError> {
        let mut config: Config =
            toml::from_str(text).map_err(|e| CoreError::Config(e.to_string()))?;
        config.fold_listeners()?;
        config.fold_targets();
        config.validate()?;
        Ok(config)
    }

    /// Gives each target its kind's defaults for what its entry leaves out.
    fn fold_targets(&mut self) {
        for t in &mut self.targets {
            if let (TargetKind::Http | TargetKind::Kubernetes, Ok(url)) = (t.kind, t.upstream_url())
            {
                t.host = url.host;
                t.port = url.port;
            }
            if t.port == 0 {
                t.port = t.kind.default_port();
            }
        }
    }

    /// Settles each protocol's listener from `[[listeners]]` or its older table.
    fn fold_listeners(&mut self) -> Result<(), CoreError> {
        let mut postgres = None;
        for listener in std::mem::take(&mut self.listeners) {
            match listener {
                ListenerConfig::Ssh(m) => {
                    if self.ssh.replace(m).is_some() {
                        return Err(CoreError::Config(
                            "two [[listeners]] with protocol = \"ssh\": sluice serves one \
                             listener per protocol"
                                .into(),
                        ));
                    }
                }
                ListenerConfig::Http(h) => {
                    if self.http.replace(h).is_some() {
                        return Err(CoreError::Config(
                            "two [[listeners]] with protocol = \"http\": sluice serves one \
                             listener per protocol"
                                .into(),
                        ));
                    }
                }
                ListenerConfig::Mysql(m) => {
                    if self.mysql.replace(m).is_some() {
                        return Err(CoreError::Config(
                            "two [[listeners]] with protocol = \"mysql\": sluice serves one \
                             listener per protocol"
                                .into(),
                        ));
                    }
                }
                ListenerConfig::Postgres(p) => {
                    if postgres.replace(p).is_some() {
                        return Err(CoreError::Config(
                            "two [[listeners]] with protocol = \"postgres\": sluice serves one \
                             listener per protocol"
                                .into(),
                        ));
                    }
                }
            }
        }
        match (postgres, self.postgres_table.take()) {
            (Some(_), Some(_)) => Err(CoreError::Config(
                "[postgres] and [[listeners]] with protocol = \"postgres\" both configure the \
                 PostgreSQL listener: keep one ([postgres] is the older spelling of the same \
                 settings)"
                    .into(),
            )),
            (Some(p), None) | (None, Some(p)) => {
                self.postgres = p;
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.gateway.data_dir);
        for p in [
            &mut self.postgres.tls_cert,
            &mut self.postgres.tls_key,
            &mut self.admin.tls_cert,
            &mut self.admin.tls_key,
            &mut self.audit.path,
            &mut self.audit.signing_key_file,
            &mut self.policy.dir,
            &mut self.masking.token_key_file,
            &mut self.recording.dir,
            &mut self.store.password_file,
            &mut self.gateway.key_file,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
        if let Some(m) = &mut self.mysql {
            for p in [&mut m.tls_cert, &mut m.tls_key].into_iter().flatten() {
                fix(p);
            }
        }
        if let Some(p) = self.ssh.as_mut().and_then(|s| s.host_key_file.as_mut()) {
            fix(p);
        }
        for p in &mut self.identity_providers {
            if let Some(f) = p.client_secret_file.as_mut() {
                fix(f);
            }
        }
        for t in &mut self.targets {
            for p in [&mut t.password_file, &mut t.tls_ca, &mut t.key_file]
                .into_iter()
                .flatten()
            {
                fix(p);
            }
        }
        for w in &mut self.webhooks {
            for p in [&mut w.url_file, &mut w.secret_file].into_iter().flatten() {
                fix(p);
            }
        }
        for s in &mut self.audit_sinks {
            for p in s.paths_mut() {
                fix(p);
            }
        }
    }

    fn validate(&self) -> Result<(), CoreError> {
        let err = |m: String| Err(CoreError::Config(m));
        if let Some(url) = &self.store.url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return err(format!(
                    "store.url {} is not a postgres:// URL (leave it out for the embedded store)",
                    sluice_store::redact_url(url)
                ));
            }
        }
        if self.gateway.name.as_deref().is_some_and(|n| {
            n.is_empty()
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        }) {
            return err("gateway.name must be letters, digits, '-', '_' or '.'".to_owned());
        }
        // Undefined policy is deny: no policy at all is never a default.
        match (&self.policy.dir, self.policy.builtin) {
            (None, None) => {
                return err(
                    "no policy: set [policy] dir to the directory of the Rego policy \
                     (examples/policies is a start), or [policy] builtin = \"allow-all\" to run \
                     audit-only, allowing and auditing every request"
                        .to_owned(),
                )
            }
            (Some(_), Some(_)) => {
                return err("[policy] has both dir and builtin: choose one".to_owned())
            }
            _ => {}
        }
        self.auth.check().map_err(CoreError::Config)?;
        sluice_identity::check_all(&self.identity_providers)
            .map_err(|e| CoreError::Config(e.to_string()))?;
        let mut seen = std::collections::HashSet::new();
        for i in &self.identities {
            if i.name.is_empty() || !seen.insert(i.name.as_str()) {
                return err(format!("identity name {:?} is empty or repeated", i.name));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.targets {
            if t.name.is_empty() || t.name.contains('/') || !seen.insert(t.name.as_str()) {
                return err(format!(
                    "target name {:?} is empty, contains '/', or is repeated",
                    t.name
                ));
            }
            t.kind.check(t).map_err(CoreError::Config)?;
            if t.host.is_empty() {
                return err(format!("target {}: `host` is empty", t.name));
            }
            if t.password_env.is_some() && t.password_file.is_some() {
                return err(format!(
                    "target {}: give password_env or password_file, not both",
                    t.name
                ));
            }
            if let Some(bad) = t.via.iter().find(|a| !valid_agent_name(a)) {
                return err(format!(
                    "target {}: via {bad:?} is not an agent name (letters, digits, '-', '_',                      '.', at most 63)",
                    t.name
                ));
            }
            if !t.via.is_empty() && self.agents.listen.is_none() {
                return err(format!(
                    "target {}: `via` names agents, but [agents] listen is not set, so none                      can connect",
                    t.name
                ));
            }
        }
        if self.agents.tls_cert.is_some() != self.agents.tls_key.is_some() {
            return err("agents.tls_cert and agents.tls_key go together".into());
        }
        if self.agents.heartbeat.is_zero() {
            return err("agents.heartbeat must be more than zero".into());
        }
        if self.postgres.tls_cert.is_some() != self.postgres.tls_key.is_some() {
            return err("postgres.tls_cert and postgres.tls_key go together".into());
        }
        if self.admin.tls_cert.is_some() != self.admin.tls_key.is_some() {
            return err("admin.tls_cert and admin.tls_key go together".into());
        }
        if let Some(addr) = self.admin.listen {
            // Mapped IPv4 (::ffff:127.0.0.1) is loopback too; `is_loopback` alone says no.
            let loopback = addr.ip().to_canonical().is_loopback();
            if !loopback && self.admin.tls().is_none() && !self.admin.allow_plaintext {
                return err(format!(
                    "admin.listen {addr} is not a loopback address: the admin API carries \
                     credentials, so add admin.tls_cert and admin.tls_key (or set \
                     admin.allow_plaintext = true to accept that risk)"
                ));
            }
        }
        if self.policy.timezone.parse::<chrono_tz::Tz>().is_err() {
            return err(format!(
                "policy.timezone {:?} is not an IANA time zone name",
                self.policy.timezone
            ));
        }
        if self.policy.eval_timeout.is_zero() || self.policy.watch_interval.is_zero() {
            return err("policy.eval_timeout and policy.watch_interval must be > 0".into());
        }
        if self.gateway.max_connections == 0 || self.gateway.max_message_bytes < 1024 {
            return err("gateway.max_connections must be > 0 and max_message_bytes >= 1024".into());
        }
        if self.recording.retention.is_some_and(|r| r.is_zero()) {
            return err("recording.retention must be > 0 (leave it out to keep recordings)".into());
        }
        if self
            .recording
            .s3
            .as_ref()
            .is_some_and(|s3| s3.bucket.is_empty())
        {
            return err("recording.s3.bucket is required".into());
        }
        let a = &self.approvals;
        if a.timeout.is_zero() || a.access_timeout.is_zero() || a.max_grant.is_zero() {
            return err("approvals.timeout, access_timeout and max_grant must be > 0".into());
        }
        if self.audit.checkpoint_interval.is_zero() {
            return err("audit.checkpoint_interval must be > 0".into());
        }
        self.signals
            .validate()
            .map_err(|e| CoreError::Config(e.to_string()))?;
        Ok(())
    }

    /// Where reviewers reach the admin API, for links; `None` without an admin listener.
    pub fn review_base_url(&self) -> Option<String> {
        match &self.approvals.public_url {
            Some(url) => Some(url.trim_end_matches('/').to_owned()),
            None => {
                let scheme = if self.admin.tls().is_some() {
                    "https"
                } else {
                    "http"
                };
                self.admin.listen.map(|a| format!("{scheme}://{a}"))
            }
        }
    }

    pub fn audit_path(&self) -> PathBuf {
        self.audit
            .path
            .clone()
            .unwrap_or_else(|| self.gateway.data_dir.join("audit.jsonl"))
    }

    pub fn recording_dir(&self) -> PathBuf {
        self.recording
            .dir
            .clone()
            .unwrap_or_else(|| self.gateway.data_dir.join("recordings"))
    }

    pub fn audit_signing_key_path(&self) -> PathBuf {
        self.audit
            .signing_key_file
            .clone()
            .unwrap_or_else(|| self.gateway.data_dir.join("audit-signing.key"))
    }

    pub fn masking_key_path(&self) -> PathBuf {
        self.masking
            .token_key_file
            .clone()
            .unwrap_or_else(|| self.gateway.data_dir.join("masking-token.key"))
    }

    pub fn store_path(&self) -> PathBuf {
        self.gateway.data_dir.join("sluice.sqlite")
    }

    /// Where the store is: `[store] url`, else the SQLite file in the data directory.
    pub fn store_location(&self) -> sluice_store::StoreLocation {
        match &self.store.url {
            Some(url) => sluice_store::StoreLocation::Postgres(url.clone()),
            None => sluice_store::StoreLocation::Sqlite(self.store_path()),
        }
    }

    /// The configured name, else the host name, else `gateway`.
    pub fn gateway_name(&self) -> String {
        if let Some(name) = &self.gateway.name {
            return name.clone();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "gateway".to_owned())
    }

    pub fn identity(&self, name: &str) -> Option<&IdentityConfig> {
        self.identities.iter().find(|i| i.name == name)
    }

    pub fn target(&self, name: &str) -> Option<&TargetConfig> {
        self.targets.iter().find(|t| t.name == name)
    }
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// Every duration in the configuration is read by one parser, shared with the webhook and
/// sink settings that sluice-outbound owns.
use sluice_outbound::duration::duration;

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        [gateway]
        data_dir = "/tmp/x"
        handshake_timeout = "5s"

        [policy]
        builtin = "allow-all"

        [[identities]]
        name = "alice"
        kind = "human"
        groups = ["dba"]

        [[targets]]
        name = "app"
        kind = "postgres"
        host = "127.0.0.1"
        port = 5433
        database = "app"
        databases = ["reports"]
        user = "sluice"
        password_env = "SLUICE_TEST_NEVER_SET"
        tls = "disable"
        tags = { environment = "production" }
    "#;

    #[test]
    fn a_shared_store_and_the_gateway_name_are_checked_and_the_password_never_shown() {
        let c = Config::parse(&format!(
            "{EXAMPLE}\n[store]\nurl = \"postgres://sluice:hunter2@db:5432/sluice\"\n"
        ))
        .unwrap();
        let shown = format!("{:?}", c.store);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("sluice:***@db:5432/sluice"), "{shown}");
        assert_eq!(
            sluice_store::redact_url("postgres://u@h/d?password=x&sslmode=require"),
            "postgres://u@h/d?password=***&sslmode=require"
        );
        let err = Config::parse(&format!(
            "{EXAMPLE}\n[store]\nurl = \"mysql://root:hunter2@db/x\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("not a postgres:// URL"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let named = EXAMPLE.replace("[gateway]\n", "[gateway]\nname = \"gw-a\"\n");
        assert_eq!(Config::parse(&named).unwrap().gateway_name(), "gw-a");
        let bad = EXAMPLE.replace("[gateway]\n", "[gateway]\nname = \"a b\"\n");
        assert!(Config::parse(&bad).is_err());
        assert!(!Config::parse(EXAMPLE).unwrap().gateway_name().is_empty());
    }

    #[test]
    fn targets_get_their_kind_defaults_and_checks() {
        let c = Config::parse(&EXAMPLE.replace("port = 5433\n", "")).unwrap();
        assert_eq!(c.targets[0].port, 5432);
        let err = Config::parse(&EXAMPLE.replace("database = \"app\"\n", ""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("target app: a postgres target needs `database`"),
            "{err}"
        );
        let err = Config::parse(&EXAMPLE.replace("user = \"sluice\"\n", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs `user`"), "{err}");
        let err = Config::parse(&EXAMPLE.replace("kind = \"postgres\"", "kind = \"gopher\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("gopher"), "{err}");
    }

    #[test]
    fn the_mcp_endpoint_is_configured_under_the_https_listener() {
        let text = format!(
            "{EXAMPLE}\n[[listeners]]\nprotocol = \"http\"\nlisten = \"127.0.0.1:0\"\n\n\
             [listeners.mcp]\nmax_rows = 50\nprogress_interval_seconds = 3\n"
        );
        let c = Config::parse(&text).unwrap();
        let mcp = &c.http.as_ref().unwrap().mcp;
        assert!(mcp.enabled);
        assert_eq!((mcp.max_rows, mcp.progress_interval_seconds), (50, 3));
        let off =
            format!("{EXAMPLE}\n[[listeners]]\nprotocol = \"http\"\nmcp = {{ enabled = false }}\n");
        assert!(!Config::parse(&off).unwrap().http.unwrap().mcp.enabled);
        let typo =
            format!("{EXAMPLE}\n[[listeners]]\nprotocol = \"http\"\nmcp = {{ max_row = 5 }}\n");
        assert!(Config::parse(&typo).is_err());
    }

    #[test]
    fn listeners_are_configured_per_protocol_and_the_older_table_still_works() {
        let listeners = format!(
            "{EXAMPLE}\n[[listeners]]\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:7432\"\nrequire_tls = true\n"
        );
        let c = Config::parse(&listeners).unwrap();
        assert_eq!(c.postgres.listen, Some("127.0.0.1:7432".parse().unwrap()));
        assert!(c.postgres.require_tls);

        let table = format!("{EXAMPLE}\n[postgres]\nlisten = \"127.0.0.1:7433\"\n");
        let c = Config::parse(&table).unwrap();
        assert_eq!(c.postgres.listen, Some("127.0.0.1:7433".parse().unwrap()));

        let neither = Config::parse(EXAMPLE).unwrap();
        assert_eq!(
            neither.postgres.listen,
            Some("127.0.0.1:6432".parse().unwrap())
        );

        let both = format!("{listeners}\n[postgres]\nlisten = \"127.0.0.1:7433\"\n");
        let err = Config::parse(&both).unwrap_err().to_string();
        assert!(err.contains("keep one"), "{err}");

        let twice = format!("{listeners}\n[[listeners]]\nprotocol = \"postgres\"\n");
        let err = Config::parse(&twice).unwrap_err().to_string();
        assert!(err.contains("one listener per protocol"), "{err}");

        let unknown = format!("{EXAMPLE}\n[[listeners]]\nprotocol = \"gopher\"\n");
        let err = Config::parse(&unknown).unwrap_err().to_string();
        assert!(err.contains("gopher"), "{err}");

        let typo = format!("{EXAMPLE}\n[[listeners]]\nprotocol = \"postgres\"\nlistn = \"x\"\n");
        assert!(Config::parse(&typo).is_err());
    }

    #[test]
    fn no_policy_is_never_a_default() {
        let none = EXAMPLE.replace("[policy]\n        builtin = \"allow-all\"", "");
        let err = Config::parse(&none).unwrap_err().to_string();
        assert!(err.contains("no policy: set [policy] dir"), "{err}");
        assert!(err.contains("builtin = \"allow-all\""), "{err}");
        let both = EXAMPLE.replace(
            "builtin = \"allow-all\"",
            "builtin = \"allow-all\"\ndir = \"p\"",
        );
        assert!(Config::parse(&both)
            .unwrap_err()
            .to_string()
            .contains("both dir and builtin"));
        let typo = EXAMPLE.replace("\"allow-all\"", "\"allow\"");
        assert!(Config::parse(&typo).is_err());
    }

    #[test]
    fn parses_the_example() {
        let c = Config::parse(EXAMPLE).unwrap();
        assert_eq!(c.gateway.handshake_timeout, Duration::from_secs(5));
        let t = c.target("app").unwrap();
        assert!(t.allows_database("reports") && t.allows_database("app"));
        assert!(!t.allows_database("postgres"));
        assert_eq!(t.tags["environment"], "production");
        assert!(t.load_password().is_err());
    }

    #[test]
    fn unknown_fields_are_errors() {
        let bad = EXAMPLE.replace(
            "tls = \"disable\"",
            "tls = \"disable\"\npassword = \"inline\"",
        );
        assert!(Config::parse(&bad).is_err());
    }

    #[test]
    fn a_non_loopback_admin_listener_needs_tls_or_an_explicit_plaintext_choice() {
        let admin = |fields: &str| format!("{EXAMPLE}\n[admin]\n{fields}\n");
        let err = Config::parse(&admin("listen = \"0.0.0.0:9090\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("admin.listen 0.0.0.0:9090 is not a loopback address")
                && err.contains("add admin.tls_cert and admin.tls_key")
                && err.contains("admin.allow_plaintext = true"),
            "{err}"
        );
        for loopback in ["127.0.0.1:0", "[::1]:9090", "[::ffff:127.0.0.1]:9090"] {
            let c = Config::parse(&admin(&format!("listen = \"{loopback}\""))).unwrap();
            assert!(c.review_base_url().unwrap().starts_with("http://"));
        }
        Config::parse(&admin("listen = \"0.0.0.0:9090\"\nallow_plaintext = true")).unwrap();
        let tls = Config::parse(&admin(
            "listen = \"0.0.0.0:9090\"\ntls_cert = \"a.crt\"\ntls_key = \"a.key\"",
        ))
        .unwrap();
        assert_eq!(tls.review_base_url().unwrap(), "https://0.0.0.0:9090");
        let half = Config::parse(&admin("tls_cert = \"a.crt\"")).unwrap_err();
        assert!(half.to_string().contains("go together"), "{half}");
    }

    #[test]
    fn repeated_names_are_errors() {
        let twice = format!("{EXAMPLE}\n[[identities]]\nname = \"alice\"\nkind = \"agent\"\n");
        assert!(Config::parse(&twice).is_err());
    }
}
