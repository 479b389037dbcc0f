//! One event rendered for one webhook, and the files a webhook's secrets are read from.

use std::path::Path;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::config::WebhookFormat;
use super::{Event, Notification};

/// One event rendered for one webhook: fixed across retries so a receiver can deduplicate.
pub(super) struct Delivery {
    pub(super) event: &'static str,
    pub(super) id: String,
    pub(super) body: Bytes,
}

impl Delivery {
    pub(super) fn render(event: &Event, format: WebhookFormat) -> Delivery {
        let id = hex::encode(rand::random::<[u8; 16]>());
        let n = &event.notification;
        let body = match format {
            WebhookFormat::Json => serde_json::json!({
                "event": n.event,
                "delivery": id,
                "time": event.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "summary": n.summary,
                "url": n.url,
                "data": n.data,
            }),
            WebhookFormat::Slack => serde_json::json!({ "text": slack_text(n) }),
        };
        Delivery {
            event: n.event,
            id,
            body: Bytes::from(body.to_string()),
        }
    }
}

/// Slack reads `&`, `<` and `>` as markup, so a summary quoting SQL (`a < b`) must be escaped
/// to show as written; the URL goes in Slack's `<url|label>` link syntax, whose delimiters it
/// must not contain.
fn slack_text(n: &Notification) -> String {
    let summary = n
        .summary
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    match &n.url {
        Some(url) => {
            let url = url
                .replace('<', "%3C")
                .replace('>', "%3E")
                .replace('|', "%7C");
            format!("{summary} <{url}|open>")
        }
        None => summary,
    }
}

/// `sha256=` and the lowercase hex HMAC of `<timestamp>.<body>`: the timestamp is signed so a
/// captured request cannot be replayed later with a fresh one.
pub(super) fn signature(mut mac: Hmac<Sha256>, timestamp: i64, body: &[u8]) -> String {
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The key file's bytes less a trailing newline, which editors add and which would otherwise
/// make sluice's key differ from the receiver's.
pub(super) fn signer(path: &Path) -> Result<Hmac<Sha256>, String> {
    let key =
        std::fs::read(path).map_err(|e| format!("reading secret_file {}: {e}", path.display()))?;
    let key = trim_newline(&key);
    if key.is_empty() {
        return Err(format!("secret_file {} is empty", path.display()));
    }
    Hmac::<Sha256>::new_from_slice(key).map_err(|e| format!("secret_file: {e}"))
}

fn trim_newline(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// A URL kept in a file is read whole and trimmed, so a trailing newline is not part of it.
pub(super) fn read_trimmed(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("reading url_file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_only_the_trailing_newline_of_a_key() {
        assert_eq!(trim_newline(b"key\n"), b"key");
        assert_eq!(trim_newline(b"key\r\n"), b"key");
        assert_eq!(trim_newline(b" key \n\n"), b" key \n");
    }
}
