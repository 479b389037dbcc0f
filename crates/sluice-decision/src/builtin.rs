//! The policy in force before a Rego policy directory is configured: every authenticated
//! identity that the configuration names may use every configured target, and every statement
//! is allowed and audited. Authentication and target resolution happen before the policy is
//! asked, so this policy never sees an unknown identity or target.

use crate::{Decision, Policy, SessionFacts, StatementFacts, Verdict};

/// Version string recorded in audit for decisions of the builtin policy.
pub const BUILTIN_POLICY_VERSION: &str = "builtin-1";

#[derive(Debug, Default, Clone, Copy)]
pub struct BuiltinPolicy;

impl BuiltinPolicy {
    fn allow(rule: &str) -> Decision {
        Decision {
            verdict: Verdict::Allow,
            rule: rule.to_owned(),
            policy: BUILTIN_POLICY_VERSION.to_owned(),
        }
    }
}

impl Policy for BuiltinPolicy {
    fn decide_session(&self, _session: &SessionFacts<'_>) -> Decision {
        Self::allow("builtin.allow_configured_identity")
    }

    fn decide_statement(
        &self,
        _session: &SessionFacts<'_>,
        _statement: &StatementFacts<'_>,
    ) -> Decision {
        Self::allow("builtin.allow_and_audit")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IdentityFacts, TargetFacts};
    use std::collections::BTreeMap;

    #[test]
    fn builtin_allows_and_names_its_rule() {
        let tags = BTreeMap::new();
        let groups = vec![];
        let s = SessionFacts {
            identity: IdentityFacts {
                name: "a",
                kind: "human",
                groups: &groups,
            },
            target: TargetFacts {
                name: "t",
                kind: "postgres",
                database: "d",
                tags: &tags,
            },
            client_addr: "127.0.0.1:1",
            protocol: "postgres",
        };
        let d = BuiltinPolicy.decide_statement(&s, &StatementFacts { text: "select 1" });
        assert!(d.is_allowed());
        assert_eq!(d.rule, "builtin.allow_and_audit");
        assert_eq!(d.policy, BUILTIN_POLICY_VERSION);
    }
}
