//! The crate's single error type.
//!
//! Only setting a policy up can fail: deciding never returns an error, because every failure
//! to evaluate is a denial (see [`crate::Policy`]).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DecisionError {
    /// The policy directory holds no `.rego` file, so there is nothing to decide with.
    #[error("the policy bundle holds no .rego files")]
    EmptyBundle,

    /// Two files with the same relative path would make the digest ambiguous.
    #[error("the policy bundle lists {path} twice")]
    DuplicateFile { path: String },

    /// A file does not parse or the bundle does not compile. The message starts with
    /// `file:line:col:` when regorus names a place.
    #[error("{message}")]
    Compile { message: String },

    /// The bundle compiles but nothing answers the one query the gateway asks.
    #[error("the bundle defines no data.sluice.decision rule")]
    NoDecisionRule,

    /// An input document given as JSON (for `sluice policy eval`) is not valid JSON.
    #[error("the input document is not valid JSON: {0}")]
    InvalidInput(String),
}
