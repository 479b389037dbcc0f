//! The way in and out of the console: the identity provider's sign-in (authorization code
//! with PKCE, the gateway as the OAuth client), a pasted sluice token, and signing out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use base64::Engine;
use serde::Deserialize;
use sha2::Digest;
use sluice_core::{CoreError, Gateway};

use super::super::page;
use crate::admin_auth::ClientAddr;
use crate::pending_logins::{Expiring, PendingLogins};

use super::viewer::{same_origin, Viewer};
use super::{
    callback_url, cookie_value, safe_next, secure, session_cookie, token_cookie, with_cookies,
};

/// How long a sign-in may take between leaving for the provider and coming back.
const SIGN_IN_WINDOW: Duration = Duration::from_secs(600);
/// The cookie that remembers which sign-in a browser started.
const LOGIN_COOKIE: &str = "sluice_login";

/// Sign-ins started from this gateway's console and not yet back from the provider. In
/// memory: the provider must send the browser back to the gateway it left from (one gateway,
/// or sticky sessions; docs/console.md).
pub(crate) type Pending = PendingLogins<Login>;

pub(crate) struct Login {
    provider: String,
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    expires: Instant,
}

impl Expiring for Login {
    fn expires(&self) -> Instant {
        self.expires
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    provider: Option<String>,
    next: Option<String>,
}

/// `GET /console/login`: off to the identity provider, or a choice of providers when there
/// are several.
pub(crate) async fn login(
    State(gateway): State<Gateway>,
    Extension(pending): Extension<Arc<Pending>>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    let with_client: Vec<String> = gateway
        .providers()
        .configs()
        .filter(|c| c.client_id.is_some())
        .map(|c| c.name.clone())
        .collect();
    if with_client.is_empty() || q.provider.as_deref() == Some(TOKEN_CHOICE) {
        return page::token_sign_in(&next, None).into_response();
    }
    if q.provider.is_none() && with_client.len() > 1 {
        return page::choose_provider(&with_client, &next).into_response();
    }
    let provider = match crate::identity_api::provider_name(&gateway, q.provider) {
        Ok(p) => p,
        Err(e) => return page::error(None, e.status(), "Cannot sign in", e.message()),
    };
    let Some(redirect_uri) = callback_url(&gateway) else {
        return page::error(
            None,
            StatusCode::SERVICE_UNAVAILABLE,
            "Cannot sign in",
            "the gateway has no public URL to come back to: set [approvals] public_url",
        );
    };
    let verifier = sluice_identity::random_token();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let state = sluice_identity::random_token();
    let nonce = sluice_identity::random_token();
    let url = match gateway
        .providers()
        .authorization_url(&provider, &redirect_uri, &challenge, &state, &nonce)
        .await
    {
        Ok(url) => url,
        Err(e) => {
            return page::error(
                None,
                StatusCode::BAD_GATEWAY,
                "Cannot sign in",
                &format!("the identity provider {provider:?} cannot be reached: {e}"),
            )
        }
    };
    let id = pending.insert(Login {
        provider,
        state,
        nonce,
        verifier,
        next,
        expires: Instant::now() + SIGN_IN_WINDOW,
    });
    // Lax: the provider's redirect back is a top-level navigation from its site.
    let cookie = format!(
        "{LOGIN_COOKIE}={id}; HttpOnly; SameSite=Lax; Path=/console/callback; Max-Age={}{}",
        SIGN_IN_WINDOW.as_secs(),
        secure(&gateway)
    );
    with_cookies(Redirect::to(&url).into_response(), &[cookie])
}

#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /console/callback`: the provider's answer, traded for a sluice credential that the
/// browser keeps in an HttpOnly cookie.
pub(crate) async fn callback(
    State(gateway): State<Gateway>,
    Extension(pending): Extension<Arc<Pending>>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let clear_login = format!(
        "{LOGIN_COOKIE}=; HttpOnly; SameSite=Lax; Path=/console/callback; Max-Age=0{}",
        secure(&gateway)
    );
    let refused = |message: &str| {
        with_cookies(
            page::error(None, StatusCode::UNAUTHORIZED, "Sign-in failed", message),
            std::slice::from_ref(&clear_login),
        )
    };
    let Some(login) = cookie_value(&headers, LOGIN_COOKIE).and_then(|id| pending.take(id)) else {
        return refused("this sign-in was not started here, or it took too long: sign in again");
    };
    if let Some(error) = q.error {
        let why = q.error_description.unwrap_or_default();
        return refused(&format!("the identity provider said {error}: {why}"));
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return refused("the identity provider sent no code back");
    };
    if !crate::identity_api::constant_time_eq(login.state.as_bytes(), state.as_bytes()) {
        return refused("the answer does not belong to this sign-in: sign in again");
    }
    let Some(redirect_uri) = callback_url(&gateway) else {
        return refused("the gateway has no public URL");
    };
    let issued = match crate::identity_api::redeem_sign_in(
        &gateway,
        &login.provider,
        &code,
        &login.verifier,
        &redirect_uri,
        &login.nonce,
        client,
    )
    .await
    {
        Ok(issued) => issued,
        Err(e) => return refused(e.message()),
    };
    let max_age = (issued.expires_at - time::OffsetDateTime::now_utc().unix_timestamp()).max(0);
    let session = format!(
        "{}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{}",
        session_cookie(&gateway),
        issued.secret.expose(),
        secure(&gateway)
    );
    with_cookies(
        Redirect::to(&login.next).into_response(),
        &[clear_login, session],
    )
}

/// The sign-in page's choice that means "paste a sluice token" rather than a provider's name.
pub(crate) const TOKEN_CHOICE: &str = "token";

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    token: String,
    #[serde(default)]
    next: String,
}

