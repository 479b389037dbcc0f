//! `[signals]`: how often the gateway computes the signals, over which window, and where each
//! one stops being healthy. Every field has a default, so a configuration without the table
//! gets every signal with thresholds that fire only on something worth a look.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::SignalsError;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SignalsConfig {
    /// How often the gateway recomputes the signals (metrics, alerts). `0s`: never (the
    /// report is still there on demand).
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// How far back the counts reach: dead rules, latencies, churn.
    #[serde(deserialize_with = "duration")]
    pub window: Duration,
    /// The git work tree the policy directory is checked out from. `None`: the repository
    /// the policy directory itself sits in, if any.
    pub repository: Option<PathBuf>,
    /// The fraction of sessions whose recording the masking sampler re-scans (0 to 1).
    pub sample_fraction: f64,
    /// How often the gateway runs `sluice audit verify` over its own trail and recordings.
    /// `0s`: never.
    #[serde(deserialize_with = "duration")]
    pub verify_interval: Duration,
    pub thresholds: Thresholds,
}

impl Default for SignalsConfig {
    fn default() -> Self {
        SignalsConfig {
            interval: Duration::from_secs(60),
            window: Duration::from_secs(7 * 24 * 3600),
            repository: None,
            sample_fraction: 0.1,
            verify_interval: Duration::from_secs(3600),
            thresholds: Thresholds::default(),
        }
    }
}

/// Where each signal turns from `ok` to `firing`. Counts fire when they exceed the threshold.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Policy drift: gateways enforcing a version other than the repository's head (or than
    /// each other).
    pub drifted_gateways: u64,
    /// Policy drift: statements in the window decided only by the default deny (no rule
    /// matched them: a rule is missing, or the client is probing).
    pub default_denies: u64,
    /// Approval latency: the 90th percentile from hold to decision.
    #[serde(deserialize_with = "duration")]
    pub approval_p90: Duration,
    /// Approval latency: a review pending longer than this is overdue.
    #[serde(deserialize_with = "duration")]
    pub pending_age: Duration,
    /// Approval latency: how many overdue reviews are tolerated.
    pub overdue_reviews: u64,
    /// Approval latency: approvals by one reviewer for one requester in the window from which
    /// the pair counts as rubber-stamping (listed; fires when `rubber_stamp_pairs` is passed).
    pub rubber_stamp_approvals: u64,
    pub rubber_stamp_pairs: u64,
    /// Masking effectiveness: sampled values a detector matches that reached a client whose
    /// results the policy masked.
    pub unmasked_values: u64,
    /// Masking effectiveness: result columns named like personal data (email, ssn, phone,
    /// card, iban, token, password, secret) that masked sessions received without a column rule.
    pub unmasked_pii_columns: u64,
    /// Audit completeness: sessions without an end (not explained by a crash), statements
    /// without a result, recordings missing, altered or unsealed, and a failed verify.
    pub incomplete: u64,
    /// Audit completeness: a sink further behind than this many records.
    pub sink_lag: u64,
    /// Audit completeness: a checkpoint older than this many checkpoint intervals is overdue.
    pub checkpoint_intervals: u32,
    /// Access churn: the share of grants that ended without being used (with at least
    /// `min_grants` grants in the window).
    pub unused_grant_ratio: f64,
    pub min_grants: u64,
    /// Access churn: requests for the same access by one identity in the window from which a
    /// standing rule would fit (listed; fires when `repeated_requesters` is passed).
    pub repeated_requests: u64,
    pub repeated_requesters: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            drifted_gateways: 0,
            default_denies: 100,
            approval_p90: Duration::from_secs(15 * 60),
            pending_age: Duration::from_secs(3600),
            overdue_reviews: 0,
            rubber_stamp_approvals: 20,
            rubber_stamp_pairs: 0,
            unmasked_values: 0,
            unmasked_pii_columns: 0,
            incomplete: 0,
            sink_lag: 10_000,
            checkpoint_intervals: 3,
            unused_grant_ratio: 0.5,
            min_grants: 4,
            repeated_requests: 5,
            repeated_requesters: 0,
        }
    }
}

impl SignalsConfig {
    /// What serde cannot check: ranges.
    pub fn validate(&self) -> Result<(), SignalsError> {
        if !(0.0..=1.0).contains(&self.sample_fraction) {
            return Err(SignalsError::Config(format!(
                "sample_fraction must be between 0 and 1, not {}",
                self.sample_fraction
            )));
        }
        if !(0.0..=1.0).contains(&self.thresholds.unused_grant_ratio) {
            return Err(SignalsError::Config(format!(
                "thresholds.unused_grant_ratio must be between 0 and 1, not {}",
                self.thresholds.unused_grant_ratio
            )));
        }
        if self.window.is_zero() {
            return Err(SignalsError::Config("window must not be 0".into()));
        }
        if self.thresholds.checkpoint_intervals == 0 {
            return Err(SignalsError::Config(
                "thresholds.checkpoint_intervals must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Wrap {
        signals: SignalsConfig,
    }

    #[test]
    fn every_field_has_a_default_and_unknown_ones_are_refused() {
        let w: Wrap = serde_json::from_str(r#"{"signals":{}}"#).unwrap();
        assert_eq!(w.signals, SignalsConfig::default());
        w.signals.validate().unwrap();
        let w: Wrap = serde_json::from_str(
            r#"{"signals":{"interval":"10s","thresholds":{"approval_p90":"2m"}}}"#,
        )
        .unwrap();
        assert_eq!(w.signals.interval, Duration::from_secs(10));
        assert_eq!(w.signals.thresholds.approval_p90, Duration::from_secs(120));
        assert!(serde_json::from_str::<Wrap>(r#"{"signals":{"intervall":"1s"}}"#).is_err());
        let bad = SignalsConfig {
            sample_fraction: 1.5,
            ..SignalsConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
