//! What the policy would do to a table's columns for a caller, asked outside any session: the
//! decision for a `SELECT` of them, the way a request for access is decided before there is a
//! session. Nothing is recorded or held and nothing runs; the MCP endpoint's `describe` tool
//! uses it to mark the columns an agent will get masked, while the statements themselves still
//! go through a session like every other.

use sluice_decision::Verdict;
use sluice_sql::Lexing;

use crate::config::TargetConfig;
use crate::masking::{ColumnSource, MaskPlan};
use crate::{Authenticated, Gateway};

/// The masking a caller's reads of a table get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnsPreview {
    /// Per column, in the order asked: the strategy of the rule that masks it, if one does;
    /// and the content detectors that scan every value no column rule covers.
    Readable {
        columns: Vec<Option<sluice_mask::Strategy>>,
        detectors: Vec<String>,
    },
    /// A plain read of them would not be allowed outright (denied, or held).
    NotReadable { rule: String, reason: String },
}

impl Gateway {
    pub fn preview_columns(
        &self,
        auth: &Authenticated,
        target: &TargetConfig,
        (schema, table): (&str, &str),
        columns: &[String],
    ) -> ColumnsPreview {
        let grants = self.approvals().grants.snapshot(
            auth.identity(),
            &target.name,
            crate::approvals::now_ms(),
        );
        let subject = crate::policy::Subject::for_access(auth.principal(), target, grants);
        let quote = |name: &str| match target.kind {
            crate::config::TargetKind::Mysql => format!("`{}`", name.replace('`', "``")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        };
        let list: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        let text = format!(
            "SELECT {} FROM {}.{}",
            if list.is_empty() {
                "*".to_owned()
            } else {
                list.join(", ")
            },
            quote(schema),
            quote(table)
        );
        let policy = self.policy().current();
        let (verdicted, _) =
            policy.decide_text(&subject, &self.inner.clock.now(), &text, Lexing::Standard);
        let decision = &verdicted.decision;
        match &decision.verdict {
            Verdict::Allow => {}
            Verdict::Hold { .. } => {
                return ColumnsPreview::NotReadable {
                    rule: decision.rule.clone(),
                    reason: "reading it is held for approval".to_owned(),
                }
            }
            Verdict::Deny { reason } => {
                return ColumnsPreview::NotReadable {
                    rule: decision.rule.clone(),
                    reason: reason.clone(),
                }
            }
        }
        let Some(rules) = &decision.mask else {
            return ColumnsPreview::Readable {
                columns: vec![None; columns.len()],
                detectors: Vec::new(),
            };
        };
        let plan = MaskPlan::new(rules.clone(), self.masking().clone(), None);
        ColumnsPreview::Readable {
            columns: columns
                .iter()
                .map(|column| {
                    let source = ColumnSource {
                        schema,
                        table,
                        column,
                    };
                    plan.column_strategy(Some(source), column)
                })
                .collect(),
            detectors: rules.content.iter().map(|r| r.detector.clone()).collect(),
        }
    }
}
