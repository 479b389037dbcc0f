//! Access churn: grants issued and whether they were used, requests repeated often enough
//! that a standing rule would fit, and credentials created and never used.
//!
//! A grant counts as used when its identity did something the policy allowed on its target
//! while it was live (a session opened or a request allowed, to the minute). The audit trail
//! does not say which grant let a request through (several rules may allow it), so "used"
//! means "there was allowed activity it could have been for"; "unused" is exact.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::facts::Facts;
use crate::observer::Observer;
use crate::report::Health;
use crate::time::rfc3339_ms;
use crate::Thresholds;

#[derive(Debug, Clone, Serialize)]
pub struct AccessChurn {
    pub health: Health,
    pub grants_issued: u64,
    pub grants_used: u64,
    /// Ended (expired or revoked) without being used.
    pub grants_unused: u64,
    pub grants_expired: u64,
    pub grants_revoked: u64,
    pub grants_active: u64,
    /// Unused over ended, when any ended.
    pub unused_ratio: Option<f64>,
    pub by_identity_target: Vec<ChurnRow>,
    pub unused_grants: Vec<UnusedGrant>,
    pub repeated_requests: Vec<RepeatedRequest>,
    pub tokens_created: u64,
    pub tokens_never_used: Vec<UnusedToken>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ChurnRow {
    pub identity: String,
    pub target: String,
    pub issued: u64,
    pub used: u64,
    pub unused: u64,
    pub expired: u64,
    pub revoked: u64,
    pub active: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnusedGrant {
    pub grant: String,
    pub identity: String,
    pub target: String,
    pub issued_at: String,
    /// `expired` or `revoked`.
    pub ended: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepeatedRequest {
    pub identity: String,
    pub target: String,
    /// `access <scope>`, or the review kind (`statement`).
    pub access: String,
    pub requests: u64,
    pub approved: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnusedToken {
    pub token: String,
    pub identity: String,
    pub purpose: String,
    pub created_at: String,
}

pub(crate) fn access_churn(
    observer: &Observer,
    facts: &Facts,
    since_ms: i64,
    t: &Thresholds,
) -> AccessChurn {
    let now = facts.now_ms;
    let mut rows: BTreeMap<(String, String), ChurnRow> = BTreeMap::new();
    let mut unused_grants = Vec::new();
    let (mut used, mut unused, mut expired, mut revoked, mut active) = (0, 0, 0, 0, 0);
    let grants: Vec<_> = facts
        .grants
        .iter()
        .filter(|g| g.created_ms >= since_ms)
        .collect();
    for g in &grants {
        let row = rows
            .entry((g.identity.clone(), g.target.clone()))
            .or_insert_with(|| ChurnRow {
                identity: g.identity.clone(),
                target: g.target.clone(),
                ..ChurnRow::default()
            });
        row.issued += 1;
        let ended_ms = g.revoked_ms.unwrap_or(g.expires_ms).min(g.expires_ms);
        let ended = if g.revoked_ms.is_some_and(|r| r <= now) {
            row.revoked += 1;
            revoked += 1;
            Some("revoked")
        } else if g.expires_ms <= now {
            row.expired += 1;
            expired += 1;
            Some("expired")
        } else {
            row.active += 1;
            active += 1;
            None
        };
        if observer.was_active(&g.identity, &g.target, g.created_ms, ended_ms.min(now)) {
            row.used += 1;
            used += 1;
        } else if let Some(ended) = ended {
            row.unused += 1;
            unused += 1;
            unused_grants.push(UnusedGrant {
                grant: g.id.clone(),
                identity: g.identity.clone(),
                target: g.target.clone(),
                issued_at: rfc3339_ms(g.created_ms),
                ended,
            });
        }
    }
    let ended_total = expired + revoked;
    let unused_ratio = (ended_total > 0).then(|| unused as f64 / ended_total as f64);

    let mut requests: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
    for r in facts.reviews.iter().filter(|r| r.created_ms >= since_ms) {
        let access = match &r.scope {
            Some(scope) => format!("{} {scope}", r.kind),
            None => r.kind.clone(),
        };
        let e = requests
            .entry((r.requester.clone(), r.target.clone(), access))
            .or_default();
        e.0 += 1;
        if r.state == "approved" {
            e.1 += 1;
        }
    }
    let repeated_requests: Vec<RepeatedRequest> = requests
        .into_iter()
        .filter(|(_, (n, _))| *n >= t.repeated_requests)
        .map(
            |((identity, target, access), (requests, approved))| RepeatedRequest {
                identity,
                target,
                access,
                requests,
                approved,
            },
        )
        .collect();

    let tokens: Vec<_> = facts
        .tokens
        .iter()
        .filter(|t| t.created_ms >= since_ms)
        .collect();
    let tokens_never_used: Vec<UnusedToken> = tokens
        .iter()
        .filter(|t| t.last_used_ms.is_none())
        .map(|t| UnusedToken {
            token: t.id.clone(),
            identity: t.identity.clone(),
            purpose: t.purpose.clone(),
            created_at: rfc3339_ms(t.created_ms),
        })
        .collect();

    let mut health = Health::ok();
    if let Some(ratio) =
        unused_ratio.filter(|r| ended_total >= t.min_grants && *r > t.unused_grant_ratio)
    {
        health.fire(format!(
            "{unused} of {ended_total} ended grants were never used ({:.0}%, threshold {:.0}%)",
            ratio * 100.0,
            t.unused_grant_ratio * 100.0
        ));
    }
    if repeated_requests.len() as u64 > t.repeated_requesters {
        let what: Vec<String> = repeated_requests
            .iter()
            .map(|r| {
                format!(
                    "{} on {} ({}x {})",
                    r.identity, r.target, r.requests, r.access
                )
            })
            .collect();
        health.fire(format!(
            "access requested repeatedly, a standing rule may fit: {}",
            what.join(", ")
        ));
    }
    AccessChurn {
        health,
        grants_issued: grants.len() as u64,
        grants_used: used,
        grants_unused: unused,
        grants_expired: expired,
        grants_revoked: revoked,
        grants_active: active,
        unused_ratio,
        by_identity_target: rows.into_values().collect(),
        unused_grants,
        repeated_requests,
        tokens_created: tokens.len() as u64,
        tokens_never_used,
    }
}
