//! `sluice audit verify | search | export`. All read the file directly and never block a running
//! gateway.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use sha2::Digest;
use sluice_audit::{AuditEvent, AuditRecord, FindingKind, Outcome, SearchFilter};
use sluice_core::audit_key;
use sluice_core::config::Config;
use sluice_outbound::tail::AuditTail;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::{AuditCommand, ExportFormat};

pub async fn run(command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Verify { config, public_key } => {
            let config = Config::load(&config.config)?;
            verify(&config, public_key.as_deref()).await
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
        AuditCommand::Export {
            config,
            since,
            until,
            format,
        } => {
            let config = Config::load(&config.config)?;
            let window = TimeWindow {
                since: since.as_deref().map(parse_time).transpose()?,
                until: until.as_deref().map(parse_time).transpose()?,
            };
            export(&config.audit_path(), &window, format)
        }
    }
}

/// `sluice audit verify`: prints every finding; fails unless the trail is intact.
async fn verify(config: &Config, public_key: Option<&str>) -> Result<()> {
    let path = config.audit_path();
    let (key, key_note) = match public_key {
        Some(hex) => (Some(audit_key::parse_public_key(hex)?), None),
        None => {
            let pub_path = audit_key::public_key_path(&config.audit_signing_key_path());
            match std::fs::read_to_string(&pub_path) {
                Ok(text) => (
                    Some(
                        audit_key::parse_public_key(&text)
                            .with_context(|| format!("reading {}", pub_path.display()))?,
                    ),
                    None,
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                    None,
                    Some(format!(
                        "no public key at {} (give --public-key)",
                        pub_path.display()
                    )),
                ),
                Err(e) => return Err(e).with_context(|| format!("reading {}", pub_path.display())),
            }
        }
    };
    let report = sluice_audit::verify_with_key(&path, key.as_ref())
        .with_context(|| format!("reading {}", path.display()))?;
    let recordings = if report.is_intact() {
        check_recordings(config).await?
    } else {
        RecordingCheck::default()
    };
    if !report.is_intact() || !recordings.problems.is_empty() {
        for finding in &report.findings {
            println!("{}: {}", finding.kind.as_str(), finding.message);
        }
        for problem in &recordings.problems {
            println!("recording: {problem}");
        }
        let problems = report.problems().count() + recordings.problems.len();
        bail!(
            "the audit trail {} is not intact: {problems} problem{}",
            path.display(),
            if problems == 1 { "" } else { "s" }
        );
    }
    let checkpoints = match (&report.key_id, report.checkpoints) {
        (_, 0) => "no checkpoints".to_owned(),
        (Some(key), n) => format!("{n} checkpoints verified (key {key})"),
        (None, n) => format!(
            "{n} checkpoints match the chain, signatures not checked: {}",
            key_note.as_deref().unwrap_or("no public key")
        ),
    };
    let head = report
        .last_hash
        .as_deref()
        .map(|h| format!(", head {h}"))
        .unwrap_or_default();
    let unsealed = match (report.unsealed, report.last_checkpoint) {
        (0, _) => String::new(),
        (n, Some(_)) => format!("; {n} records after the last checkpoint"),
        (n, None) => format!("; {n} records not sealed by any checkpoint"),
    };
    println!(
        "ok: {} records, chain intact, {checkpoints}{head}{unsealed}; {} recordings match their seals",
        report.records, recordings.checked
    );
    // Informational findings that the summary line does not already say.
    for finding in report
        .findings
        .iter()
        .filter(|f| !matches!(f.kind, FindingKind::Unsealed | FindingKind::Unverified))
    {
        println!("note: {}", finding.message);
    }
    Ok(())
}

/// What checking the recordings against their seals found.
#[derive(Default)]
struct RecordingCheck {
    checked: usize,
    problems: Vec<String>,
}

