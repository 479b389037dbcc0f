//! The command line: `sluice serve | token | login | logout | audit | policy | review | access |
//! demo`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "sluice",
    version,
    about = "An access gateway that checks, audits and relays what each request does"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct ConfigArg {
    /// Path of the configuration file.
    #[arg(long, short, env = "SLUICE_CONFIG", default_value = "sluice.toml")]
    pub config: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway.
    Serve(ConfigArg),
    /// Issue, list and revoke access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Sign in to a gateway through its identity provider and keep the credential; `login
    /// status` shows it, `login env` prints it as client environment variables.
    Login(LoginArgs),
    /// Revoke the stored credential on the gateway and forget it.
    Logout(ServerArg),
    /// Register, list and remove the SSH public keys that authenticate an identity.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Run a network-resident agent (`--server HOST:PORT --enroll TOKEN`) inside a private
    /// network; or, beside the gateway, enroll, list and revoke agents.
    Agent(AgentArgs),
    /// Check, search and export the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check, test and evaluate Rego policies; show what a gateway enforces.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// List, show and decide the requests a gateway holds for approval.
    Review(ReviewArgs),
    /// Ask a gateway for time-bound access; list and revoke grants.
    Access(AccessArgs),
    /// Start a scratch PostgreSQL behind a gateway and print ready-to-paste psql commands.
    Demo(DemoArgs),
    /// List, show, replay and search recorded sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Write a kubeconfig that reaches a Kubernetes target through the gateway's HTTPS
    /// listener (kubectl unchanged; the credential comes from `sluice login` or SLUICE_TOKEN)
    Kubeconfig(KubeconfigArgs),
    /// The five self-reflection signals (policy drift, approval latency, masking
    /// effectiveness, audit completeness, access churn), computed now by a gateway.
    Report(ReportArgs),
    /// Bridge an MCP client that speaks stdio (Claude Desktop and the like) to a gateway's MCP
    /// endpoint; the token comes from SLUICE_TOKEN, else from `sluice login`.
    Mcp(McpArgs),
}

#[derive(Args, Debug)]
pub struct McpArgs {
    /// The gateway's MCP endpoint, https://HOST:PORT/PATH (http:// on loopback only).
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// A CA certificate (PEM) to trust besides the public roots, for a gateway whose
    /// certificate is self-signed or from a private CA.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub connection: ServerArg,
    /// The gateway's report as JSON (keys policy_drift, approval_latency,
    /// masking_effectiveness, audit_completeness, access_churn).
    #[arg(long)]
    pub json: bool,
    /// Exit with status 3 when a signal is firing, so a scheduled job can alert on it.
    #[arg(long)]
    pub check: bool,
}

