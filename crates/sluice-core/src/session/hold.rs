//! A held statement, from the hold to the verdict the relay acts on.
//!
//! The statement's own audit record (verdict `hold`) is written when the policy holds it, in
//! the same batch as anything before it; then the review is opened and audited, the client is
//! told, and the session waits for reviewers, the deadline, or the client's departure. An
//! approval yields the permit the statement would have had without the hold.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sluice_decision::Decision;
use tokio::sync::Notify;

use super::{Admission, Denial, DenialKind, Session};
use crate::approvals::{
    one_line, review_id, ReviewDetail, APPROVED, CANCELLED, DENIED, EXPIRED, KIND_STATEMENT,
    PENDING, RULE_REVIEW,
};
use crate::gateway::Gateway;
use crate::masking::MaskTally;
use crate::policy::Verdicted;
use crate::proof::AuditBatch;
use crate::CoreError;

/// How often a held session re-reads its review while the store cannot tell this gateway of
/// every change (`Gateway::store_tells_all`); otherwise a decision made through any gateway
/// wakes it at once, by the store's notification.
const POLL: Duration = Duration::from_millis(500);

/// A statement the policy holds, audited but not yet put to reviewers.
#[derive(Debug)]
pub struct HeldStatement {
    pub(crate) statement: u64,
    pub(crate) text: Arc<str>,
    pub(crate) parameters: Option<Vec<Option<String>>>,
    pub(crate) decision: Decision,
    pub(crate) verdicted: Option<Arc<Verdicted>>,
    /// The lineage masking of its results (crate::lineage).
    pub(crate) results: Option<Arc<crate::lineage::ResultPlan>>,
    /// For a request of a kind other than SQL, its facts as JSON, shown to reviewers.
    pub(crate) request: Option<String>,
}

/// A held statement whose review is open. Dropping it before the verdict cancels the review.
pub struct PendingReview {
    id: i64,
    held: HeldStatement,
    wake: Arc<Notify>,
    deadline: tokio::time::Instant,
    gateway: Gateway,
    timeout: Duration,
    url: Option<String>,
    done: bool,
}

impl PendingReview {
    pub fn id(&self) -> String {
        review_id(self.id)
    }

    /// What the client is told while it waits.
    pub fn notice(&self) -> String {
        let id = self.id();
        let mut text = format!(
            "sluice: statement held for approval as review {id}; approve with \"sluice review approve {id}\""
        );
        if let Some(url) = &self.url {
            text.push_str(&format!(" or at {url}"));
        }
        text.push_str(&format!(
            "; waiting up to {}",
            humantime::format_duration(self.timeout)
        ));
        text
    }
}

impl Drop for PendingReview {
    fn drop(&mut self) {
        self.gateway.approvals().unregister(self.id);
        if !self.done {
            // Nobody waits for it any more: make sure no approval can come too late to matter.
            let gateway = self.gateway.clone();
            let id = self.id;
            tokio::spawn(async move {
                if let Err(e) = gateway.cancel_review(id).await {
                    tracing::warn!(review = %review_id(id), error = %e, "could not cancel an abandoned review");
                }
            });
        }
    }
}

impl Session {
    /// Opens the review of a held statement: stored, audited and announced before it returns.
    pub async fn open_statement_review(
        &self,
        held: HeldStatement,
    ) -> Result<PendingReview, CoreError> {
        let gateway = self.gateway();
        let requirements = held.decision.approval().unwrap_or_default().to_vec();
        // Reviewers see the statement as the requester's results would show it: what the
        // decision's detectors find in it is masked.
        let (statement, parameters, request) = match &self.mask_plan(&held.decision, None) {
            Some(plan) => {
                let mut tally = MaskTally::default();
                let mut mask = |t: &str| {
                    plan.mask_content(t, &mut tally)
                        .unwrap_or_else(|| t.to_owned())
                };
                (
                    mask(&held.text),
                    held.parameters
                        .as_ref()
                        .map(|ps| ps.iter().map(|p| p.as_deref().map(&mut mask)).collect()),
                    held.request.as_deref().map(&mut mask),
                )
            }
            None => (
                held.text.to_string(),
                held.parameters.clone(),
                held.request.clone(),
            ),
        };
        // Masking keeps JSON text well-formed; should it ever not, reviewers get the text.
        let request = match request {
            Some(json) => serde_json::from_str(&json).unwrap_or(serde_json::Value::String(json)),
            None => serde_json::json!({
                "kind": "sql",
                "dialect": self.dialect().name().as_str(),
                "database": self.database(),
                "statement": statement,
                "parameters": parameters,
            }),
        };
        let detail = ReviewDetail {
            protocol: Some(self.protocol().to_owned()),
            summary: Some(one_line(&statement)),
            request: Some(request),
            database: Some(self.database().to_owned()),
            session: Some(self.id().to_owned()),
            statement_number: Some(held.statement),
            statement: Some(statement.clone()),
            parameters,
            access: None,
            reason: requirements
                .first()
                .map(|r| r.reason.clone())
                .unwrap_or_default(),
            rule: held.decision.rule.clone(),
            policy: held.decision.policy.clone(),
            requirements,
        };
        let timeout = gateway.config().approvals.timeout;
        let record = gateway
            .open_review(
                &self.identity().name,
                &self.target().name,
                KIND_STATEMENT,
                detail,
                &statement,
                timeout,
            )
            .await?;
        let wake = gateway.approvals().register(record.id);
        let url = gateway
            .review_base_url()
            .map(|u| crate::approvals::review_page(&u, &review_id(record.id)));
        Ok(PendingReview {
            id: record.id,
            held,
            wake,
            deadline: tokio::time::Instant::now() + timeout,
            gateway: gateway.clone(),
            timeout,
            url,
            done: false,
        })
    }

