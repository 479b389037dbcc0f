//! The approval endpoints of the admin API (docs/approvals.md): reviews and access grants.
//! Every request names its caller with `Authorization: Bearer <token>`, checked (and the
//! operation decided by the policy) in `admin_auth` before a handler runs; what a reviewer
//! may decide is then `sluice-core`'s to say.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use sluice_core::approvals::{AccessOutcome, AccessRequest, GrantAsk, ReviewerVerdict, ANY_SCOPE};
use sluice_core::Gateway;

use crate::admin_auth::{ApiError, AsReviewer, Caller, CallerAuth};

pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/reviews", get(list_reviews))
        .route("/reviews/stats", get(review_stats))
        .route("/reviews/{id}", get(show_review))
        .route("/reviews/{id}/approve", post(approve))
        .route("/reviews/{id}/deny", post(deny))
        .route("/access", post(request_access))
        .route("/grants", get(list_grants))
        .route("/grants/stats", get(grant_stats))
        .route("/grants/{id}/revoke", post(revoke))
}

type ApiResult = Result<Response, ApiError>;

fn ok(value: impl serde::Serialize) -> ApiResult {
    Ok(Json(value).into_response())
}

#[derive(Deserialize)]
struct StateQuery {
    state: Option<String>,
    identity: Option<String>,
    target: Option<String>,
}

/// `state=all` lists everything; `state=pending` (reviews), `state=active` (grants) or no
/// state, only those still open. Anything else is refused rather than silently ignored.
fn wants_all(q: &StateQuery, open: &str) -> Result<bool, ApiError> {
    match q.state.as_deref() {
        Some("all") => Ok(true),
        None => Ok(false),
        Some(s) if s == open => Ok(false),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("state must be {open} or all, not {other:?}"),
        )),
    }
}

async fn list_reviews(
    State(gateway): State<Gateway>,
    AsReviewer(caller): AsReviewer,
    Query(q): Query<StateQuery>,
) -> ApiResult {
    if q.identity.is_some() || q.target.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "reviews are filtered by state only",
        ));
    }
    let all = wants_all(&q, "pending")?;
    ok(json!({ "reviews": gateway.reviews(&caller, all).await? }))
}

async fn show_review(
    State(gateway): State<Gateway>,
    AsReviewer(caller): AsReviewer,
    Path(id): Path<String>,
) -> ApiResult {
    ok(gateway.review(&caller, &id).await?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    comment: Option<String>,
    grant: Option<String>,
    scope: Option<String>,
}

async fn approve(
    State(gateway): State<Gateway>,
    AsReviewer(reviewer): AsReviewer,
    Path(id): Path<String>,
    body: Option<Json<DecideBody>>,
) -> ApiResult {
    let body = or_default(body);
    let grant = match &body.grant {
        Some(d) => Some(GrantAsk {
            duration: parse_duration(d)?,
            scope: body.scope.clone().unwrap_or_else(|| ANY_SCOPE.to_owned()),
        }),
        None => None,
    };
    let verdict = ReviewerVerdict {
        approve: true,
        comment: body.comment,
        grant,
    };
    ok(gateway.decide_review(&reviewer, &id, verdict).await?)
}

async fn deny(
    State(gateway): State<Gateway>,
    AsReviewer(reviewer): AsReviewer,
    Path(id): Path<String>,
    body: Option<Json<DecideBody>>,
) -> ApiResult {
    let body = or_default(body);
    if body.grant.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a grant goes with an approval, not a denial",
        ));
    }
    let verdict = ReviewerVerdict {
        approve: false,
        comment: body.comment,
        grant: None,
    };
    ok(gateway.decide_review(&reviewer, &id, verdict).await?)
}

#[derive(Deserialize)]
struct SinceQuery {
    since: Option<String>,
}

async fn review_stats(
    State(gateway): State<Gateway>,
    _caller: Caller,
    Query(q): Query<SinceQuery>,
) -> ApiResult {
    ok(gateway.review_stats(parse_since(&q)?).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessBody {
    target: String,
    duration: String,
    scope: Option<String>,
    reason: String,
}

async fn request_access(
    State(gateway): State<Gateway>,
    CallerAuth(caller): CallerAuth,
    Json(body): Json<AccessBody>,
) -> ApiResult {
    let request = AccessRequest {
        target: body.target,
        duration: parse_duration(&body.duration)?,
        scope: body.scope.unwrap_or_else(|| ANY_SCOPE.to_owned()),
        reason: body.reason,
    };
    let (status, value) = match gateway.request_access(&caller, request).await? {
        AccessOutcome::Granted(grant) => (StatusCode::CREATED, json!({ "grant": grant })),
        AccessOutcome::Pending(review) => (StatusCode::ACCEPTED, json!({ "review": review })),
    };
    Ok((status, Json(value)).into_response())
}

async fn list_grants(
    State(gateway): State<Gateway>,
    _caller: Caller,
    Query(q): Query<StateQuery>,
) -> ApiResult {
    let all = wants_all(&q, "active")?;
    ok(json!({ "grants": gateway.grants(all, q.identity, q.target).await? }))
}

async fn grant_stats(
    State(gateway): State<Gateway>,
    _caller: Caller,
    Query(q): Query<SinceQuery>,
) -> ApiResult {
    ok(gateway.grant_churn(parse_since(&q)?).await?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    comment: Option<String>,
}

async fn revoke(
    State(gateway): State<Gateway>,
    AsReviewer(by): AsReviewer,
    Path(id): Path<String>,
    body: Option<Json<RevokeBody>>,
) -> ApiResult {
    let body = or_default(body);
    ok(gateway.revoke_grant(&by, &id, body.comment).await?)
}

/// An optional JSON body, or its defaults when none was sent.
fn or_default<T: Default>(body: Option<Json<T>>) -> T {
    body.map(|Json(b)| b).unwrap_or_default()
}

pub(crate) fn parse_duration(text: &str) -> Result<Duration, ApiError> {
    humantime::parse_duration(text).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{text:?} is not a duration such as 30m or 2h: {e}"),
        )
    })
}

/// `since` as an RFC 3339 time, in unix milliseconds.
fn parse_since(q: &SinceQuery) -> Result<Option<i64>, ApiError> {
    q.since
        .as_deref()
        .map(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("since {s:?} is not an RFC 3339 time: {e}"),
                    )
                })
        })
        .transpose()
}
