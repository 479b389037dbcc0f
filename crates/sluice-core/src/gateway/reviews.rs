//! The approval API on the gateway: reviewers' approvals and denials, expiry and cancellation,
//! requests for access, and the grants approvals issue. The types it speaks are approvals'.

use std::time::Duration;

use sluice_audit::AuditEvent;
use sluice_decision::requirements_met;
use sluice_outbound::webhooks::Notification;
use sluice_store::{
    GrantFilter, GrantRecord, ReviewFilter, ReviewRecord, ReviewerDecision, StoreError,
};

use super::{Authenticated, Gateway};
use crate::approvals::{
    grant_id, now_ms, one_line, parse_id, review_id, rfc3339_ms, AccessAsked, AccessOutcome,
    AccessRequest, GrantAsk, GrantView, IdKind, ReviewDetail, ReviewView, Reviewer,
    ReviewerVerdict, APPROVED, CANCELLED, DENIED, EXPIRED, KIND_ACCESS, PENDING,
};
use crate::error::RefusalKind;
use crate::CoreError;

impl Gateway {
    /// One review as `caller` may see it: their own requests, and those they could decide.
    /// Others' statements and bound values are not for everyone holding a token, so a review
    /// the caller may not see does not exist for them.
    pub async fn review(&self, caller: &Reviewer, id: &str) -> Result<ReviewView, CoreError> {
        let id = parse_id(IdKind::Review, id)?;
        let record = self.review_record(id).await?;
        if !self.may_see(caller, &record)? {
            return Err(not_found(id));
        }
        self.review_view(&record).await
    }

    /// Pending reviews `caller` may see, or all of them.
    pub async fn reviews(
        &self,
        caller: &Reviewer,
        all: bool,
    ) -> Result<Vec<ReviewView>, CoreError> {
        let filter = ReviewFilter {
            state: (!all).then(|| PENDING.to_owned()),
            ..ReviewFilter::default()
        };
        let mut views = Vec::new();
        for record in self.store().list_reviews(&filter).await? {
            if self.may_see(caller, &record)? {
                views.push(self.review_view(&record).await?);
            }
        }
        Ok(views)
    }

    fn may_see(&self, caller: &Reviewer, record: &ReviewRecord) -> Result<bool, CoreError> {
        if record.requester == caller.name {
            return Ok(true);
        }
        Ok(ReviewDetail::parse(record)?
            .requirements
            .iter()
            .any(|r| r.admits(&caller.groups)))
    }

    /// A reviewer approves or denies a review. The requester never may, a reviewer must be in
    /// one of the required groups, and each reviewer counts once. The review is settled as
    /// soon as the approvals meet every requirement, or at the first denial.
    pub async fn decide_review(
        &self,
        by: &Reviewer,
        id: &str,
        verdict: ReviewerVerdict,
    ) -> Result<ReviewView, CoreError> {
        let reviewer = by.name.as_str();
        let id = parse_id(IdKind::Review, id)?;
        let record = self.review_record(id).await?;
        let shown = review_id(id);
        if record.state != PENDING {
            return Err(CoreError::refused(
                RefusalKind::Conflict,
                format!("review {shown} is already {}", record.state),
            ));
        }
        if record.requester == reviewer {
            return Err(CoreError::refused(
                RefusalKind::Forbidden,
                format!("{reviewer} asked for review {shown} and cannot decide it"),
            ));
        }
        let detail = ReviewDetail::parse(&record)?;
        if !detail.requirements.iter().any(|r| r.admits(&by.groups)) {
            return Err(CoreError::refused(
                RefusalKind::Forbidden,
                format!(
                    "review {shown} needs approval from {}; {reviewer} is in none of those groups",
                    detail.requirement_texts().join(" and ")
                ),
            ));
        }
        if let Some(ask) = &verdict.grant {
            if !verdict.approve {
                return Err(CoreError::refused(
                    RefusalKind::Invalid,
                    "a grant goes with an approval, not a denial",
                ));
            }
            self.check_grant_duration(ask.duration)?;
        }
        let decision = ReviewerDecision {
            reviewer: reviewer.to_owned(),
            approve: verdict.approve,
            comment: verdict.comment.clone().filter(|c| !c.is_empty()),
            at_ms: now_ms(),
            groups: Some(by.groups.clone()),
        };
        self.store()
            .add_review_decision(id, &decision)
            .await
            .map_err(|e| match e {
                StoreError::ReviewSettled(_) => CoreError::refused(
                    RefusalKind::Conflict,
                    format!("review {shown} was settled meanwhile"),
                ),
                StoreError::DuplicateDecision { .. } => CoreError::refused(
                    RefusalKind::Conflict,
                    format!("{reviewer} already decided review {shown}"),
                ),
                StoreError::ReviewNotFound(_) => not_found(id),
                other => other.into(),
            })?;
        self.audit()
            .record(&AuditEvent::ReviewerDecided {
                review: shown.clone(),
                reviewer: reviewer.to_owned(),
                verdict: if verdict.approve { "approve" } else { "deny" }.to_owned(),
                comment: decision.comment.clone(),
            })
            .await?;
        let record = self.review_record(id).await?;
        let state = if !verdict.approve {
            Some(DENIED)
        } else {
            let approvers =
                record
                    .decisions
                    .iter()
                    .filter(|d| d.approve)
                    .map(|d| match &d.groups {
                        Some(groups) => groups.as_slice(),
                        None => self.reviewer_groups(&d.reviewer),
                    });
            requirements_met(&detail.requirements, approvers).then_some(APPROVED)
        };
        if let Some(state) = state {
            self.settle(&record, &detail, state, verdict.grant.as_ref())
                .await?;
        }
        self.review_view(&self.review_record(id).await?).await
    }

