//! Access: the grants in force (revocable by whom the policy lets), and the form to ask for
//! a time-bound grant on a target, which opens a review or is granted at once as the policy
//! says.

use axum::extract::Path;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;
use sluice_core::approvals::{AccessOutcome, AccessRequest, ANY_SCOPE};

use super::auth::Viewer;
use super::page;

/// Lengths the access form offers.
const DURATIONS: [&str; 4] = ["30m", "1h", "4h", "8h"];

/// `GET /console/grants`.
pub(crate) async fn list(viewer: Viewer) -> Response {
    if let Some(refused) = viewer.refused("grants.list", &Method::GET, "/grants").await {
        return refused;
    }
    let grants = match viewer.gateway.grants(false, None, None).await {
        Ok(g) => g,
        Err(e) => {
            return page::error(
                Some(&viewer),
                StatusCode::SERVICE_UNAVAILABLE,
                "Grants unavailable",
                &e.to_string(),
            )
        }
    };
    let may_ask = viewer.may("access.request", &Method::POST, "/access");
    let targets: Vec<String> = viewer
        .gateway
        .config()
        .targets
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let mut revocable = Vec::with_capacity(grants.len());
    for g in &grants {
        let path = format!("/grants/{}/revoke", g.id);
        revocable.push(viewer.may("grants.revoke", &Method::POST, &path));
    }
    let body = html! {
        h1 { "Access" }
        h2 { "Grants in force" }
        @if grants.is_empty() {
            p class="empty" { "No grant is in force." }
        } @else {
            div class="table-wrap" {
                table class="grants" {
                    thead { tr { th { "Who" } th { "Target" } th { "Scope" } th { "Until" } th { "Reason" } th {} } }
                    tbody {
                        @for (g, may_revoke) in grants.iter().zip(&revocable) {
                            tr data-grant=(g.id) {
                                td { (g.identity) }
                                td { (g.target) }
                                td { (g.scope) }
                                td { (page::when(&g.expires_at)) br; span class="muted" { (page::relative(&g.expires_at)) } }
                                td { (g.reason) }
                                td {
                                    @if *may_revoke {
                                        form method="post" action={ "/console/grants/" (g.id) "/revoke" } {
                                            input type="hidden" name="csrf" value=(viewer.csrf);
                                            button type="submit" { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if may_ask {
            h2 { "Ask for access" }
            form class="decide" method="post" action="/console/access" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                label { "Target" select name="target" { @for t in &targets { option value=(t) { (t) } } } }
                label { "For" select name="duration" { @for d in DURATIONS { option value=(d) { (d) } } } }
                label { "Reason (reviewers see it)" textarea name="reason" rows="2" maxlength="2000" required {} }
                div class="buttons" { button type="submit" { "Ask" } }
            }
        }
    };
    page::render(&viewer, "/console/grants", "Access", body).await
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    csrf: String,
}

/// `POST /console/grants/{id}/revoke`.
pub(crate) async fn revoke(
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Response {
    if let Some(refused) = viewer.form_refused(&headers, &form.csrf) {
        return refused;
    }
    let path = format!("/grants/{id}/revoke");
    if let Some(refused) = viewer.refused("grants.revoke", &Method::POST, &path).await {
        return refused;
    }
    match viewer
        .gateway
        .revoke_grant(&viewer.auth.reviewer(), &id, None)
        .await
    {
        Ok(_) => Redirect::to("/console/grants").into_response(),
        Err(e) => {
            let e = crate::admin_auth::ApiError::from(e);
            page::error(Some(&viewer), e.status(), "Not revoked", e.message())
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct AccessForm {
    csrf: String,
    target: String,
    duration: String,
    reason: String,
}

/// `POST /console/access`: granted at once, or a review to wait for.
pub(crate) async fn request_access(
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<AccessForm>,
) -> Response {
    if let Some(refused) = viewer.form_refused(&headers, &form.csrf) {
        return refused;
    }
    if let Some(refused) = viewer
        .refused("access.request", &Method::POST, "/access")
        .await
    {
        return refused;
    }
    let duration = match crate::approvals_api::parse_duration(&form.duration) {
        Ok(d) => d,
        Err(e) => return page::error(Some(&viewer), e.status(), "Bad duration", e.message()),
    };
    let request = AccessRequest {
        target: form.target,
        duration,
        scope: ANY_SCOPE.to_owned(),
        reason: form.reason,
    };
    match viewer.gateway.request_access(&viewer.auth, request).await {
        Ok(AccessOutcome::Granted(_)) => Redirect::to("/console/grants").into_response(),
        Ok(AccessOutcome::Pending(review)) => {
            Redirect::to(&format!("/console/reviews/{}", review.id)).into_response()
        }
        Err(e) => {
            let e = crate::admin_auth::ApiError::from(e);
            page::error(Some(&viewer), e.status(), "Access not asked", e.message())
        }
    }
}
