//! HTTP requests as policy facts: what an HTTP service's request does, in the one spelling a
//! rule can match ([`sluice_decision::HttpRequest`]).
//!
//! A path has many spellings (`/%61dmin`, `/x/../admin`, `/admin/.`), and a rule written for
//! one must hold for all of them, so the facts carry the path normalised as RFC 3986 section 6
//! says, and the request is refused when its spelling is ambiguous: an encoded `/` or `\`,
//! which servers disagree on, a malformed escape, bytes that are not UTF-8. The listener and the
//! relay come later in this crate; this part does no I/O.
//!
//! # Layout
//! - `path`: percent-decoding what RFC 3986 calls unreserved, removing dot segments.
//! - `query`: the query's parameters, decoded.
//! - `facts`: one request's facts, with the headers a policy may see.
//! - `error`: why a request cannot be described unambiguously.

mod error;
mod facts;
mod path;
mod query;

pub use error::HttpError;
pub use facts::{describe, Described, POLICY_HEADERS};
pub use path::normalise_path;
pub use query::parse_query;