#[derive(Args, Debug)]
pub struct KubeconfigArgs {
    /// The Kubernetes target, as configured on the gateway.
    pub target: String,
    #[command(flatten)]
    pub connection: ServerArg,
    /// The namespace of the kubeconfig's context.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Write the kubeconfig here instead of printing it.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Put the token itself in the kubeconfig (written 0600) instead of the exec plugin.
    #[arg(long)]
    pub embed_token: bool,
    /// The HTTPS listener's URL when clients reach it by another name (a load balancer);
    /// default: the admin server's host and the listener's port.
    #[arg(long, value_name = "URL")]
    pub https_url: Option<String>,
    /// The CA that verifies the HTTPS listener's certificate (default: --ca).
    #[arg(long, value_name = "FILE")]
    pub https_ca: Option<PathBuf>,
    /// Print the ExecCredential kubectl's exec plugin reads (the kubeconfig runs this).
    #[arg(long, hide = true)]
    pub exec_credential: bool,
}

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// Sessions from the audit trail, oldest first.
    List {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        identity: Option<String>,
        #[arg(long)]
        target: Option<String>,
        /// RFC 3339 time, or a duration meaning "that long ago" (e.g. 1h).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// A session's metadata, then its statements (or, for a terminal, HTTP or file session, its
    /// requests) with their decisions and outcomes.
    Show {
        #[command(flatten)]
        config: ConfigArg,
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Print the session as its client saw it: a SQL session in psql's aligned format (a
    /// MySQL one in the mysql client's table format), a terminal session's output stream,
    /// one line per HTTP exchange or file operation.
    Replay {
        #[command(flatten)]
        config: ConfigArg,
        id: String,
        /// Honour the recorded timing.
        #[arg(long)]
        timing: bool,
        /// Print a terminal session as an asciicast v2 file instead, for asciicast players
        /// (`> session.cast`); they keep the timing themselves.
        #[arg(long, conflicts_with = "timing")]
        asciicast: bool,
        /// With --timing: play this many times faster.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// With --timing: the longest pause between two steps.
        #[arg(long, default_value = "2s")]
        max_pause: String,
    },
    /// Sessions whose recorded statements or requests (command lines, HTTP host and path,
    /// file paths) contain TEXT (case-insensitive).
    Search {
        #[command(flatten)]
        config: ConfigArg,
        text: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token; it is printed once. Two forms: an operator's, `--identity NAME` from the
    /// gateway's configuration and store; and a person's per-task token for an AI agent,
    /// `--task TEXT --target NAME`, issued by a gateway for the signed-in caller.
    Create {
        /// The gateway's configuration (operator form only; default SLUICE_CONFIG or
        /// sluice.toml).
        #[arg(long, short, conflicts_with = "task")]
        config: Option<PathBuf>,
        /// Operator form: the configured identity the token is for.
        #[arg(long, required_unless_present = "task", conflicts_with = "task")]
        identity: Option<String>,
        /// Lifetime, e.g. 15m, 8h, 7d; "never" for no expiry (operator form only). Default:
        /// 8h, or 15m with --task.
        #[arg(long)]
        ttl: Option<String>,
        /// Per-task form: what the agent is to do, recorded with the token and its audit.
        #[arg(long, requires = "target")]
        task: Option<String>,
        /// Per-task form: a target the token may reach (repeat for more).
        #[arg(long, requires = "task", conflicts_with = "identity")]
        target: Vec<String>,
        /// Per-task form: the gateway (default: SLUICE_SERVER, else the one signed in to).
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Per-task form: the CA that issued an https gateway's certificate.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// Per-task form: print the gateway's answer (token included) as JSON.
        #[arg(long, requires = "task")]
        json: bool,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        identity: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token; it stops working at the next connection.
    Revoke {
        #[command(flatten)]
        config: ConfigArg,
        id: String,
    },
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: Option<AgentCommand>,
    /// The gateway's agent listener, `HOST:PORT` (a `https://` or `sluice://` prefix is
    /// ignored).
    #[arg(long, env = "SLUICE_AGENT_SERVER")]
    pub server: Option<String>,
    /// The one-time enrollment token from `sluice agent enroll` (needed the first time only).
    #[arg(long, env = "SLUICE_AGENT_ENROLL", hide_env_values = true)]
    pub enroll: Option<String>,
    /// Where the agent keeps its key and enrollment.
    #[arg(long, env = "SLUICE_AGENT_STATE", default_value = "sluice-agent")]
    pub state_dir: PathBuf,
    /// How often the agent checks the link (`5s`).
    #[arg(long, default_value = "5s")]
    pub heartbeat: String,
    /// A TOML file of targets whose credential the agent holds, so that the gateway never
    /// does (PostgreSQL; docs/agent-connection.md).
    #[arg(long, env = "SLUICE_AGENT_TARGETS")]
    pub targets: Option<PathBuf>,
    /// Connect only to these addresses for the gateway (`host:port`, `host:*`, `*:port`;
    /// repeatable, or comma-separated in SLUICE_AGENT_ALLOW). Absent: any.
    #[arg(long, env = "SLUICE_AGENT_ALLOW", value_delimiter = ',')]
    pub allow: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Issue a one-time enrollment token that registers the agent NAME (or gives it a new key).
    Enroll {
        #[command(flatten)]
        config: ConfigArg,
        name: String,
        /// How long the token can be redeemed (default: `[agents] enrollment_ttl`).
        #[arg(long)]
        ttl: Option<String>,
    },
    /// List enrolled agents, when and where each was last seen.
    List {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
    /// Revoke agent NAME: it cannot connect again, and its link is closed within a heartbeat.
    Revoke {
        #[command(flatten)]
        config: ConfigArg,
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum IdentityCommand {
    /// Register the public key in KEYFILE (an `authorized_keys` line, e.g. id_ed25519.pub) to
    /// IDENTITY; the SSH listener accepts it from then on.
    AddKey {
        #[command(flatten)]
        config: ConfigArg,
        identity: String,
        keyfile: PathBuf,
    },
    /// List registered keys (those in the configuration too).
    Keys {
        #[command(flatten)]
        config: ConfigArg,
        identity: Option<String>,
    },
    /// Remove a registered key by its fingerprint (`SHA256:...`).
    RemoveKey {
        #[command(flatten)]
        config: ConfigArg,
        identity: String,
        fingerprint: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain, check the signed checkpoints, and name every record altered or
    /// removed. Exits non-zero unless the trail is intact; with several `--trail`s, unless
    /// every one is.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
        /// The checkpoints' public key (64 hex digits). Default: read from
        /// `<audit.signing_key_file>.pub`. Give a copy kept off the gateway host to also catch
        /// checkpoints re-signed by someone who replaced the key there. Repeatable, for trails
        /// of gateways that each sign with their own key: each checkpoint is checked with the
        /// key it names, and one naming none of them is an unknown key.
        #[arg(long, value_name = "HEX")]
        public_key: Vec<String>,
        /// A gateway's trail: its audit file, or a directory holding it as `audit.jsonl` (a
        /// data directory). Repeat it for every gateway's trail: each chain is verified and
        /// reported per gateway, and two trails claiming one gateway are a problem. Default:
        /// the configuration's trail (the configuration is then only read, when it exists, for
        /// its public key and to check its own trail's recordings).
        #[arg(long, value_name = "PATH")]
        trail: Vec<PathBuf>,
        /// The report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Find records by identity, target, session and time.
    Search {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        identity: Option<String>,
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        session: Option<String>,
        /// RFC 3339 time, or a duration meaning "that long ago" (e.g. 1h).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        /// One JSON record per line.
        #[arg(long)]
        json: bool,
        /// Search these trails (files, or directories holding `audit.jsonl`) merged in time
        /// order instead of the configuration's. Repeatable.
        #[arg(long, value_name = "PATH")]
        trail: Vec<PathBuf>,
    },
    /// Print records exactly as they are in the file, for auditors and SIEM imports: the
    /// bytes are unchanged, so the hash chain can be checked downstream.
    Export {
        #[command(flatten)]
        config: ConfigArg,
        /// RFC 3339 time, or a duration meaning "that long ago" (e.g. 24h). Inclusive.
        #[arg(long)]
        since: Option<String>,
        /// Like --since. Exclusive.
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Export these trails (files, or directories holding `audit.jsonl`) instead of the
        /// configuration's, merged in time order (ties: gateway name, then seq); each record
        /// keeps its `gateway`. Repeatable.
        #[arg(long, value_name = "PATH")]
        trail: Vec<PathBuf>,
    },
}

/// What `audit export` writes.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One record per line, each the exact line of the audit file.
    Jsonl,
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Compile a policy directory and report errors with file and line.
    Check { dir: PathBuf },
    /// Run the `test_*` rules of a policy directory, like `opa test`.
    Test {
        dir: PathBuf,
        /// List every test, not only failures.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Evaluate `data.sluice.decision` for an input document and show the decision.
    Eval {
        dir: PathBuf,
        /// JSON input document (see docs/policy.md); `-` reads standard input.
        #[arg(long)]
        input: PathBuf,
    },
    /// Show the policy a running gateway enforces; with --against, compare it with a directory.
    Status {
        /// The gateway's admin URL; defaults to the admin listener in the configuration.
        #[arg(long, env = "SLUICE_SERVER")]
        server: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
        /// A policy checkout to compare with what the gateway enforces (non-zero exit on drift).
        #[arg(long)]
        against: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

/// The gateway an admin API command talks to. The token is read from SLUICE_TOKEN or the
/// credential `sluice login` stored, never a flag: a flag would put it in shell history.
#[derive(Args, Debug, Clone, Default)]
pub struct ServerArg {
    /// The gateway's admin URL, http(s)://HOST:PORT; default: the one last signed in to. The
    /// token comes from SLUICE_TOKEN, else from `sluice login`.
    #[arg(long, env = "SLUICE_SERVER", value_name = "URL", global = true)]
    pub server: Option<String>,
    /// For an https gateway with a private CA: that CA's certificate (PEM).
    #[arg(long, env = "SLUICE_CA", value_name = "FILE", global = true)]
    pub ca: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[command(flatten)]
    pub connection: ServerArg,
    /// The identity provider, when the gateway offers several.
    #[arg(long)]
    pub provider: Option<String>,
    /// device: enter a code on any device's browser (the default without a display);
    /// pkce: sign in with this machine's browser.
    #[arg(long, value_enum)]
    pub flow: Option<LoginFlow>,
    /// Do not try to open a browser; print the URL only.
    #[arg(long)]
    pub no_browser: bool,
    /// How long to wait for the sign-in.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub timeout: String,
    #[command(subcommand)]
    pub command: Option<LoginCommand>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFlow {
    Device,
    Pkce,
}

#[derive(Subcommand, Debug)]
pub enum LoginCommand {
    /// Who the stored credential signs in as, until when, and whether the gateway still
    /// accepts it.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Print the stored credential as client settings, for
    /// `eval "$(sluice login env --target NAME)"`. Prints the token: keep it off screens.
    Env {
        /// The target to connect to (the database, or the SSH host's name at the gateway).
        #[arg(long)]
        target: Option<String>,
        #[arg(long, value_enum, default_value_t = EnvShell::Sh)]
        shell: EnvShell,
        /// Only this client's settings (default: every listener the gateway runs).
        #[arg(long, value_enum)]
        protocol: Option<EnvProtocol>,
    },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvShell {
    Sh,
    Fish,
    Json,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvProtocol {
    Postgres,
    Mysql,
    Ssh,
}

#[derive(Args, Debug)]
pub struct ReviewArgs {
    #[command(flatten)]
    pub connection: ServerArg,
    #[command(subcommand)]
    pub command: ReviewCommand,
}

#[derive(Subcommand, Debug)]
pub enum ReviewCommand {
    /// Reviews waiting for a decision (all of them with --all).
    List {
        /// Every review, decided ones too.
        #[arg(long)]
        all: bool,
        /// The gateway's JSON array of reviews.
        #[arg(long)]
        json: bool,
    },
    /// One review in full: requirements, decisions, the statement and its parameters.
    Show {
        /// r-42 or 42.
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve a review.
    Approve {
        /// r-42 or 42.
        id: String,
        #[arg(long)]
        comment: Option<String>,
        /// Also grant the requester access for this long (e.g. 1h).
        #[arg(long, value_name = "DURATION")]
        grant: Option<String>,
        /// What that grant covers.
        #[arg(long, requires = "grant")]
        scope: Option<String>,
    },
    /// Deny a review.
    Deny {
        /// r-42 or 42.
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// How many reviews ended which way, and how long decisions took.
    Stats {
        /// RFC 3339 time, or a duration meaning "that long ago" (e.g. 24h).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct AccessArgs {
    #[command(flatten)]
    pub connection: ServerArg,
    #[command(subcommand)]
    pub command: AccessCommand,
}

#[derive(Subcommand, Debug)]
pub enum AccessCommand {
    /// Ask for access to a target for a while; policy grants it at once or opens a review.
    Request {
        target: String,
        /// How long the access should last, e.g. 30m, 1h.
        #[arg(long)]
        duration: String,
        /// Why, for the reviewers and the audit trail.
        #[arg(long)]
        reason: String,
        /// What the access covers (the gateway's default when omitted).
        #[arg(long)]
        scope: Option<String>,
        /// Wait until a reviewer decides; exit non-zero unless approved.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits.
        #[arg(long, value_name = "DURATION", default_value = "10m")]
        wait_timeout: String,
        #[arg(long)]
        json: bool,
    },
    /// Grants in force (all of them with --all).
    List {
        /// Expired and revoked grants too.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        identity: Option<String>,
        #[arg(long)]
        target: Option<String>,
        /// The gateway's JSON array of grants.
        #[arg(long)]
        json: bool,
    },
    /// End a grant now.
    Revoke {
        /// g-7 or 7.
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Grants issued, expired, revoked and active per identity.
    Stats {
        /// RFC 3339 time, or a duration meaning "that long ago" (e.g. 7d).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Keep the demo's config and state here (a temporary directory by default).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print one JSON line with URLs and tokens once the gateway is ready.
    #[arg(long)]
    pub json: bool,
    /// Session worker threads (`gateway.worker_threads`); 0, the default, is one per two cores.
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
}

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(c) => crate::runtime::serve(&c.config).await,
        Command::Token(t) => crate::token_cmd::run(t).await,
        Command::Login(l) => crate::login::run(l).await,
        Command::Logout(s) => crate::login::logout(&s).await,
        Command::Identity(i) => crate::identity_cmd::run(i).await,
        Command::Agent(a) => crate::agent_cmd::run(a).await,
        Command::Audit(a) => crate::audit_cmd::run(a).await,
        Command::Policy(p) => crate::policy_cmd::run(p).await,
        Command::Review(r) => crate::review_cmd::run(r).await,
        Command::Access(a) => crate::access_cmd::run(a).await,
        Command::Demo(d) => crate::demo::run(d).await,
        Command::Sessions(s) => crate::sessions_cmd::run(s).await,
        Command::Kubeconfig(k) => crate::kubeconfig_cmd::run(k).await,
        Command::Report(r) => crate::report_cmd::run(r).await,
        Command::Mcp(m) => crate::mcp_cmd::run(m).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn server_is_accepted_before_or_after_the_subcommand() {
        for args in [
            &["sluice", "review", "--server", "http://h:1", "list"][..],
            &["sluice", "review", "list", "--server", "http://h:1"][..],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            let Command::Review(r) = cli.command else {
                unreachable!("parsed as another command")
            };
            assert_eq!(r.connection.server.as_deref(), Some("http://h:1"));
        }
    }

    #[test]
    fn token_create_has_an_operator_form_and_a_task_form() {
        let ok = |args: &[&str]| Cli::try_parse_from(args).is_ok();
        assert!(ok(&[
            "sluice",
            "token",
            "create",
            "--identity",
            "a",
            "--ttl",
            "1h"
        ]));
        assert!(ok(&[
            "sluice",
            "token",
            "create",
            "--identity",
            "a",
            "-c",
            "x.toml"
        ]));
        assert!(ok(&[
            "sluice", "token", "create", "--task", "fix", "--target", "db", "--target", "db2",
            "--ttl", "15m", "--json"
        ]));
        assert!(!ok(&["sluice", "token", "create"]));
        assert!(!ok(&["sluice", "token", "create", "--task", "fix"]));
        assert!(!ok(&[
            "sluice",
            "token",
            "create",
            "--task",
            "t",
            "--target",
            "d",
            "--identity",
            "a"
        ]));
        assert!(!ok(&[
            "sluice", "token", "create", "--task", "t", "--target", "d", "--config", "x"
        ]));
        assert!(!ok(&[
            "sluice",
            "token",
            "create",
            "--identity",
            "a",
            "--target",
            "d"
        ]));
    }

    #[test]
    fn login_takes_flags_or_a_subcommand_with_the_server_anywhere() {
        let cli = Cli::try_parse_from([
            "sluice",
            "login",
            "--server",
            "https://gw:9090",
            "--flow",
            "pkce",
            "--no-browser",
        ])
        .unwrap();
        let Command::Login(l) = cli.command else {
            unreachable!("parsed as another command")
        };
        assert_eq!(l.flow, Some(LoginFlow::Pkce));
        assert!(l.command.is_none());
        let cli = Cli::try_parse_from([
            "sluice",
            "login",
            "env",
            "--server",
            "http://h:1",
            "--target",
            "app",
            "--shell",
            "fish",
        ])
        .unwrap();
        let Command::Login(l) = cli.command else {
            unreachable!("parsed as another command")
        };
        assert_eq!(l.connection.server.as_deref(), Some("http://h:1"));
        assert!(matches!(
            l.command,
            Some(LoginCommand::Env {
                shell: EnvShell::Fish,
                ..
            })
        ));
        assert!(Cli::try_parse_from(["sluice", "logout", "--server", "http://h:1"]).is_ok());
    }

    #[test]
    fn a_grant_scope_needs_a_grant() {
        assert!(
            Cli::try_parse_from(["sluice", "review", "approve", "42", "--scope", "*"]).is_err()
        );
        assert!(Cli::try_parse_from([
            "sluice", "review", "approve", "42", "--grant", "1h", "--scope", "*"
        ])
        .is_ok());
    }
}
