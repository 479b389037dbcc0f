//! `sluice agent`: run a network-resident agent (`--server`, `--enroll`), or beside the
//! gateway enroll, list and revoke agents in the store (docs/agent-connection.md). The
//! gateway audits what follows: the enrollment when it is redeemed, each link, and a
//! revocation when it closes the link.

use anyhow::{bail, Context, Result};
use sluice_agent::agent::AgentOptions;
use sluice_core::config::{valid_agent_name, Config};
use sluice_core::gateway::unix_now;
use sluice_store::AgentRecord;
use tokio::sync::watch;

use crate::admin_client::{parse_duration, print_json};
use crate::cli::{AgentArgs, AgentCommand};

pub async fn run(args: AgentArgs) -> Result<()> {
    match args.command {
        Some(AgentCommand::Enroll { config, name, ttl }) => {
            let config = Config::load(&config.config)?;
            enroll(&config, &name, ttl.as_deref()).await
        }
        Some(AgentCommand::List { config, json }) => {
            let config = Config::load(&config.config)?;
            let store = crate::runtime::open_store(&config).await?;
            print_agents(&store.agents().await?, json)
        }
        Some(AgentCommand::Revoke { config, name }) => {
            let config = Config::load(&config.config)?;
            let store = crate::runtime::open_store(&config).await?;
            if store.revoke_agent(&name, now_ms()).await? {
                println!("revoked agent {name}; its link closes within one heartbeat");
                Ok(())
            } else {
                bail!("no agent {name}, or it is already revoked")
            }
        }
        None => serve(args).await,
    }
}

fn now_ms() -> i64 {
    unix_now().saturating_mul(1000)
}

async fn enroll(config: &Config, name: &str, ttl: Option<&str>) -> Result<()> {
    if !valid_agent_name(name) {
        bail!("{name:?} is not an agent name (letters, digits, '-', '_', '.', at most 63)");
    }
    if config.agents.listen.is_none() {
        bail!("[agents] listen is not set in the configuration: no agent could connect");
    }
    let ttl = match ttl {
        Some(t) => parse_duration(t, "--ttl")?,
        None => config.agents.enrollment_ttl,
    };
    let pin = sluice_agent::hub::listener_pin(config)?;
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let (token, record) = sluice_agent::enrollment::issue(name, pin, now_ms(), ttl_ms);
    let store = crate::runtime::open_store(config).await?;
    store.insert_enrollment(&record).await?;
    eprintln!(
        "enrollment token for agent {name}, valid for {} and once (it carries the hash of \
         the gateway's agent certificate, which the agent pins):",
        humantime::format_duration(ttl)
    );
    println!("{token}");
    Ok(())
}

async fn serve(args: AgentArgs) -> Result<()> {
    // The agent has no configuration file: RUST_LOG, or info.
    crate::logging::init(&sluice_core::config::LogConfig {
        level: "info".to_owned(),
        ..Default::default()
    });
    let Some(server) = args.server else {
        bail!("--server HOST:PORT (the gateway's [agents] listen address) is required");
    };
    let server = server
        .trim_start_matches("https://")
        .trim_start_matches("sluice://")
        .trim_end_matches('/')
        .to_owned();
    let options = AgentOptions {
        server,
        // An empty value (an unset variable passed on by compose) is no token.
        enroll: args.enroll.filter(|t| !t.trim().is_empty()),
        state_dir: args.state_dir,
        heartbeat: parse_duration(&args.heartbeat, "--heartbeat")?,
        targets: args.targets,
        allow: args.allow,
    };
    let (stop, stopped) = watch::channel(false);
    let mut agent = tokio::spawn(sluice_agent::agent::run(options, stopped));
    tokio::select! {
        signal = crate::runtime::shutdown_signal() => {
            tracing::info!(signal = signal?, "agent stopping");
            let _ = stop.send(true);
            (&mut agent).await.context("the agent task")??;
        }
        ended = &mut agent => ended.context("the agent task")??,
    }
    Ok(())
}

fn print_agents(agents: &[AgentRecord], json: bool) -> Result<()> {
    if json {
        let rows: Vec<serde_json::Value> = agents
            .iter()
            .map(|a| {
                serde_json::json!({
                    "name": a.name,
                    "key_sha256": a.key_sha256,
                    "enrolled_at_ms": a.enrolled_at_ms,
                    "revoked_at_ms": a.revoked_at_ms,
                    "last_seen_ms": a.last_seen_ms,
                    "gateway": a.gateway,
                })
            })
            .collect();
        return print_json(&serde_json::Value::Array(rows));
    }
    println!(
        "{:<24} {:<10} {:<20} {:<20} {:<16} KEY",
        "NAME", "STATE", "ENROLLED", "LAST SEEN", "GATEWAY"
    );
    for a in agents {
        let state = if a.revoked_at_ms.is_some() {
            "revoked"
        } else {
            "enrolled"
        };
        println!(
            "{:<24} {:<10} {:<20} {:<20} {:<16} {}",
            a.name,
            state,
            time_of(Some(a.enrolled_at_ms)),
            time_of(a.last_seen_ms),
            a.gateway.as_deref().unwrap_or("-"),
            &a.key_sha256[..a.key_sha256.len().min(16)],
        );
    }
    Ok(())
}

fn time_of(ms: Option<i64>) -> String {
    ms.map_or_else(
        || "-".to_owned(),
        |ms| crate::login::unix_rfc3339(ms / 1000),
    )
}
