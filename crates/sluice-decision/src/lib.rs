//! The decision: facts about a request in, a [`Decision`] out. No I/O, no runtime, no database.
//!
//! Every protocol asks the same question through [`Policy`], once per request; the answer is
//! carried along so that audit (and later masking and recording) read the verdict instead of
//! deciding again.
//!
//! # Layout
//! - [`facts`]: what is known about the caller, the target and the request.
//! - [`decision`]: the verdict and the rule and policy version that produced it.
//! - [`builtin`]: the policy used until a Rego policy directory is configured.

pub mod builtin;
pub mod decision;
pub mod facts;

pub use builtin::BuiltinPolicy;
pub use decision::{Decision, Verdict};
pub use facts::{IdentityFacts, SessionFacts, StatementFacts, TargetFacts};

/// Decides requests. Implementations must be deterministic for the same facts and must never
/// fail open: whatever cannot be evaluated is a [`Verdict::Deny`].
pub trait Policy: Send + Sync {
    /// May this identity open a session on this target at all?
    fn decide_session(&self, session: &SessionFacts<'_>) -> Decision;
    /// May this statement run in this session?
    fn decide_statement(
        &self,
        session: &SessionFacts<'_>,
        statement: &StatementFacts<'_>,
    ) -> Decision;
}
