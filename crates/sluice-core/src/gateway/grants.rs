//! The gateway's part of grants: reading the live ones again from the store, and announcing
//! those that expired.

use sluice_audit::AuditEvent;
use sluice_outbound::webhooks::Notification;
use sluice_store::GrantFilter;

use super::Gateway;
use crate::approvals::{grant_id, now_ms, GrantView};
use crate::CoreError;

impl Gateway {
    /// Reads the live grants from the store; grants issued or revoked through another gateway
    /// on the same store arrive this way.
    pub(crate) async fn refresh_grants(&self) -> Result<(), CoreError> {
        let live = self
            .store()
            .list_grants(&GrantFilter {
                live_at_ms: Some(now_ms()),
                ..GrantFilter::default()
            })
            .await?;
        self.approvals().grants.replace(live);
        Ok(())
    }

    /// Announces grants that ran out: audit, metrics, webhooks, once per grant even with
    /// several gateways (the store notes who announced first).
    pub(crate) async fn announce_expired_grants(&self) -> Result<(), CoreError> {
        let now = now_ms();
        let expired = self
            .store()
            .list_grants(&GrantFilter {
                unnoted_expiry_by_ms: Some(now),
                ..GrantFilter::default()
            })
            .await?;
        for g in expired {
            if !self.store().note_grant_expired(g.id, now).await? {
                continue;
            }
            self.audit()
                .record(&AuditEvent::GrantExpired {
                    grant: grant_id(g.id),
                    identity: g.identity.clone(),
                    target: g.target.clone(),
                })
                .await?;
            self.metrics().approvals.grants_expired.inc();
            self.approvals().notifier.notify(Notification {
                event: "grant.expired",
                summary: format!(
                    "Grant {} of {} on {} expired",
                    grant_id(g.id),
                    g.identity,
                    g.target
                ),
                url: None,
                data: serde_json::to_value(GrantView::new(&g, now)).unwrap_or_default(),
            });
        }
        Ok(())
    }
}
