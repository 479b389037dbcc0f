//! The console's page shell: the document, its navigation (only the parts the policy lets the
//! viewer use), error and sign-in pages, and the headers every console answer carries. Pages
//! load nothing but the gateway's own assets.

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::auth::{Viewer, TOKEN_CHOICE};

/// Navigation entries: the path, the label, and the operation the policy must allow with
/// the API path it is asked for.
const NAV: [(&str, &str, &str, &str); 6] = [
    ("/console/reviews", "Reviews", "reviews.list", "/reviews"),
    ("/console/grants", "Access", "grants.list", "/grants"),
    (
        "/console/sessions",
        "Sessions",
        "sessions.list",
        "/sessions",
    ),
    ("/console/audit", "Audit", "audit.read", "/audit"),
    ("/console/policy", "Policy", "policy.read", "/policy"),
    ("/console/signals", "Signals", "signals.read", "/signals"),
];

/// A full page for `viewer`, with the entries of the navigation the policy lets them use.
pub(crate) async fn render(viewer: &Viewer, current: &str, title: &str, body: Markup) -> Response {
    let mut nav = Vec::new();
    for (path, label, op, api_path) in NAV {
        if viewer.may(op, &Method::GET, api_path) {
            nav.push((path, label));
        }
    }
    let chrome = Chrome {
        viewer,
        nav: &nav,
        current,
    };
    document(title, Some(chrome), body).into_response()
}

/// The signed-in part of the page's header: who, and where they may go.
struct Chrome<'a> {
    viewer: &'a Viewer,
    nav: &'a [(&'a str, &'a str)],
    current: &'a str,
}

fn document(title: &str, chrome: Option<Chrome<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // htmx's own indicator styles are inline, which the CSP forbids.
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false}"#;
                title { (title) " · sluice" }
                link rel="stylesheet" href="/console/assets/console.css";
                link rel="icon" href="/console/assets/icon.svg" type="image/svg+xml";
                script src="/console/assets/htmx.min.js" defer {}
            }
            body {
                header class="top" {
                    a class="brand" href="/console/reviews" { "sluice" }
                    @if let Some(Chrome { viewer, nav, current }) = chrome {
                        nav aria-label="Console" {
                            @for (path, label) in nav {
                                @if *path == current {
                                    a href=(path) aria-current="page" { (label) }
                                } @else {
                                    a href=(path) { (label) }
                                }
                            }
                        }
                        form class="who" method="post" action="/console/logout" {
                            span { (viewer.name()) }
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// An error page with its status.
pub(crate) fn error(
    viewer: Option<&Viewer>,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    let body = html! {
        h1 { (title) }
        p class="error" role="alert" { (message) }
        @if viewer.is_none() {
            p { a href="/console/login" { "Sign in" } }
        } @else {
            p { a href="/console/reviews" { "Back to the reviews" } }
        }
    };
    let chrome = viewer.map(|viewer| Chrome {
        viewer,
        nav: &[],
        current: "",
    });
    (status, document(title, chrome, body)).into_response()
}

/// Several identity providers: the person picks one, or pastes a sluice token.
pub(crate) fn choose_provider(providers: &[String], next: &str) -> Markup {
    document(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            p { "Sign in with:" }
            ul class="providers" {
                @for p in providers {
                    li {
                        a class="button" href={ "/console/login?provider=" (p) "&next=" (next) } { (p) }
                    }
                }
                li {
                    a href={ "/console/login?provider=" (TOKEN_CHOICE) "&next=" (next) } { "a sluice token" }
                }
            }
        },
    )
}

/// Sign-in with a sluice token the person holds: the only way in without an identity
/// provider (the demo), and an operator's way in beside one.
pub(crate) fn token_sign_in(next: &str, failed: Option<&str>) -> Markup {
    document(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(why) = failed {
                p class="error" role="alert" { (why) }
            }
            form class="decide" method="post" action="/console/login/token" {
                input type="hidden" name="next" value=(next);
                label {
                    "Your sluice token (from sluice token create, sluice login env, or the demo)"
                    input type="password" name="token" autocomplete="off" required;
                }
                div class="buttons" { button type="submit" { "Sign in" } }
            }
            p class="muted" { "Signing out forgets the token in this browser; it does not revoke it." }
        },
    )
}

pub(crate) fn signed_out() -> Markup {
    document(
        "Signed out",
        None,
        html! {
            h1 { "Signed out" }
            p { "Your console credential is revoked." }
            p { a class="button" href="/console/login" { "Sign in again" } }
        },
    )
}

/// What every console answer carries: nothing but the gateway's own scripts, styles and
/// forms; no framing; no referrer to other sites (review links carry ids); pages never cached.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let asset = request.uri().path().starts_with("/console/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    // Not `no-referrer`: under it Chromium sends `Origin: null` with the console's own form
    // posts, which the origin check must refuse (found by the browser test). `same-origin`
    // still keeps console URLs (review and session ids) from other sites.
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if !asset {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// A time as the console shows it: RFC 3339 cut to the second, in UTC.
pub(crate) fn when(rfc3339: &str) -> String {
    let t = rfc3339.replace('T', " ");
    let cut = t.find('.').or_else(|| t.find('Z')).unwrap_or(t.len());
    format!("{} UTC", &t[..cut])
}

/// A time in milliseconds since the epoch, as `when` writes one.
pub(crate) fn when_ms(ms: i64) -> String {
    when(&sluice_signals::rfc3339_ms(ms))
}

/// How long ago (or until) `rfc3339` is, in the largest whole unit.
pub(crate) fn relative(rfc3339: &str) -> String {
    let Ok(t) =
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
    else {
        return String::new();
    };
    let secs = (time::OffsetDateTime::now_utc() - t).whole_seconds();
    let (n, future) = (secs.unsigned_abs(), secs < 0);
    let span = match n {
        0..=59 => format!("{n} s"),
        60..=3599 => format!("{} min", n / 60),
        3600..=86_399 => format!("{} h", n / 3600),
        _ => format!("{} d", n / 86_400),
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}
