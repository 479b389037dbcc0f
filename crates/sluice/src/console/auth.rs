//! Who is looking at the console: sign-in through the configured identity provider
//! (authorization code with PKCE, the gateway as the OAuth client), the sluice credential it
//! yields kept in an HttpOnly cookie, and every page's operation asked of the policy as the
//! admin API asks it (`request.action = "admin"`). State-changing forms carry a CSRF token
//! derived from the credential, and their `Origin` must be the console's own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use base64::Engine;
use hmac::Mac;
use serde::Deserialize;
use sha2::Digest;
use sluice_core::{Authenticated, CoreError, Gateway};

use super::page;
use crate::admin_auth::ClientAddr;
use crate::pending_logins::{Expiring, PendingLogins};

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

/// The session cookie's name: `__Host-` (Secure, whole host, no Domain) under TLS; a plain
/// name when the admin listener is plaintext on loopback, where browsers drop Secure cookies.
fn session_cookie(gateway: &Gateway) -> &'static str {
    if tls(gateway) {
        "__Host-sluice"
    } else {
        "sluice"
    }
}

/// The cookie of a session started by pasting a sluice token (no identity provider, or an
/// operator's token): a name of its own so that signing out clears it without revoking a
/// token its holder also uses elsewhere.
fn token_cookie(gateway: &Gateway) -> &'static str {
    if tls(gateway) {
        "__Host-sluice-token"
    } else {
        "sluice_token"
    }
}

fn tls(gateway: &Gateway) -> bool {
    gateway.config().admin.tls().is_some()
}

/// `Secure` when the console is served over TLS.
fn secure(gateway: &Gateway) -> &'static str {
    if tls(gateway) {
        "; Secure"
    } else {
        ""
    }
}

/// Where the provider sends the browser back: the gateway's public URL (`[approvals]
/// public_url`, else the admin listener's address), registered at the provider.
pub(crate) fn callback_url(gateway: &Gateway) -> Option<String> {
    gateway
        .config()
        .review_base_url()
        .map(|base| format!("{base}/console/callback"))
}

/// A console path to return to after signing in; anything else (another site, a
/// protocol-relative `//host`) goes to the inbox.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console/")
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => "/console/reviews".to_owned(),
    }
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
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

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A signed-in person looking at the console.
pub(crate) struct Viewer {
    pub gateway: Gateway,
    pub auth: Arc<Authenticated>,
    pub addr: String,
    /// The form token for this credential.
    pub csrf: String,
    /// The credential came from this console's own sign-in (so signing out revokes it), not
    /// from a pasted token.
    signed_in_here: bool,
}

impl Viewer {
    pub fn name(&self) -> &str {
        self.auth.identity()
    }

    /// Whether the policy lets this person perform `operation` (the admin API's names,
    /// docs/identity.md), asked without an audit record: for what a page shows and offers.
    pub fn may(&self, operation: &str, method: &Method, path: &str) -> bool {
        self.gateway
            .admin_allowed(&self.auth, &self.addr, operation, method.as_str(), path)
    }

    /// The page for a refusal of `operation` (audited, as the API's), or `None` when it is
    /// allowed: asked before anything is shown or done.
    pub async fn refused(&self, operation: &str, method: &Method, path: &str) -> Option<Response> {
        let why = match self
            .gateway
            .authorize_admin(&self.auth, &self.addr, operation, method.as_str(), path)
            .await
        {
            Ok(()) => return None,
            Err(e @ CoreError::Refused { .. }) => e.to_string(),
            Err(e) => {
                tracing::error!(error = %e, operation, "console: the policy could not decide");
                format!("the policy could not decide: {e}")
            }
        };
        Some(page::error(
            Some(self),
            StatusCode::FORBIDDEN,
            "Not allowed",
            &format!("the policy does not let you do this ({operation}): {why}"),
        ))
    }

