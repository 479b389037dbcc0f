//! Approval latency and grant churn, computed from the store for the admin API.

use std::collections::BTreeMap;

use sluice_store::{GrantFilter, ReviewFilter};

use super::Gateway;
use crate::approvals::{
    grant_state, now_ms, rfc3339_ms, GrantChurn, IdentityChurn, LatencySummary, ReviewStats,
    APPROVED, CANCELLED, DENIED, EXPIRED, PENDING,
};
use crate::CoreError;

impl Gateway {
    /// Reviews created at or after `since_ms` (all when `None`).
    pub async fn review_stats(&self, since_ms: Option<i64>) -> Result<ReviewStats, CoreError> {
        let reviews = self
            .store()
            .list_reviews(&ReviewFilter {
                since_ms,
                ..ReviewFilter::default()
            })
            .await?;
        let mut stats = ReviewStats {
            since: since_ms.map(rfc3339_ms),
            total: reviews.len() as u64,
            ..ReviewStats::default()
        };
        let mut latencies = Vec::new();
        for r in &reviews {
            match r.state.as_str() {
                PENDING => stats.pending += 1,
                APPROVED => stats.approved += 1,
                DENIED => stats.denied += 1,
                EXPIRED => stats.expired += 1,
                CANCELLED => stats.cancelled += 1,
                _ => {}
            }
            if let (APPROVED | DENIED, Some(decided)) = (r.state.as_str(), r.decided_at_ms) {
                latencies.push((decided - r.created_at_ms).max(0) as f64 / 1000.0);
            }
        }
        stats.latency_seconds = LatencySummary::of(latencies);
        Ok(stats)
    }

    /// Grants issued at or after `since_ms`, per identity: issued, and of those how many
    /// expired, were revoked, or are active now.
    pub async fn grant_churn(&self, since_ms: Option<i64>) -> Result<GrantChurn, CoreError> {
        let grants = self
            .store()
            .list_grants(&GrantFilter {
                since_ms,
                ..GrantFilter::default()
            })
            .await?;
        let now = now_ms();
        let mut by_identity: BTreeMap<&str, IdentityChurn> = BTreeMap::new();
        for g in &grants {
            let entry = by_identity
                .entry(&g.identity)
                .or_insert_with(|| IdentityChurn {
                    identity: g.identity.clone(),
                    ..IdentityChurn::default()
                });
            entry.issued += 1;
            match grant_state(g, now) {
                "revoked" => entry.revoked += 1,
                "expired" => entry.expired += 1,
                _ => entry.active += 1,
            }
        }
        Ok(GrantChurn {
            since: since_ms.map(rfc3339_ms),
            identities: by_identity.into_values().collect(),
        })
    }
}