/// `POST /console/login/token`: a session on a sluice token the person already holds (from
/// `sluice token create`, `sluice login`, or the demo), for gateways without an identity
/// provider. The token is checked as the admin API checks a bearer.
pub(crate) async fn token_login(
    State(gateway): State<Gateway>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let next = safe_next(Some(&form.next));
    // No session yet, so no form token: the origin check alone keeps another site from
    // signing a browser in as someone else.
    if !same_origin(&gateway, &headers) {
        return page::error(
            None,
            StatusCode::FORBIDDEN,
            "Form refused",
            "this form did not come from this console",
        );
    }
    let token = form.token.trim();
    let auth = match gateway.authenticate_bearer(token, &client).await {
        Ok(Some(auth)) => auth,
        Ok(None) => {
            return (
                StatusCode::UNAUTHORIZED,
                page::token_sign_in(&next, Some("that token is unknown, expired or revoked")),
            )
                .into_response()
        }
        Err(e @ CoreError::Throttled { .. }) => {
            return page::error(
                None,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                &e.to_string(),
            )
        }
        Err(e) => {
            return page::error(
                None,
                StatusCode::SERVICE_UNAVAILABLE,
                "The gateway cannot check who you are",
                &e.to_string(),
            )
        }
    };
    // The cookie lives as long as the token; a token without an end lasts the browser session.
    let max_age = auth
        .principal_view()
        .expires_at
        .map(|at| {
            format!(
                "; Max-Age={}",
                (at - sluice_core::gateway::unix_now()).max(0)
            )
        })
        .unwrap_or_default();
    let session = format!(
        "{}={token}; HttpOnly; SameSite=Lax; Path=/{max_age}{}",
        token_cookie(&gateway),
        secure(&gateway)
    );
    with_cookies(Redirect::to(&next).into_response(), &[session])
}

#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    csrf: String,
}

/// `POST /console/logout`: the cookie cleared, and the credential revoked when this console's
/// sign-in issued it (a pasted token is its holder's to revoke).
pub(crate) async fn logout(
    State(gateway): State<Gateway>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Some(refused) = viewer.form_refused(&headers, &form.csrf) {
        return refused;
    }
    if let Some(token_id) = viewer
        .auth
        .principal_view()
        .token_id
        .filter(|_| viewer.signed_in_here)
    {
        if let Err(e) = gateway.revoke_credential(&token_id, viewer.name()).await {
            return page::error(
                Some(&viewer),
                StatusCode::SERVICE_UNAVAILABLE,
                "Could not sign out",
                &e.to_string(),
            );
        }
    }
    let clear: Vec<String> = [session_cookie(&gateway), token_cookie(&gateway)]
        .into_iter()
        .map(|name| {
            format!(
                "{name}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{}",
                secure(&gateway)
            )
        })
        .collect();
    with_cookies(page::signed_out().into_response(), &clear)
}
