//! How a value or a detected span is replaced.

use serde::{Deserialize, Serialize};

/// What replaces a masked value. In a policy decision: `"redact"`, `{"keep_last": 4}`,
/// `"email_domain"`, `"token"`, `"null"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The fixed marker [`REDACTED`], whatever the length of the original.
    Redact,
    /// The last N letters and digits stay, every other letter or digit becomes `*`, and
    /// separators stay where they were (`4111-1111-1111-1111` → `****-****-****-1111`).
    KeepLast(usize),
    /// `****@` and the original domain (`ada@example.com` → `****@example.com`). Anything that
    /// is not an email with a plausible domain is redacted instead.
    EmailDomain,
    /// `tok_` and 16 lowercase hex digits of HMAC-SHA256(key, value): the same value always
    /// gives the same token under one key, so joins and GROUP BY still work.
    Token,
    /// SQL NULL for a whole value; inside a text, where NULL cannot be, the span is redacted.
    Null,
}

/// The redaction marker. Four asterisks: fixed length, so it reveals nothing of the original,
/// and safe inside JSON, CSV and SQL literals.
pub const REDACTED: &str = "****";
