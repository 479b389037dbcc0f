//! Policy drift: is every gateway enforcing what the repository says, the same as the others,
//! and does the policy still fit the traffic (rules that decide nothing, requests no rule
//! covers)?

use std::collections::BTreeMap;

use serde::Serialize;

use crate::facts::{Facts, RepositoryFacts};
use crate::observer::Observer;
use crate::report::Health;
use crate::time::rfc3339_ms;
use crate::Thresholds;

#[derive(Debug, Clone, Serialize)]
pub struct PolicyDrift {
    pub health: Health,
    pub repository: Option<RepositoryFacts>,
    pub gateways: Vec<GatewayPolicy>,
    /// Gateways running a version other than the repository's head (or, without a
    /// repository, than most gateways).
    pub drifted_gateways: u64,
    /// The distinct versions running gateways enforce.
    pub versions_in_force: Vec<String>,
    /// Rules the policy declares that decided nothing in the window.
    pub dead_rules: Vec<String>,
    /// Statements decided by the default deny, grouped.
    pub default_denied: Vec<DefaultDenied>,
    pub default_denied_total: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GatewayPolicy {
    pub gateway: String,
    pub version: Option<String>,
    pub loaded_at: Option<String>,
    /// `head` (the repository's HEAD), `uncommitted` (the work tree, not committed),
    /// `other` (neither: behind or ahead of the checkout), `agrees`/`differs` (no repository:
    /// compared with the other gateways), `unknown` (no policy load in the trail).
    pub state: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct DefaultDenied {
    pub target: String,
    pub identity: String,
    /// The statement's first words.
    pub shape: String,
    pub count: u64,
    pub last: String,
}

pub(crate) fn policy_drift(
    observer: &Observer,
    facts: &Facts,
    since_ms: i64,
    t: &Thresholds,
) -> PolicyDrift {
    // With a shared store its heartbeats say who is alive and what each enforces; otherwise
    // the trails do, every gateway counting until it stopped.
    let running: Vec<(String, Option<String>, Option<i64>)> = if facts.live_gateways.is_empty() {
        observer
            .gateways
            .iter()
            .filter(|(_, life)| life.stopped_ms.is_none())
            .map(|(name, life)| (name.clone(), life.policy.clone(), life.policy_loaded_ms))
            .collect()
    } else {
        facts
            .live_gateways
            .iter()
            .map(|(name, policy)| {
                let life = observer.gateways.get(name);
                (
                    name.clone(),
                    policy
                        .clone()
                        .or_else(|| life.and_then(|l| l.policy.clone())),
                    life.and_then(|l| l.policy_loaded_ms),
                )
            })
            .collect()
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, policy, _) in &running {
        if let Some(v) = policy {
            *counts.entry(digest(v)).or_default() += 1;
        }
    }
    let most = counts
        .iter()
        .max_by_key(|(v, n)| (**n, std::cmp::Reverse(**v)))
        .map(|(v, _)| *v);
    let repo = facts.repository.as_ref();
    let gateways: Vec<GatewayPolicy> = running
        .iter()
        .map(|(name, policy, loaded_ms)| {
            let version = policy.as_deref().map(digest);
            let state = match (version, repo) {
                (None, _) => "unknown",
                (Some(v), Some(r)) if r.head_digest.as_deref() == Some(v) => "head",
                (Some(v), Some(r)) if r.worktree_digest == v => "uncommitted",
                (Some(_), Some(_)) => "other",
                (Some(v), None) if Some(v) == most => "agrees",
                (Some(_), None) => "differs",
            };
            GatewayPolicy {
                gateway: display_name(name),
                version: policy.clone(),
                loaded_at: loaded_ms.map(rfc3339_ms),
                state,
            }
        })
        .collect();
    let drifted = gateways
        .iter()
        .filter(|g| matches!(g.state, "uncommitted" | "other" | "differs"))
        .count() as u64;

    let dead_rules: Vec<String> = facts
        .declared_rules
        .iter()
        .filter(|r| {
            observer
                .rules_seen
                .get(r.as_str())
                .is_none_or(|at| *at < since_ms)
        })
        .cloned()
        .collect();

    let mut grouped: BTreeMap<(String, String, String), (u64, i64)> = BTreeMap::new();
    for (at, d) in observer
        .default_denied
        .iter()
        .filter(|(at, _)| *at >= since_ms)
    {
        let e = grouped
            .entry((d.target.clone(), d.identity.clone(), d.shape.clone()))
            .or_default();
        e.0 += 1;
        e.1 = e.1.max(*at);
    }
    let default_denied_total = grouped.values().map(|(n, _)| n).sum();
    let mut default_denied: Vec<DefaultDenied> = grouped
        .into_iter()
        .map(|((target, identity, shape), (count, last))| DefaultDenied {
            target,
            identity,
            shape,
            count,
            last: rfc3339_ms(last),
        })
        .collect();
    default_denied.sort_by_key(|d| std::cmp::Reverse(d.count));

    let mut health = Health::ok();
    if drifted > t.drifted_gateways {
        let names: Vec<String> = gateways
            .iter()
            .filter(|g| matches!(g.state, "uncommitted" | "other" | "differs"))
            .map(|g| format!("{} ({})", g.gateway, g.state))
            .collect();
        health.fire(format!(
            "{drifted} gateway(s) enforce a policy other than {}: {}",
            if repo.is_some() {
                "the repository's HEAD"
            } else {
                "the others"
            },
            names.join(", ")
        ));
    }
    if default_denied_total > t.default_denies {
        health.fire(format!(
            "{default_denied_total} statements decided only by the default deny (threshold {})",
            t.default_denies
        ));
    }
    PolicyDrift {
        health,
        repository: repo.cloned(),
        gateways,
        drifted_gateways: drifted,
        versions_in_force: counts.keys().map(|v| (*v).to_owned()).collect(),
        dead_rules,
        default_denied,
        default_denied_total,
    }
}

/// A policy version is its bundle digest, then ` git:<commit>` when the directory was a
/// checkout: two gateways with the same files enforce the same policy whatever they were
/// checked out from, so versions are compared by digest.
fn digest(version: &str) -> &str {
    version.split_whitespace().next().unwrap_or(version)
}

/// Records of an unnamed gateway (written before gateways had names) have no name to show.
pub(crate) fn display_name(name: &str) -> String {
    if name.is_empty() {
        "(unnamed)".to_owned()
    } else {
        name.to_owned()
    }
}
