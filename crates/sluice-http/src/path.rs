//! The path in one spelling: RFC 3986 section 6.2.2's syntax-based normalisation (unreserved
//! characters decoded, the hex of the remaining escapes in upper case) and section 5.2.4's
//! removal of dot segments, after decoding, so `%2e%2e` counts as `..`.

use crate::HttpError;

/// Longest request target accepted; servers commonly cap it near 8 KiB.
pub const MAX_TARGET: usize = 8 * 1024;

/// `raw` (the path of a request target, without the query) normalised.
pub fn normalise_path(raw: &str) -> Result<String, HttpError> {
    if raw.len() > MAX_TARGET {
        return Err(HttpError::TooLong(MAX_TARGET));
    }
    if !raw.starts_with('/') {
        return Err(HttpError::NotAbsolute);
    }
    let decoded = decode_unreserved(raw)?;
    let path = remove_dot_segments(&decoded);
    // Servers disagree on these, so a rule could not know which path the target acts on:
    // many merge `//` into `/` (`//admin` is `/admin` to them, not to a rule), and some cut a
    // segment at `;` (Tomcat's path parameters: `/admin;x=1` is `/admin`).
    if path.contains("//") {
        return Err(HttpError::EmptySegment);
    }
    if path.contains(';') {
        return Err(HttpError::PathParameter);
    }
    Ok(path)
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// One hex digit's value; shared with the query's decoding.
pub(crate) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode_unreserved(raw: &str) -> Result<String, HttpError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(HttpError::BadEscape);
            };
            let value = hi * 16 + lo;
            if value == b'/' || value == b'\\' {
                return Err(HttpError::EncodedSeparator);
            }
            if unreserved(value) {
                out.push(char::from(value));
            } else {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(hi)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(lo)]));
            }
            i += 3;
            continue;
        }
        // RFC 9112 allows only visible ASCII in a request target; a backslash is read as a
        // separator by some servers.
        if !(0x21..0x7f).contains(&b) || b == b'\\' {
            return Err(HttpError::BadCharacter);
        }
        out.push(char::from(b));
        i += 1;
    }
    Ok(out)
}

/// RFC 3986 5.2.4, on an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut parts = path.split('/').skip(1).peekable();
    // A path ending in `.` or `..` names a directory: it keeps its trailing slash.
    let mut trailing = false;
    while let Some(segment) = parts.next() {
        let last = parts.peek().is_none();
        match segment {
            "." => trailing = last,
            ".." => {
                segments.pop();
                trailing = last;
            }
            s => {
                segments.push(s);
                trailing = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing || out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_per_path() {
        for (raw, want) in [
            ("/admin", "/admin"),
            ("/%61dmin", "/admin"),
            ("/x/../admin", "/admin"),
            ("/x/%2e%2e/admin", "/admin"),
            ("/x/%2E%2E/admin", "/admin"),
            ("/admin/.", "/admin/"),
            ("/admin/./users", "/admin/users"),
            ("/a/b/..", "/a/"),
            ("/../../etc", "/etc"),
            ("/", "/"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/%7euser", "/~user"),
            ("/a%20b", "/a%20b"),
            ("/api/v1/", "/api/v1/"),
        ] {
            assert_eq!(normalise_path(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn ambiguous_spellings_are_refused() {
        assert_eq!(normalise_path("/a%2Fb"), Err(HttpError::EncodedSeparator));
        assert_eq!(normalise_path("/a%2fb"), Err(HttpError::EncodedSeparator));
        assert_eq!(normalise_path("/a%5cb"), Err(HttpError::EncodedSeparator));
        assert_eq!(normalise_path("/a\\b"), Err(HttpError::BadCharacter));
        assert_eq!(normalise_path("/a%zz"), Err(HttpError::BadEscape));
        assert_eq!(normalise_path("/a%2"), Err(HttpError::BadEscape));
        assert_eq!(normalise_path("/a b"), Err(HttpError::BadCharacter));
        assert_eq!(normalise_path("/caf\u{e9}"), Err(HttpError::BadCharacter));
        assert_eq!(normalise_path("/a//b"), Err(HttpError::EmptySegment));
        assert_eq!(normalise_path("//admin"), Err(HttpError::EmptySegment));
        assert_eq!(normalise_path("/x/..//admin"), Err(HttpError::EmptySegment));
        assert_eq!(normalise_path("/admin;x=1"), Err(HttpError::PathParameter));
        assert_eq!(
            normalise_path("/x/..;/admin"),
            Err(HttpError::PathParameter)
        );
        assert_eq!(normalise_path("admin"), Err(HttpError::NotAbsolute));
        assert_eq!(normalise_path("*"), Err(HttpError::NotAbsolute));
        let long = format!("/{}", "a".repeat(MAX_TARGET));
        assert_eq!(normalise_path(&long), Err(HttpError::TooLong(MAX_TARGET)));
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for raw in ["/x/../%61dmin/./", "/caf%c3%a9/..", "/a/b/c/../../d"] {
            let once = normalise_path(raw).unwrap();
            assert_eq!(normalise_path(&once).unwrap(), once, "{raw}");
        }
    }
}
