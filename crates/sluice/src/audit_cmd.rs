//! `sluice audit verify | search`. Both read the file directly and never block a running gateway.

use anyhow::{bail, Context, Result};
use sluice_audit::{AuditEvent, AuditRecord, Outcome, SearchFilter};
use sluice_core::config::Config;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::AuditCommand;

pub fn run(command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Verify { config } => {
            let config = Config::load(&config.config)?;
            let path = config.audit_path();
            let report = sluice_audit::verify(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            match report.broken {
                None => {
                    println!(
                        "ok: {} records, chain intact{}",
                        report.records,
                        report
                            .last_hash
                            .map(|h| format!(", head {h}"))
                            .unwrap_or_default()
                    );
                    Ok(())
                }
                Some(b) => bail!(
                    "chain broken at line {}{}: {}",
                    b.line,
                    b.seq.map(|s| format!(" (seq {s})")).unwrap_or_default(),
                    b.reason
                ),
            }
        }
        AuditCommand::Search {
            config,
            identity,
            target,
            session,
            since,
            until,
            json,
        } => {
            let config = Config::load(&config.config)?;
            let filter = SearchFilter {
                identity,
                target,
                session,
                since: since.as_deref().map(parse_time).transpose()?,
                until: until.as_deref().map(parse_time).transpose()?,
            };
            for record in sluice_audit::search(&config.audit_path(), &filter)? {
                if json {
                    println!("{}", serde_json::to_string(&record)?);
                } else {
                    println!("{}", describe(&record));
                }
            }
            Ok(())
        }
    }
}

/// RFC 3339, or a duration meaning that long before now.
pub fn parse_time(text: &str) -> Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let ago = humantime::parse_duration(text)
        .with_context(|| format!("{text:?} is neither RFC 3339 nor a duration"))?;
    Ok(OffsetDateTime::now_utc() - ago)
}

fn describe(r: &AuditRecord) -> String {
    let what = match &r.event {
        AuditEvent::Statement {
            session,
            identity,
            target,
            statement,
            text,
            decision,
            ..
        } => {
            format!(
                "{session} #{statement} {identity}@{target} {}: {}",
                decision.verdict,
                one_line(text)
            )
        }
        AuditEvent::StatementResult {
            session,
            statement,
            outcome,
            rows,
            duration_us,
            command_tag,
            ..
        } => {
            let outcome = match outcome {
                Outcome::Ok => format!("ok {}", command_tag.as_deref().unwrap_or("")),
                Outcome::Error { sqlstate, message } => {
                    format!("error {sqlstate} {}", one_line(message))
                }
                Outcome::Denied { reason } => format!("denied: {reason}"),
                Outcome::NotExecuted { reason } => format!("not executed: {reason}"),
                Outcome::Interrupted { reason } => format!("interrupted: {reason}"),
            };
            let rows = rows.map(|r| format!(" ({r} rows)")).unwrap_or_default();
            format!("{session} #{statement} result {outcome}{rows} in {duration_us}us")
        }
        other => serde_json::to_string(other).unwrap_or_default(),
    };
    format!("{} {:>6} {what}", r.time, r.seq)
}

fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 200 {
        format!("{}…", flat.chars().take(200).collect::<String>())
    } else {
        flat
    }
}