/// Every recording a `session_ended` record sealed must be there, byte for byte: its SHA-256
/// and size as sealed. A recording deleted by retention (audited) is not missing.
async fn check_recordings(config: &Config) -> Result<RecordingCheck> {
    let mut check = RecordingCheck::default();
    let Some(store) = sluice_core::gateway::recording_store(config)? else {
        return Ok(check);
    };
    let records = sluice_audit::search(&config.audit_path(), &SearchFilter::default())?;
    let deleted: std::collections::HashSet<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::RecordingDeleted { session, .. } => Some(session.as_str()),
            _ => None,
        })
        .collect();
    for record in &records {
        let AuditEvent::SessionEnded {
            session,
            recording: Some(seal),
            ..
        } = &record.event
        else {
            continue;
        };
        if deleted.contains(session.as_str()) {
            continue;
        }
        match store.read(session).await {
            Ok(bytes) => {
                let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
                if sha256 != seal.sha256 || bytes.len() as u64 != seal.bytes {
                    check.problems.push(format!(
                        "the recording of session {session} was altered: sealed as {} bytes with \
                         SHA-256 {}, now {} bytes with SHA-256 {sha256}",
                        seal.bytes,
                        seal.sha256,
                        bytes.len()
                    ));
                } else {
                    check.checked += 1;
                }
            }
            Err(e) => check.problems.push(format!(
                "the recording of session {session} is missing or unreadable ({e}); it was \
                 sealed as {} bytes with SHA-256 {}",
                seal.bytes, seal.sha256
            )),
        }
    }
    Ok(check)
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

/// `--since` (inclusive) and `--until` (exclusive), as `audit search` reads them.
struct TimeWindow {
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
}

impl TimeWindow {
    fn contains(&self, time: OffsetDateTime) -> bool {
        self.since.is_none_or(|since| time >= since) && self.until.is_none_or(|until| time < until)
    }
}

/// Streams the records in `window` to stdout, each as the exact bytes of its line. Reads one
/// line at a time (a trail of many GB needs no more memory than its longest line) and stops
/// at a torn last line, as `audit search` does.
fn export(path: &Path, window: &TimeWindow, format: ExportFormat) -> Result<()> {
    let ExportFormat::Jsonl = format;
    // The reader takes a missing file for "nothing yet"; for an export it is a wrong path.
    std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match write_jsonl(path, window, &mut out) {
        // The reader went away (`| head`): what it wanted was written.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

fn write_jsonl(path: &Path, window: &TimeWindow, out: &mut impl Write) -> Result<()> {
    let mut tail = AuditTail::new(path, 0);
    while let Some(record) = tail
        .next_record()
        .with_context(|| format!("reading {}", path.display()))?
    {
        let time = OffsetDateTime::parse(&record.time, &Rfc3339)
            .with_context(|| format!("record {} has a bad time {:?}", record.seq, record.time))?;
        if window.contains(time) {
            out.write_all(&record.line)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(out.flush()?)
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
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
    // Reasons and names may hold requester-written text too.
    crate::admin_client::printable(&format!("{} {:>6} {what}", r.time, r.seq), false)
}

/// A statement or message on one line, at most 200 characters, its control characters shown
/// as escapes (requesters write statements: a terminal escape must not rewrite the screen).
fn one_line(text: &str) -> String {
    crate::admin_client::one_line(text, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_lines_show_control_characters_instead_of_obeying_them() {
        let record = AuditRecord {
            seq: 7,
            time: "2026-12-03T10:00:00.000000Z".into(),
            prev: String::new(),
            event: AuditEvent::Statement {
                session: "s1".into(),
                identity: "alice".into(),
                client_addr: "127.0.0.1".into(),
                target: "shop".into(),
                database: "shop".into(),
                statement: 1,
                text: "SELECT 1 -- \u{1b}[2J\u{202e}cba".into(),
                parameters: None,
                decision: sluice_audit::Decision {
                    verdict: "allow".into(),
                    reason: None,
                    rule: "r".into(),
                    policy: "p".into(),
                },
                task: None,
            },
        };
        let line = describe(&record);
        assert!(
            !line.contains('\u{1b}') && !line.contains('\u{202e}'),
            "{line}"
        );
        assert!(line.contains("\\u{1b}[2J\\u{202e}cba"), "{line}");
    }
}
