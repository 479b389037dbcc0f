//! `sluice token create | list | revoke`. Works beside a running gateway: the store is shared
//! through SQLite's locking, and a gateway reads tokens at every connection.
//!
//! `token create --task` is the other form: a signed-in person asks a gateway's admin API for
//! a short per-task token for an AI agent (see [`create_task_token`]).

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::Serialize;
use sluice_core::config::Config;
use sluice_core::gateway::unix_now;
use sluice_core::secret::Secret;
use sluice_core::token::{self, SALT_LEN};
use sluice_store::TokenRecord;

use crate::admin_client::{exact, parse_duration, print_json, AdminClient};
use crate::cli::{ServerArg, TokenCommand};
use crate::login::api::{self, TaskToken, TaskTokenRequest};

/// An agent's token should outlive its task by little.
const TASK_TTL: &str = "15m";

fn env_text(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `POST /v1/tokens` as the caller (SLUICE_TOKEN or the stored sign-in): the token goes to
/// stdout, alone, so `export AGENT_TOKEN=$(sluice token create --task ..)` works; what it is
/// goes to stderr. With `json`, the gateway's answer goes to stdout instead.
pub async fn create_task_token(
    connection: &ServerArg,
    task: &str,
    targets: &[String],
    ttl: &str,
    json: bool,
) -> Result<()> {
    if task.trim().is_empty() {
        bail!("--task must say what the agent is to do");
    }
    if targets.is_empty() {
        bail!("a per-task token needs at least one --target");
    }
    if ttl == "never" {
        bail!("a per-task token must expire: give --ttl a duration such as 15m");
    }
    let ttl = parse_duration(ttl, "--ttl")?;
    let client = AdminClient::connect(connection)?;
    let answer: serde_json::Value = client
        .post(
            api::TOKENS,
            &TaskTokenRequest {
                task,
                targets,
                ttl_seconds: ttl.as_secs(),
            },
        )
        .await?;
    if json {
        return print_json(&answer);
    }
    let token: TaskToken = serde_json::from_value(answer).map_err(|e| {
        // serde_json quotes values it cannot read; one of them is the token.
        anyhow::anyhow!(
            "the gateway's answer to {} is not what this version of sluice expects ({:?})",
            api::TOKENS,
            e.classify()
        )
    })?;
    println!("{}", token.token.expose());
    let expiry = match token.expires_at {
        Some(at) => format!(
            "expires {} (in {})",
            crate::login::unix_rfc3339(at),
            exact(ttl.as_secs())
        ),
        None => "never expires".to_owned(),
    };
    eprintln!(
        "{}",
        crate::admin_client::printable(
            &format!(
                "token {} for {} (task {:?}; targets {}) {expiry}; it is shown only once",
                token.token_id,
                token.identity,
                token.task.as_deref().unwrap_or(task),
                token.targets.join(", "),
            ),
            false
        )
    );
    Ok(())
}

pub async fn run(command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create {
            config,
            identity,
            ttl,
            task,
            target,
            server,
            ca,
            json,
        } => {
            if let Some(task) = task {
                let connection = ServerArg {
                    server: server.or_else(|| env_text("SLUICE_SERVER")),
                    ca: ca.or_else(|| env_text("SLUICE_CA").map(PathBuf::from)),
                };
                let ttl = ttl.as_deref().unwrap_or(TASK_TTL);
                return create_task_token(&connection, &task, &target, ttl, json).await;
            }
            if server.is_some() || ca.is_some() {
                bail!("--server and --ca belong to the per-task form (--task)");
            }
            // clap's own conflict check ignores the environment, so SLUICE_CONFIG is read
            // here rather than by clap: an exported SLUICE_CONFIG must not refuse --task.
            let config = config
                .or_else(|| env_text("SLUICE_CONFIG").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("sluice.toml"));
            let Some(identity) = identity else {
                bail!("--identity or --task is required");
            };
            let config = Config::load(&config)?;
            let ttl = parse_ttl(ttl.as_deref().unwrap_or("8h"))?;
            let secret = create(&config, &identity, ttl).await?;
            println!("{}", secret.expose());
            eprintln!("token for {identity} created; it is shown only once");
        }
        TokenCommand::List {
            config,
            identity,
            json,
        } => {
            let config = Config::load(&config.config)?;
            let store = crate::runtime::open_store(&config).await?;
            let tokens = store.list_tokens(identity.as_deref()).await?;
            print_tokens(&tokens, json)?;
        }
        TokenCommand::Revoke { config, id } => {
            let config = Config::load(&config.config)?;
            let store = crate::runtime::open_store(&config).await?;
            if store.revoke_token(&id, unix_now()).await? {
                println!("revoked {id}");
            } else {
                bail!("no active token {id}");
            }
        }
    }
    Ok(())
}

