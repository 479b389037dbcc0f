//! Reviews and grants as the admin API returns them and the CLI prints them, and the part of a
//! review the store keeps as the caller's JSON.

use serde::{Deserialize, Serialize};
use sluice_decision::ApprovalRequirement;
use sluice_store::{GrantRecord, ReviewRecord};

use super::{grant_id, review_id, rfc3339_ms};
use crate::CoreError;

/// What a review is about, stored as JSON beside the columns the store filters on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ReviewDetail {
    /// The protocol the request came over: `postgres`; `api` for a request for access.
    /// Absent in reviews stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// What is asked, in one line, for lists and notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// What is asked, as its protocol describes it: for SQL the kind, dialect, database,
    /// statement and parameters; for access the scope, duration and reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The statement's number in its session, as its audit records name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_number: Option<u64>,
    /// Masked by the decision's own rules before it was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessAsked>,
    pub reason: String,
    pub rule: String,
    pub policy: String,
    pub requirements: Vec<ApprovalRequirement>,
}

impl ReviewDetail {
    pub(crate) fn parse(record: &ReviewRecord) -> Result<ReviewDetail, CoreError> {
        serde_json::from_str(&record.detail).map_err(|e| {
            CoreError::Config(format!(
                "review {} has an unreadable detail: {e}",
                review_id(record.id)
            ))
        })
    }

    /// The one-line summary; for a review stored without one, made from what it asks.
    pub(crate) fn summary_line(&self) -> String {
        if let Some(s) = &self.summary {
            return s.clone();
        }
        match (&self.statement, &self.access) {
            (Some(statement), _) => one_line(statement),
            (None, Some(a)) => one_line(&format!(
                "access with scope {} for {}s: {}",
                a.scope, a.duration_seconds, a.reason
            )),
            (None, None) => String::new(),
        }
    }

    /// The requirements in words, e.g. `2 of dba|security`.
    pub(crate) fn requirement_texts(&self) -> Vec<String> {
        self.requirements
            .iter()
            .map(|r| format!("{} of {}", r.approvals, r.groups.join("|")))
            .collect()
    }
}

/// A request for access, as asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessAsked {
    pub scope: String,
    pub duration_seconds: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewView {
    pub id: String,
    pub kind: String,
    pub protocol: Option<String>,
    /// What is asked, in one line.
    pub summary: String,
    /// What is asked, as its protocol describes it (see `ReviewDetail::request`).
    pub request: Option<serde_json::Value>,
    pub state: String,
    pub requester: String,
    pub target: String,
    pub database: Option<String>,
    pub session: Option<String>,
    pub statement: Option<String>,
    pub parameters: Option<Vec<Option<String>>>,
    pub access: Option<AccessAsked>,
    pub reason: String,
    pub rule: String,
    pub policy: String,
    pub requirements: Vec<ApprovalRequirement>,
    pub decisions: Vec<DecisionView>,
    pub created_at: String,
    pub expires_at: String,
    pub decided_at: Option<String>,
    pub grant: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecisionView {
    pub reviewer: String,
    pub verdict: &'static str,
    pub comment: Option<String>,
    pub at: String,
}

/// A review's page in the web console under the gateway's public URL: the link held
/// statements' notices, webhooks and the API give reviewers.
pub fn review_page(base_url: &str, id: &str) -> String {
    format!("{base_url}/console/reviews/{id}")
}

impl ReviewView {
    pub(crate) fn new(
        record: &ReviewRecord,
        detail: ReviewDetail,
        grant: Option<i64>,
        base_url: Option<&str>,
    ) -> ReviewView {
        let id = review_id(record.id);
        ReviewView {
            url: base_url.map(|u| review_page(u, &id)),
            id,
            kind: record.kind.clone(),
            summary: detail.summary_line(),
            protocol: detail.protocol.clone(),
            request: detail.request.clone(),
            state: record.state.clone(),
            requester: record.requester.clone(),
            target: record.target.clone(),
            database: detail.database,
            session: detail.session,
            statement: detail.statement,
            parameters: detail.parameters,
            access: detail.access,
            reason: detail.reason,
            rule: detail.rule,
            policy: detail.policy,
            requirements: detail.requirements,
            decisions: record
                .decisions
                .iter()
                .map(|d| DecisionView {
                    reviewer: d.reviewer.clone(),
                    verdict: if d.approve { "approve" } else { "deny" },
                    comment: d.comment.clone(),
                    at: rfc3339_ms(d.at_ms),
                })
                .collect(),
            created_at: rfc3339_ms(record.created_at_ms),
            expires_at: rfc3339_ms(record.expires_at_ms),
            decided_at: record.decided_at_ms.map(rfc3339_ms),
            grant: grant.map(grant_id),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    pub id: String,
    pub identity: String,
    pub target: String,
    pub scope: String,
    pub reason: String,
    pub approvers: Vec<String>,
    pub review: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    /// `active`, `expired` or `revoked`, as of when the view was made.
    pub state: &'static str,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
}

impl GrantView {
    pub(crate) fn new(g: &GrantRecord, now_ms: i64) -> GrantView {
        GrantView {
            id: grant_id(g.id),
            identity: g.identity.clone(),
            target: g.target.clone(),
            scope: g.scope.clone(),
            reason: g.reason.clone(),
            approvers: g.approvers.clone(),
            review: g.review_id.map(review_id),
            created_at: rfc3339_ms(g.created_at_ms),
            expires_at: rfc3339_ms(g.expires_at_ms),
            state: grant_state(g, now_ms),
            revoked_at: g.revoked_at_ms.map(rfc3339_ms),
            revoked_by: g.revoked_by.clone(),
        }
    }
}

pub(crate) fn grant_state(g: &GrantRecord, now_ms: i64) -> &'static str {
    if g.revoked_at_ms.is_some() {
        "revoked"
    } else if g.expires_at_ms <= now_ms {
        "expired"
    } else {
        "active"
    }
}

/// The longest one-line summary, its ellipsis not counted; the whole request is in the detail.
const SUMMARY_CHARS: usize = 160;

/// `text` as a review's summary: on one line, control characters dropped (a summary is stored
/// and shown in lists, where an escape would only be noise), the rest as [`crate::text::one_line`]
/// shows it.
pub(crate) fn one_line(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .collect();
    crate::text::one_line(&kept, SUMMARY_CHARS + 1)
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn summaries_are_one_short_line() {
        assert_eq!(one_line("SELECT *\n  FROM\tt\r\n"), "SELECT * FROM t");
        let long = "x ".repeat(200);
        let line = one_line(&long);
        assert!(line.ends_with('…'));
        assert_eq!(line.chars().count(), 161);
        assert_eq!(one_line("a\u{7}b"), "ab");
    }
}
