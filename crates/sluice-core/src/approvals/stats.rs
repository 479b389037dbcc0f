//! The evidence approvals leave: how long reviewers take and how reviews end
//! (`sluice review stats`), and how grants come and go per identity (`sluice access stats`).
//! Computed from the store, so it covers every gateway on it and survives restarts.

use std::collections::BTreeMap;

use serde::Serialize;
use sluice_store::{GrantFilter, ReviewFilter};

use super::view::grant_state;
use super::{now_ms, rfc3339_ms, APPROVED, CANCELLED, DENIED, EXPIRED, PENDING};
use crate::gateway::Gateway;
use crate::CoreError;

#[derive(Debug, Clone, Serialize, Default)]
pub struct ReviewStats {
    pub since: Option<String>,
    pub total: u64,
    pub pending: u64,
    pub approved: u64,
    pub denied: u64,
    pub expired: u64,
    pub cancelled: u64,
    /// From the hold to the approval or denial.
    pub latency_seconds: LatencySummary,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct LatencySummary {
    pub count: u64,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl LatencySummary {
    fn of(mut seconds: Vec<f64>) -> LatencySummary {
        if seconds.is_empty() {
            return LatencySummary::default();
        }
        seconds.sort_by(f64::total_cmp);
        let n = seconds.len();
        // Nearest rank: the smallest value with at least p of the values at or below it.
        let rank = |p: f64| seconds[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        LatencySummary {
            count: n as u64,
            mean: Some(seconds.iter().sum::<f64>() / n as f64),
            p50: Some(rank(0.50)),
            p90: Some(rank(0.90)),
            p99: Some(rank(0.99)),
            max: seconds.last().copied(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct GrantChurn {
    pub since: Option<String>,
    pub identities: Vec<IdentityChurn>,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct IdentityChurn {
    pub identity: String,
    pub issued: u64,
    pub expired: u64,
    pub revoked: u64,
    pub active: u64,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let s = LatencySummary::of((1..=10).map(f64::from).collect());
        assert_eq!(s.count, 10);
        assert_eq!(s.p50, Some(5.0));
        assert_eq!(s.p90, Some(9.0));
        assert_eq!(s.p99, Some(10.0));
        assert_eq!(s.max, Some(10.0));
        assert_eq!(s.mean, Some(5.5));
        let empty = LatencySummary::of(Vec::new());
        assert_eq!(empty.count, 0);
        assert!(empty.p50.is_none());
    }
}
