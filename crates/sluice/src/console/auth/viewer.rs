//! What every console page gets once someone is signed in: the person (from the session
//! cookie, checked as the admin API checks a bearer), the policy's answers for what they may
//! see and do, and the checks every state-changing form passes.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use hmac::Mac;
use sluice_core::{Authenticated, CoreError, Gateway};

use super::super::page;
use crate::admin_auth::ClientAddr;

use super::{cookie_value, session_cookie, tls, token_cookie};

/// A signed-in person looking at the console.
pub(crate) struct Viewer {
    pub gateway: Gateway,
    pub auth: Arc<Authenticated>,
    pub addr: String,
    /// The form token for this credential.
    pub csrf: String,
    /// The credential came from this console's own sign-in (so signing out revokes it), not
    /// from a pasted token.
    pub(super) signed_in_here: bool,
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
pub(super) fn same_origin(gateway: &Gateway, headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let scheme = if tls(gateway) { "https" } else { "http" };
    sluice_http::same_origin(text(header::ORIGIN), text(header::HOST), scheme)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_tokens_differ_per_credential() {
        assert_ne!(csrf_token("slc_a"), csrf_token("slc_b"));
        assert_eq!(csrf_token("slc_a"), csrf_token("slc_a"));
        assert_eq!(csrf_token("slc_a").len(), 43);
    }
}