    /// Ends a pending review that nobody decided in time. `Ok(false)`: it was settled first.
    pub(crate) async fn expire_review(&self, id: i64) -> Result<bool, CoreError> {
        self.settle_undecided(id, EXPIRED).await
    }

    /// Ends a pending review whose requester is gone.
    pub(crate) async fn cancel_review(&self, id: i64) -> Result<bool, CoreError> {
        self.settle_undecided(id, CANCELLED).await
    }

    async fn settle_undecided(&self, id: i64, state: &'static str) -> Result<bool, CoreError> {
        let record = self.review_record(id).await?;
        if record.state != PENDING {
            return Ok(false);
        }
        let detail = ReviewDetail::parse(&record)?;
        self.settle(&record, &detail, state, None).await
    }

    /// Moves a review out of pending (once, whoever else tries), issues the grant an approval
    /// carries, audits, counts, wakes the held session and tells the webhooks.
    async fn settle(
        &self,
        record: &ReviewRecord,
        detail: &ReviewDetail,
        state: &'static str,
        grant: Option<&GrantAsk>,
    ) -> Result<bool, CoreError> {
        let now = now_ms();
        let approvers: Vec<String> = record
            .decisions
            .iter()
            .filter(|d| d.approve)
            .map(|d| d.reviewer.clone())
            .collect();
        let ask = match (state, &detail.access, grant) {
            (APPROVED, Some(access), _) => Some((
                access.scope.clone(),
                access.reason.clone(),
                Duration::from_secs(access.duration_seconds),
            )),
            (APPROVED, None, Some(ask)) => Some((
                ask.scope.clone(),
                format!(
                    "granted with the approval of review {}",
                    review_id(record.id)
                ),
                ask.duration,
            )),
            _ => None,
        };
        let mut grant = ask.map(|(scope, reason, duration)| GrantRecord {
            id: 0,
            identity: record.requester.clone(),
            target: record.target.clone(),
            scope,
            reason,
            approvers: approvers.clone(),
            review_id: Some(record.id),
            created_at_ms: now,
            expires_at_ms: now.saturating_add(duration.as_millis() as i64),
            revoked_at_ms: None,
            revoked_by: None,
            expiry_noted_at_ms: None,
        });
        // Settled and granted in one transaction: no approved review without its grant, even
        // if this gateway dies in between.
        let Some(grant_id) = self
            .store()
            .settle_review_granting(record.id, state, now, grant.as_ref())
            .await?
        else {
            return Ok(false);
        };
        let granted = match (grant.as_mut(), grant_id) {
            (Some(g), Some(id)) => {
                g.id = id;
                Some(self.announce_grant(g).await?)
            }
            _ => None,
        };
        let latency_ms = (now - record.created_at_ms).max(0) as u64;
        self.audit()
            .record(&AuditEvent::ReviewSettled {
                review: review_id(record.id),
                identity: record.requester.clone(),
                target: record.target.clone(),
                state: state.to_owned(),
                latency_ms,
                approvers,
                grant: granted.as_ref().map(|g| g.id.clone()),
            })
            .await?;
        let metrics = &self.metrics().approvals;
        if matches!(state, APPROVED | DENIED) {
            metrics.latency.observe_us(latency_ms.saturating_mul(1000));
        }
        metrics.settled(kind_name(&record.kind), state);
        self.approvals().wake(record.id);
        let settled = self.review_record(record.id).await?;
        let view = self.review_view(&settled).await?;
        self.approvals().notifier.notify(Notification {
            event: "review.decided",
            summary: format!(
                "Review {} of {} on {} {}",
                view.id, view.requester, view.target, state
            ),
            url: view.url.clone(),
            data: serde_json::to_value(&view).unwrap_or_default(),
        });
        Ok(true)
    }

