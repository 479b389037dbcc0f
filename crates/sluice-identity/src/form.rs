//! `application/x-www-form-urlencoded`, for OAuth requests and the authorization URL's query.

/// `name=value&...`, every byte but the unreserved ones percent-encoded.
pub(crate) fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        escape(name, &mut out);
        out.push('=');
        escape(value, &mut out);
    }
    out
}

/// RFC 3986 unreserved characters pass; every other byte becomes `%XX`. Also what RFC 6749
/// 2.3.1 asks of the client id and secret before they go into a Basic header.
pub(crate) fn escape(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reserved_bytes_are_escaped() {
        assert_eq!(
            super::encode([("a b", "x&y=z/é"), ("k", "v~-._")]),
            "a%20b=x%26y%3Dz%2F%C3%A9&k=v~-._"
        );
    }
}
