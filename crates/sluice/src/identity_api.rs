//! Sign-in and credentials on the admin API (docs/identity.md): people sign in through an
//! identity provider with the device flow or a browser (PKCE), brokered by the gateway, which
//! alone holds the provider's client secret; workloads trade their own provider's token for a
//! per-task credential (RFC 8693); a signed-in person mints per-task credentials for agents.
//! The gateway answers with a sluice credential, never with the provider's tokens.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;
use sluice_core::gateway::{CredentialAsk, ExchangeError, IssuedCredential};
use sluice_core::{CoreError, Gateway, RefusalKind};
use sluice_identity::{DevicePoll, Rejected, Secret, VerifiedToken};

use crate::admin_auth::{ApiError, CallerAuth, ClientAddr};
use crate::pending_logins::{Expiring, PendingLogins};

/// How long a browser sign-in may take.
const PKCE_WINDOW: Duration = Duration::from_secs(600);

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TYPES: [&str; 3] = [
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:access_token",
];

/// Routes that answer without a credential: they are how one is obtained.
pub fn open_routes() -> Router<Gateway> {
    Router::new()
        .route("/v1/login", get(login_info))
        .route("/v1/login/device", post(device_start))
        .route("/v1/login/device/poll", post(device_poll))
        .route("/v1/login/pkce", post(pkce_start))
        .route("/v1/login/pkce/finish", post(pkce_finish))
        .route("/v1/token/exchange", post(exchange))
        .layer(Extension(Arc::new(Pending::default())))
}

/// Routes for a credential's holder.
pub fn protected_routes() -> Router<Gateway> {
    Router::new()
        .route("/v1/whoami", get(whoami))
        .route("/v1/logout", post(logout))
        .route("/v1/tokens", post(task_token))
}

/// Sign-ins started and not yet finished (pending_logins.rs).
type Pending = PendingLogins<Login>;

struct Login {
    provider: String,
    expires: Instant,
    flow: Flow,
}

enum Flow {
    Device {
        device_code: Secret,
        interval: u64,
    },
    Pkce {
        state: String,
        nonce: String,
        redirect_uri: String,
    },
}

impl Expiring for Login {
    fn expires(&self) -> Instant {
        self.expires
    }
}

/// The provider a sign-in names, or the only one there is.
pub(crate) fn provider_name(gateway: &Gateway, asked: Option<String>) -> Result<String, ApiError> {
    let providers = gateway.providers();
    match asked {
        Some(name) if providers.get(&name).is_some() => Ok(name),
        Some(name) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no identity provider is named {name:?}"),
        )),
        None => {
            let mut signin = providers.configs().filter(|c| c.client_id.is_some());
            match (signin.next(), signin.next()) {
                (Some(only), None) => Ok(only.name.clone()),
                (None, _) => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "this gateway has no identity provider people can sign in with",
                )),
                (Some(_), Some(_)) => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "this gateway has several identity providers: name one (--provider)",
                )),
            }
        }
    }
}

fn identity_error(e: sluice_identity::IdentityError) -> ApiError {
    use sluice_identity::IdentityError as E;
    let status = match &e {
        E::UnknownProvider(_) => StatusCode::NOT_FOUND,
        E::NotSupported { .. } => StatusCode::BAD_REQUEST,
        E::Refused { .. } | E::Rejected(_) => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_GATEWAY,
    };
    ApiError::new(status, e.to_string())
}

