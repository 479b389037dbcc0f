//! The gateway's own answers: a denial, a refusal, an upstream failure. A Kubernetes client
//! gets a `Status` object, which kubectl prints as `Error from server (Forbidden): ...`; an
//! HTTP client gets a small JSON object.

use hyper::header::{HeaderValue, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};

use crate::body::{full, ResBody};

/// Who the answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    Kube,
    Http,
}

/// An error answer with `message` for the person at the client.
pub(crate) fn error(audience: Audience, status: StatusCode, message: &str) -> Response<ResBody> {
    let body = match audience {
        Audience::Kube => serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": kube_reason(status),
            "code": status.as_u16(),
        }),
        Audience::Http => serde_json::json!({
            "error": message,
            "status": status.as_u16(),
        }),
    };
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"sluice\""),
        );
    }
    response
}

/// The `reason` a Kubernetes `Status` gives for `status`, as the API server names them.
fn kube_reason(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        413 => "RequestEntityTooLarge",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}
