//! The console's static files, embedded in the binary at build time: its style sheet, icon and the
//! vendored htmx (crates/sluice/assets/vendor, pinned and checked by scripts/vendor-assets.sh).
//! Nothing is fetched from elsewhere, at build time or by a browser.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::Digest;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: [Asset; 6] = [
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/console.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../assets/icon.svg"),
    },
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/vendor/htmx.min.js"),
    },
    // The session page's terminal replay: the vendored player and our script that starts it.
    Asset {
        name: "asciinema-player.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/vendor/asciinema-player.min.js"),
    },
    Asset {
        name: "asciinema-player.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/vendor/asciinema-player.css"),
    },
    Asset {
        name: "console-sessions.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/console-sessions.js"),
    },
];

/// `GET /console/assets/{name}`, revalidated by its digest (the binary's version of the file).
pub(crate) async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some((index, asset)) = ASSETS.iter().enumerate().find(|(_, a)| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    };
    let etag = etag(index);
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    if let Ok(etag) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// An asset's ETag: a digest of the bytes this binary embeds, computed once per asset rather
/// than on every request (the player alone is over 200 KiB).
fn etag(index: usize) -> &'static str {
    static ETAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    ETAGS
        .get_or_init(|| {
            ASSETS
                .iter()
                .map(|a| format!("\"{}\"", hex::encode(&sha2::Sha256::digest(a.body)[..12])))
                .collect()
        })
        .get(index)
        .map_or("", String::as_str)
}
