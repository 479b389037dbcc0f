//! `sluice sessions list | show | replay | search`: what each session did, from the audit
//! trail (who, when, how it ended, the recording's seal) and its recording (statements,
//! decisions, what the client saw). Reads files only; never blocks a running gateway.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sluice_audit::{AuditEvent, RecordingSeal, SearchFilter};
use sluice_core::config::Config;
use sluice_record::{Recording, RecordingStore};

use crate::admin_client::one_line;
use crate::audit_cmd::parse_time;
use crate::cli::SessionsCommand;

pub async fn run(command: SessionsCommand) -> Result<()> {
    match command {
        SessionsCommand::List {
            config,
            identity,
            target,
            since,
            until,
            json,
        } => {
            let config = Config::load(&config.config)?;
            let filter = SearchFilter {
                identity,
                target,
                session: None,
                since: since.as_deref().map(parse_time).transpose()?,
                until: until.as_deref().map(parse_time).transpose()?,
            };
            list(&config, &filter, json)
        }
        SessionsCommand::Show { config, id, json } => {
            let config = Config::load(&config.config)?;
            show(&config, &id, json).await
        }
        SessionsCommand::Replay {
            config,
            id,
            timing,
            speed,
            max_pause,
        } => {
            let config = Config::load(&config.config)?;
            let recording = read(&store(&config)?, &id).await?;
            if !timing {
                let mut out = String::new();
                sluice_record::render_psql(&recording, &mut out)?;
                print!("{out}");
                return Ok(());
            }
            let max_pause = humantime::parse_duration(&max_pause)
                .with_context(|| format!("--max-pause {max_pause:?}"))?;
            for (delay, chunk) in sluice_record::replay_timed(&recording, speed, Some(max_pause)) {
                tokio::time::sleep(delay).await;
                print!("{chunk}");
            }
            Ok(())
        }
        SessionsCommand::Search { config, text, json } => {
            let config = Config::load(&config.config)?;
            search(&config, &text, json).await
        }
    }
}

/// One session as `list` and `show` report it, from its audit records.
#[derive(Debug, Default, Serialize)]
struct SessionSummary {
    session: String,
    identity: String,
    target: String,
    database: String,
    client_addr: String,
    started_at: String,
    ended_at: Option<String>,
    duration_ms: Option<u64>,
    statements: Option<u64>,
    end_reason: Option<String>,
    recording: Option<RecordingSeal>,
}