    /// Asks for a time-bound grant for `caller`. The policy decides
    /// (`request.action == "access"`) on the identity as the caller's credential carries it
    /// (a person signed in through an identity provider is in no configuration): a denial
    /// refuses, an allow grants at once, a hold puts the request to reviewers.
    pub async fn request_access(
        &self,
        caller: &Authenticated,
        request: AccessRequest,
    ) -> Result<AccessOutcome, CoreError> {
        let invalid = |m: String| CoreError::refused(RefusalKind::Invalid, m);
        let identity = caller.identity();
        let identity_config = caller.principal().as_ref();
        let target = self
            .config()
            .target(&request.target)
            .ok_or_else(|| invalid(format!("target {:?} does not exist", request.target)))?;
        self.check_grant_duration(request.duration)?;
        if request.reason.trim().is_empty() {
            return Err(invalid("say why you need access (--reason)".into()));
        }
        let decision = self.decide_access(identity_config, target, &request);
        if let Some(reason) = decision.deny_reason() {
            self.audit()
                .record(&AuditEvent::AccessRefused {
                    identity: identity.to_owned(),
                    target: request.target.clone(),
                    scope: request.scope.clone(),
                    duration_seconds: request.duration.as_secs(),
                    rule: decision.rule.clone(),
                    policy: decision.policy.clone(),
                    reason: reason.to_owned(),
                })
                .await?;
            return Err(CoreError::refused(
                RefusalKind::Forbidden,
                format!("denied by policy rule {}: {reason}", decision.rule),
            ));
        }
        let Some(requirements) = decision.approval() else {
            let grant = self
                .issue_grant(
                    identity,
                    &request.target,
                    &request.scope,
                    &request.reason,
                    request.duration,
                    Vec::new(),
                    None,
                )
                .await?;
            return Ok(AccessOutcome::Granted(Box::new(grant)));
        };
        let summary = format!(
            "access with scope {} for {}: {}",
            request.scope,
            humantime::format_duration(request.duration),
            request.reason
        );
        let detail = ReviewDetail {
            protocol: Some("api".to_owned()),
            summary: Some(one_line(&summary)),
            request: Some(serde_json::json!({
                "kind": "access",
                "scope": request.scope,
                "duration_seconds": request.duration.as_secs(),
                "reason": request.reason,
            })),
            access: Some(AccessAsked {
                scope: request.scope.clone(),
                duration_seconds: request.duration.as_secs(),
                reason: request.reason.clone(),
            }),
            reason: requirements
                .first()
                .map(|r| r.reason.clone())
                .unwrap_or_default(),
            rule: decision.rule.clone(),
            policy: decision.policy.clone(),
            requirements: requirements.to_vec(),
            ..ReviewDetail::default()
        };
        let timeout = self.config().approvals.access_timeout;
        let record = self
            .open_review(
                identity,
                &request.target,
                KIND_ACCESS,
                detail,
                &summary,
                timeout,
            )
            .await?;
        Ok(AccessOutcome::Pending(Box::new(
            self.review_view(&record).await?,
        )))
    }

    /// Stores a review, audits it and tells the webhooks; the caller decides what waits on it.
    pub(crate) async fn open_review(
        &self,
        requester: &str,
        target: &str,
        kind: &'static str,
        detail: ReviewDetail,
        summary: &str,
        timeout: Duration,
    ) -> Result<ReviewRecord, CoreError> {
        let now = now_ms();
        let detail_json =
            serde_json::to_string(&detail).map_err(|e| CoreError::Config(e.to_string()))?;
        let mut record = ReviewRecord {
            id: 0,
            kind: kind.to_owned(),
            state: PENDING.to_owned(),
            requester: requester.to_owned(),
            target: target.to_owned(),
            detail: detail_json,
            created_at_ms: now,
            expires_at_ms: now.saturating_add(timeout.as_millis() as i64),
            decided_at_ms: None,
            decisions: Vec::new(),
        };
        record.id = self.store().insert_review(&record).await?;
        self.audit()
            .record(&AuditEvent::ReviewRequested {
                review: review_id(record.id),
                kind: kind.to_owned(),
                identity: requester.to_owned(),
                target: target.to_owned(),
                session: detail.session.clone(),
                statement: detail.statement_number,
                summary: summary.to_owned(),
                requirements: detail.requirement_texts(),
                reason: detail.reason.clone(),
                rule: detail.rule.clone(),
                policy: detail.policy.clone(),
                expires_at: rfc3339_ms(record.expires_at_ms),
            })
            .await?;
        let requirements = detail.requirement_texts().join(" and ");
        let view = ReviewView::new(&record, detail, None, self.review_base_url().as_deref());
        self.approvals().notifier.notify(Notification {
            event: "review.created",
            summary: format!(
                "{requester} asks for approval on {target} ({requirements}): {summary}"
            ),
            url: view.url.clone(),
            data: serde_json::to_value(&view).unwrap_or_default(),
        });
        Ok(record)
    }

