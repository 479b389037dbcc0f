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
//! - `error`: why a request cannot be described unambiguously, or the listener cannot go on.
//! - `server`: the listener; `connection`: one client connection (TLS, HTTP/1.1 or HTTP/2);
//!   `route`: which target a request is for.
//! - `relay`: a session per connection, credential and target (core's sequence);
//!   `relay/exchange.rs`: one request decided, forwarded and answered.
//! - `upstream`: HTTP/1.1 towards the target through the session's sealed writer.
//! - `mask`: JSON, line and Kubernetes Secret masking; `body`: bodies towards the client;
//!   `reply`: the gateway's own answers (a Kubernetes `Status` for kubectl).
//! - `endpoint`: a service served at a path of its own beside the targets (the MCP endpoint,
//!   sluice-mcp), so that this crate need not know it.
//! - `upgrade`, `websocket`: exec, attach and port-forward carried after `101`, recorded as a
//!   terminal when the stream can be read.

mod body;
mod connection;
mod endpoint;
mod error;
mod facts;
mod mask;
mod path;
mod query;
mod relay;
mod reply;
mod route;
mod server;
mod upgrade;
mod upstream;
mod websocket;

pub use endpoint::{
    bearer, full_body, same_origin, streamed_body, Endpoint, EndpointBody, EndpointFuture,
};
pub use error::HttpError;
pub use facts::{describe, Described, POLICY_HEADERS};
pub use path::normalise_path;
pub use query::parse_query;
pub use server::HttpServer;