/// `None` means no expiry.
pub fn parse_ttl(ttl: &str) -> Result<Option<std::time::Duration>> {
    if ttl == "never" {
        return Ok(None);
    }
    Ok(Some(humantime::parse_duration(ttl)?))
}

/// Issues a token for a configured identity and returns its secret.
pub async fn create(
    config: &Config,
    identity: &str,
    ttl: Option<std::time::Duration>,
) -> Result<Secret> {
    if config.identity(identity).is_none() {
        bail!("identity {identity:?} is not in the configuration");
    }
    std::fs::create_dir_all(&config.gateway.data_dir)?;
    let store = crate::runtime::open_store(config).await?;
    let candidate: [u8; SALT_LEN] = rand::random();
    let salt = store.identity_salt(identity, &candidate).await?;
    let now = unix_now();
    let expires = ttl.map(|d| now + d.as_secs() as i64);
    let issued = token::issue(identity, &salt, now, expires, Default::default());
    store.insert_token(&issued.record).await?;
    Ok(issued.secret)
}

#[derive(Serialize)]
struct TokenView<'a> {
    id: &'a str,
    identity: &'a str,
    created_at: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    last_used_at: Option<String>,
    state: &'static str,
    /// How it was issued: operator, login, exchange or task.
    purpose: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    targets: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    task: Option<&'a str>,
}

fn print_tokens(tokens: &[TokenRecord], json: bool) -> Result<()> {
    let now = unix_now();
    let views: Vec<TokenView> = tokens
        .iter()
        .map(|t| TokenView {
            id: &t.id,
            identity: &t.identity,
            created_at: rfc3339(t.created_at),
            expires_at: t.expires_at.map(rfc3339),
            revoked_at: t.revoked_at.map(rfc3339),
            last_used_at: t.last_used_at.map(rfc3339),
            state: if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at.is_some_and(|e| e <= now) {
                "expired"
            } else {
                "active"
            },
            purpose: &t.scope.purpose,
            targets: t.scope.targets.as_deref(),
            task: t.scope.task.as_deref(),
        })
        .collect();
    if json {
        for v in &views {
            println!("{}", serde_json::to_string(v)?);
        }
        return Ok(());
    }
    println!(
        "{:<18} {:<16} {:<8} {:<9} {:<21} {:<21} {:<21} TARGETS",
        "ID", "IDENTITY", "STATE", "PURPOSE", "CREATED", "EXPIRES", "LAST USED"
    );
    for v in &views {
        println!(
            "{:<18} {:<16} {:<8} {:<9} {:<21} {:<21} {:<21} {}",
            v.id,
            v.identity,
            v.state,
            v.purpose,
            v.created_at,
            v.expires_at.as_deref().unwrap_or("never"),
            v.last_used_at.as_deref().unwrap_or("-"),
            v.targets.map_or("any".to_owned(), |t| t.join(","))
        );
        if let Some(task) = v.task {
            // The caller's own words: printed safely, on a line of its own.
            println!(
                "{:<18} task: {}",
                "",
                sluice_core::text::printable(task, false)
            );
        }
    }
    Ok(())
}

fn rfc3339(unix: i64) -> String {
    crate::login::unix_rfc3339(unix)
}
