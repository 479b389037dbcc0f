//! The reviews inbox: what waits for the viewer's decision, refreshed while it is open, each
//! review with everything the CLI shows, and the approve/deny form (with an optional grant).
//! A held statement's notice links to its page here.

use axum::extract::Path;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use sluice_core::approvals::{GrantAsk, ReviewView, ReviewerVerdict, ANY_SCOPE};

use super::auth::Viewer;
use super::page;

/// Grant lengths the form offers with an approval.
const GRANTS: [(&str, &str); 5] = [
    ("", "No grant: this request only"),
    ("15m", "and grant 15 minutes"),
    ("1h", "and grant 1 hour"),
    ("4h", "and grant 4 hours"),
    ("8h", "and grant 8 hours"),
];

/// `GET /console/reviews`.
pub(crate) async fn inbox(viewer: Viewer, uri: Uri) -> Response {
    if let Some(refused) = viewer
        .refused("reviews.list", &Method::GET, uri.path())
        .await
    {
        return refused;
    }
    let list = match pending_list(&viewer).await {
        Ok(list) => list,
        Err(response) => return response,
    };
    let body = html! {
        h1 { "Reviews" }
        p class="muted" { "Requests waiting for a reviewer. This list follows new requests and decisions as they happen." }
        (list)
    };
    page::render(&viewer, "/console/reviews", "Reviews", body).await
}

/// `GET /console/reviews/live`: the list alone, which the inbox polls.
pub(crate) async fn live(viewer: Viewer, uri: Uri) -> Response {
    if let Some(refused) = viewer
        .refused("reviews.list", &Method::GET, uri.path())
        .await
    {
        return refused;
    }
    match pending_list(&viewer).await {
        Ok(list) => list.into_response(),
        Err(response) => response,
    }
}

async fn pending_list(viewer: &Viewer) -> Result<Markup, Response> {
    let reviews = viewer
        .gateway
        .reviews(&viewer.auth.reviewer(), false)
        .await
        .map_err(|e| {
            page::error(
                Some(viewer),
                StatusCode::SERVICE_UNAVAILABLE,
                "Reviews unavailable",
                &e.to_string(),
            )
        })?;
    Ok(html! {
        div id="reviews" hx-get="/console/reviews/live" hx-trigger="every 2s" hx-swap="outerHTML" {
            @if reviews.is_empty() {
                p class="empty" { "Nothing is waiting for a review." }
            } @else {
                ul class="cards" {
                    @for r in &reviews {
                        li class="card review" data-review=(r.id) {
                            h3 { a href={ "/console/reviews/" (r.id) } { (r.summary) } }
                            p class="muted" {
                                (r.requester) " on " (r.target)
                                @if let Some(db) = &r.database { " / " (db) }
                                " · asked " (page::relative(&r.created_at))
                                " · decide by " (page::when(&r.expires_at))
                            }
                            p { "Rule " code { (r.rule) } ": " (r.reason) }
                        }
                    }
                }
            }
        }
    })
}

/// `GET /console/reviews/{id}`.
pub(crate) async fn show(viewer: Viewer, Path(id): Path<String>, uri: Uri) -> Response {
    if let Some(refused) = viewer
        .refused("reviews.read", &Method::GET, uri.path())
        .await
    {
        return refused;
    }
    let review = match viewer.gateway.review(&viewer.auth.reviewer(), &id).await {
        Ok(r) => r,
        Err(e) => {
            return page::error(
                Some(&viewer),
                StatusCode::NOT_FOUND,
                "No such review",
                &e.to_string(),
            )
        }
    };
    let may_decide = review.state == "pending"
        && viewer.may(
            "reviews.decide",
            &Method::POST,
            &format!("/reviews/{id}/approve"),
        );
    let title = format!("Review {}", review.id);
    page::render(
        &viewer,
        "/console/reviews",
        &title,
        detail(&review, may_decide.then_some(viewer.csrf.as_str())),
    )
    .await
}

