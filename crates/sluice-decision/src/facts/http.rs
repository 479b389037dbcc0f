//! An HTTP request, as an HTTP gateway will see it.

use std::collections::BTreeMap;

use serde::Serialize;

/// One HTTP request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct HttpRequest {
    /// Upper case: `GET`, `POST`, ...
    pub method: String,
    /// The host the request is for, lower case, without the port.
    pub host: String,
    /// The path without the query, normalised as RFC 3986 says (dot segments removed,
    /// percent-encoded unreserved characters decoded), so that `/admin` cannot be spelled
    /// `/%61dmin` or `/x/../admin` past a rule.
    pub path: String,
    /// The query's parameters, decoded: each name with its values in order (a name may
    /// repeat).
    pub query: BTreeMap<String, Vec<String>>,
    /// Selected headers, names lower case, each with its values in order. Never the headers
    /// that carry credentials (`authorization`, `proxy-authorization`, `cookie`): a policy
    /// has no use for them, and the input document is shown to reviewers and may be
    /// audited.
    pub headers: BTreeMap<String, Vec<String>>,
    /// The `Content-Type` header's media type, lower case, without parameters; `None`
    /// without a body type.
    pub content_type: Option<String>,
    /// The body's length in bytes when it is known before it is read (`Content-Length`);
    /// `None` for a body sent in chunks.
    pub body_size: Option<u64>,
}
