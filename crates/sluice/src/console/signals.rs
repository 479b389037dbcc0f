//! Signals: the five self-reflection signals (docs/signals.md) with their history, drawn on
//! the server as SVG.

use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::auth::Viewer;
use super::page;

/// `GET /console/signals`.
pub(crate) async fn show(viewer: Viewer) -> Response {
    if let Some(refused) = viewer
        .refused("signals.read", &Method::GET, "/signals")
        .await
    {
        return refused;
    }
    page::error(
        Some(&viewer),
        StatusCode::NOT_IMPLEMENTED,
        "Signals",
        "not yet",
    )
}