fn sessions(config: &Config, filter: &SearchFilter) -> Result<Vec<SessionSummary>> {
    let path = config.audit_path();
    let records = sluice_audit::search(&path, filter)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut by_id: BTreeMap<String, SessionSummary> = BTreeMap::new();
    let mut order = Vec::new();
    for r in records {
        match r.event {
            AuditEvent::SessionStarted {
                session,
                identity,
                client_addr,
                target,
                database,
                ..
            } => {
                order.push(session.clone());
                by_id.insert(
                    session.clone(),
                    SessionSummary {
                        session,
                        identity,
                        target,
                        database,
                        client_addr,
                        started_at: r.time,
                        ..SessionSummary::default()
                    },
                );
            }
            AuditEvent::SessionEnded {
                session,
                statements,
                reason,
                duration_ms,
                recording,
                ..
            } => {
                if let Some(s) = by_id.get_mut(&session) {
                    s.ended_at = Some(r.time);
                    s.duration_ms = Some(duration_ms);
                    s.statements = Some(statements);
                    s.end_reason = Some(reason);
                    s.recording = recording;
                }
            }
            _ => {}
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect())
}

fn list(config: &Config, filter: &SearchFilter, json: bool) -> Result<()> {
    let sessions = sessions(config, filter)?;
    if json {
        for s in &sessions {
            println!("{}", serde_json::to_string(s)?);
        }
        return Ok(());
    }
    println!(
        "{:<20} {:<27} {:<12} {:<12} {:>6} {:>9}  ENDED",
        "SESSION", "STARTED", "IDENTITY", "TARGET", "STMTS", "RECORDED"
    );
    for s in &sessions {
        let recorded = match &s.recording {
            Some(r) if r.truncated => format!("{}*", human_bytes(r.bytes)),
            Some(r) => human_bytes(r.bytes),
            None => "-".to_owned(),
        };
        println!(
            "{:<20} {:<27} {:<12} {:<12} {:>6} {:>9}  {}",
            s.session,
            s.started_at,
            s.identity,
            s.target,
            s.statements
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            recorded,
            s.end_reason
                .as_deref()
                .unwrap_or("(open, or the gateway stopped)")
        );
    }
    Ok(())
}

async fn show(config: &Config, id: &str, json: bool) -> Result<()> {
    let filter = SearchFilter {
        session: Some(id.to_owned()),
        ..SearchFilter::default()
    };
    let summary = sessions(config, &filter)?.into_iter().next();
    let recording = read(&store(config)?, id).await.ok();
    if summary.is_none() && recording.is_none() {
        bail!("no session {id} in the audit trail or the recordings");
    }
    if json {
        #[derive(Serialize)]
        struct Shown<'a> {
            session: Option<&'a SessionSummary>,
            complete: Option<bool>,
            statements: Vec<&'a sluice_record::Statement>,
        }
        let shown = Shown {
            session: summary.as_ref(),
            complete: recording.as_ref().map(Recording::is_complete),
            statements: recording
                .as_ref()
                .map(|r| r.statements().collect())
                .unwrap_or_default(),
        };
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(());
    }
    if let Some(s) = &summary {
        println!("session     {}", s.session);
        println!("identity    {}", s.identity);
        println!("target      {} (database {})", s.target, s.database);
        println!("client      {}", s.client_addr);
        println!("started     {}", s.started_at);
        match (&s.ended_at, &s.end_reason) {
            (Some(at), Some(reason)) => println!("ended       {at}: {reason}"),
            _ => println!("ended       not recorded (still open, or the gateway stopped)"),
        }
        if let Some(r) = &s.recording {
            println!(
                "recording   {} bytes, sha256 {}{}",
                r.bytes,
                r.sha256,
                if r.truncated { ", truncated" } else { "" }
            );
        }
    }
    match &recording {
        None => println!("\n(no recording)"),
        Some(rec) => {
            println!();
            for s in rec.statements() {
                let error = s.events.iter().find_map(|e| match e {
                    sluice_record::Event::Error(m) => Some(format!("ERROR {}", m.sqlstate)),
                    _ => None,
                });
                let outcome = match (&s.complete, error) {
                    (Some(c), _) => c.tag.clone(),
                    (None, Some(error)) => error,
                    (None, None) if s.decision.verdict == "deny" => "refused".to_owned(),
                    (None, None) => "no result recorded".to_owned(),
                };
                println!(
                    "{:>4}  +{:>8.3}s  {:<5} {:<28} {}",
                    s.n,
                    s.t,
                    s.decision.verdict,
                    one_line(&s.decision.rule, 28),
                    outcome
                );
                println!("      {}", one_line(&s.text, 100));
            }
            if !rec.is_complete() {
                println!(
                    "\nthe recording is incomplete: the gateway stopped before the session ended"
                );
            }
        }
    }
    Ok(())
}

async fn search(config: &Config, text: &str, json: bool) -> Result<()> {
    let store = store(config)?;
    let mut found = 0;
    for info in store.list().await? {
        let Ok(recording) = read(&store, &info.session).await else {
            continue;
        };
        for n in sluice_record::search(&recording, text) {
            let Some(statement) = recording.statement(n) else {
                continue;
            };
            found += 1;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "session": info.session,
                        "identity": recording.header.identity,
                        "target": recording.header.target,
                        "statement": n,
                        "text": statement.text,
                    })
                );
            } else {
                println!(
                    "{}  {}@{}  #{n}  {}",
                    info.session,
                    recording.header.identity,
                    recording.header.target,
                    one_line(&statement.text, 100)
                );
            }
        }
    }
    if found == 0 && !json {
        eprintln!("no recorded statement contains {text:?}");
    }
    Ok(())
}

fn store(config: &Config) -> Result<Arc<dyn RecordingStore>> {
    sluice_core::gateway::recording_store(config)?
        .context("recording is off in this configuration ([recording] enabled = false)")
}

async fn read(store: &Arc<dyn RecordingStore>, id: &str) -> Result<Recording> {
    let bytes = store
        .read(id)
        .await
        .with_context(|| format!("reading the recording of {id}"))?;
    Ok(sluice_record::parse(&bytes)?)
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1}M", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1}K", n as f64 / 1024.0),
        n => format!("{n}B"),
    }
}
