//! What the gateway sends out of its own accord, apart from the traffic it relays: webhooks for
//! approval events, the audit trail streamed to sinks, and the HTTP client that the admin CLI
//! shares with both.
//!
//! It is a crate of its own so that the dependency runs one way. sluice-core's configuration
//! embeds the webhook and sink settings, and its approvals send notifications, so core depends
//! on this crate; nothing here knows core. Before, the configuration named these modules and
//! they named the configuration back. It also keeps the one HTTP client where the CLI can use
//! it without pulling in the gateway.
//!
//! # Layout
//! - [`http`]: the one small HTTP/1 client: an endpoint parsed from a URL, plain TCP or TLS with
//!   the bundled web roots, a deadline per exchange, and a bearer header kept out of output.
//! - [`webhooks`]: outgoing webhooks for review and grant events, queued and retried per
//!   receiver.
//! - [`sinks`]: `[[audit_sinks]]`, streaming the audit trail to a file, HTTP or syslog, each from
//!   its own cursor.
//! - [`tail`]: reading whole records from the audit file as it grows (the sinks and
//!   `sluice audit export`).

pub mod duration;
mod error;
pub mod http;
mod retry;
pub mod sinks;
pub mod tail;
#[cfg(test)]
mod test_support;
pub mod webhooks;

pub use error::OutboundError;

/// The `User-Agent` of every request sluice sends.
const AGENT: &str = concat!("sluice/", env!("CARGO_PKG_VERSION"));
