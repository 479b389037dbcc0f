//! Audit: the trail searched with filters and paging, one record's details, and the chain's
//! and checkpoints' status.

use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::auth::Viewer;
use super::page;

/// `GET /console/audit`.
pub(crate) async fn search(viewer: Viewer) -> Response {
    if let Some(refused) = viewer.refused("audit.read", &Method::GET, "/audit").await {
        return refused;
    }
    page::error(
        Some(&viewer),
        StatusCode::NOT_IMPLEMENTED,
        "Audit",
        "not yet",
    )
}

/// `GET /console/audit/{id}`.
pub(crate) async fn record(viewer: Viewer, Path(_id): Path<String>) -> Response {
    if let Some(refused) = viewer.refused("audit.read", &Method::GET, "/audit").await {
        return refused;
    }
    page::error(
        Some(&viewer),
        StatusCode::NOT_IMPLEMENTED,
        "Audit record",
        "not yet",
    )
}
