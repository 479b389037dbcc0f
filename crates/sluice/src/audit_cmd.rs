//! `sluice audit verify | search | export`. All read the files directly and never block a
//! running gateway. Each takes the configuration's trail, or with `--trail` a set of trails (one
//! per gateway): verified chain by chain, searched and exported merged in time order.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sluice_audit::{
    AuditEvent, AuditRecord, MergedTrails, Outcome, SealCheck, SearchFilter, TrailReport,
};
use sluice_core::audit_key;
use sluice_core::config::Config;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::{AuditCommand, ExportFormat};

/// The trail's file name in a data directory, as `Config::audit_path` names it by default.
const TRAIL_FILE: &str = "audit.jsonl";

pub async fn run(command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Verify {
            config,
            public_key,
            trail,
            json,
        } => verify(&config.config, &public_key, &trail, json).await,
        AuditCommand::Search {
            config,
            identity,
            target,
            session,
            since,
            until,
            json,
            trail,
        } => {
            let paths = trail_paths(&config.config, &trail)?;
            let filter = SearchFilter {
                identity,
                target,
                session,
                since: since.as_deref().map(parse_time).transpose()?,
                until: until.as_deref().map(parse_time).transpose()?,
            };
            for line in MergedTrails::open(&paths)? {
                let record = line?.record()?;
                if !filter
                    .matches(&record)
                    .with_context(|| format!("record {} has a bad time", record.seq))?
                {
                    continue;
                }
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
            trail,
        } => {
            let paths = trail_paths(&config.config, &trail)?;
            let window = TimeWindow {
                since: since.as_deref().map(parse_time).transpose()?,
                until: until.as_deref().map(parse_time).transpose()?,
            };
            export(&paths, &window, format)
        }
    }
}

/// The `--trail`s given, each a file or a directory holding one; else the configuration's
/// trail (the configuration is read only then).
fn trail_paths(config: &Path, trails: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if trails.is_empty() {
        return Ok(vec![Config::load(config)?.audit_path()]);
    }
    Ok(trails.iter().map(|t| resolve_trail(t)).collect())
}

/// A directory stands for the trail in it, so an operator can pass gateways' data directories
/// as they collected them.
fn resolve_trail(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(TRAIL_FILE)
    } else {
        path.to_path_buf()
    }
}

/// Whether two paths name one file; paths that cannot be resolved compare as given.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The public keys to trust: those given, else the configuration's `.pub`; with a note when
/// there is none, for the summary.
fn trusted_keys(
    config: Option<&Config>,
    public_keys: &[String],
) -> Result<(Vec<[u8; 32]>, Option<String>)> {
    if !public_keys.is_empty() {
        let keys = public_keys
            .iter()
            .map(|hex| audit_key::parse_public_key(hex))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((keys, None));
    }
    let Some(config) = config else {
        return Ok((Vec::new(), Some("no public key (give --public-key)".into())));
    };
    Ok(audit_key::own_public_keys(config)?)
}

