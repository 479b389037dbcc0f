//! The web console (docs/console.md): server-rendered pages on the admin listener for
//! reviewers, auditors and operators, in one binary with no separate front-end build. People
//! sign in through the configured identity provider; every page asks the policy for the same
//! admin operation the API would (`request.action = "admin"`), so the console can show or do
//! nothing the API would refuse the same person.

mod assets;
mod audit;
mod auth;
mod grants;
mod page;
mod policy;
mod reviews;
mod sessions;
mod signals;

use std::sync::Arc;

use axum::response::Redirect;
use axum::routing::{get, post};
use axum::{Extension, Router};
use sluice_core::Gateway;

/// The console's routes, under `/console`.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/reviews") }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/reviews") }),
        )
        .route("/console/login", get(auth::login))
        .route("/console/login/token", post(auth::token_login))
        .route("/console/callback", get(auth::callback))
        .route("/console/logout", post(auth::logout))
        .route("/console/assets/{name}", get(assets::serve))
        .route("/console/reviews", get(reviews::inbox))
        .route("/console/reviews/live", get(reviews::live))
        .route("/console/reviews/{id}", get(reviews::show))
        .route("/console/reviews/{id}/decide", post(reviews::decide))
        .route("/console/grants", get(grants::list))
        .route("/console/grants/{id}/revoke", post(grants::revoke))
        .route("/console/access", post(grants::request_access))
        .route("/console/sessions", get(sessions::list))
        .route("/console/sessions/{id}", get(sessions::show))
        .route("/console/sessions/{id}/recording", get(sessions::download))
        .route("/console/sessions/{id}/cast", get(sessions::cast))
        .route("/console/audit", get(audit::search))
        .route("/console/audit/verify", post(audit::verify))
        .route("/console/audit/{id}", get(audit::record))
        .route("/console/policy", get(policy::show))
        .route("/console/policy/evaluate", post(policy::evaluate))
        .route("/console/policy/reload", post(policy::reload))
        .route("/console/signals", get(signals::show))
        .layer(axum::middleware::from_fn(page::security_headers))
        // Outside the security headers, to widen their CSP for the terminal player's page only.
        .layer(axum::middleware::from_fn(sessions::player_csp))
        .layer(Extension(Arc::new(auth::Pending::default())))
        .layer(Extension(Arc::new(audit::AuditPages::default())))
}
