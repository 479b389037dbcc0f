//! Audit: the trail searched with filters and paging, one record's details, and the chain's
//! and checkpoints' status (docs/console.md).
//!
//! The console reads this gateway's own trail file, the one `sluice audit search` reads
//! without `--trail`, through the same merged reader, so record ids (gateway and seq) already
//! name records across several gateways' trails.

mod query;
mod verify;
mod view;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use sluice_audit::MergedTrails;

use super::auth::Viewer;
use super::page;
use query::{Filter, RecordId, SearchError, SearchQuery, PAGE_SIZE};
use verify::VerifyCache;

/// Trail scans (searches and record look-ups) running at once; more wait. Each reads the file
/// from its start on a blocking thread, so a crowd reloading pages must not multiply that.
const SCANS: usize = 2;

/// What the audit pages share on one gateway: the last verification, and the scans' bound.
pub(crate) struct AuditPages {
    verified: VerifyCache,
    scans: tokio::sync::Semaphore,
}

impl Default for AuditPages {
    fn default() -> Self {
        AuditPages {
            verified: VerifyCache::default(),
            scans: tokio::sync::Semaphore::new(SCANS),
        }
    }
}

/// The trails the console reads: this gateway's own.
fn trails(viewer: &Viewer) -> Vec<PathBuf> {
    vec![viewer.gateway.config().audit_path()]
}

async fn refused(viewer: &Viewer) -> Option<Response> {
    viewer.refused("audit.read", &Method::GET, "/audit").await
}

/// `GET /console/audit`.
pub(crate) async fn search(
    viewer: Viewer,
    Extension(pages): Extension<Arc<AuditPages>>,
    Query(q): Query<SearchQuery>,
) -> Response {
    if let Some(refused) = refused(&viewer).await {
        return refused;
    }
    let filter = match Filter::from_query(&q) {
        Ok(f) => f,
        Err(e) => return failed(&viewer, &e),
    };
    let Ok(_scan) = pages.scans.acquire().await else {
        return unavailable(&viewer, "the gateway is stopping");
    };
    let paths = trails(&viewer);
    let page = tokio::task::spawn_blocking(move || {
        query::newest_first(MergedTrails::open(&paths)?, &filter, PAGE_SIZE)
    })
    .await;
    let page = match page {
        Ok(Ok(page)) => page,
        Ok(Err(e)) => return failed(&viewer, &e),
        Err(e) => return unavailable(&viewer, &format!("the search task failed: {e}")),
    };
    let verified = pages.verified.last_or_run(&viewer.gateway).await;
    let body = view::search(&viewer, &q, &page, &verified);
    page::render(&viewer, "/console/audit", "Audit", body).await
}

/// `GET /console/audit/{id}`.
pub(crate) async fn record(
    viewer: Viewer,
    Extension(pages): Extension<Arc<AuditPages>>,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = refused(&viewer).await {
        return refused;
    }
    let id = match RecordId::parse(&id) {
        Ok(id) => id,
        Err(e) => return failed(&viewer, &e),
    };
    let Ok(_scan) = pages.scans.acquire().await else {
        return unavailable(&viewer, "the gateway is stopping");
    };
    let paths = trails(&viewer);
    let wanted = id.clone();
    let found =
        tokio::task::spawn_blocking(move || query::find(MergedTrails::open(&paths)?, &wanted))
            .await;
    let line = match found {
        Ok(Ok(Some(line))) => line,
        Ok(Ok(None)) => {
            return page::error(
                Some(&viewer),
                StatusCode::NOT_FOUND,
                "No such record",
                &format!("no record {id} is in this gateway's audit trail"),
            )
        }
        Ok(Err(e)) => return failed(&viewer, &SearchError::Trail(e)),
        Err(e) => return unavailable(&viewer, &format!("the search task failed: {e}")),
    };
    let body = match view::record(&id, &line) {
        Ok(body) => body,
        Err(e) => return failed(&viewer, &SearchError::Trail(e)),
    };
    page::render(
        &viewer,
        "/console/audit",
        &format!("Audit record {id}"),
        body,
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct VerifyForm {
    csrf: String,
}

/// `POST /console/audit/verify`: the trail verified again, then back to the search page.
/// Reading the trail is what `audit.read` allows, so it is the operation asked.
pub(crate) async fn verify(
    viewer: Viewer,
    Extension(pages): Extension<Arc<AuditPages>>,
    headers: HeaderMap,
    Form(form): Form<VerifyForm>,
) -> Response {
    if let Some(refused) = viewer.form_refused(&headers, &form.csrf) {
        return refused;
    }
    if let Some(refused) = refused(&viewer).await {
        return refused;
    }
    pages.verified.run(&viewer.gateway).await;
    Redirect::to("/console/audit").into_response()
}

fn failed(viewer: &Viewer, e: &SearchError) -> Response {
    match e {
        SearchError::BadQuery(why) => {
            page::error(Some(viewer), StatusCode::BAD_REQUEST, "Bad search", why)
        }
        SearchError::Trail(_) | SearchError::BadRecord(..) => unavailable(viewer, &e.to_string()),
    }
}

fn unavailable(viewer: &Viewer, why: &str) -> Response {
    tracing::error!(error = why, "console: the audit trail could not be read");
    page::error(
        Some(viewer),
        StatusCode::SERVICE_UNAVAILABLE,
        "Audit trail unavailable",
        why,
    )
}
