//! Audit completeness: does the trail hold everything it should? Sessions that never ended
//! (beyond those a crash cut), statements without a result, recordings missing, altered or
//! never sealed, checkpoints overdue, sinks behind, and the last verify.

use serde::Serialize;

use crate::drift::display_name;
use crate::facts::{Facts, RecordingCheck, VerifyOutcome};
use crate::observer::Observer;
use crate::report::Health;
use crate::time::rfc3339_ms;
use crate::Thresholds;

#[derive(Debug, Clone, Serialize)]
pub struct AuditCompleteness {
    pub health: Health,
    /// Records read.
    pub records: u64,
    pub open_sessions: u64,
    /// Sessions a gateway crash cut (expected after a crash: counted, not a finding).
    pub sessions_cut_by_crash: u64,
    /// Sessions without an end record that no crash explains.
    pub sessions_without_end: Vec<IncompleteSession>,
    pub statements_without_result: u64,
    /// Sampled recordings missing or not matching their seal.
    pub recordings: Vec<RecordingProblem>,
    /// Sessions that ended without a recording seal while recording is on.
    pub unsealed_recordings: u64,
    pub checkpoints: Vec<CheckpointState>,
    pub sinks: Vec<SinkState>,
    pub last_verify: Option<VerifyOutcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncompleteSession {
    pub session: String,
    pub gateway: String,
    pub identity: String,
    pub target: String,
    pub started_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordingProblem {
    pub session: String,
    /// `missing` or `altered`.
    pub problem: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckpointState {
    pub gateway: String,
    pub last: Option<String>,
    pub age_seconds: Option<u64>,
    pub overdue: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SinkState {
    pub sink: String,
    pub lag_records: u64,
    pub behind: bool,
}

pub(crate) fn audit_completeness(
    observer: &Observer,
    facts: &Facts,
    since_ms: i64,
    t: &Thresholds,
) -> AuditCompleteness {
    let now = facts.now_ms;
    let in_window = |at: &i64| *at >= since_ms;
    let mut sessions_without_end: Vec<IncompleteSession> = observer
        .cut_sessions
        .iter()
        .filter(|(at, c)| in_window(at) && !c.crash)
        .map(|(_, c)| IncompleteSession {
            session: c.session.clone(),
            gateway: display_name(&c.gateway),
            identity: c.identity.clone(),
            target: c.target.clone(),
            started_at: rfc3339_ms(c.started_ms),
        })
        .collect();
    let sessions_cut_by_crash = observer
        .cut_sessions
        .iter()
        .filter(|(at, c)| in_window(at) && c.crash)
        .count() as u64;
    // Open sessions of a gateway that has since stopped cleanly: a clean stop ends them all.
    let mut open_sessions = 0;
    for (session, gateway, identity, target, started) in observer.open_sessions() {
        let stopped = observer
            .gateways
            .get(gateway)
            .and_then(|g| g.stopped_ms)
            .is_some_and(|stopped| stopped >= started);
        if stopped {
            sessions_without_end.push(IncompleteSession {
                session: session.to_owned(),
                gateway: display_name(gateway),
                identity: identity.to_owned(),
                target: target.to_owned(),
                started_at: rfc3339_ms(started),
            });
        } else {
            open_sessions += 1;
        }
    }
    sessions_without_end.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    let statements_without_result = observer
        .statements_without_result
        .iter()
        .filter(|(at, _)| in_window(at))
        .count() as u64;
    let recordings: Vec<RecordingProblem> = observer
        .recording_problems
        .iter()
        .filter(|(at, _)| in_window(at))
        .map(|(_, (session, check))| RecordingProblem {
            session: session.clone(),
            problem: match check {
                RecordingCheck::Missing => "missing",
                RecordingCheck::Altered | RecordingCheck::Intact => "altered",
            },
        })
        .collect();
    let unsealed_recordings = if facts.recording_enabled {
        observer
            .unsealed
            .iter()
            .filter(|(at, _)| in_window(at))
            .count() as u64
    } else {
        0
    };
    let checkpoints: Vec<CheckpointState> = observer
        .gateways
        .iter()
        .filter(|(_, g)| g.stopped_ms.is_none())
        .filter_map(|(name, g)| {
            let interval = facts.checkpoint_interval_ms?;
            // A gateway that has not written one yet is measured from its start.
            let since = g.last_checkpoint_ms.or(g.started_ms)?;
            let age = (now - since).max(0);
            Some(CheckpointState {
                gateway: display_name(name),
                last: g.last_checkpoint_ms.map(rfc3339_ms),
                age_seconds: Some((age / 1000) as u64),
                overdue: age > interval * i64::from(t.checkpoint_intervals),
            })
        })
        .collect();
    let sinks: Vec<SinkState> = facts
        .sinks
        .iter()
        .map(|s| SinkState {
            sink: s.sink.clone(),
            lag_records: s.records,
            behind: s.records > t.sink_lag,
        })
        .collect();

    let verify_failed = facts.last_verify.as_ref().is_some_and(|v| !v.ok);
    let incomplete = sessions_without_end.len() as u64
        + statements_without_result
        + recordings.len() as u64
        + unsealed_recordings
        + u64::from(verify_failed);
    let mut health = Health::ok();
    if incomplete > t.incomplete {
        let mut parts = Vec::new();
        for (n, what) in [
            (
                sessions_without_end.len() as u64,
                "session(s) without an end",
            ),
            (statements_without_result, "statement(s) without a result"),
            (recordings.len() as u64, "recording(s) missing or altered"),
            (unsealed_recordings, "recording(s) never sealed"),
            (u64::from(verify_failed), "failed audit verify"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        health.fire(parts.join(", "));
    }
    for c in checkpoints.iter().filter(|c| c.overdue) {
        health.fire(format!(
            "{}: no checkpoint for {} s",
            c.gateway,
            c.age_seconds.unwrap_or_default()
        ));
    }
    for s in sinks.iter().filter(|s| s.behind) {
        health.fire(format!(
            "sink {} is {} records behind",
            s.sink, s.lag_records
        ));
    }
    AuditCompleteness {
        health,
        records: observer.records,
        open_sessions,
        sessions_cut_by_crash,
        sessions_without_end,
        statements_without_result,
        recordings,
        unsealed_recordings,
        checkpoints,
        sinks,
        last_verify: facts.last_verify.clone(),
    }
}
