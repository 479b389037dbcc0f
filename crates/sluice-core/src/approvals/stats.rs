//! The evidence approvals leave: how long reviewers take and how reviews end
//! (`sluice review stats`), and how grants come and go per identity (`sluice access stats`).
//! Computed from the store, so it covers every gateway on it and survives restarts.

use serde::Serialize;

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
    pub(crate) fn of(mut seconds: Vec<f64>) -> LatencySummary {
        if seconds.is_empty() {
            return LatencySummary::default();
        }
        seconds.sort_by(f64::total_cmp);
        let n = seconds.len();
        let rank = |p: f64| sluice_signals::nearest_rank(&seconds, p);
        LatencySummary {
            count: n as u64,
            mean: Some(seconds.iter().sum::<f64>() / n as f64),
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
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
