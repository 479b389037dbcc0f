use std::sync::Arc;

use serde::Serialize;

use serde::Deserialize;

use crate::{ApprovalRequirement, MaskRules};

/// What a session's recording does when it reaches a cap (docs/recording.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapAction {
    /// Say so in the recording and stop recording what the cap covers; the session goes on.
    #[default]
    Truncate,
    /// End the session: nothing happens unrecorded.
    EndSession,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    /// Allowed once reviewers meeting every requirement approve; until then it must not run.
    /// Deliberately not [`Verdict::Allow`] with a flag: code that only knows "allowed or
    /// not" must treat a hold as not allowed.
    Hold {
        approval: Vec<ApprovalRequirement>,
    },
    Deny {
        reason: String,
    },
}

/// A verdict together with where it came from, so audit can name the exact rule and policy
/// version that allowed or denied a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The rule that decided, e.g. `builtin.allow_authenticated`.
    pub rule: String,
    /// The version of the policy that was in force, e.g. a content digest of the policy files.
    pub policy: String,
    /// What to mask in the results; only an allowing or holding decision carries it, never an
    /// empty one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask: Option<Arc<MaskRules>>,
    /// On a connect: what the session's recording does at a cap, instead of the configured
    /// `[recording] on_cap`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_on_cap: Option<CapAction>,
    /// On a token request: what the credential may reach and for how long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenScope>,
    /// On a Kubernetes request: the decision's `"secrets": "reveal"`, which lets Secrets'
    /// `data` and `stringData` through; without it the gateway redacts them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reveal_secrets: bool,
}

/// The decision's `token`: narrows a credential the policy allows. A field left out leaves
/// that part to the request and the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenScope {
    /// The only targets the credential reaches.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
    /// The longest lifetime the policy allows, in seconds.
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
}

impl Decision {
    pub fn allow(rule: impl Into<String>, policy: impl Into<String>) -> Decision {
        Decision {
            verdict: Verdict::Allow,
            rule: rule.into(),
            policy: policy.into(),
            mask: None,
            recording_on_cap: None,
            reveal_secrets: false,
            token: None,
        }
    }

    pub fn deny(rule: impl Into<String>, policy: impl Into<String>, reason: String) -> Decision {
        Decision {
            verdict: Verdict::Deny { reason },
            rule: rule.into(),
            policy: policy.into(),
            mask: None,
            recording_on_cap: None,
            reveal_secrets: false,
            token: None,
        }
    }

    /// Allowed outright: neither denied nor held for approval.
    pub fn is_allowed(&self) -> bool {
        matches!(self.verdict, Verdict::Allow)
    }

    /// The denial reason, if denied.
    pub fn deny_reason(&self) -> Option<&str> {
        match &self.verdict {
            Verdict::Allow | Verdict::Hold { .. } => None,
            Verdict::Deny { reason } => Some(reason),
        }
    }

    /// What approval the request waits for, if held.
    pub fn approval(&self) -> Option<&[ApprovalRequirement]> {
        match &self.verdict {
            Verdict::Hold { approval } => Some(approval),
            Verdict::Allow | Verdict::Deny { .. } => None,
        }
    }

    /// The verdict's name as audit records it.
    pub fn verdict_name(&self) -> &'static str {
        match self.verdict {
            Verdict::Allow => "allow",
            Verdict::Hold { .. } => "hold",
            Verdict::Deny { .. } => "deny",
        }
    }
}
