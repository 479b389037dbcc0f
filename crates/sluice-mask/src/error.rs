//! The crate's single error type.
//!
//! Only setting masking up can fail (compiling detectors, reading names and column patterns):
//! finding and masking never return an error, so the relay has no failure to handle per value.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum MaskError {
    /// A detector name that is neither a built-in detector nor configured.
    #[error("unknown detector {0:?}")]
    UnknownDetector(String),

    /// Two detectors share a name, so counts and strategies could not tell them apart.
    #[error("detector {0:?} is defined twice")]
    DuplicateDetector(String),

    /// A custom detector's pattern does not parse.
    #[error("detector {name:?}: invalid pattern: {message}")]
    Pattern { name: String, message: String },

    /// A custom detector's pattern can match the empty string, which would mask nothing and
    /// stop nothing.
    #[error("detector {0:?}: the pattern can match an empty string")]
    EmptyMatch(String),

    /// The detectors together do not compile (for example, over the size limit).
    #[error("the detectors do not compile: {0}")]
    Build(#[source] Box<regex_automata::meta::BuildError>),

    /// A column pattern is not `column` or `schema.table.column`.
    #[error("column pattern {pattern:?}: {reason}")]
    ColumnPattern {
        pattern: String,
        reason: &'static str,
    },
}
