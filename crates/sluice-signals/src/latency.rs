//! Approval latency: how long held requests wait for a human, per reviewer group and per
//! target, what is left waiting, what expired unanswered, and reviewers who approve one
//! requester's every request.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::facts::Facts;
use crate::report::Health;
use crate::Thresholds;

#[derive(Debug, Clone, Serialize)]
pub struct ApprovalLatency {
    pub health: Health,
    /// From the hold to the approval or denial, reviews created in the window.
    pub overall: Latency,
    pub by_group: Vec<GroupLatency>,
    pub by_target: Vec<GroupLatency>,
    /// Pending now, whatever their age.
    pub pending: u64,
    /// Pending longer than the threshold.
    pub overdue: Vec<OverdueReview>,
    /// Reviews in the window that expired without a decision.
    pub expired_undecided: u64,
    /// Reviewer and requester pairs with at least the threshold's approvals in the window.
    pub rubber_stamping: Vec<RubberStamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub max_seconds: Option<f64>,
}

impl Latency {
    pub(crate) fn of(mut seconds: Vec<f64>) -> Latency {
        seconds.sort_by(f64::total_cmp);
        Latency {
            count: seconds.len() as u64,
            p50_seconds: nearest_rank(&seconds, 0.5),
            p90_seconds: nearest_rank(&seconds, 0.9),
            max_seconds: seconds.last().copied(),
        }
    }
}

/// The nearest-rank percentile of sorted values: the smallest value with at least `p` of them
/// at or below it. The one definition the signals and `sluice review stats` share.
pub fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    sorted
        .get(((p * n as f64).ceil() as usize).clamp(1, n) - 1)
        .copied()
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupLatency {
    pub name: String,
    #[serde(flatten)]
    pub latency: Latency,
}

#[derive(Debug, Clone, Serialize)]
pub struct OverdueReview {
    pub review: String,
    pub requester: String,
    pub target: String,
    pub age_seconds: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RubberStamp {
    pub reviewer: String,
    pub requester: String,
    pub approvals: u64,
    pub denials: u64,
}

pub(crate) fn approval_latency(facts: &Facts, since_ms: i64, t: &Thresholds) -> ApprovalLatency {
    let now = facts.now_ms;
    let mut all = Vec::new();
    let mut by_group: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut by_target: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut pairs: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
    let mut pending = 0;
    let mut overdue = Vec::new();
    let mut expired_undecided = 0;
    let pending_age_ms = t.pending_age.as_millis() as i64;
    for r in &facts.reviews {
        if r.state == "pending" {
            pending += 1;
            let age = now - r.created_ms;
            if age > pending_age_ms {
                overdue.push(OverdueReview {
                    review: r.id.clone(),
                    requester: r.requester.clone(),
                    target: r.target.clone(),
                    age_seconds: (age / 1000).max(0) as u64,
                });
            }
            continue;
        }
        if r.created_ms < since_ms {
            continue;
        }
        if r.state == "expired" && r.decisions.is_empty() {
            expired_undecided += 1;
        }
        for (reviewer, approve) in &r.decisions {
            let e = pairs
                .entry((reviewer.as_str(), r.requester.as_str()))
                .or_default();
            if *approve {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        let (Some(decided), "approved" | "denied") = (r.decided_ms, r.state.as_str()) else {
            continue;
        };
        let seconds = (decided - r.created_ms).max(0) as f64 / 1000.0;
        all.push(seconds);
        by_target
            .entry(r.target.as_str())
            .or_default()
            .push(seconds);
        if r.groups.is_empty() {
            by_group.entry("(any)").or_default().push(seconds);
        }
        for g in &r.groups {
            by_group.entry(g.as_str()).or_default().push(seconds);
        }
    }
    overdue.sort_by_key(|o| std::cmp::Reverse(o.age_seconds));
    let group = |m: BTreeMap<&str, Vec<f64>>| -> Vec<GroupLatency> {
        m.into_iter()
            .map(|(name, s)| GroupLatency {
                name: name.to_owned(),
                latency: Latency::of(s),
            })
            .collect()
    };
    let rubber_stamping: Vec<RubberStamp> = pairs
        .into_iter()
        .filter(|(_, (approvals, _))| *approvals >= t.rubber_stamp_approvals)
        .map(
            |((reviewer, requester), (approvals, denials))| RubberStamp {
                reviewer: reviewer.to_owned(),
                requester: requester.to_owned(),
                approvals,
                denials,
            },
        )
        .collect();
    let overall = Latency::of(all);

    let mut health = Health::ok();
    let limit = t.approval_p90.as_secs_f64();
    if let Some(p90) = overall.p90_seconds.filter(|p| *p > limit) {
        health.fire(format!(
            "p90 from hold to decision is {p90:.0} s (threshold {limit:.0} s)"
        ));
    }
    if overdue.len() as u64 > t.overdue_reviews {
        health.fire(format!(
            "{} review(s) pending longer than {} s",
            overdue.len(),
            t.pending_age.as_secs()
        ));
    }
    if rubber_stamping.len() as u64 > t.rubber_stamp_pairs {
        health.fire(format!(
            "{} reviewer/requester pair(s) with {}+ approvals in the window",
            rubber_stamping.len(),
            t.rubber_stamp_approvals
        ));
    }
    ApprovalLatency {
        health,
        overall,
        by_group: group(by_group),
        by_target: group(by_target),
        pending,
        overdue,
        expired_undecided,
        rubber_stamping,
    }
}
