//! Who an identity name stands for: a declared identity from the configuration, or one an
//! identity provider made at first sign-in (`identities = "dynamic"`), with what the shown
//! credential adds (the provider's claims and groups, the task).

use std::sync::Arc;

use sluice_store::DynamicIdentity;

use super::{Gateway, TokenGrant};
use crate::config::{IdentityConfig, IdentityKind};
use crate::CoreError;

impl Gateway {
    /// The identity named `name`, declared first; `None` when neither the configuration nor
    /// the store knows it.
    pub(crate) async fn principal(
        &self,
        name: &str,
    ) -> Result<Option<Arc<IdentityConfig>>, CoreError> {
        if let Some(declared) = self.inner.config.identity(name) {
            return Ok(Some(Arc::new(declared.clone())));
        }
        let Some(dynamic) = self.inner.store.dynamic_identity(name).await? else {
            return Ok(None);
        };
        Ok(Some(Arc::new(from_dynamic(&dynamic))))
    }
}

/// A dynamic identity as the rest of the gateway sees identities. Its claims are those of its
/// latest sign-in; a session sees those of the credential it shows.
pub(crate) fn from_dynamic(d: &DynamicIdentity) -> IdentityConfig {
    IdentityConfig {
        name: d.name.clone(),
        // The store only ever holds kinds the gateway wrote; anything else is the least
        // privileged reading.
        kind: IdentityKind::parse(&d.kind).unwrap_or(IdentityKind::Service),
        groups: d.groups.clone(),
        attributes: Default::default(),
        ssh_keys: Vec::new(),
        claims: parse_claims(Some(&d.claims)),
        provider: Some(d.provider.clone()),
        task: None,
    }
}

/// `base` with what the credential carries: its claims replace the identity's, its groups
/// join the declared ones, its task and provider are named.
pub(crate) fn merge(base: &IdentityConfig, grant: Option<&TokenGrant>) -> IdentityConfig {
    let mut merged = base.clone();
    let Some(grant) = grant else {
        return merged;
    };
    if let Some(groups) = &grant.groups {
        for g in groups {
            if !merged.groups.contains(g) {
                merged.groups.push(g.clone());
            }
        }
        merged.groups.sort();
    }
    if grant.claims.is_some() {
        merged.claims = parse_claims(grant.claims.as_deref());
    }
    if grant.provider.is_some() {
        merged.provider.clone_from(&grant.provider);
    }
    merged.task.clone_from(&grant.task);
    // A per-task credential is what a person hands an agent (`sluice token create --task`, the
    // MCP endpoint): its sessions are the agent's, so a policy can tell them from the person's
    // own and hold or refuse what an agent may not do alone. Name and groups stay the person's.
    if grant.purpose == "task" {
        merged.kind = crate::config::IdentityKind::Agent;
    }
    merged
}

/// Claims kept as JSON text; anything but an object reads as none.
pub(crate) fn parse_claims(json: Option<&str>) -> sluice_decision::Claims {
    match json.map(serde_json::from_str::<serde_json::Value>) {
        Some(Ok(serde_json::Value::Object(map))) => sluice_decision::Claims::new(map),
        _ => sluice_decision::Claims::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(groups: Option<Vec<&str>>, claims: Option<&str>, task: Option<&str>) -> TokenGrant {
        TokenGrant {
            id: "tok_1".into(),
            expires_at: None,
            purpose: "login".into(),
            targets: None,
            task: task.map(str::to_owned),
            provider: Some("corp".into()),
            claims: claims.map(str::to_owned),
            groups: groups.map(|g| g.into_iter().map(str::to_owned).collect()),
        }
    }

    fn declared() -> IdentityConfig {
        IdentityConfig {
            name: "alice".into(),
            kind: IdentityKind::Human,
            groups: vec!["developers".into()],
            attributes: Default::default(),
            ssh_keys: Vec::new(),
            claims: Default::default(),
            provider: None,
            task: None,
        }
    }

    #[test]
    fn credential_groups_join_declared_ones_and_claims_replace() {
        let merged = merge(
            &declared(),
            Some(&grant(
                Some(vec!["oncall", "developers"]),
                Some(r#"{"email":"alice@corp.example"}"#),
                Some("triage"),
            )),
        );
        assert_eq!(merged.groups, vec!["developers", "oncall"]);
        assert_eq!(
            merged.claims.as_map().get("email"),
            Some(&serde_json::json!("alice@corp.example"))
        );
        assert_eq!(merged.provider.as_deref(), Some("corp"));
        assert_eq!(merged.task.as_deref(), Some("triage"));
    }

    #[test]
    fn an_operator_token_adds_nothing() {
        let merged = merge(&declared(), Some(&grant(None, None, None)));
        assert_eq!(merged.groups, vec!["developers"]);
        assert!(merged.claims.is_empty());
        assert_eq!(merged.task, None);
    }

    #[test]
    fn claims_that_are_not_an_object_read_as_none() {
        assert!(parse_claims(Some("[1,2]")).is_empty());
        assert!(parse_claims(Some("not json")).is_empty());
        assert!(parse_claims(None).is_empty());
    }

    #[test]
    fn targets_limit_a_grant() {
        let mut g = grant(None, None, None);
        assert!(g.reaches("shop"));
        g.targets = Some(vec!["shop".into()]);
        assert!(g.reaches("shop"));
        assert!(!g.reaches("billing"));
    }
}
