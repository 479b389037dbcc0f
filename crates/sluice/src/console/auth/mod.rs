//! Who is looking at the console: sign-in through the configured identity provider
//! (authorization code with PKCE, the gateway as the OAuth client), the sluice credential it
//! yields kept in an HttpOnly cookie, and every page's operation asked of the policy as the
//! admin API asks it (`request.action = "admin"`). State-changing forms carry a CSRF token
//! derived from the credential, and their `Origin` must be the console's own.
//!
//! `sign_in.rs` is the way in and out (the provider's flow, a pasted token, logout);
//! `viewer.rs` is what every page gets once in (the person, the policy's answers, the form
//! checks); this file holds the cookies both read and write.

mod sign_in;
mod viewer;

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use sluice_core::Gateway;

pub(crate) use sign_in::{callback, login, logout, token_login, Pending, TOKEN_CHOICE};
pub(crate) use viewer::Viewer;

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

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
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
}