    #[allow(clippy::too_many_arguments)]
    async fn issue_grant(
        &self,
        identity: &str,
        target: &str,
        scope: &str,
        reason: &str,
        duration: Duration,
        approvers: Vec<String>,
        review: Option<i64>,
    ) -> Result<GrantView, CoreError> {
        let now = now_ms();
        let mut grant = GrantRecord {
            id: 0,
            identity: identity.to_owned(),
            target: target.to_owned(),
            scope: scope.to_owned(),
            reason: reason.to_owned(),
            approvers,
            review_id: review,
            created_at_ms: now,
            expires_at_ms: now.saturating_add(duration.as_millis() as i64),
            revoked_at_ms: None,
            revoked_by: None,
            expiry_noted_at_ms: None,
        };
        grant.id = self.store().insert_grant(&grant).await?;
        self.announce_grant(&grant).await
    }

    /// Audits, counts and announces a grant just stored.
    async fn announce_grant(&self, grant: &GrantRecord) -> Result<GrantView, CoreError> {
        let now = now_ms();
        let review = grant.review_id;
        self.audit()
            .record(&AuditEvent::GrantIssued {
                grant: grant_id(grant.id),
                identity: grant.identity.clone(),
                target: grant.target.clone(),
                scope: grant.scope.clone(),
                reason: grant.reason.clone(),
                expires_at: rfc3339_ms(grant.expires_at_ms),
                approvers: grant.approvers.clone(),
                review: review.map(review_id),
            })
            .await?;
        self.metrics().approvals.grants_issued.inc();
        self.refresh_grants().await?;
        let view = GrantView::new(grant, now);
        self.approvals().notifier.notify(Notification {
            event: "grant.created",
            summary: format!(
                "{} may use {} ({}) until {}: {}",
                view.identity, view.target, view.scope, view.expires_at, view.reason
            ),
            url: None,
            data: serde_json::to_value(&view).unwrap_or_default(),
        });
        Ok(view)
    }

    /// Grants, live ones only unless `all`, optionally of one identity or target.
    pub async fn grants(
        &self,
        all: bool,
        identity: Option<String>,
        target: Option<String>,
    ) -> Result<Vec<GrantView>, CoreError> {
        let now = now_ms();
        let grants = self
            .store()
            .list_grants(&GrantFilter {
                identity,
                target,
                live_at_ms: (!all).then_some(now),
                ..GrantFilter::default()
            })
            .await?;
        Ok(grants.iter().map(|g| GrantView::new(g, now)).collect())
    }

    /// Ends a grant before its time. The holder's next statement is decided without it.
    pub async fn revoke_grant(
        &self,
        revoker: &Reviewer,
        id: &str,
        comment: Option<String>,
    ) -> Result<GrantView, CoreError> {
        let by = revoker.name.as_str();
        let id = parse_id(IdKind::Grant, id)?;
        let shown = grant_id(id);
        let grant = self.store().grant(id).await?.ok_or_else(|| {
            CoreError::refused(
                RefusalKind::NotFound,
                format!("grant {shown} does not exist"),
            )
        })?;
        if !self.may_revoke(revoker, &grant).await? {
            return Err(CoreError::refused(
                RefusalKind::Forbidden,
                format!(
                    "{by} may not revoke {shown}: only its holder or a reviewer the review that \
                     issued it admitted may"
                ),
            ));
        }
        let now = now_ms();
        if !self.store().revoke_grant(id, now, by).await? {
            return Err(CoreError::refused(
                RefusalKind::Conflict,
                format!("grant {shown} is already revoked or expired"),
            ));
        }
        self.audit()
            .record(&AuditEvent::GrantRevoked {
                grant: shown.clone(),
                identity: grant.identity.clone(),
                target: grant.target.clone(),
                by: by.to_owned(),
                comment: comment.filter(|c| !c.is_empty()),
            })
            .await?;
        self.metrics().approvals.grants_revoked.inc();
        self.refresh_grants().await?;
        let revoked = self.store().grant(id).await?.unwrap_or(grant);
        let view = GrantView::new(&revoked, now);
        self.approvals().notifier.notify(Notification {
            event: "grant.revoked",
            summary: format!(
                "Grant {shown} of {} on {} revoked by {by}",
                view.identity, view.target
            ),
            url: None,
            data: serde_json::to_value(&view).unwrap_or_default(),
        });
        Ok(view)
    }

