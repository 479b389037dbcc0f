//! Who calls the admin API and whether the policy lets them: every route behind
//! [`require_credential`] needs `Authorization: Bearer <sluice credential>` and is decided with
//! `request.action = "admin"` and the operation's stable name (docs/identity.md lists them).
//! Only `/healthz`, `/readyz`, `/metrics` and the sign-in endpoints answer without a credential.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use sluice_core::{Authenticated, CoreError, Gateway, RefusalKind};

/// The authenticated caller's identity name.
pub struct Caller(pub String);

/// The authenticated caller as a reviewer: their name and the groups their credential
/// carries, which decide what reviews they see and may decide.
pub struct AsReviewer(pub sluice_core::approvals::Reviewer);

impl<S: Send + Sync> FromRequestParts<S> for AsReviewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let CallerAuth(auth) = CallerAuth::from_request_parts(parts, state).await?;
        Ok(AsReviewer(auth.reviewer()))
    }
}

/// The authenticated caller, for handlers that need more than the name.
#[derive(Clone)]
pub struct CallerAuth(pub Arc<Authenticated>);

/// The client's address, for failed-login limits and audit; empty when unknown.
pub fn client_addr(info: Option<&ConnectInfo<SocketAddr>>) -> String {
    info.map(|c| c.0.to_string()).unwrap_or_default()
}

/// The client's address as an extractor; empty when the listener did not record it.
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(
            parts.extensions.get::<ConnectInfo<SocketAddr>>(),
        )))
    }
}

/// The operation a route performs, as the policy sees it (`request.admin.operation`).
/// Operations under `self.` act on the caller's own credential and are not asked of the
/// policy: anyone may see and revoke what they hold.
fn operation(method: &Method, path: &str) -> Option<&'static str> {
    Some(match (method.as_str(), path) {
        ("GET", "/policy") => "policy.read",
        ("GET", "/cluster") => "cluster.read",
        ("GET", "/signals") => "signals.read",
        ("POST", "/policy/reload") => "policy.reload",
        // Asked by the console only (docs/console.md): no API route serves these yet.
        ("POST", "/policy/evaluate") => "policy.evaluate",
        ("GET", "/sessions") => "sessions.list",
        ("GET", "/sessions/{id}") => "sessions.read",
        ("GET", "/audit") => "audit.read",
        ("GET", "/reviews" | "/reviews/stats") => "reviews.list",
        ("GET", "/reviews/{id}") => "reviews.read",
        ("POST", "/reviews/{id}/approve" | "/reviews/{id}/deny") => "reviews.decide",
        ("POST", "/access") => "access.request",
        ("GET", "/grants" | "/grants/stats") => "grants.list",
        ("POST", "/grants/{id}/revoke") => "grants.revoke",
        ("POST", "/v1/tokens") => "tokens.create",
        ("GET", "/v1/whoami") => "self.whoami",
        ("POST", "/v1/logout") => "self.logout",
        _ => return None,
    })
}

/// Authenticates the bearer credential, asks the policy about the operation, and hands the
/// caller to the handler. A route this table does not name is refused: a new route must be
/// given an operation before anyone can call it.
pub async fn require_credential(
    State(gateway): State<Gateway>,
    mut request: Request,
    next: Next,
) -> Response {
    let addr = client_addr(request.extensions().get::<ConnectInfo<SocketAddr>>());
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let Some(op) = operation(request.method(), &path) else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "this admin route has no operation name",
        )
        .into_response();
    };
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "send a sluice credential as Authorization: Bearer <token> (`sluice login`, or SLUICE_TOKEN)",
        )
        .into_response();
    };
    let auth = match gateway.authenticate_bearer(token, &addr).await {
        Ok(Some(auth)) => auth,
        Ok(None) => {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the credential is unknown, expired or revoked",
            )
            .into_response()
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    if !op.starts_with("self.") {
        let method = request.method().as_str().to_owned();
        let uri_path = request.uri().path().to_owned();
        if let Err(e) = gateway
            .authorize_admin(&auth, &addr, op, &method, &uri_path)
            .await
        {
            return ApiError::from(e).into_response();
        }
    }
    request.extensions_mut().insert(CallerAuth(Arc::new(auth)));
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for CallerAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<CallerAuth>()
            .cloned()
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "this route needs a credential"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let auth = CallerAuth::from_request_parts(parts, state).await?;
        Ok(Caller(auth.0.identity().to_owned()))
    }
}

/// `{"error": "..."}` with the status that says what kind of refusal it is.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> ApiError {
        let status = match &e {
            CoreError::Refused { kind, .. } => match kind {
                RefusalKind::NotFound => StatusCode::NOT_FOUND,
                RefusalKind::Forbidden => StatusCode::FORBIDDEN,
                RefusalKind::Conflict => StatusCode::CONFLICT,
                RefusalKind::Invalid => StatusCode::BAD_REQUEST,
            },
            CoreError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => {
                tracing::error!(error = %e, "admin API request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}
