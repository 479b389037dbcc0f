//! The command line: `sluice serve | token | audit | policy | demo`.

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
    /// Check and search the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check, test and evaluate Rego policies; show what a gateway enforces.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Start a scratch PostgreSQL behind a gateway and print ready-to-paste psql commands.
    Demo(DemoArgs),
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token for an identity; the token is printed once and only its verifier is kept.
    Create {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        identity: String,
        /// Lifetime, e.g. 30m, 8h, 7d; "never" for no expiry.
        #[arg(long, default_value = "8h")]
        ttl: String,
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

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain and name the first broken link.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
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
    },
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

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Keep the demo's config and state here (a temporary directory by default).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print one JSON line with URLs and tokens once the gateway is ready.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(c) => crate::runtime::serve(&c.config).await,
        Command::Token(t) => crate::token_cmd::run(t).await,
        Command::Audit(a) => crate::audit_cmd::run(a),
        Command::Policy(p) => crate::policy_cmd::run(p).await,
        Command::Demo(d) => crate::demo::run(d).await,
    }
}