async fn login_info(State(gateway): State<Gateway>) -> Response {
    let providers: Vec<_> = gateway
        .providers()
        .configs()
        .filter(|c| c.client_id.is_some())
        .map(|c| json!({ "name": c.name, "issuer": c.issuer, "flows": ["device", "pkce"] }))
        .collect();
    Json(json!({
        "providers": providers,
        "listeners": gateway.listeners(),
        "credential_ttl_seconds": gateway.config().auth.login_ttl.as_secs(),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct ProviderAsk {
    provider: Option<String>,
}

async fn device_start(
    State(gateway): State<Gateway>,
    Extension(pending): Extension<Arc<Pending>>,
    Json(ask): Json<ProviderAsk>,
) -> Result<Response, ApiError> {
    let provider = provider_name(&gateway, ask.provider)?;
    let started = gateway
        .providers()
        .device_start(&provider)
        .await
        .map_err(identity_error)?;
    let login_id = pending.insert(Login {
        provider,
        expires: Instant::now() + Duration::from_secs(started.expires_in),
        flow: Flow::Device {
            device_code: started.device_code,
            interval: started.interval,
        },
    });
    Ok(Json(json!({
        "login_id": login_id,
        "user_code": started.user_code,
        "verification_uri": started.verification_uri,
        "verification_uri_complete": started.verification_uri_complete,
        "interval": started.interval,
        "expires_in": started.expires_in,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct LoginRef {
    login_id: String,
}

async fn device_poll(
    State(gateway): State<Gateway>,
    Extension(pending): Extension<Arc<Pending>>,
    ClientAddr(client): ClientAddr,
    Json(ask): Json<LoginRef>,
) -> Result<Response, ApiError> {
    let Some(login) = pending.take(&ask.login_id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no such sign-in, or it expired: start again",
        ));
    };
    let Flow::Device {
        device_code,
        interval,
    } = &login.flow
    else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not a device sign-in",
        ));
    };
    let polled = gateway
        .providers()
        .device_poll(&login.provider, device_code)
        .await
        .map_err(identity_error)?;
    let waiting = |status: &str, interval: u64| {
        (
            StatusCode::ACCEPTED,
            Json(json!({ "status": status, "interval": interval })),
        )
            .into_response()
    };
    match polled {
        DevicePoll::Pending => {
            let interval = *interval;
            pending.put_back(ask.login_id, login);
            Ok(waiting("authorization_pending", interval))
        }
        DevicePoll::SlowDown => {
            let Flow::Device {
                device_code,
                interval,
            } = login.flow
            else {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "not a device sign-in",
                ));
            };
            let interval = interval + 5;
            pending.put_back(
                ask.login_id,
                Login {
                    flow: Flow::Device {
                        device_code,
                        interval,
                    },
                    ..login
                },
            );
            Ok(waiting("slow_down", interval))
        }
        DevicePoll::Denied(why) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("the sign-in was refused at the identity provider: {why}"),
        )),
        DevicePoll::Expired => Err(ApiError::new(
            StatusCode::GONE,
            "the sign-in expired before it was approved: start again",
        )),
        DevicePoll::Done(tokens) => {
            let verified = gateway
                .providers()
                .verify_for(&login.provider, tokens.id_token.expose(), None)
                .await;
            let issued = signed_in(&gateway, &login.provider, verified, client).await?;
            Ok(Json(credential_json(&issued)).into_response())
        }
    }
}

#[derive(Deserialize)]
struct PkceAsk {
    provider: Option<String>,
    redirect_uri: String,
    code_challenge: String,
    code_challenge_method: Option<String>,
}

/// Only a loopback redirect (RFC 8252 7.3): the code must come back to the CLI on the
/// person's own machine, never to an address someone else chose.
fn loopback_redirect(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    let host_port = rest.split('/').next().unwrap_or_default();
    let host = match host_port.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => h,
        _ => host_port,
    };
    host == "127.0.0.1" || host == "[::1]"
}

async fn pkce_start(
    State(gateway): State<Gateway>,
    Extension(pending): Extension<Arc<Pending>>,
    Json(ask): Json<PkceAsk>,
) -> Result<Response, ApiError> {
    let provider = provider_name(&gateway, ask.provider)?;
    if !loopback_redirect(&ask.redirect_uri) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "redirect_uri must be a loopback address: http://127.0.0.1:PORT/... or http://[::1]:PORT/...",
        ));
    }
    if ask.code_challenge_method.as_deref().unwrap_or("S256") != "S256"
        || ask.code_challenge.len() != 43
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "code_challenge must be an S256 PKCE challenge",
        ));
    }
    let state = sluice_identity::random_token();
    let nonce = sluice_identity::random_token();
    let url = gateway
        .providers()
        .authorization_url(
            &provider,
            &ask.redirect_uri,
            &ask.code_challenge,
            &state,
            &nonce,
        )
        .await
        .map_err(identity_error)?;
    let login_id = pending.insert(Login {
        provider,
        expires: Instant::now() + PKCE_WINDOW,
        flow: Flow::Pkce {
            state: state.clone(),
            nonce,
            redirect_uri: ask.redirect_uri,
        },
    });
    Ok(
        Json(json!({ "login_id": login_id, "authorization_url": url, "state": state }))
            .into_response(),
    )
}

