//! The policy in force before a Rego policy directory is configured: every authenticated
//! identity that the configuration names may use every configured target, and every statement
//! (and every request of another protocol's kind) is allowed and audited. Authentication and target resolution happen before the policy is
//! asked, so this policy never sees an unknown identity or target.

use crate::{Decision, Input, Policy, Request};

/// Version string recorded in audit for decisions of the builtin policy.
pub const BUILTIN_POLICY_VERSION: &str = "builtin-1";

#[derive(Debug, Default, Clone, Copy)]
pub struct BuiltinPolicy;

impl Policy for BuiltinPolicy {
    fn version(&self) -> &str {
        BUILTIN_POLICY_VERSION
    }

    fn decide(&self, input: &Input<'_>) -> Decision {
        let rule = match input.request {
            Request::Connect => "builtin.allow_configured_identity",
            Request::Statement { .. }
            | Request::Command { .. }
            | Request::Channel { .. }
            | Request::File { .. }
            | Request::Http { .. }
            | Request::Kube { .. } => "builtin.allow_and_audit",
            // Signing in and per-task tokens get what the configuration allows; the admin API
            // keeps its own reviewer checks (docs/approvals.md) behind this.
            Request::Token { token } if token.purpose != "exchange" => "builtin.allow_credential",
            Request::Admin { .. } => "builtin.allow_authenticated_admin",
            // A workload's token names no person to answer for it: only a policy that says
            // which targets it reaches may let it in.
            Request::Token { .. } => {
                return Decision::deny(
                    "builtin.no_exchange",
                    BUILTIN_POLICY_VERSION,
                    "token exchange needs a policy directory that says which targets a \
                     workload may reach"
                        .into(),
                )
            }
            // Everything is allowed already, so a grant could only matter to a policy that
            // does not exist yet.
            Request::Access { .. } => {
                return Decision::deny(
                    "builtin.no_grants",
                    BUILTIN_POLICY_VERSION,
                    "access grants need a policy directory that says what a grant allows".into(),
                )
            }
        };
        Decision::allow(rule, BUILTIN_POLICY_VERSION)
    }
}