    /// The holder may give a grant up; a reviewer may take back what reviewers of the same
    /// requirements granted. A grant the policy issued without review has no reviewers: only
    /// its holder revokes it, and the policy, which sees every grant, can stop honouring it.
    async fn may_revoke(&self, by: &Reviewer, grant: &GrantRecord) -> Result<bool, CoreError> {
        if by.name == grant.identity {
            return Ok(true);
        }
        let Some(review) = grant.review_id else {
            return Ok(false);
        };
        let detail = ReviewDetail::parse(&self.review_record(review).await?)?;
        Ok(detail.requirements.iter().any(|r| r.admits(&by.groups)))
    }

    /// Runs forever: expires reviews nobody decided in time (including those whose gateway
    /// stopped), announces expired grants, and re-reads live grants and the pending count.
    pub async fn run_approvals(&self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.approvals_tick().await {
                tracing::warn!(error = %e, "approval housekeeping failed; retrying");
            }
        }
    }

    async fn approvals_tick(&self) -> Result<(), CoreError> {
        let pending = self
            .store()
            .list_reviews(&ReviewFilter {
                state: Some(PENDING.to_owned()),
                ..ReviewFilter::default()
            })
            .await?;
        let now = now_ms();
        let mut still_pending = 0;
        for r in &pending {
            if r.expires_at_ms <= now {
                self.expire_review(r.id).await?;
            } else {
                still_pending += 1;
            }
        }
        self.metrics().approvals.pending.set(still_pending);
        self.announce_expired_grants().await?;
        // Grants issued or revoked elsewhere arrive by notification when the store can tell.
        if self.store_tells_all() {
            return Ok(());
        }
        self.refresh_grants().await
    }

    pub(crate) async fn review_record(&self, id: i64) -> Result<ReviewRecord, CoreError> {
        self.store().review(id).await?.ok_or_else(|| not_found(id))
    }

    async fn review_view(&self, record: &ReviewRecord) -> Result<ReviewView, CoreError> {
        let grant = if record.state == APPROVED {
            self.store()
                .list_grants(&GrantFilter {
                    review_id: Some(record.id),
                    ..GrantFilter::default()
                })
                .await?
                .first()
                .map(|g| g.id)
        } else {
            None
        };
        Ok(ReviewView::new(
            record,
            ReviewDetail::parse(record)?,
            grant,
            self.review_base_url().as_deref(),
        ))
    }

    fn check_grant_duration(&self, duration: Duration) -> Result<(), CoreError> {
        let max = self.config().approvals.max_grant;
        if duration.is_zero() || duration > max {
            return Err(CoreError::refused(
                RefusalKind::Invalid,
                format!(
                    "a grant lasts more than 0s and at most {} (approvals.max_grant)",
                    humantime::format_duration(max)
                ),
            ));
        }
        Ok(())
    }

    /// The groups a reviewer belongs to; none for names the configuration does not know.
    /// A declared identity as a reviewer, with its configured groups: for callers that hold
    /// no credential (the gateway's own code, tests). Signed-in callers are
    /// [`Authenticated::reviewer`](crate::Authenticated::reviewer).
    pub fn declared_reviewer(&self, name: &str) -> Reviewer {
        Reviewer {
            name: name.to_owned(),
            groups: self.reviewer_groups(name).to_vec(),
        }
    }

    /// The configured groups of `name`: those of a decision stored before decisions kept
    /// their reviewer's groups.
    fn reviewer_groups(&self, name: &str) -> &[String] {
        self.config()
            .identity(name)
            .map(|i| i.groups.as_slice())
            .unwrap_or(&[])
    }
}

fn not_found(id: i64) -> CoreError {
    CoreError::refused(
        RefusalKind::NotFound,
        format!("review {} does not exist", review_id(id)),
    )
}

/// The kinds as static names for metrics labels.
fn kind_name(kind: &str) -> &'static str {
    if kind == KIND_ACCESS {
        KIND_ACCESS
    } else {
        crate::approvals::KIND_STATEMENT
    }
}
