//! The report: the five signals, each with its health, computed at one moment over one window;
//! the changes of health since the previous report (what alerts are made of); and the
//! Prometheus rendering.

use std::fmt::Write as _;

use serde::Serialize;

use crate::churn::{access_churn, AccessChurn};
use crate::completeness::{audit_completeness, AuditCompleteness};
use crate::drift::{policy_drift, PolicyDrift};
use crate::facts::Facts;
use crate::latency::{approval_latency, ApprovalLatency};
use crate::masking::{masking_effectiveness, MaskingEffectiveness};
use crate::observer::Observer;
use crate::time::rfc3339_ms;
use crate::SignalsConfig;

/// The five signals, in the report's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    PolicyDrift,
    ApprovalLatency,
    MaskingEffectiveness,
    AuditCompleteness,
    AccessChurn,
}

impl Signal {
    pub const ALL: [Signal; 5] = [
        Signal::PolicyDrift,
        Signal::ApprovalLatency,
        Signal::MaskingEffectiveness,
        Signal::AuditCompleteness,
        Signal::AccessChurn,
    ];

    /// The key in `sluice report --json`, the `signal` label in metrics and alerts.
    pub fn key(self) -> &'static str {
        match self {
            Signal::PolicyDrift => "policy_drift",
            Signal::ApprovalLatency => "approval_latency",
            Signal::MaskingEffectiveness => "masking_effectiveness",
            Signal::AuditCompleteness => "audit_completeness",
            Signal::AccessChurn => "access_churn",
        }
    }
}

/// Whether a signal is healthy, and if not, why (one line per threshold crossed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// `ok` or `firing`.
    pub status: &'static str,
    pub reasons: Vec<String>,
}

impl Health {
    pub(crate) fn ok() -> Health {
        Health {
            status: "ok",
            reasons: Vec::new(),
        }
    }

    pub(crate) fn fire(&mut self, reason: String) {
        self.status = "firing";
        self.reasons.push(reason);
    }

    pub fn firing(&self) -> bool {
        self.status == "firing"
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub window_seconds: u64,
    pub policy_drift: PolicyDrift,
    pub approval_latency: ApprovalLatency,
    pub masking_effectiveness: MaskingEffectiveness,
    pub audit_completeness: AuditCompleteness,
    pub access_churn: AccessChurn,
}

/// A signal that started or stopped firing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub signal: Signal,
    pub firing: bool,
    pub reasons: Vec<String>,
}

/// The report over the window ending at `facts.now_ms`.
pub fn compute(observer: &Observer, facts: &Facts, config: &SignalsConfig) -> Report {
    let since = facts.now_ms - config.window.as_millis() as i64;
    let t = &config.thresholds;
    Report {
        generated_at: rfc3339_ms(facts.now_ms),
        window_seconds: config.window.as_secs(),
        policy_drift: policy_drift(observer, facts, since, t),
        approval_latency: approval_latency(facts, since, t),
        masking_effectiveness: masking_effectiveness(observer, since, config.sample_fraction, t),
        audit_completeness: audit_completeness(observer, facts, since, t),
        access_churn: access_churn(observer, facts, since, t),
    }
}

impl Report {
    pub fn health(&self, signal: Signal) -> &Health {
        match signal {
            Signal::PolicyDrift => &self.policy_drift.health,
            Signal::ApprovalLatency => &self.approval_latency.health,
            Signal::MaskingEffectiveness => &self.masking_effectiveness.health,
            Signal::AuditCompleteness => &self.audit_completeness.health,
            Signal::AccessChurn => &self.access_churn.health,
        }
    }

    /// What changed since `previous`: signals that started firing and signals that stopped
    /// (a firing signal's reasons changing is not a change). With no previous report, every
    /// firing signal.
    pub fn transitions(&self, previous: Option<&Report>) -> Vec<Transition> {
        Signal::ALL
            .into_iter()
            .filter_map(|signal| {
                let now = self.health(signal);
                let before = previous.map(|p| p.health(signal));
                let changed = match before {
                    None => now.firing(),
                    Some(b) => b.firing() != now.firing(),
                };
                changed.then(|| Transition {
                    signal,
                    firing: now.firing(),
                    reasons: now.reasons.clone(),
                })
            })
            .collect()
    }

