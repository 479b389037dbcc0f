//! Sessions: the recorded sessions with filters, one session's statements, decisions and
//! results, terminal replay, and the recording's download and seal status.
//!
//! - `list.rs`: the list, its filters and paging.
//! - `show.rs`: one session's page.
//! - `seal.rs`: the session's audit summary and its recording's seal status.

mod list;
mod seal;
mod show;

use std::sync::Arc;

use axum::extract::{Path, Query, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sluice_record::{RecordError, RecordingStore};

use super::auth::Viewer;
use super::page;

/// `GET /console/sessions`.
pub(crate) async fn list(viewer: Viewer, Query(filters): Query<list::Filters>) -> Response {
    if let Some(refused) = viewer
        .refused("sessions.list", &Method::GET, "/sessions")
        .await
    {
        return refused;
    }
    let Some(store) = store(&viewer) else {
        return recording_off(&viewer);
    };
    let (status, body) = list::body(store.as_ref(), &filters).await;
    let mut response = page::render(&viewer, "/console/sessions", "Sessions", body).await;
    *response.status_mut() = status;
    response
}

/// `GET /console/sessions/{id}`.
pub(crate) async fn show(viewer: Viewer, Path(id): Path<String>) -> Response {
    let path = format!("/sessions/{id}");
    if let Some(refused) = viewer.refused("sessions.read", &Method::GET, &path).await {
        return refused;
    }
    if sluice_record::validate_session(&id).is_err() {
        return not_found(&viewer);
    }
    let stored = match store(&viewer) {
        None => None,
        Some(store) => match store.read(&id).await {
            Ok(bytes) => Some(bytes),
            Err(RecordError::NotFound(_)) => None,
            Err(e) => return unreadable(&viewer, &e),
        },
    };
    // A recording that no longer parses still has a page: its seal status is the evidence of
    // what happened to it.
    let (recording, unparsed) = match stored.as_deref().map(sluice_record::parse).transpose() {
        Ok(r) => (r, None),
        Err(e) => (None, Some(e.to_string())),
    };
    let (summary, seal) = seal::status(&viewer.gateway, &id, stored.as_deref()).await;
    if stored.is_none() && summary.is_none() {
        return not_found(&viewer);
    }
    let player = recording.as_ref().is_some_and(|r| r.terminal.is_some());
    let shown = match (&recording, &unparsed) {
        (Some(r), _) => show::Shown::Recording(r),
        (None, Some(e)) => show::Shown::Unparsed(e),
        (None, None) => show::Shown::Missing,
    };
    let body = show::body(&id, shown, summary.as_ref(), &seal);
    let mut response = page::render(&viewer, "/console/sessions", "Session", body).await;
    if player {
        response.extensions_mut().insert(PlayerPage);
    }
    response
}

/// `GET /console/sessions/{id}/recording`: the recording as stored, byte for byte (what the
/// seal covers), as a file to save.
pub(crate) async fn download(viewer: Viewer, Path(id): Path<String>) -> Response {
    let bytes = match stored(&viewer, &id).await {
        Ok(bytes) => bytes,
        Err(refused) => return refused,
    };
    // The id is checked to be [A-Za-z0-9_-]: nothing in it can break out of the quotes.
    let disposition = format!("attachment; filename=\"{id}.jsonl\"");
    let mut response = ([(header::CONTENT_TYPE, "application/jsonl")], bytes).into_response();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// `GET /console/sessions/{id}/cast`: a terminal session as asciicast v2, for the player.
pub(crate) async fn cast(viewer: Viewer, Path(id): Path<String>) -> Response {
    let bytes = match stored(&viewer, &id).await {
        Ok(bytes) => bytes,
        Err(refused) => return refused,
    };
    let cast = sluice_record::parse(&bytes).and_then(|r| sluice_record::to_asciicast(&r));
    match cast {
        Ok(cast) => ([(header::CONTENT_TYPE, "application/x-asciicast")], cast).into_response(),
        Err(RecordError::NotATerminal(kind)) => page::error(
            Some(&viewer),
            StatusCode::NOT_FOUND,
            "Not a terminal session",
            &format!("this session's recording is of kind {kind}: only terminal sessions replay"),
        ),
        Err(e) => unreadable(&viewer, &e),
    }
}

/// The recording's bytes for the download and the cast, after the same check as its page;
/// the error page otherwise.
async fn stored(viewer: &Viewer, id: &str) -> Result<Vec<u8>, Response> {
    let path = format!("/sessions/{id}");
    if let Some(refused) = viewer.refused("sessions.read", &Method::GET, &path).await {
        return Err(refused);
    }
    if sluice_record::validate_session(id).is_err() {
        return Err(not_found(viewer));
    }
    let Some(store) = store(viewer) else {
        return Err(recording_off(viewer));
    };
    match store.read(id).await {
        Ok(bytes) => Ok(bytes),
        Err(RecordError::NotFound(_)) => Err(not_found(viewer)),
        Err(e) => Err(unreadable(viewer, &e)),
    }
}

fn store(viewer: &Viewer) -> Option<Arc<dyn RecordingStore>> {
    viewer.gateway.recordings().cloned()
}

fn not_found(viewer: &Viewer) -> Response {
    page::error(
        Some(viewer),
        StatusCode::NOT_FOUND,
        "No such session",
        "Neither the recordings nor this gateway's audit trail have a session with this id.",
    )
}

fn recording_off(viewer: &Viewer) -> Response {
    page::error(
        Some(viewer),
        StatusCode::NOT_FOUND,
        "No recordings",
        "Recording is off on this gateway ([recording] enabled = false): there are no sessions to show.",
    )
}

fn unreadable(viewer: &Viewer, e: &RecordError) -> Response {
    tracing::warn!(error = %e, "console: a recording cannot be read");
    page::error(
        Some(viewer),
        StatusCode::SERVICE_UNAVAILABLE,
        "Recording unreadable",
        &format!("the recording cannot be read: {e}"),
    )
}

/// Marks a session page that embeds the terminal player.
#[derive(Clone, Copy)]
struct PlayerPage;

/// The player's terminal emulator is WebAssembly, which a CSP without `'wasm-unsafe-eval'`
/// refuses to compile. Only a page with the player gets it, added to the console's own
/// policy (set by `page::security_headers`, inside this layer) rather than a second copy of it.
/// It permits compiling WebAssembly only, not `eval` of JavaScript.
pub(crate) async fn player_csp(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if response.extensions().get::<PlayerPage>().is_none() {
        return response;
    }
    let csp = response
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.replacen(
                "script-src 'self'",
                "script-src 'self' 'wasm-unsafe-eval'",
                1,
            )
        });
    if let Some(value) = csp.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}
