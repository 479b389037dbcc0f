//! `sluice token create | list | revoke`. Works beside a running gateway: the store is shared
//! through SQLite's locking, and a gateway reads tokens at every connection.

use anyhow::{bail, Result};
use serde::Serialize;
use sluice_core::config::Config;
use sluice_core::gateway::unix_now;
use sluice_core::secret::Secret;
use sluice_core::token::{self, SALT_LEN};
use sluice_store::{Store, TokenRecord};

use crate::cli::TokenCommand;

pub async fn run(command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create {
            config,
            identity,
            ttl,
        } => {
            let config = Config::load(&config.config)?;
            let ttl = parse_ttl(&ttl)?;
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
        })
        .collect();
    if json {
        for v in &views {
            println!("{}", serde_json::to_string(v)?);
        }
        return Ok(());
    }
    println!(
        "{:<18} {:<16} {:<8} {:<21} {:<21} LAST USED",
        "ID", "IDENTITY", "STATE", "CREATED", "EXPIRES"
    );
    for v in &views {
        println!(
            "{:<18} {:<16} {:<8} {:<21} {:<21} {}",
            v.id,
            v.identity,
            v.state,
            v.created_at,
            v.expires_at.as_deref().unwrap_or("never"),
            v.last_used_at.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}
