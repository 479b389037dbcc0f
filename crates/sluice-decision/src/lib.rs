//! The decision: facts about a request in, a [`Decision`] out. No I/O, no runtime, no database.
//!
//! Every protocol asks the same question through [`Policy`], once per request; the answer is
//! carried along so that audit (and later masking and recording) read the verdict instead of
//! deciding again.
//!
//! # Layout
//! - [`facts`]: what is known about the caller, the target and the request (the input document).
//! - [`decision`]: the verdict and the rule and policy version that produced it.
//! - [`approval`]: what a verdict that holds a request for reviewers asks of them.
//! - [`builtin`]: the policy used until a Rego policy directory is configured.
//! - [`bundle`]: the policy directory's `.rego` files as one versioned unit.
//! - [`rego`]: deciding with a bundle (regorus); `document` reads the decision it returns,
//!   `input_value` builds the input it reads, `local` keeps one engine per thread,
//!   `introspect` reads what the gateway must know about the bundle, `diagnostic` makes
//!   regorus' errors readable.
//! - [`tests`]: running a bundle's `test_*` rules.
//! - [`cache`]: reusing statement decisions.
//! - [`error`]: what can fail while setting a policy up.

pub mod approval;
pub mod builtin;
pub mod bundle;
pub mod cache;
pub mod decision;
mod diagnostic;
mod document;
pub mod error;
pub mod facts;
mod input_value;
mod introspect;
mod local;
pub mod mask;
pub mod rego;
pub mod tests;

pub use approval::{requirements_met, ApprovalRequirement};
pub use builtin::BuiltinPolicy;
pub use bundle::{Bundle, BundleFile};
pub use cache::{fingerprint, CacheKey, CacheSubject, DecisionCache};
pub use decision::{CapAction, Decision, TokenScope, Verdict};
pub use error::DecisionError;
pub use facts::{
    AdminRequest, ChannelOpen, ChannelType, Claims, FileAccess, FileOperation, FileVia, GrantFacts,
    HttpRequest, IdentityFacts, Input, KubeRequest, KubeVerb, MaskedPredicate, PostgresSession,
    Request, RequestKind, SessionChange, SessionFacts, SessionSection, ShellCommand, SimpleCommand,
    SqlDialect, SqlStatement, StatementKind, TargetFacts, TimeFacts, TokenRequest, SCHEMA_VERSION,
};
pub use mask::{ColumnRule, Computed, ContentRule, Counted, MaskRules};
pub use rego::{Explained, RegoOptions, RegoPolicy, DECISION_QUERY};
pub use tests::{TestCase, TestReport};

/// Decides requests. Implementations must be deterministic for the same input and must never
/// fail open: whatever cannot be evaluated is a [`Verdict::Deny`].
pub trait Policy: Send + Sync {
    /// The version audit records name, e.g. a content digest of the policy files.
    fn version(&self) -> &str;
    /// May this request proceed?
    fn decide(&self, input: &Input<'_>) -> Decision;
    /// Whether a statement decision may depend on bound parameter values, so that it must be
    /// made again at Execute with them.
    fn uses_parameters(&self) -> bool {
        false
    }
    /// Whether statement decisions may be reused for the same [`CacheKey`]. False unless the
    /// policy knows it reads nothing a key leaves out.
    fn cacheable(&self) -> bool {
        false
    }
}
