//! Policy: the version in force on each gateway, drift against the repository, the last
//! reload and its rejections, and a form that asks what the policy would decide.

use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::auth::Viewer;
use super::page;

/// `GET /console/policy`.
pub(crate) async fn show(viewer: Viewer) -> Response {
    if let Some(refused) = viewer.refused("policy.read", &Method::GET, "/policy").await {
        return refused;
    }
    page::error(
        Some(&viewer),
        StatusCode::NOT_IMPLEMENTED,
        "Policy",
        "not yet",
    )
}

/// `POST /console/policy/evaluate`.
pub(crate) async fn evaluate(viewer: Viewer) -> Response {
    if let Some(refused) = viewer
        .refused("policy.evaluate", &Method::POST, "/policy/evaluate")
        .await
    {
        return refused;
    }
    page::error(
        Some(&viewer),
        StatusCode::NOT_IMPLEMENTED,
        "Policy",
        "not yet",
    )
}