#[derive(Deserialize)]
struct PkceFinish {
    login_id: String,
    code: String,
    state: String,
    code_verifier: String,
}

async fn pkce_finish(
    State(gateway): State<Gateway>,
    Extension(pending): Extension<Arc<Pending>>,
    ClientAddr(client): ClientAddr,
    Json(ask): Json<PkceFinish>,
) -> Result<Response, ApiError> {
    let Some(login) = pending.take(&ask.login_id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no such sign-in, or it expired: start again",
        ));
    };
    let Flow::Pkce {
        state,
        nonce,
        redirect_uri,
    } = &login.flow
    else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not a browser sign-in",
        ));
    };
    if !constant_time_eq(state.as_bytes(), ask.state.as_bytes()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the state does not match the sign-in: start again",
        ));
    }
    let issued = redeem_sign_in(
        &gateway,
        &login.provider,
        &ask.code,
        &ask.code_verifier,
        redirect_uri,
        nonce,
        client,
    )
    .await?;
    Ok(Json(credential_json(&issued)).into_response())
}

/// The end of a browser sign-in, for the CLI's PKCE flow and the console alike: the code
/// redeemed at the provider, its ID token verified against the sign-in's nonce, and a sluice
/// credential issued under the policy's `token` decision. A refusal at any step is audited.
pub(crate) async fn redeem_sign_in(
    gateway: &Gateway,
    provider: &str,
    code: &str,
    code_verifier: &str,
    redirect_uri: &str,
    nonce: &str,
    client: String,
) -> Result<IssuedCredential, ApiError> {
    let tokens = match gateway
        .providers()
        .redeem_code(provider, code, code_verifier, redirect_uri)
        .await
    {
        Ok(tokens) => tokens,
        Err(e) => {
            let ask = CredentialAsk {
                purpose: "login",
                client_addr: client,
                targets: Vec::new(),
                ttl: None,
                task: None,
            };
            gateway
                .refuse_credential_for(&ask, Some(provider.to_owned()), None, "code_refused", &e)
                .await;
            return Err(identity_error(e));
        }
    };
    let verified = gateway
        .providers()
        .verify_for(provider, tokens.id_token.expose(), Some(nonce))
        .await;
    signed_in(gateway, provider, verified, client).await
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn signed_in(
    gateway: &Gateway,
    provider: &str,
    verified: Result<VerifiedToken, Rejected>,
    client: String,
) -> Result<IssuedCredential, ApiError> {
    let mut ask = CredentialAsk {
        purpose: "login",
        client_addr: client,
        targets: Vec::new(),
        ttl: None,
        task: None,
    };
    let token = match verified {
        Ok(token) => token,
        Err(rejected) => {
            gateway
                .refuse_credential_for(
                    &ask,
                    Some(provider.to_owned()),
                    None,
                    rejected.reason(),
                    &rejected,
                )
                .await;
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                rejected.to_string(),
            ));
        }
    };
    ask.ttl = gateway
        .provider_cap(provider)
        .map(|cap| cap.min(gateway.config().auth.login_ttl));
    Ok(gateway
        .issue_verified(&gateway.vouched(&token), ask)
        .await?)
}

fn credential_json(issued: &IssuedCredential) -> serde_json::Value {
    json!({
        "token": issued.secret.expose(),
        "token_id": issued.token_id,
        "identity": issued.identity,
        "kind": issued.kind,
        "groups": issued.groups,
        "expires_at": issued.expires_at,
        "targets": issued.targets,
        "task": issued.task,
    })
}

