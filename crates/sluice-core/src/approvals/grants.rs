//! The live grants the policy sees, kept in memory so deciding a statement never waits for the
//! store, and their expiry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use sluice_decision::GrantFacts;

use crate::policy::GrantSnapshot;
use sluice_store::GrantRecord;

use super::{grant_id, rfc3339_ms};

/// Live grants (not revoked, not expired when last read) of every identity, and a generation
/// that changes whenever that set does, so sessions know when to look again.
#[derive(Default)]
pub(crate) struct GrantBook {
    live: ArcSwap<Vec<GrantRecord>>,
    generation: AtomicU64,
}

impl GrantBook {
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// `identity`'s grants on `target` live at `now_ms`.
    pub(crate) fn snapshot(&self, identity: &str, target: &str, now_ms: i64) -> GrantSnapshot {
        // Read the generation first: a replacement between the two reads then only makes
        // the snapshot look older than it is, never newer.
        let generation = self.generation();
        let live = self.live.load();
        let mut valid_until_ms = i64::MAX;
        let facts = live
            .iter()
            .filter(|g| g.identity == identity && g.target == target && g.expires_at_ms > now_ms)
            .map(|g| {
                valid_until_ms = valid_until_ms.min(g.expires_at_ms);
                GrantFacts {
                    id: grant_id(g.id),
                    target: g.target.clone(),
                    scope: g.scope.clone(),
                    reason: g.reason.clone(),
                    expires_at: rfc3339_ms(g.expires_at_ms),
                    approvers: g.approvers.clone(),
                }
            })
            .collect();
        GrantSnapshot {
            facts,
            generation,
            valid_until_ms,
        }
    }

    pub(crate) fn replace(&self, live: Vec<GrantRecord>) {
        if **self.live.load() != live {
            self.live.store(Arc::new(live));
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}
