//! `sluice sessions list | show | replay | search`: what each session did, from the audit
//! trail (who, when, how it ended, the recording's seal) and its recording (statements or
//! requests, decisions, what the client saw). Every recording kind (SQL, terminal, HTTP, file)
//! is shown, replayed and searched; a terminal one also exports as asciicast v2. Reads files
//! only; never blocks a running gateway.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sluice_audit::{SearchFilter, SessionSummary};
use sluice_core::config::Config;
use sluice_record::{
    Completion, Event, Item, RecordError, RecordedDecision, Recording, RecordingStore, Request,
};

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
            asciicast,
            speed,
            max_pause,
        } => {
            let config = Config::load(&config.config)?;
            let recording = read(&store(&config)?, &id).await?;
            if asciicast {
                print!("{}", to_asciicast(&id, &recording)?);
                return Ok(());
            }
            if !timing {
                let mut out = String::new();
                // `render` picks the rendering by the recording's kind: psql's for SQL
                // (mysql's for a MySQL session), the output stream for a terminal, a line per
                // HTTP exchange or file operation.
                sluice_record::render(&recording, &mut out)?;
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

fn sessions(config: &Config, filter: &SearchFilter) -> Result<Vec<SessionSummary>> {
    let path = config.audit_path();
    let records = sluice_audit::search(&path, filter)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(sluice_audit::sessions(records))
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
            /// The recording's kind, so a reader knows whether to expect statements or
            /// requests.
            #[serde(skip_serializing_if = "Option::is_none")]
            kind: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            terminal: Option<&'a sluice_record::TerminalHeader>,
            statements: Vec<&'a sluice_record::Statement>,
            // Left out when empty, so a SQL session's JSON is what it was before other kinds.
            #[serde(skip_serializing_if = "Vec::is_empty")]
            requests: Vec<&'a Request>,
        }
        let shown = Shown {
            session: summary.as_ref(),
            complete: recording.as_ref().map(Recording::is_complete),
            kind: recording.as_ref().map(Recording::kind),
            terminal: recording.as_ref().and_then(|r| r.terminal.as_ref()),
            statements: recording
                .as_ref()
                .map(|r| r.statements().collect())
                .unwrap_or_default(),
            requests: recording
                .as_ref()
                .map(|r| r.requests().collect())
                .unwrap_or_default(),
        };
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(());
    }
    if let Some(s) = &summary {
        println!("session     {}", s.session);
        println!("identity    {}", s.identity);
        println!(
            "target      {}",
            target_line(&s.target, &s.database, recording.as_ref())
        );
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
    } else if let Some(rec) = &recording {
        // No audit records for it (another gateway's trail, or one rotated away): the
        // recording's header still says whose session it was.
        let h = &rec.header;
        println!("session     {}", h.session);
        println!("identity    {}", h.identity);
        println!(
            "target      {}",
            target_line(&h.target, &h.database, Some(rec))
        );
        println!("client      {}", h.client_addr);
        println!("started     {}", h.started_at);
        match &rec.end {
            Some(end) => println!(
                "ended       {:.3}s after it started: {} (the audit trail has no record of it)",
                end.t, end.reason
            ),
            None => println!("ended       not recorded, and not in the audit trail"),
        }
    }
    match &recording {
        None => println!("\n(no recording)"),
        Some(rec) => {
            print!("kind        {} ({})", rec.kind(), rec.header.protocol);
            if let Some(t) = &rec.terminal {
                print!(", {}x{}", t.width, t.height);
                if !t.term.is_empty() {
                    print!(" {}", t.term);
                }
                if let Some(command) = &t.command {
                    print!(", command {}", one_line(command, 60));
                }
            }
            println!("\n");
            for item in &rec.items {
                match item {
                    Item::Statement(s) => {
                        let outcome = outcome(s.complete.as_ref(), &s.events, &s.decision);
                        print_entry(s.n, s.t, &s.decision, &outcome, &s.text);
                    }
                    Item::Request(r) => {
                        print_entry(r.n, r.t, &r.decision, &request_outcome(r), &r.line());
                    }
                    Item::Event(_) | Item::Terminal(_) => {}
                }
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

/// One statement or request of `show`: number, time, decision and outcome, then its text.
fn print_entry(n: u64, t: f64, decision: &RecordedDecision, outcome: &str, text: &str) {
    println!(
        "{:>4}  +{:>8.3}s  {:<5} {:<28} {}",
        n,
        t,
        decision.verdict,
        one_line(&decision.rule, 28),
        outcome
    );
    println!("      {}", one_line(text, 100));
}

/// What became of a statement or request with no more specific outcome: how it completed (a
/// command tag, a command's exit status), else the error the client got, else that policy
/// refused it.
fn outcome(complete: Option<&Completion>, events: &[Event], decision: &RecordedDecision) -> String {
    let error = events.iter().find_map(|e| match e {
        // Only SQL errors have a SQLSTATE; the other kinds' errors are told by their message.
        Event::Error(m) if m.sqlstate.is_empty() => {
            Some(format!("ERROR {}", one_line(&m.message, 60)))
        }
        Event::Error(m) => Some(format!("ERROR {}", m.sqlstate)),
        _ => None,
    });
    match (complete, error) {
        (Some(c), _) => c.tag.clone(),
        (None, Some(error)) => error,
        (None, None) if decision.verdict == "deny" => "refused".to_owned(),
        (None, None) => "no result recorded".to_owned(),
    }
}

/// A request's outcome: the response status of an HTTP exchange, the outcome of a file
/// operation, else what [`outcome`] says (a terminal command's exit, an error, a refusal).
fn request_outcome(r: &Request) -> String {
    if let Some(h) = &r.http {
        return match h.status {
            Some(status) => format!("{status} {}B", h.response_body.bytes),
            None => "no response".to_owned(),
        };
    }
    if let Some(f) = &r.file {
        let mut out = f.outcome.clone();
        if let Some(bytes) = f.bytes {
            out.push_str(&format!(" {bytes}B"));
        }
        if !f.message.is_empty() {
            out.push_str(&format!(" ({})", one_line(&f.message, 40)));
        }
        return out;
    }
    outcome(r.complete.as_ref(), &r.events, &r.decision)
}

/// The target and what the session reached on it: the database of a SQL session, the account
/// of a terminal or file session, nothing for HTTP (whose header leaves it empty). Without a
/// recording the session is taken for SQL, the only kind a gateway writes audit records for.
fn target_line(target: &str, database: &str, recording: Option<&Recording>) -> String {
    let what = match recording.map(Recording::kind) {
        Some(sluice_record::KIND_TERMINAL | sluice_record::KIND_FILE) => "account",
        _ => "database",
    };
    if database.is_empty() {
        target.to_owned()
    } else {
        format!("{target} ({what} {database})")
    }
}

/// The terminal session as an asciicast v2 file. Another kind has no terminal stream, which
/// is said in the command's terms rather than the library's.
fn to_asciicast(id: &str, recording: &Recording) -> Result<String> {
    match sluice_record::to_asciicast(recording) {
        Ok(cast) => Ok(cast),
        Err(RecordError::NotATerminal(_)) => bail!(
            "session {id} is not a terminal session (its recording is of kind {}): only \
             terminal recordings export as asciicast; `sluice sessions replay {id}` prints it",
            recording.kind()
        ),
        Err(e) => Err(e.into()),
    }
}

async fn search(config: &Config, text: &str, json: bool) -> Result<()> {
    let store = store(config)?;
    let mut found = 0;
    for info in store.list().await? {
        let Ok(recording) = read(&store, &info.session).await else {
            continue;
        };
        for n in sluice_record::search(&recording, text) {
            // `search` numbers statements and requests alike; the number says which it is.
            let (what, shown, raw, decision) = if let Some(s) = recording.statement(n) {
                ("statement", s.text.clone(), &s.text, &s.decision)
            } else if let Some(r) = recording.request(n) {
                ("request", r.line(), &r.text, &r.decision)
            } else {
                continue;
            };
            found += 1;
            if json {
                let mut hit = serde_json::json!({
                    "session": info.session,
                    "identity": recording.header.identity,
                    "target": recording.header.target,
                    "kind": recording.kind(),
                    what: n,
                    "text": raw,
                    "verdict": decision.verdict,
                    "rule": decision.rule,
                });
                if let (Some(r), Some(hit)) = (recording.request(n), hit.as_object_mut()) {
                    hit.insert("action".to_owned(), r.action.clone().into());
                }
                println!("{hit}");
            } else {
                // A statement's line reads as it always has; a request's names its verdict,
                // which its text alone does not show.
                let verdict = match what {
                    "request" => format!("{:<5} ", decision.verdict),
                    _ => String::new(),
                };
                println!(
                    "{}  {}@{}  #{n}  {verdict}{}",
                    info.session,
                    recording.header.identity,
                    recording.header.target,
                    one_line(&shown, 100)
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

pub(crate) fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1}M", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1}K", n as f64 / 1024.0),
        n => format!("{n}B"),
    }
}