/// RFC 8693's request, as a form. `resource` and `audience` name targets; both may repeat,
/// which axum's form reader does not keep, so the body is read as pairs.
async fn exchange(
    State(gateway): State<Gateway>,
    ClientAddr(client): ClientAddr,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let one = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let oauth = |status: StatusCode, error: &str, description: String| {
        (
            status,
            Json(json!({ "error": error, "error_description": description })),
        )
            .into_response()
    };
    if one("grant_type") != Some(TOKEN_EXCHANGE) {
        return oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("grant_type must be {TOKEN_EXCHANGE}"),
        );
    }
    let Some(subject_token) = one("subject_token") else {
        return oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "subject_token is missing".into(),
        );
    };
    if !one("subject_token_type").is_some_and(|t| JWT_TYPES.contains(&t)) {
        return oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("subject_token_type must be one of {}", JWT_TYPES.join(", ")),
        );
    }
    if let Err(e) = gateway.check_client(&client) {
        return oauth(StatusCode::TOO_MANY_REQUESTS, "slow_down", e.to_string());
    }
    let targets: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "resource" || k == "audience")
        .map(|(_, v)| v.clone())
        .collect();
    let ttl = match one("ttl").map(parse_ttl).transpose() {
        Ok(ttl) => ttl,
        Err(e) => return oauth(StatusCode::BAD_REQUEST, "invalid_request", e),
    };
    let ask = CredentialAsk {
        purpose: "exchange",
        client_addr: client.clone(),
        targets,
        ttl,
        task: None,
    };
    match gateway.exchange(subject_token, ask, one("task")).await {
        Err(ExchangeError::Token(rejected)) => oauth(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            rejected.to_string(),
        ),
        Ok(issued) => {
            let expires_in = (issued.expires_at - sluice_core::gateway::unix_now()).max(0);
            Json(json!({
                "access_token": issued.secret.expose(),
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer",
                "expires_in": expires_in,
                "token_id": issued.token_id,
                "identity": issued.identity,
                "targets": issued.targets,
                "task": issued.task,
            }))
            .into_response()
        }
        // A malformed request (an unknown target, a lifetime over the maximum) is the
        // caller's mistake, not a refusal (RFC 6749 5.2).
        Err(ExchangeError::Credential(CoreError::Refused {
            kind: RefusalKind::Invalid,
            message,
        })) => oauth(StatusCode::BAD_REQUEST, "invalid_request", message),
        Err(ExchangeError::Credential(CoreError::Refused { message, .. })) => {
            oauth(StatusCode::FORBIDDEN, "access_denied", message)
        }
        Err(ExchangeError::Credential(e)) => ApiError::from(e).into_response(),
    }
}

/// `900`, or a duration such as `15m`.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    text.parse::<u64>()
        .map(Duration::from_secs)
        .or_else(|_| humantime::parse_duration(text))
        .map_err(|_| format!("ttl {text:?} is neither seconds nor a duration like 15m"))
}

async fn whoami(CallerAuth(auth): CallerAuth) -> Response {
    let identity = auth.principal_view();
    Json(json!({
        "identity": auth.identity(),
        "kind": identity.kind,
        "groups": identity.groups,
        "provider": identity.provider,
        "token_id": identity.token_id,
        "expires_at": identity.expires_at,
        "task": identity.task,
        "targets": identity.targets,
    }))
    .into_response()
}

async fn logout(
    State(gateway): State<Gateway>,
    CallerAuth(auth): CallerAuth,
) -> Result<Response, ApiError> {
    let Some(token_id) = auth.principal_view().token_id else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no credential to revoke",
        ));
    };
    gateway
        .revoke_credential(&token_id, auth.identity())
        .await?;
    Ok(Json(json!({ "revoked": token_id })).into_response())
}

#[derive(Deserialize)]
struct TaskAsk {
    task: String,
    #[serde(default)]
    targets: Vec<String>,
    ttl_seconds: Option<u64>,
}

async fn task_token(
    State(gateway): State<Gateway>,
    CallerAuth(auth): CallerAuth,
    ClientAddr(client): ClientAddr,
    Json(ask): Json<TaskAsk>,
) -> Result<Response, ApiError> {
    if ask.task.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "name the task the credential is for (--task)",
        ));
    }
    let issued = gateway
        .issue_task(
            &auth,
            CredentialAsk {
                purpose: "task",
                client_addr: client,
                targets: ask.targets,
                ttl: ask.ttl_seconds.map(Duration::from_secs),
                task: Some(ask.task),
            },
        )
        .await?;
    Ok(Json(credential_json(&issued)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_redirects() {
        assert!(loopback_redirect("http://127.0.0.1:5555/callback"));
        assert!(loopback_redirect("http://[::1]:5555/callback"));
        assert!(loopback_redirect("http://127.0.0.1/callback"));
        assert!(!loopback_redirect("https://127.0.0.1:5555/callback"));
        assert!(!loopback_redirect("http://127.0.0.1.evil.example/callback"));
        assert!(!loopback_redirect("http://evil.example/callback"));
        assert!(!loopback_redirect("http://localhost:5555/callback"));
    }

    #[test]
    fn ttls_in_seconds_or_words() {
        assert_eq!(parse_ttl("900"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert!(parse_ttl("soon").is_err());
    }
}
