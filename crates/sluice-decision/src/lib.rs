//! The decision: facts about a request in, a [`Decision`] out. No I/O, no runtime, no database.
//!
//! Every protocol asks the same question through [`Policy`], once per request; the answer is
//! carried along so that audit (and later masking and recording) read the verdict instead of
//! deciding again.
//!
//! # Layout
//! - [`facts`]: what is known about the caller, the target and the request (the input document).
//! - [`decision`]: the verdict and the rule and policy version that produced it.
//! - [`builtin`]: the policy used until a Rego policy directory is configured.

pub mod builtin;
pub mod decision;
pub mod facts;

pub use builtin::BuiltinPolicy;
pub use decision::{Decision, Verdict};
pub use facts::{
    GrantFacts, IdentityFacts, Input, Request, SessionChange, SessionFacts, SqlStatement,
    StatementKind, TargetFacts, TimeFacts,
};

/// Decides requests. Implementations must be deterministic for the same input and must never
/// fail open: whatever cannot be evaluated is a [`Verdict::Deny`].
pub trait Policy: Send + Sync {
    /// The version audit records name, e.g. a content digest of the policy files.
    fn version(&self) -> &str;
    /// May this request proceed?
    fn decide(&self, input: &Input<'_>) -> Decision;
}
