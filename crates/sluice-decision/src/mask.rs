//! The masking rules an allowing decision carries: `mask` in the decision document.
//!
//! Read with the same strictness as the rest of the document: an unknown key, a column
//! pattern that does not parse or a strategy that does not exist makes the decision a denial,
//! because a typo in a masking rule would otherwise show the very values it was written to
//! hide. Detector names are checked by the gateway, which knows the configured custom ones.

use serde::{Deserialize, Serialize};
use sluice_mask::{ColumnPattern, Strategy};

/// What to mask in the results of an allowed statement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaskRules {
    /// Whole-value rules by source column; the first that matches a column applies.
    #[serde(default)]
    pub columns: Vec<ColumnRule>,
    /// Detectors run over every value no column rule covers, and over error and notice
    /// fields, notification payloads and COPY data.
    #[serde(default)]
    pub content: Vec<ContentRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRule {
    pub column: ColumnPattern,
    /// What a result column that is this column's value, unchanged, gets.
    pub strategy: Strategy,
    /// What a result column computed from this column gets (`replace(ssn, '-', '')`).
    #[serde(default)]
    pub computed: Computed,
    /// What a result column that depends on this column only through `count(...)` gets.
    #[serde(default)]
    pub counted: Counted,
}

/// A value computed from a masked column: a partial strategy (`keep_last`) would show part of
/// a transformed value (the first digits, reversed), so only whole-value replacement is safe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Computed {
    /// Replaced whole: by its token when every masked source is tokenized (so computed
    /// tokens still join), else redacted.
    #[default]
    Redact,
    /// The statement is denied, naming the column.
    Deny,
}

/// A count of a masked column's values (`count(ssn)`, `count(DISTINCT ssn)`) reveals none of
/// them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Counted {
    #[default]
    Allow,
    /// Counted like any computed value.
    Mask,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContentRule {
    /// A detector's name, or `*` for every built-in one.
    pub detector: String,
    pub strategy: Strategy,
}

/// The name that stands for every built-in detector in a [`ContentRule`].
pub const ALL_DETECTORS: &str = "*";

impl MaskRules {
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty() && self.content.is_empty()
    }

    /// The rules of several statements sent as one string, whose results the relay cannot
    /// tell apart: all of them apply to all of the results. Earlier statements' column rules
    /// come first, so a column matched by two keeps the first statement's strategy.
    pub fn union<'r>(all: impl IntoIterator<Item = &'r MaskRules>) -> MaskRules {
        let mut union = MaskRules::default();
        for rules in all {
            for rule in &rules.columns {
                if !union.columns.contains(rule) {
                    union.columns.push(rule.clone());
                }
            }
            for rule in &rules.content {
                if !union.content.contains(rule) {
                    union.content.push(rule.clone());
                }
            }
        }
        union
    }

    /// The strategy for spans of `detector` (a built-in or custom name): its own rule, else
    /// the `*` rule for a built-in; `None` when no rule asks for it.
    pub fn content_strategy(&self, detector: &str, builtin: bool) -> Option<&Strategy> {
        self.content
            .iter()
            .find(|r| r.detector == detector)
            .or_else(|| {
                builtin
                    .then(|| self.content.iter().find(|r| r.detector == ALL_DETECTORS))
                    .flatten()
            })
            .map(|r| &r.strategy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Result<MaskRules, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn reads_columns_and_content() {
        let r = rules(
            r#"{"columns": [{"column": "public.customers.ssn", "strategy": "redact"},
                            {"column": "*card*", "strategy": {"keep_last": 4}}],
                "content": [{"detector": "*", "strategy": "redact"},
                            {"detector": "email", "strategy": "token"}]}"#,
        )
        .unwrap();
        assert_eq!(r.columns.len(), 2);
        assert_eq!(r.columns[1].strategy, Strategy::KeepLast(4));
        assert_eq!(r.content_strategy("email", true), Some(&Strategy::Token));
        assert_eq!(r.content_strategy("us_ssn", true), Some(&Strategy::Redact));
        // `*` is the built-ins; a custom detector needs its own rule.
        assert_eq!(r.content_strategy("employee_id", false), None);
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        assert!(rules(r#"{"colums": []}"#).is_err());
        assert!(rules(r#"{"columns": [{"column": "a.b", "strategy": "redact"}]}"#).is_err());
        assert!(rules(r#"{"columns": [{"column": "x", "strategy": "hide"}]}"#).is_err());
        assert!(rules(r#"{"content": [{"detector": "x"}]}"#).is_err());
        assert!(
            rules(r#"{"content": [{"detector": "x", "strategy": "redact", "y": 1}]}"#).is_err()
        );
        assert!(rules("{}").unwrap().is_empty());
    }

    #[test]
    fn union_keeps_first_strategies_and_drops_duplicates() {
        let a = rules(r#"{"columns": [{"column": "ssn", "strategy": "redact"}]}"#).unwrap();
        let b = rules(
            r#"{"columns": [{"column": "ssn", "strategy": "redact"}, {"column": "ssn", "strategy": "null"}],
                "content": [{"detector": "*", "strategy": "redact"}]}"#,
        )
        .unwrap();
        let u = MaskRules::union([&a, &b]);
        assert_eq!(u.columns.len(), 2);
        assert_eq!(u.columns[0].strategy, Strategy::Redact);
        assert_eq!(u.content.len(), 1);
    }
}