/// `sluice audit verify`: every chain checked, a report per gateway, then the verdict; fails
/// unless every chain (and the configuration's trail's recordings) is intact.
async fn verify(
    config_path: &Path,
    public_keys: &[String],
    trails: &[PathBuf],
    json: bool,
) -> Result<()> {
    // Without --trail the configuration names the trail. With --trail it is optional: an
    // auditor checking collected files with the keys in hand may have none.
    let config = if trails.is_empty() || config_path.exists() {
        Some(Config::load(config_path)?)
    } else {
        None
    };
    let (keys, key_note) = trusted_keys(config.as_ref(), public_keys)?;
    let own = config.as_ref().map(Config::audit_path);
    let paths: Vec<PathBuf> = match (&own, trails.is_empty()) {
        (Some(own), true) => vec![own.clone()],
        _ => trails.iter().map(|t| resolve_trail(t)).collect(),
    };
    let set = sluice_audit::verify_trails(&paths, &keys)?;

    // The recordings are the configuration's: checked against its own trail when that is in
    // the set and its chain checks out (a broken chain's seals prove nothing).
    let own_index = own
        .as_ref()
        .and_then(|own| paths.iter().position(|p| same_file(p, own)));
    let recordings = match (&config, own_index) {
        (Some(config), Some(i)) if set[i].is_intact() => Some((i, check_recordings(config).await?)),
        _ => None,
    };
    let recordings_of = |i: usize| {
        recordings
            .as_ref()
            .filter(|(at, _)| *at == i)
            .map(|(_, r)| r)
    };
    let recording_problems = recordings.as_ref().map_or(0, |(_, r)| r.problems.len());
    // Recordings are checked only against an intact chain, so a trail is never counted twice.
    let broken =
        set.iter().filter(|t| !t.is_intact()).count() + usize::from(recording_problems > 0);
    let problems = set
        .iter()
        .map(|t| t.report.problems().count())
        .sum::<usize>()
        + recording_problems;
    let intact = problems == 0;

    if json {
        let report = serde_json::json!({
            "intact": intact,
            "trails": set.iter().enumerate().map(|(i, trail)| {
                let recordings = recordings_of(i);
                serde_json::json!({
                    "path": trail.path,
                    "gateway": trail.gateway,
                    "intact": trail.is_intact()
                        && recordings.is_none_or(|r| r.problems.is_empty()),
                    "report": trail.report,
                    "recordings": recordings.map(|r| {
                        serde_json::json!({"checked": r.checked, "problems": r.problems})
                    }),
                })
            }).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if trails.is_empty() {
        // One trail, reported as it always was, plus which gateway wrote it.
        if let Some(trail) = set.first() {
            print_single(trail, recordings_of(0), key_note.as_deref());
        }
    } else {
        for (i, trail) in set.iter().enumerate() {
            print_trail(trail, recordings_of(i), key_note.as_deref());
        }
        if intact {
            let records: u64 = set.iter().map(|t| t.report.records).sum();
            // Recordings are only checked for the configuration's own trail.
            let checked = recordings
                .as_ref()
                .map(|(_, r)| format!("; {} recordings match their seals", r.checked))
                .unwrap_or_default();
            println!(
                "ok: {} trails intact, {records} records{checked}",
                set.len()
            );
        }
    }
    if intact {
        return Ok(());
    }
    let s = |n: usize| if n == 1 { "" } else { "s" };
    if trails.is_empty() {
        bail!(
            "the audit trail {} is not intact: {problems} problem{}",
            paths
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            s(problems)
        );
    }
    bail!(
        "{broken} of {} audit trails not intact: {problems} problem{}",
        set.len(),
        s(problems)
    )
}

/// What the gateway's periodic verify (`[signals] verify_interval`) runs: its own trail checked
/// with its own public key, then its recordings against their seals. Whether all is intact, and
/// one line saying what was checked.
pub async fn verify_own(config: &Config) -> Result<(bool, String)> {
    let own = config.clone();
    let report = tokio::task::spawn_blocking(move || audit_key::verify_own_trail(&own))
        .await??
        .report;
    let recordings = if report.is_intact() {
        check_recordings(config).await?
    } else {
        RecordingCheck::default()
    };
    let problems = report.problems().count() + recordings.problems.len();
    let first = report
        .problems()
        .map(|f| f.message.clone())
        .chain(recordings.problems.iter().cloned())
        .next()
        .map(|m| format!(" (first: {m})"))
        .unwrap_or_default();
    Ok((
        problems == 0,
        format!(
            "{} records, {} checkpoints, {problems} problems, {} recordings match their seals{first}",
            report.records, report.checkpoints, recordings.checked
        ),
    ))
}

/// The configuration's own trail: the output `sluice audit verify` has always printed, then the
/// gateway that wrote it.
fn print_single(trail: &TrailReport, recordings: Option<&RecordingCheck>, key_note: Option<&str>) {
    let report = &trail.report;
    let recording_problems = recordings.map_or(&[][..], |r| &r.problems[..]);
    if !report.is_intact() || !recording_problems.is_empty() {
        for finding in &report.findings {
            println!("{}: {}", finding.kind.as_str(), finding.message);
        }
        for problem in recording_problems {
            println!("recording: {problem}");
        }
        println!("{}", gateway_line(trail));
        return;
    }
    println!(
        "ok: {} records, chain intact, {}{}{}; {} recordings match their seals",
        report.records,
        report.checkpoint_summary(key_note),
        head(report),
        unsealed(report),
        recordings.map_or(0, |r| r.checked)
    );
    println!("{}", gateway_line(trail));
    for finding in report.notes() {
        println!("note: {}", finding.message);
    }
}

/// One trail of a set: a line naming its gateway, file and state, then its problems and notes,
/// indented.
fn print_trail(trail: &TrailReport, recordings: Option<&RecordingCheck>, key_note: Option<&str>) {
    let report = &trail.report;
    let recording_problems = recordings.map_or(&[][..], |r| &r.problems[..]);
    let state = if report.is_intact() && recording_problems.is_empty() {
        "ok"
    } else {
        "NOT INTACT"
    };
    let recorded = recordings
        .map(|r| format!("; {} recordings match their seals", r.checked))
        .unwrap_or_default();
    println!(
        "{}: {state}, {} records, {}{}{}{recorded}",
        gateway_line(trail),
        report.records,
        report.checkpoint_summary(key_note),
        head(report),
        unsealed(report),
    );
    for finding in report.findings.iter().filter(|f| f.is_problem()) {
        println!("  {}: {}", finding.kind.as_str(), finding.message);
    }
    for problem in recording_problems {
        println!("  recording: {problem}");
    }
    for finding in report.notes() {
        println!("  note: {}", finding.message);
    }
}

/// `gateway NAME (PATH)`; requester-chosen text never reaches a gateway name, but a trail
/// handed over for checking is not trusted, so it is printed escaped.
fn gateway_line(trail: &TrailReport) -> String {
    let name = match (&trail.gateway, trail.report.gateways.len()) {
        (None, _) => "(unnamed)".to_owned(),
        (Some(name), 1) => name.clone(),
        (Some(_), _) => trail.report.gateways.join(" + "),
    };
    crate::admin_client::printable(&format!("gateway {name} ({})", trail.path.display()), false)
}

fn head(report: &sluice_audit::VerifyReport) -> String {
    report
        .last_hash
        .as_deref()
        .map(|h| format!(", head {h}"))
        .unwrap_or_default()
}

fn unsealed(report: &sluice_audit::VerifyReport) -> String {
    report
        .unsealed_summary()
        .map(|s| format!("; {s}"))
        .unwrap_or_default()
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
    let path = config.audit_path();
    let records = sluice_audit::search(&path, &SearchFilter::default())
        .with_context(|| format!("reading {}", path.display()))?;
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
            Ok(bytes) => match seal.check(&bytes) {
                SealCheck::Matches => check.checked += 1,
                SealCheck::Altered { bytes, sha256 } => check.problems.push(format!(
                    "the recording of session {session} was altered: sealed as {} bytes with \
                     SHA-256 {}, now {bytes} bytes with SHA-256 {sha256}",
                    seal.bytes, seal.sha256,
                )),
            },
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

/// Streams the records in `window` to stdout, each as the exact bytes of its line, the trails
/// merged in time order. Holds one line per trail (a trail of many GB needs no more memory than
/// its longest line) and stops at a torn last line, as `audit search` does.
fn export(paths: &[PathBuf], window: &TimeWindow, format: ExportFormat) -> Result<()> {
    let ExportFormat::Jsonl = format;
    // Opened before anything is written: a missing file is a wrong path, named in the error.
    let merged = MergedTrails::open(paths)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match write_jsonl(merged, window, &mut out) {
        // The reader went away (`| head`): what it wanted was written.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

fn write_jsonl(merged: MergedTrails, window: &TimeWindow, out: &mut impl Write) -> Result<()> {
    for record in merged {
        let record = record?;
        if window.contains(record.time) {
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
    // Trails merged from several gateways need each record's writer; a single unnamed trail
    // reads as before.
    let gateway = r
        .gateway
        .as_deref()
        .map(|g| format!(" [{g}]"))
        .unwrap_or_default();
    crate::admin_client::printable(&format!("{} {:>6}{gateway} {what}", r.time, r.seq), false)
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
            gateway: None,
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
