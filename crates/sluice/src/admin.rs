//! The admin HTTP listener: `/healthz` and `/readyz` for orchestrators, `/metrics` for Prometheus,
//! `/policy` (what is enforced; `POST /policy/reload` re-reads the policy directory), the
//! approval API (`approvals_api`: reviews, access requests, grants), and the web console
//! (`console`, under `/console`, which signs people in itself).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use sluice_core::policy::ReloadOutcome;
use sluice_core::Gateway;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::rustls::ServerConfig;

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves plain HTTP, or HTTPS only when `tls` is given (`[admin] tls_cert`).
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    tls: Option<Arc<ServerConfig>>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = app(gateway);
    if let Some(tls) = tls {
        return crate::admin_tls::serve(listener, app, tls, stop).await;
    }
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
}

/// Every route: the open ones (health, metrics, signing in) and, behind a credential and the
/// policy's `admin` decision, the rest.
pub fn app(gateway: Gateway) -> Router {
    let protected = Router::new()
        .route("/policy", get(policy))
        .route("/cluster", get(cluster))
        .route("/signals", get(signals))
        .route("/policy/reload", post(reload_policy))
        .merge(crate::approvals_api::routes())
        .merge(crate::identity_api::protected_routes())
        .route_layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            crate::admin_auth::require_credential,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::identity_api::open_routes())
        .merge(crate::console::routes())
        .merge(protected)
        .with_state(gateway)
}

/// Healthy while the audit trail accepts writes: a gateway that cannot audit serves nothing.
async fn healthz(State(gateway): State<Gateway>) -> impl IntoResponse {
    let stats = gateway.audit().metrics();
    if stats.sync_failures > 0 {
        (StatusCode::SERVICE_UNAVAILABLE, "audit trail failed\n")
    } else {
        (StatusCode::OK, "ok\n")
    }
}

/// Whether a load balancer should send new connections here: not draining (SIGTERM), the
/// store reachable, the audit trail writable. 503 with the reason otherwise.
async fn readyz(State(gateway): State<Gateway>) -> impl IntoResponse {
    match gateway.readiness().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(not) => (StatusCode::SERVICE_UNAVAILABLE, format!("{}\n", not.0)),
    }
}

/// This gateway, its store, and every gateway that has beaten a heartbeat on it.
async fn cluster(State(gateway): State<Gateway>) -> impl IntoResponse {
    match gateway.cluster().await {
        Ok(view) => (
            StatusCode::OK,
            Json(serde_json::to_value(view).unwrap_or_default()),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": e.to_string() })),
        ),
    }
}

#[derive(serde::Deserialize)]
struct SignalsQuery {
    /// Compute now instead of returning the last periodic report.
    #[serde(default)]
    refresh: bool,
}

/// The self-reflection signals (docs/signals.md): the last report, or a fresh one.
async fn signals(
    State(gateway): State<Gateway>,
    axum::extract::Query(q): axum::extract::Query<SignalsQuery>,
) -> impl IntoResponse {
    let report = match gateway.signals() {
        Some(report) if !q.refresh => Ok(report),
        _ => gateway.refresh_signals().await,
    };
    match report {
        Ok(report) => (
            StatusCode::OK,
            Json(serde_json::to_value(&*report).unwrap_or_default()),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": e.to_string() })),
        ),
    }
}

async fn policy(State(gateway): State<Gateway>) -> impl IntoResponse {
    Json(gateway.policy().current().info.clone())
}

/// Same as SIGHUP. 200 when the directory's bundle is now enforced (newly or already), 422
/// with the reason when it was rejected.
async fn reload_policy(State(gateway): State<Gateway>) -> impl IntoResponse {
    match gateway.reload_policy("api").await {
        ReloadOutcome::Rejected { reason, .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({ "rejected": reason })),
        ),
        ReloadOutcome::Unchanged | ReloadOutcome::Loaded { .. } => (
            StatusCode::OK,
            Json(serde_json::to_value(&gateway.policy().current().info).unwrap_or_default()),
        ),
    }
}

async fn metrics(State(gateway): State<Gateway>) -> impl IntoResponse {
    let mut text = gateway.metrics().render();
    let a = gateway.audit().metrics();
    let audit = [
        (
            "sluice_audit_records_total",
            "Audit records appended.",
            a.records_appended,
        ),
        (
            "sluice_audit_bytes_written_total",
            "Audit bytes written.",
            a.bytes_written,
        ),
        (
            "sluice_audit_write_batches_total",
            "Group-commit writes (one write(2) each).",
            a.write_batches,
        ),
        (
            "sluice_audit_syncs_total",
            "fdatasync calls on the audit file.",
            a.syncs,
        ),
        (
            "sluice_audit_write_failures_total",
            "Failed audit writes.",
            a.write_failures,
        ),
    ];
    for (name, help, value) in audit {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        ));
    }
    text.push_str(&format!(
        "# HELP sluice_audit_write_seconds_total Time spent in audit write(2) calls.\n# TYPE sluice_audit_write_seconds_total counter\nsluice_audit_write_seconds_total {}\n# HELP sluice_audit_write_seconds_max Longest audit write(2).\n# TYPE sluice_audit_write_seconds_max gauge\nsluice_audit_write_seconds_max {}\n",
        a.write_latency_us_total as f64 / 1e6,
        a.write_latency_us_max as f64 / 1e6
    ));
    gateway.notifier().render_metrics(&mut text);
    if let Some(report) = gateway.signals() {
        report.render_prometheus(&mut text);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
