//! The signals over time: each report reduced to a few figures per signal and whether it was
//! firing, kept for a bounded number of rounds, so that the console can draw a trend without
//! keeping whole reports (which list sessions, grants and columns) in memory.

use std::collections::VecDeque;

use crate::report::{Report, Signal};

/// One signal at one round.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalPoint {
    pub firing: bool,
    /// The signal's headline figures, in the order of [`figure_names`]; `None` where the
    /// report had nothing to measure (no review decided, no grant ended).
    pub figures: Vec<Option<f64>>,
}

/// One round of all five signals.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub at_ms: i64,
    /// In [`Signal::ALL`]'s order.
    pub signals: Vec<SignalPoint>,
}

/// The figures kept per signal: the ones its thresholds are about.
pub fn figure_names(signal: Signal) -> &'static [&'static str] {
    match signal {
        Signal::PolicyDrift => &["drifted gateways", "default-denied statements"],
        Signal::ApprovalLatency => &["p90 seconds to decide", "pending reviews"],
        Signal::MaskingEffectiveness => &["escaped values", "unmasked by policy"],
        Signal::AuditCompleteness => &["sessions without end", "recording problems"],
        Signal::AccessChurn => &["grants issued", "grants unused"],
    }
}

fn figures(report: &Report, signal: Signal) -> Vec<Option<f64>> {
    let n = |v: u64| Some(v as f64);
    let len = |v: usize| Some(v as f64);
    match signal {
        Signal::PolicyDrift => {
            let d = &report.policy_drift;
            vec![n(d.drifted_gateways), n(d.default_denied_total)]
        }
        Signal::ApprovalLatency => {
            let l = &report.approval_latency;
            vec![l.overall.p90_seconds, n(l.pending)]
        }
        Signal::MaskingEffectiveness => {
            let m = &report.masking_effectiveness;
            vec![n(m.escaped_values), n(m.unmasked_by_policy_values)]
        }
        Signal::AuditCompleteness => {
            let c = &report.audit_completeness;
            vec![
                len(c.sessions_without_end.len()),
                Some((c.recordings.len() as u64 + c.unsealed_recordings) as f64),
            ]
        }
        Signal::AccessChurn => {
            let c = &report.access_churn;
            vec![n(c.grants_issued), n(c.grants_unused)]
        }
    }
}

/// The last `capacity` rounds, oldest first.
#[derive(Debug, Clone)]
pub struct History {
    capacity: usize,
    points: VecDeque<Point>,
}

impl History {
    pub fn new(capacity: usize) -> History {
        History {
            capacity: capacity.max(1),
            points: VecDeque::new(),
        }
    }

    /// Adds the round `report` describes, computed at `at_ms`, dropping the oldest beyond the
    /// capacity.
    pub fn record(&mut self, at_ms: i64, report: &Report) {
        if self.points.len() == self.capacity {
            self.points.pop_front();
        }
        let signals = Signal::ALL
            .into_iter()
            .map(|signal| SignalPoint {
                firing: report.health(signal).firing(),
                figures: figures(report, signal),
            })
            .collect();
        self.points.push_back(Point { at_ms, signals });
    }

    pub fn points(&self) -> impl ExactSizeIterator<Item = &Point> {
        self.points.iter()
    }
}
