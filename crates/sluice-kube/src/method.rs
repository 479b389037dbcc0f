//! The HTTP methods the API server maps to verbs. Any other method (OPTIONS, TRACE, a lower
//! case `get`) gets no verb from the server, so no fact from here: refused.

use sluice_decision::KubeVerb;

use crate::KubeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn parse(method: &str) -> Result<Self, KubeError> {
        Ok(match method {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            other => {
                // Bounded: the error is logged and shown, the method came from the client.
                let shown: String = other.chars().take(32).collect();
                return Err(KubeError::Method(shown));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// The verb before the request's shape refines it: a read without a name becomes a list
    /// or a watch, a delete without one a deletecollection. Also the verb of a request that
    /// names no resource; the API server says `post`, `put` there, which the facts spell as
    /// the resource verbs (`create`, `update`) so that one vocabulary covers both.
    pub fn verb(self) -> KubeVerb {
        match self {
            Method::Get | Method::Head => KubeVerb::Get,
            Method::Post => KubeVerb::Create,
            Method::Put => KubeVerb::Update,
            Method::Patch => KubeVerb::Patch,
            Method::Delete => KubeVerb::Delete,
        }
    }
}