    /// The signals as Prometheus metrics (`sluice_signal_*`). Labels carry names of gateways,
    /// targets, detectors and groups, never a value.
    pub fn render_prometheus(&self, out: &mut String) {
        header(
            out,
            "sluice_signal_firing",
            "gauge",
            "1 while the signal is past its threshold (docs/signals.md).",
        );
        for s in Signal::ALL {
            let _ = writeln!(
                out,
                "sluice_signal_firing{{signal=\"{}\"}} {}",
                s.key(),
                u8::from(self.health(s).firing())
            );
        }
        let d = &self.policy_drift;
        header(
            out,
            "sluice_signal_policy_drifted_gateways",
            "gauge",
            "Gateways enforcing a policy other than the repository's HEAD (or the others').",
        );
        let _ = writeln!(
            out,
            "sluice_signal_policy_drifted_gateways {}",
            d.drifted_gateways
        );
        header(
            out,
            "sluice_signal_policy_versions",
            "gauge",
            "Distinct policy versions running gateways enforce.",
        );
        let _ = writeln!(
            out,
            "sluice_signal_policy_versions {}",
            d.versions_in_force.len()
        );
        header(
            out,
            "sluice_signal_policy_dead_rules",
            "gauge",
            "Declared rules that decided nothing in the window.",
        );
        let _ = writeln!(
            out,
            "sluice_signal_policy_dead_rules {}",
            d.dead_rules.len()
        );
        header(
            out,
            "sluice_signal_policy_default_denies",
            "gauge",
            "Statements in the window decided only by the default deny.",
        );
        let _ = writeln!(
            out,
            "sluice_signal_policy_default_denies {}",
            d.default_denied_total
        );

        let a = &self.approval_latency;
        header(
            out,
            "sluice_signal_approval_seconds",
            "gauge",
            "Time from hold to decision of reviews in the window, by percentile.",
        );
        for (q, v) in [
            ("0.5", a.overall.p50_seconds),
            ("0.9", a.overall.p90_seconds),
            ("1", a.overall.max_seconds),
        ] {
            if let Some(v) = v {
                let _ = writeln!(
                    out,
                    "sluice_signal_approval_seconds{{quantile=\"{q}\"}} {v}"
                );
            }
        }
        header(
            out,
            "sluice_signal_approval_group_p90_seconds",
            "gauge",
            "90th percentile from hold to decision per reviewer group.",
        );
        for g in &a.by_group {
            if let Some(v) = g.latency.p90_seconds {
                let _ = writeln!(
                    out,
                    "sluice_signal_approval_group_p90_seconds{{group=\"{}\"}} {v}",
                    escape(&g.name)
                );
            }
        }
        header(
            out,
            "sluice_signal_approval_target_p90_seconds",
            "gauge",
            "90th percentile from hold to decision per target.",
        );
        for g in &a.by_target {
            if let Some(v) = g.latency.p90_seconds {
                let _ = writeln!(
                    out,
                    "sluice_signal_approval_target_p90_seconds{{target=\"{}\"}} {v}",
                    escape(&g.name)
                );
            }
        }
        for (name, help, v) in [
            (
                "sluice_signal_reviews_pending",
                "Reviews pending now.",
                a.pending,
            ),
            (
                "sluice_signal_reviews_overdue",
                "Reviews pending longer than the threshold.",
                a.overdue.len() as u64,
            ),
            (
                "sluice_signal_reviews_expired_undecided",
                "Reviews in the window that expired without a decision.",
                a.expired_undecided,
            ),
            (
                "sluice_signal_rubber_stamp_pairs",
                "Reviewer/requester pairs past the rubber-stamp threshold.",
                a.rubber_stamping.len() as u64,
            ),
        ] {
            header(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {v}");
        }

        let m = &self.masking_effectiveness;
        header(
            out,
            "sluice_signal_masking_sessions_sampled",
            "counter",
            "Recordings the masking sampler read back.",
        );
        let _ = writeln!(
            out,
            "sluice_signal_masking_sessions_sampled {}",
            m.sessions_sampled
        );
        header(
            out,
            "sluice_signal_masking_unmasked_values",
            "gauge",
            "Sampled values a detector matches that reached a client, in the window.",
        );
        for u in &m.unmasked {
            let _ = writeln!(
                out,
                "sluice_signal_masking_unmasked_values{{detector=\"{}\",target=\"{}\",column=\"{}\",rule=\"{}\",masking_applied=\"{}\"}} {}",
                escape(&u.detector), escape(&u.target), escape(&u.column), escape(&u.rule), u.masking_applied, u.values
            );
        }
        header(
            out,
            "sluice_signal_masking_pii_columns",
            "gauge",
            "Columns named like personal data in masked results without a column rule.",
        );
        let _ = writeln!(
            out,
            "sluice_signal_masking_pii_columns {}",
            m.pii_columns.len()
        );

        let c = &self.audit_completeness;
        header(
            out,
            "sluice_signal_audit_incomplete",
            "gauge",
            "Audit completeness findings in the window, by kind.",
        );
        for (kind, v) in [
            ("session_without_end", c.sessions_without_end.len() as u64),
            ("statement_without_result", c.statements_without_result),
            ("recording_missing_or_altered", c.recordings.len() as u64),
            ("recording_unsealed", c.unsealed_recordings),
        ] {
            let _ = writeln!(out, "sluice_signal_audit_incomplete{{kind=\"{kind}\"}} {v}");
        }
        header(
            out,
            "sluice_signal_audit_sessions_cut_by_crash",
            "gauge",
            "Sessions a gateway crash cut, in the window.",
        );
        let _ = writeln!(
            out,
            "sluice_signal_audit_sessions_cut_by_crash {}",
            c.sessions_cut_by_crash
        );
        header(
            out,
            "sluice_signal_audit_checkpoint_age_seconds",
            "gauge",
            "Seconds since each gateway's last checkpoint.",
        );
        for k in &c.checkpoints {
            if let Some(age) = k.age_seconds {
                let _ = writeln!(
                    out,
                    "sluice_signal_audit_checkpoint_age_seconds{{gateway=\"{}\"}} {age}",
                    escape(&k.gateway)
                );
            }
        }
        header(
            out,
            "sluice_signal_audit_sink_lag_records",
            "gauge",
            "Records each audit sink has yet to deliver.",
        );
        for s in &c.sinks {
            let _ = writeln!(
                out,
                "sluice_signal_audit_sink_lag_records{{sink=\"{}\"}} {}",
                escape(&s.sink),
                s.lag_records
            );
        }
        if let Some(v) = &c.last_verify {
            header(
                out,
                "sluice_signal_audit_verify_ok",
                "gauge",
                "1 if the last audit verify found the trail intact.",
            );
            let _ = writeln!(out, "sluice_signal_audit_verify_ok {}", u8::from(v.ok));
            if let Some(ms) = crate::time::parse_ms(&v.at) {
                header(
                    out,
                    "sluice_signal_audit_verify_timestamp_seconds",
                    "gauge",
                    "When the last audit verify ran.",
                );
                let _ = writeln!(
                    out,
                    "sluice_signal_audit_verify_timestamp_seconds {}",
                    ms / 1000
                );
            }
        }

        let g = &self.access_churn;
        header(
            out,
            "sluice_signal_grants",
            "gauge",
            "Grants issued in the window, by what became of them.",
        );
        for (state, v) in [
            ("issued", g.grants_issued),
            ("used", g.grants_used),
            ("unused", g.grants_unused),
            ("expired", g.grants_expired),
            ("revoked", g.grants_revoked),
            ("active", g.grants_active),
        ] {
            let _ = writeln!(out, "sluice_signal_grants{{state=\"{state}\"}} {v}");
        }
        header(
            out,
            "sluice_signal_repeated_requests",
            "gauge",
            "Identity/target/access triples requested past the repeat threshold.",
        );
        let _ = writeln!(
            out,
            "sluice_signal_repeated_requests {}",
            g.repeated_requests.len()
        );
        header(
            out,
            "sluice_signal_tokens_never_used",
            "gauge",
            "Credentials created in the window and never used.",
        );
        let _ = writeln!(
            out,
            "sluice_signal_tokens_never_used {}",
            g.tokens_never_used.len()
        );
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
