//! The masking sampler: a recorded session's results re-scanned with the content detectors.
//!
//! A recording holds the values exactly as the client received them, after masking, so a
//! detector that matches a recorded value found something that reached a client unmasked.
//! Whether that is a gap depends on whether the policy masked that statement at all: the
//! audit trail's result record carries masking counts exactly when it did, and the observer
//! hands them over with the recording. Findings name the detector, the column, the target and
//! the rule, and count values: the value itself is never kept.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use sluice_mask::{Detectors, Found};
use sluice_record::Recording;

use crate::observer::RecordingToCheck;

/// What masked values are made of (`****`, `****-****-1111`, `****@example.com`): a detector
/// matching one of them (an email's masked local part still looks like an email) has found
/// the mask, not a value.
const MASK_MARK: &str = "****";

/// What the `token` strategy writes instead of a value: `tok_` and 16 lowercase hex digits
/// (sluice-mask's token.rs). Like `****`, it shows the value was masked.
const TOKEN_PREFIX: &str = "tok_";
const TOKEN_HEX_DIGITS: usize = 16;

/// Column names that suggest personal or secret data.
const PII_NAMES: [&str; 8] = [
    "email", "ssn", "phone", "card", "iban", "token", "password", "secret",
];

/// One kind of finding in one sampled session, with how many values it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sampled {
    /// Values a detector matches that reached the client.
    Unmasked {
        detector: String,
        column: String,
        target: String,
        rule: String,
        /// The policy masked this statement's results: the value got past masking. Without
        /// it, the policy let this caller see the values unmasked.
        masking_applied: bool,
        values: u64,
    },
    /// A column named like personal data, in a masked statement's result, that no column
    /// rule replaced.
    PiiColumn {
        column: String,
        target: String,
        rule: String,
        values: u64,
    },
}

/// Whether `session` is in the sample: a hash of its id against the fraction, so that the
/// gateway and `sluice report` sample the same sessions, and a session is sampled or not for
/// good.
pub fn is_sampled(session: &str, fraction: f64) -> bool {
    if fraction <= 0.0 {
        return false;
    }
    if fraction >= 1.0 {
        return true;
    }
    let digest = Sha256::digest(session.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) as f64 / u64::MAX as f64) < fraction
}

/// Scans a sampled session's recorded results. Returns the findings and the values scanned.
pub fn sample_recording(
    recording: &Recording,
    detectors: &Detectors,
    checked: &RecordingToCheck,
) -> (Vec<Sampled>, u64) {
    let mut unmasked: BTreeMap<(String, String, String, bool), u64> = BTreeMap::new();
    let mut pii: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut scanned = 0u64;
    let mut found: Vec<Found> = Vec::new();
    for statement in recording.statements() {
        let Some(columns) = &statement.columns else {
            continue;
        };
        // Several result sets: only the last one's columns are recorded by name, so the
        // earlier sets' rows cannot be placed; they are skipped rather than misnamed.
        let skip: usize = statement.earlier_results.iter().map(|r| r.rows).sum();
        let masking = checked.masked.get(&statement.n);
        let masking_applied = matches!(masking, Some(Some(_)));
        let replaced_by_column = |name: &str| {
            masking.and_then(Option::as_ref).is_some_and(|m| {
                m.columns
                    .keys()
                    .any(|c| c == name || c.rsplit('.').next() == Some(name))
            })
        };
        let rule = &statement.decision.rule;
        for row in statement.rows.iter().skip(skip) {
            for (value, column) in row.iter().zip(columns) {
                let Some(value) = value else { continue };
                scanned += 1;
                found.clear();
                detectors.find(value, &mut found);
                let mut hit = false;
                for f in &found {
                    let span = value.get(f.range.clone()).unwrap_or_default();
                    if span.contains(MASK_MARK) {
                        continue;
                    }
                    hit = true;
                    let key = (
                        detectors.name(f.detector).to_owned(),
                        column.name.clone(),
                        rule.clone(),
                        masking_applied,
                    );
                    *unmasked.entry(key).or_default() += 1;
                }
                if masking_applied
                    && !shows_a_mask(value)
                    && suggests_pii(&column.name)
                    && !replaced_by_column(&column.name)
                {
                    // A value a detector also matched is counted once, as that finding.
                    if !hit {
                        *pii.entry((column.name.clone(), rule.clone())).or_default() += 1;
                    }
                }
            }
        }
    }
    let target = &checked.target;
    let mut out: Vec<Sampled> = unmasked
        .into_iter()
        .map(
            |((detector, column, rule, masking_applied), values)| Sampled::Unmasked {
                detector,
                column,
                target: target.clone(),
                rule,
                masking_applied,
                values,
            },
        )
        .collect();
    out.extend(
        pii.into_iter()
            .map(|((column, rule), values)| Sampled::PiiColumn {
                column,
                target: target.clone(),
                rule,
                values,
            }),
    );
    (out, scanned)
}

/// Whether `value` carries what a mask strategy writes: `****` (redact, keep_last,
/// email_domain) or a token. A PII-named column whose values the content rules masked (an
/// email tokenized) had a detector match them, at masking time: it is no unmasked column.
fn shows_a_mask(value: &str) -> bool {
    value.contains(MASK_MARK)
        || value.match_indices(TOKEN_PREFIX).any(|(at, _)| {
            value.as_bytes()[at + TOKEN_PREFIX.len()..]
                .get(..TOKEN_HEX_DIGITS)
                .is_some_and(|hex| {
                    hex.iter()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
                })
        })
}

/// `customer_email`, `SSN`, `phone_number`, `card_no`, `api_token`: a name part (split at
/// `_`, `-`, `.` and spaces) that is, or starts with, one of the PII words.
fn suggests_pii(column: &str) -> bool {
    let lower = column.to_ascii_lowercase();
    lower
        .split(['_', '-', '.', ' '])
        .any(|part| PII_NAMES.iter().any(|p| part.starts_with(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_stable_and_near_the_fraction() {
        assert!(is_sampled("s1", 1.0));
        assert!(!is_sampled("s1", 0.0));
        assert_eq!(is_sampled("abc", 0.3), is_sampled("abc", 0.3));
        let n = (0..10_000)
            .filter(|i| is_sampled(&format!("s{i}"), 0.25))
            .count();
        assert!((2_200..2_800).contains(&n), "{n}");
    }

    #[test]
    fn mask_products_are_recognised() {
        for masked in [
            "****",
            "****@example.com",
            "****-****-1111",
            "tok_0123456789abcdef",
            "write to tok_0123456789abcdef today",
        ] {
            assert!(shows_a_mask(masked), "{masked}");
        }
        for clear in [
            "ask for the night desk",
            "tok_",
            "tok_0123",
            "tok_0123456789ABCDEF",
            "***",
        ] {
            assert!(!shows_a_mask(clear), "{clear}");
        }
    }

    #[test]
    fn pii_names() {
        for yes in [
            "email",
            "customer_email",
            "SSN",
            "phone_number",
            "card_no",
            "api-token",
            "passwords",
        ] {
            assert!(suggests_pii(yes), "{yes}");
        }
        for no in ["id", "name", "total", "created_at"] {
            assert!(!suggests_pii(no), "{no}");
        }
    }
}
