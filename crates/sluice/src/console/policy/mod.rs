//! Policy: the version in force on each gateway, drift against the repository, the last
//! reload and its rejections, and a form that asks what the policy would decide
//! (docs/console.md).

mod evaluate;
mod view;

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use sluice_core::policy::ReloadOutcome;

use super::auth::Viewer;
use super::page;
use evaluate::Evaluation;

/// `GET /console/policy`.
pub(crate) async fn show(viewer: Viewer) -> Response {
    if let Some(refused) = viewer.refused("policy.read", &Method::GET, "/policy").await {
        return refused;
    }
    let input = evaluate::example(&viewer);
    render(&viewer, StatusCode::OK, None, &input, None).await
}

#[derive(Deserialize)]
pub(crate) struct EvaluateForm {
    csrf: String,
    #[serde(default)]
    input: String,
}

/// `POST /console/policy/evaluate`: the page again, with the decision under the form.
pub(crate) async fn evaluate(
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<EvaluateForm>,
) -> Response {
    if let Some(refused) = viewer.form_refused(&headers, &form.csrf) {
        return refused;
    }
    if let Some(refused) = viewer
        .refused("policy.evaluate", &Method::POST, "/policy/evaluate")
        .await
    {
        return refused;
    }
    let evaluation = evaluate::run(&viewer, &form.input).await;
    let status = match &evaluation {
        Evaluation::Decided(_) => StatusCode::OK,
        Evaluation::Failed(status, _) => *status,
    };
    // An input too large to evaluate is not sent back into the page either.
    let input = if form.input.len() > evaluate::MAX_INPUT {
        evaluate::example(&viewer)
    } else {
        form.input
    };
    let result = evaluate::result(&evaluation);
    render(&viewer, status, None, &input, Some(result)).await
}

#[derive(Deserialize)]
pub(crate) struct ReloadForm {
    csrf: String,
}

/// `POST /console/policy/reload`: the directory read again, as SIGHUP and the admin API do.
pub(crate) async fn reload(
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<ReloadForm>,
) -> Response {
    if let Some(refused) = viewer.form_refused(&headers, &form.csrf) {
        return refused;
    }
    if let Some(refused) = viewer
        .refused("policy.reload", &Method::POST, "/policy/reload")
        .await
    {
        return refused;
    }
    let (status, notice) = match viewer.gateway.reload_policy("console").await {
        ReloadOutcome::Unchanged => (
            StatusCode::OK,
            html! { p class="notice" role="status" { "Reloaded: the directory holds the policy already in force." } },
        ),
        ReloadOutcome::Loaded { previous, info } => (
            StatusCode::OK,
            html! { p class="notice" role="status" { "Reloaded: " code { (info.version) } " replaces " code { (previous) } "." } },
        ),
        ReloadOutcome::Rejected {
            reason, enforced, ..
        } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            html! { p class="error" role="alert" { "Rejected: " (reason) ". " code { (enforced) } " stays in force." } },
        ),
    };
    let input = evaluate::example(&viewer);
    render(&viewer, status, Some(notice), &input, None).await
}

/// The whole page: status, the reload button for those allowed, and the form with `input`
/// (and its result, when one was asked for).
async fn render(
    viewer: &Viewer,
    status: StatusCode,
    notice: Option<Markup>,
    input: &str,
    result: Option<Markup>,
) -> Response {
    let gateway = &viewer.gateway;
    let active = gateway.policy().current();
    let rejection = gateway.policy().last_rejection();
    let cluster = gateway.cluster().await.map_err(|e| e.to_string());
    let signals = gateway.signals();
    let may_reload = viewer.may("policy.reload", &Method::POST, "/policy/reload");
    let body = html! {
        h1 { "Policy" }
        @if let Some(notice) = notice { (notice) }
        (view::in_force(&active.info, rejection.as_ref()))
        @if may_reload {
            form class="reload" method="post" action="/console/policy/reload" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                button type="submit" { "Reload" }
                span class="muted" { " Reads the policy directory again; a bundle that fails to compile or its tests is rejected." }
            }
        }
        (view::cluster(&active.info.version, cluster.as_ref().map_err(String::as_str)))
        (view::drift(signals.as_deref().map(|r| (r.generated_at.as_str(), &r.policy_drift))))
        (evaluate::form(viewer, input))
        @if let Some(result) = result { (result) }
    };
    let mut response = page::render(viewer, "/console/policy", "Policy", body).await;
    *response.status_mut() = status;
    response
}