    /// Checks a state-changing form: its token must be this credential's, and a browser's
    /// `Origin` (sent with every POST) the console's own. The refusal's page otherwise.
    pub fn form_refused(&self, headers: &HeaderMap, token: &str) -> Option<Response> {
        if same_origin(&self.gateway, headers)
            && crate::identity_api::constant_time_eq(self.csrf.as_bytes(), token.as_bytes())
        {
            return None;
        }
        Some(page::error(
            Some(self),
            StatusCode::FORBIDDEN,
            "Form refused",
            "this form did not come from this console page (missing or wrong CSRF token, or \
             another origin): reload the page and try again",
        ))
    }
}

/// Whether a form post came from the console's own origin. Browsers send `Origin` with every
/// POST; a client that sends none is not a browser, and cannot hold the cookie a forged form
/// would ride on.
fn same_origin(gateway: &Gateway, headers: &HeaderMap) -> bool {
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            let scheme = if tls(gateway) { "https" } else { "http" };
            origin == format!("{scheme}://{host}")
        }
    }
}

/// The form token of a credential: an HMAC keyed by the credential itself, so only a page
/// the gateway rendered for its holder can carry it.
fn csrf_token(secret: &str) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(b"sluice console form");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

impl FromRequestParts<Gateway> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, gateway: &Gateway) -> Result<Self, Response> {
        let ClientAddr(addr) = match ClientAddr::from_request_parts(parts, gateway).await {
            Ok(a) => a,
            Err(never) => match never {},
        };
        let to_sign_in = || {
            if parts.method == Method::GET {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/console/reviews");
                let target = format!("/console/login?next={}", query_escape(next));
                Redirect::to(&target).into_response()
            } else {
                page::error(
                    None,
                    StatusCode::UNAUTHORIZED,
                    "Signed out",
                    "sign in again and repeat what you were doing",
                )
            }
        };
        let (secret, signed_in_here) = match cookie_value(&parts.headers, session_cookie(gateway)) {
            Some(secret) => (secret, true),
            None => match cookie_value(&parts.headers, token_cookie(gateway)) {
                Some(secret) => (secret, false),
                None => return Err(to_sign_in()),
            },
        };
        match gateway.authenticate_bearer(secret, &addr).await {
            Ok(Some(auth)) => Ok(Viewer {
                gateway: gateway.clone(),
                auth: Arc::new(auth),
                addr,
                csrf: csrf_token(secret),
                signed_in_here,
            }),
            Ok(None) => Err(to_sign_in()),
            Err(e @ CoreError::Throttled { .. }) => Err(page::error(
                None,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                &e.to_string(),
            )),
            Err(e) => Err(page::error(
                None,
                StatusCode::SERVICE_UNAVAILABLE,
                "The gateway cannot check who you are",
                &e.to_string(),
            )),
        }
    }
}

fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_returned_to() {
        assert_eq!(
            safe_next(Some("/console/reviews/r-1")),
            "/console/reviews/r-1"
        );
        assert_eq!(
            safe_next(Some("//evil.example/console/")),
            "/console/reviews"
        );
        assert_eq!(safe_next(Some("https://evil.example/")), "/console/reviews");
        assert_eq!(safe_next(Some("/console/\\evil")), "/console/reviews");
        assert_eq!(safe_next(Some("/console/a b")), "/console/reviews");
        assert_eq!(safe_next(None), "/console/reviews");
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("xsluice=a; sluice=b; other=c"),
        );
        assert_eq!(cookie_value(&headers, "sluice"), Some("b"));
        assert_eq!(cookie_value(&headers, "missing"), None);
    }

    #[test]
    fn form_tokens_differ_per_credential() {
        assert_ne!(csrf_token("slc_a"), csrf_token("slc_b"));
        assert_eq!(csrf_token("slc_a"), csrf_token("slc_a"));
        assert_eq!(csrf_token("slc_a").len(), 43);
    }
}
