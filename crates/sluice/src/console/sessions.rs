//! Sessions: the recorded sessions with filters, one session's statements, decisions and
//! results, terminal replay, and the recording's download and seal status.

use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::auth::Viewer;
use super::page;

/// `GET /console/sessions`.
pub(crate) async fn list(viewer: Viewer) -> Response {
    if let Some(refused) = viewer
        .refused("sessions.list", &Method::GET, "/sessions")
        .await
    {
        return refused;
    }
    page::error(
        Some(&viewer),
        StatusCode::NOT_IMPLEMENTED,
        "Sessions",
        "not yet",
    )
}

/// `GET /console/sessions/{id}`.
pub(crate) async fn show(viewer: Viewer, Path(id): Path<String>) -> Response {
    let path = format!("/sessions/{id}");
    if let Some(refused) = viewer.refused("sessions.read", &Method::GET, &path).await {
        return refused;
    }
    page::error(
        Some(&viewer),
        StatusCode::NOT_IMPLEMENTED,
        "Session",
        "not yet",
    )
}

/// `GET /console/sessions/{id}/recording`: the recording as stored.
pub(crate) async fn download(viewer: Viewer, Path(id): Path<String>) -> Response {
    let path = format!("/sessions/{id}");
    if let Some(refused) = viewer.refused("sessions.read", &Method::GET, &path).await {
        return refused;
    }
    page::error(
        Some(&viewer),
        StatusCode::NOT_IMPLEMENTED,
        "Recording",
        "not yet",
    )
}
