//! Masking effectiveness: what the sampler found in the window, grouped.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::observer::Observer;
use crate::report::Health;
use crate::sample::Sampled;
use crate::Thresholds;

#[derive(Debug, Clone, Serialize)]
pub struct MaskingEffectiveness {
    pub health: Health,
    pub sample_fraction: f64,
    /// Recordings read back by the sampler since the gateway (or the report) started.
    pub sessions_sampled: u64,
    /// Values a detector matches that reached a client, by detector, column, target and rule.
    pub unmasked: Vec<UnmaskedValues>,
    /// Of those, values in results the policy masked: they got past masking.
    pub escaped_values: u64,
    /// Of those, values in results the policy chose not to mask (a reader allowed to see them).
    pub unmasked_by_policy_values: u64,
    /// Columns named like personal data in masked results that no column rule replaced.
    pub pii_columns: Vec<PiiColumn>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnmaskedValues {
    pub detector: String,
    pub column: String,
    pub target: String,
    pub rule: String,
    pub masking_applied: bool,
    pub values: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PiiColumn {
    pub column: String,
    pub target: String,
    pub rule: String,
    pub values: u64,
}

pub(crate) fn masking_effectiveness(
    observer: &Observer,
    since_ms: i64,
    sample_fraction: f64,
    t: &Thresholds,
) -> MaskingEffectiveness {
    let mut unmasked: BTreeMap<(String, String, String, String, bool), u64> = BTreeMap::new();
    let mut pii: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for (_, s) in observer.sampled.iter().filter(|(at, _)| *at >= since_ms) {
        match s {
            Sampled::Unmasked {
                detector,
                column,
                target,
                rule,
                masking_applied,
                values,
            } => {
                *unmasked
                    .entry((
                        detector.clone(),
                        column.clone(),
                        target.clone(),
                        rule.clone(),
                        *masking_applied,
                    ))
                    .or_default() += values;
            }
            Sampled::PiiColumn {
                column,
                target,
                rule,
                values,
            } => {
                *pii.entry((column.clone(), target.clone(), rule.clone()))
                    .or_default() += values;
            }
        }
    }
    let unmasked: Vec<UnmaskedValues> = unmasked
        .into_iter()
        .map(
            |((detector, column, target, rule, masking_applied), values)| UnmaskedValues {
                detector,
                column,
                target,
                rule,
                masking_applied,
                values,
            },
        )
        .collect();
    let escaped_values = unmasked
        .iter()
        .filter(|u| u.masking_applied)
        .map(|u| u.values)
        .sum();
    let unmasked_by_policy_values = unmasked
        .iter()
        .filter(|u| !u.masking_applied)
        .map(|u| u.values)
        .sum();
    let pii_columns: Vec<PiiColumn> = pii
        .into_iter()
        .map(|((column, target, rule), values)| PiiColumn {
            column,
            target,
            rule,
            values,
        })
        .collect();

    let mut health = Health::ok();
    if escaped_values > t.unmasked_values {
        let what: Vec<String> = unmasked
            .iter()
            .filter(|u| u.masking_applied)
            .map(|u| {
                format!(
                    "{} in {}.{} (rule {})",
                    u.detector, u.target, u.column, u.rule
                )
            })
            .collect();
        health.fire(format!(
            "{escaped_values} sampled value(s) reached a client unmasked although their results were masked: {}",
            what.join(", ")
        ));
    }
    if pii_columns.len() as u64 > t.unmasked_pii_columns {
        let what: Vec<String> = pii_columns
            .iter()
            .map(|p| format!("{}.{} (rule {})", p.target, p.column, p.rule))
            .collect();
        health.fire(format!(
            "{} column(s) named like personal data without a mask rule: {}",
            pii_columns.len(),
            what.join(", ")
        ));
    }
    MaskingEffectiveness {
        health,
        sample_fraction,
        sessions_sampled: observer.sessions_sampled,
        unmasked,
        escaped_values,
        unmasked_by_policy_values,
        pii_columns,
    }
}
