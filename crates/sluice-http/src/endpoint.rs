//! A service the listener serves at a path of its own, beside the targets: the MCP endpoint
//! (sluice-mcp) lives on this listener for its TLS and its port, without this crate depending
//! on it. The service authenticates its own requests.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response};

/// The body of an endpoint's response: whole, or streamed (server-sent events).
pub type EndpointBody = BoxBody<Bytes, std::io::Error>;

/// What `Endpoint::serve` returns.
pub type EndpointFuture = Pin<Box<dyn Future<Output = Response<EndpointBody>> + Send>>;

pub trait Endpoint: Send + Sync + 'static {
    /// The exact path it answers at (`/mcp`); other paths are routed to targets as ever.
    fn path(&self) -> &'static str;
    /// One request; `peer` is the client's address.
    fn serve(&self, request: Request<Incoming>, peer: SocketAddr) -> EndpointFuture;
}