fn detail(r: &ReviewView, form_token: Option<&str>) -> Markup {
    html! {
        h1 { "Review " (r.id) " " span class={ "state " (r.state) } { (r.state) } }
        p { (r.summary) }
        dl class="facts" {
            dt { "Requester" } dd { (r.requester) }
            dt { "Target" } dd {
                (r.target)
                @if let Some(db) = &r.database { " / " (db) }
                @if let Some(p) = &r.protocol { " (" (p) ")" }
            }
            @if let Some(session) = &r.session { dt { "Session" } dd { code { (session) } } }
            dt { "Policy rule" } dd { code { (r.rule) } }
            dt { "Policy version" } dd { code { (r.policy) } }
            dt { "Why" } dd { (r.reason) }
            dt { "Asked" } dd { (page::when(&r.created_at)) " (" (page::relative(&r.created_at)) ")" }
            dt { "Decide by" } dd { (page::when(&r.expires_at)) " (" (page::relative(&r.expires_at)) ")" }
            @if let Some(at) = &r.decided_at { dt { "Decided" } dd { (page::when(at)) } }
            @if let Some(grant) = &r.grant { dt { "Grant" } dd { code { (grant) } } }
        }
        @if let Some(statement) = &r.statement {
            h2 { "Statement" }
            pre class="statement" { (statement) }
        }
        @if let Some(params) = &r.parameters {
            h2 { "Parameters" }
            ol class="parameters" {
                @for p in params {
                    li { @match p { Some(v) => code { (v) }, None => span class="muted" { "NULL" } } }
                }
            }
        }
        @if let Some(access) = &r.access {
            h2 { "Access asked for" }
            dl class="facts" {
                dt { "Scope" } dd { (access.scope) }
                dt { "For" } dd { (humantime::format_duration(std::time::Duration::from_secs(access.duration_seconds))) }
                dt { "Reason" } dd { (access.reason) }
            }
        }
        @if r.statement.is_none() {
            @if let Some(request) = &r.request {
                h2 { "Request" }
                pre class="request" { (serde_json::to_string_pretty(request).unwrap_or_default()) }
            }
        }
        @if !r.requirements.is_empty() {
            h2 { "Approvals needed" }
            ul {
                @for req in &r.requirements {
                    li {
                        (req.approvals) " from " (req.groups.join(" or "))
                        @if !req.reason.is_empty() { ": " (req.reason) }
                    }
                }
            }
        }
        @if !r.decisions.is_empty() {
            h2 { "Decisions" }
            ul class="decisions" {
                @for d in &r.decisions {
                    li {
                        strong { (d.reviewer) } " " (d.verdict) " at " (page::when(&d.at))
                        @if let Some(c) = &d.comment { ": " (c) }
                    }
                }
            }
        }
        @if let Some(token) = form_token {
            h2 { "Your decision" }
            form class="decide" method="post" action={ "/console/reviews/" (r.id) "/decide" } {
                input type="hidden" name="csrf" value=(token);
                label {
                    "Comment (kept in the audit trail)"
                    textarea name="comment" rows="2" maxlength="2000" {}
                }
                @if r.kind != "access" {
                    label {
                        "With an approval"
                        select name="grant" {
                            @for (value, text) in GRANTS { option value=(value) { (text) } }
                        }
                    }
                }
                div class="buttons" {
                    button class="approve" type="submit" name="verdict" value="approve" { "Approve" }
                    button class="deny" type="submit" name="verdict" value="deny" { "Deny" }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct DecideForm {
    csrf: String,
    verdict: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    grant: String,
}

/// `POST /console/reviews/{id}/decide`.
pub(crate) async fn decide(
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<DecideForm>,
) -> Response {
    if let Some(refused) = viewer.form_refused(&headers, &form.csrf) {
        return refused;
    }
    let approve = match form.verdict.as_str() {
        "approve" => true,
        "deny" => false,
        other => {
            return page::error(
                Some(&viewer),
                StatusCode::BAD_REQUEST,
                "Unknown decision",
                &format!("{other:?} is neither approve nor deny"),
            )
        }
    };
    let api_path = format!("/reviews/{id}/{}", form.verdict);
    if let Some(refused) = viewer
        .refused("reviews.decide", &Method::POST, &api_path)
        .await
    {
        return refused;
    }
    let grant = match (approve, form.grant.trim()) {
        (true, d) if !d.is_empty() => match crate::approvals_api::parse_duration(d) {
            Ok(duration) => Some(GrantAsk {
                duration,
                scope: ANY_SCOPE.to_owned(),
            }),
            Err(e) => return page::error(Some(&viewer), e.status(), "Bad grant", e.message()),
        },
        _ => None,
    };
    let comment = Some(form.comment.trim().to_owned()).filter(|c| !c.is_empty());
    let verdict = ReviewerVerdict {
        approve,
        comment,
        grant,
    };
    match viewer
        .gateway
        .decide_review(&viewer.auth.reviewer(), &id, verdict)
        .await
    {
        Ok(_) => Redirect::to(&format!("/console/reviews/{id}")).into_response(),
        Err(e) => {
            let e = crate::admin_auth::ApiError::from(e);
            page::error(
                Some(&viewer),
                e.status(),
                "The decision was refused",
                e.message(),
            )
        }
    }
}
