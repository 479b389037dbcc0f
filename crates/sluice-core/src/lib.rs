//! The protocol-independent core of the gateway: configuration, identities and tokens, and the
//! enforcement sequence every protocol goes through.
//!
//! A protocol crate owns sockets and wire formats and nothing else. It implements
//! [`sequence::Protocol`] and hands each accepted connection to [`sequence::serve`], which
//! drives the order: the protocol identifies the client (against [`Gateway::credentials`]),
//! core admits the session ([`Session::open`]: policy, then the start record made durable),
//! the protocol logs in to the target, greets the client and relays, and core ends the
//! session ([`Session::end`]). Inside the relay each request is decided and its record appended
//! to an [`AuditBatch`] ([`Session::admit`] for any kind, or for SQL's extended protocol
//! [`Session::prepare`] and
//! [`Session::admit_execute`]), [`Session::seal`] makes the records durable and returns the
//! [`Sealed`] proof, the session's [`UpstreamWriter`] forwards only with one, and
//! [`Session::finish`] audits the outcome (a permit dropped unfinished audits itself). The
//! sequence lives here once, and its proofs cannot be made outside this crate.
//!
//! # Layout
//! - [`config`]: the TOML configuration, validated at load.
//! - [`secret`]: a string type that never prints its contents.
//! - [`audit_key`]: the key that signs the audit trail's checkpoints, and its public half.
//! - [`token`]: gateway-issued tokens and their SCRAM-SHA-256 verifiers.
//! - [`gateway`]: identification, target resolution, session admission; credentials issued
//!   and checked beyond a protocol's login (sign-in, token exchange, per-task tokens).
//! - [`identity`]: `[auth]` (credential lifetimes, failed-login limits).
//! - [`policy`]: the Rego policy in force, its reload, and deciding SQL with it.
//! - [`approvals`]: reviews, access requests, grants and their evidence; their webhooks and
//!   the audit sinks are in sluice-outbound, which the configuration embeds.
//! - [`recording`]: each session's recording, fed by the relay, streamed to the store.
//! - [`masking`]: the detectors and token key, and the mask plan a statement carries.
//! - [`lineage`]: which masked columns each result value and each predicate comes from.
//! - [`clock`]: the time facts policies see, in the configured zone.
//! - [`sequence`]: the order of the steps for one connection, and the `Protocol` trait.
//! - [`session`]: admission, per-request decision and audit, held statements, permits.
//! - `proof`: the audit batch, the `Sealed` proof and the only writer towards a target.
//! - [`text`]: requester-written text made safe to print, for the CLI and review summaries.
//! - [`metrics`]: counters and histograms rendered for Prometheus.
//! - [`workers`]: thread-per-core runtimes that sessions are pinned to.
//! - [`tunnel`]: the seam to the agents that reach targets in private networks.

pub mod approvals;
pub mod audit_key;
pub mod clock;
pub mod config;
mod error;
pub mod gateway;
pub mod identity;
pub mod lineage;
pub mod masking;
pub mod metrics;
pub mod policy;
mod proof;
pub mod recording;
pub mod secret;
pub mod sequence;
pub mod session;
pub mod sync;
pub mod text;
pub mod token;
pub mod tunnel;
pub mod workers;

pub use error::{CoreError, RefusalKind};
pub use gateway::{
    Authenticated, Credentials, Gateway, HostKeyCheck, SessionRequest, SshPublicKey,
};
pub use gateway::{Rejection, RejectionKind};
pub use masking::{ColumnSource, MaskPlan, MaskTally};
pub use proof::{AuditBatch, Forwarding, Sealed, UpstreamWriter};
pub use session::{
    Admission, Ask, Denial, DenialKind, HeldStatement, PendingReview, Preparation, Prepared,
    Session, Traffic,
};
pub use session::{Outcome, StatementPermit, Status};
