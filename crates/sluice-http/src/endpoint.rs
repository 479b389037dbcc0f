//! A service the listener serves at a path of its own, beside the targets: the MCP endpoint
//! (sluice-mcp) lives on this listener for its TLS and its port, without this crate depending
//! on it. The service authenticates its own requests.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, AUTHORIZATION};
use hyper::{Request, Response};
use tokio::sync::mpsc;

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

/// A whole body.
pub fn full_body(bytes: impl Into<Bytes>) -> EndpointBody {
    crate::body::full(bytes)
}

/// A streamed body and the sender that feeds it (server-sent events); a full channel makes the
/// sender wait for the client.
pub fn streamed_body() -> (mpsc::Sender<Result<Bytes, std::io::Error>>, EndpointBody) {
    crate::body::channel()
}

/// The credential of `Authorization: Bearer TOKEN`, the one way this listener's callers
/// authenticate.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether a request may have come from a page of `scheme://host` itself: it sent no `Origin`
/// (not a browser, or not cross-site), or one naming exactly that origin. Guards what a signed-in
/// browser or a local agent can be made to do by another site (forged forms, DNS rebinding).
pub fn same_origin(origin: Option<&str>, host: Option<&str>, scheme: &str) -> bool {
    match origin {
        None => true,
        Some(origin) => {
            host.is_some_and(|host| origin.eq_ignore_ascii_case(&format!("{scheme}://{host}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_origin() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(AUTHORIZATION, "bearer  tok ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("tok"));
        headers.insert(AUTHORIZATION, "Basic tok".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        assert!(same_origin(None, None, "https"));
        assert!(same_origin(
            Some("https://GW:8443"),
            Some("gw:8443"),
            "https"
        ));
        assert!(!same_origin(
            Some("http://gw:8443"),
            Some("gw:8443"),
            "https"
        ));
        assert!(!same_origin(
            Some("https://evil.example"),
            Some("gw:8443"),
            "https"
        ));
        assert!(!same_origin(Some("https://gw"), None, "https"));
    }
}