    /// Waits until the review is settled, its deadline passes, or `abandoned` completes (the
    /// client left or cancelled the statement),
    /// and returns what to do with the statement. An approval allows it as the policy's
    /// decision would have, masking included; anything else refuses it, with the result
    /// appended to `batch`.
    pub async fn await_review(
        &self,
        batch: &mut AuditBatch,
        mut pending: PendingReview,
        abandoned: impl Future<Output = ()>,
    ) -> Result<Admission, CoreError> {
        let gateway = self.gateway().clone();
        let id = pending.id;
        let mut abandoned = std::pin::pin!(abandoned);
        let mut gone = false;
        let record = loop {
            let record = gateway.review_record(id).await?;
            if record.state != PENDING {
                break record;
            }
            tokio::select! {
                _ = pending.wake.notified() => {}
                _ = tokio::time::sleep(POLL), if !gateway.store_tells_all() => {}
                _ = tokio::time::sleep_until(pending.deadline) => {
                    gateway.expire_review(id).await?;
                }
                _ = &mut abandoned, if !gone => {
                    gone = true;
                    gateway.cancel_review(id).await?;
                }
            }
        };
        pending.done = true;
        let held = &pending.held;
        let shown = review_id(id);
        let refusal = match record.state.as_str() {
            APPROVED => {
                if let Some(verdicted) = &held.verdicted {
                    self.follow_session_changes(verdicted);
                }
                let statements = held
                    .verdicted
                    .as_ref()
                    .and_then(|v| v.analysis.as_deref().ok());
                let permit = self
                    .permit(held.statement, &held.decision, held.results.clone())
                    .changing(statements);
                batch.audited_before();
                return Ok(Admission::Allowed(permit));
            }
            DENIED => {
                let said = record
                    .decisions
                    .iter()
                    .rev()
                    .find(|d| !d.approve)
                    .map(|d| match &d.comment {
                        Some(c) => format!("{}: {c}", d.reviewer),
                        None => d.reviewer.clone(),
                    })
                    .unwrap_or_default();
                Refusal::Denied(format!("review {shown} denied by {said}"))
            }
            EXPIRED => Refusal::Denied(format!(
                "review {shown} was not decided within {}; run the statement again to ask again",
                humantime::format_duration(pending.timeout)
            )),
            CANCELLED if gone => Refusal::NotRun(format!(
                "review {shown} was cancelled: the client cancelled the statement or left"
            )),
            other => Refusal::Denied(format!("review {shown} ended as {other}")),
        };
        // Nothing ran, so nothing was masked: the refusal's record carries no masking counts.
        let permit = self.unmasked_permit(held.statement);
        let denial = Denial {
            kind: DenialKind::Policy,
            rule: RULE_REVIEW.to_owned(),
            reason: match &refusal {
                Refusal::Denied(r) | Refusal::NotRun(r) => r.clone(),
            },
            position: None,
        };
        self.refuse_held(batch, permit, &refusal)?;
        Ok(Admission::Denied(denial))
    }
}

/// How a held statement that will not run is recorded.
pub(crate) enum Refusal {
    /// Reviewers said no, or nobody said yes in time.
    Denied(String),
    /// Nobody is left to run it for.
    NotRun(String),
}
