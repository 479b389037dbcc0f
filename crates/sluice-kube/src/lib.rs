//! Kubernetes API requests through the gateway.
//!
//! For now one job: turning one Kubernetes API request (method, path, query) into the facts
//! a policy decides on, `sluice_decision::KubeRequest`, the way the API server classifies a
//! request for its own authorisation (its "request info": verb, API group and version,
//! resource, subresource, namespace, name), plus what a rule needs besides (selectors,
//! dry run, an exec's container and command). Rules therefore read like RBAC rules, and a
//! request is described as the server will act on it.
//!
//! What it never does: I/O of any kind (no sockets, files, clocks or environment), decide
//! anything, or guess. A request the server might read differently from these facts (dot
//! segments, encoded slashes, empty segments, bad escapes, repeated single-valued
//! parameters, unknown methods, very long paths) is a `KubeError`, which the gateway denies.
//! The listener, the relay to the API server and the stream handling (watch, logs, exec,
//! port-forward) will come later in this crate.

mod classify;
mod error;
mod method;
mod options;
mod path;
mod percent;
mod query;
mod selector;

#[cfg(test)]
mod tests;

pub use classify::classify;
pub use error::KubeError;
pub use options::delete_dry_run;

/// The bounds on what is classified.
pub mod limits {
    /// Longest raw path, in bytes. Real API paths are a few hundred bytes at most (names
    /// are at most 253 characters); only a proxied path could be longer.
    pub const MAX_PATH: usize = 8 * 1024;
    /// Longest raw query, in bytes: room for an exec command of a few kilobytes and long
    /// selectors.
    pub const MAX_QUERY: usize = 64 * 1024;
}
