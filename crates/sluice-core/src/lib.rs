//! The protocol-independent core of the gateway: configuration, identities and tokens, and the
//! enforcement sequence every protocol goes through.
//!
//! A protocol crate owns sockets and wire formats and nothing else. For every connection it
//! calls, in this order: [`Gateway::credentials`] (identify), [`Gateway::open_session`]
//! (authorize, audit the start), then for each request [`Session::admit_query`] or, for a
//! prepared statement, [`Session::prepare`] and [`Session::admit_execute`] (decide, append the
//! audit record), [`Session::seal`] (wait until the audit records are durable; the returned
//! [`Sealed`] proof is what lets bytes go upstream), [`Session::finish`] (audit the outcome) and
//! finally [`Session::end`]. The sequence lives here once, so a new protocol cannot skip a step.
//!
//! # Layout
//! - [`config`]: the TOML configuration, validated at load.
//! - [`secret`]: a string type that never prints its contents.
//! - [`audit_key`]: the key that signs the audit trail's checkpoints, and its public half.
//! - [`token`]: gateway-issued tokens and their SCRAM-SHA-256 verifiers.
//! - [`gateway`]: identification, target resolution, session admission.
//! - [`policy`]: the Rego policy in force, its reload, and deciding SQL with it.
//! - [`approvals`]: held statements, reviews, access grants and their evidence; their webhooks
//!   and the audit sinks are in sluice-outbound, which the configuration embeds.
//! - [`recording`]: each session's recording, fed by the relay, streamed to the store.
//! - [`masking`]: the detectors and token key, and the mask plan a statement carries.
//! - [`lineage`]: which masked columns each result value and each predicate comes from.
//! - [`clock`]: the time facts policies see, in the configured zone.
//! - [`session`]: per-request decision, audit and the `Sealed` proof.
//! - [`metrics`]: counters and histograms rendered for Prometheus.
//! - [`workers`]: thread-per-core runtimes that sessions are pinned to.

pub mod approvals;
pub mod audit_key;
pub mod clock;
pub mod config;
mod error;
pub mod gateway;
pub mod lineage;
pub mod masking;
pub mod metrics;
pub mod policy;
pub mod recording;
pub mod secret;
pub mod session;
pub mod sync;
pub mod token;
pub mod workers;

pub use approvals::{HeldStatement, PendingReview};
pub use error::{CoreError, RefusalKind};
pub use gateway::{Authenticated, Credentials, Gateway, SessionRequest};
pub use gateway::{Rejection, RejectionKind};
pub use masking::{ColumnSource, MaskPlan, MaskTally};
pub use session::{
    Admission, AuditBatch, Denial, DenialKind, Outcome, Preparation, Prepared, Sealed, Session,
    StatementPermit, Traffic,
};
