//! The five self-reflection signals that keep a policy honest (docs/signals.md): policy drift,
//! approval latency, masking effectiveness, audit completeness and access churn.
//!
//! Pure and I/O-free, like the decision crate: the caller reads the audit trail, the store, the
//! recordings and the policy repository, and this crate turns what they say into a [`Report`]
//! whose every section says whether it is healthy against its [`Thresholds`]. The gateway
//! computes one periodically (metrics, alerts), `sluice report` computes one on demand; both go
//! through [`compute`], so they cannot disagree.
//!
//! # Layout
//! - `config`: the `[signals]` table, with a default for every threshold;
//! - `observer`: what the audit trail says, record by record, kept for a window;
//! - `sample`: the masking sampler, a recording re-scanned with the content detectors;
//! - `facts`: what the caller reads elsewhere (reviews, grants, tokens, the repository, ...);
//! - one module per signal (`drift`, `latency`, `masking`, `completeness`, `churn`);
//! - `report`: the whole report, its health and its Prometheus rendering;
//! - `history`: each report reduced to its headline figures, kept for the console's charts.

mod churn;
mod completeness;
mod config;
mod drift;
mod facts;
mod history;
mod latency;
mod masking;
mod observer;
mod report;
mod rules;
mod sample;
mod time;

pub use churn::{AccessChurn, ChurnRow, RepeatedRequest, UnusedGrant, UnusedToken};
pub use completeness::{
    AuditCompleteness, CheckpointState, IncompleteSession, RecordingProblem, SinkState,
};
pub use config::{SignalsConfig, Thresholds};
pub use drift::{DefaultDenied, GatewayPolicy, PolicyDrift};
pub use facts::{
    Facts, GrantFact, RecordingCheck, RepositoryFacts, ReviewFact, SinkLag, TokenFact,
    VerifyOutcome,
};
pub use history::{figure_names, History, Point, SignalPoint};
pub use latency::{
    nearest_rank, ApprovalLatency, GroupLatency, Latency, OverdueReview, RubberStamp,
};
pub use masking::{MaskingEffectiveness, PiiColumn, UnmaskedValues};
pub use observer::Observer;
pub use report::{compute, Health, Report, Signal, Transition};
pub use rules::declared_rules;
pub use sample::{is_sampled, sample_recording, Sampled};
pub use time::rfc3339_ms;

/// What can go wrong building the signals' configuration.
#[derive(Debug, thiserror::Error)]
pub enum SignalsError {
    #[error("[signals] {0}")]
    Config(String),
}

#[cfg(test)]
mod tests;
