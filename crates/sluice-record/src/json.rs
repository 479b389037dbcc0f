//! The line encoder: JSON written by hand into a byte buffer.
//!
//! Recording sits next to the relay of every result row, so lines are built
//! without an intermediate value tree and without fallible serializers: every
//! function here only appends bytes and cannot fail.

/// Appends `s` as a JSON string literal (quotes included).
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            push_unicode_escape(out, b);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn push_unicode_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u00");
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 0x0f)]);
}

/// Appends a value as the client received it: text as (lossy) UTF-8, binary
/// format as `\x` followed by lowercase hex, the way PostgreSQL prints `bytea`.
pub(crate) fn push_value(out: &mut Vec<u8>, value: Option<&[u8]>, binary: bool) {
    match value {
        None => out.extend_from_slice(b"null"),
        Some(bytes) if binary => {
            out.extend_from_slice(b"\"\\\\x");
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for &b in bytes {
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0x0f)]);
            }
            out.push(b'"');
        }
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(s) => push_str(out, s),
            Err(_) => push_str(out, &String::from_utf8_lossy(bytes)),
        },
    }
}

/// Appends an unsigned integer.
pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends `n`, or `null`.
pub(crate) fn push_opt_u64(out: &mut Vec<u8>, n: Option<u64>) {
    match n {
        Some(n) => push_u64(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends seconds with microsecond precision as a JSON number, trailing
/// zeros dropped: `0.0`, `1.5`, `12.000123`.
pub(crate) fn push_secs(out: &mut Vec<u8>, micros: u64) {
    push_u64(out, micros / 1_000_000);
    out.push(b'.');
    let frac = micros % 1_000_000;
    if frac == 0 {
        out.push(b'0');
        return;
    }
    // Six digits, zero-padded, without the trailing zeros.
    let mut digits = [b'0'; 6];
    let text = itoa::Buffer::new().format(frac).as_bytes().to_vec();
    digits[6 - text.len()..].copy_from_slice(&text);
    let len = digits.iter().rposition(|&d| d != b'0').map_or(0, |i| i + 1);
    out.extend_from_slice(&digits[..len]);
}

/// Builds a JSON object key by key: a recording line (`{"type":"<kind>",...}`
/// and a newline) or a nested object.
pub(crate) struct Line {
    buf: Vec<u8>,
    empty: bool,
}

impl Line {
    /// A recording line of type `kind`.
    pub(crate) fn new(kind: &str) -> Line {
        Line::object().str("type", kind)
    }

    /// A nested object.
    pub(crate) fn object() -> Line {
        let mut buf = Vec::with_capacity(128);
        buf.push(b'{');
        Line { buf, empty: true }
    }

    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.buf.push(b',');
        }
        self.empty = false;
        push_str(&mut self.buf, key);
        self.buf.push(b':');
        &mut self.buf
    }

    pub(crate) fn str(mut self, key: &str, value: &str) -> Line {
        push_str(self.key(key), value);
        self
    }

    pub(crate) fn u64(mut self, key: &str, value: u64) -> Line {
        push_u64(self.key(key), value);
        self
    }

    pub(crate) fn opt_u64(mut self, key: &str, value: Option<u64>) -> Line {
        push_opt_u64(self.key(key), value);
        self
    }

    pub(crate) fn opt_str(mut self, key: &str, value: Option<&str>) -> Line {
        match value {
            Some(value) => push_str(self.key(key), value),
            None => self.key(key).extend_from_slice(b"null"),
        }
        self
    }

    pub(crate) fn bool(mut self, key: &str, value: bool) -> Line {
        let text: &[u8] = if value { b"true" } else { b"false" };
        self.key(key).extend_from_slice(text);
        self
    }

    pub(crate) fn secs(mut self, key: &str, micros: u64) -> Line {
        push_secs(self.key(key), micros);
        self
    }

    /// A value already encoded as JSON.
    pub(crate) fn raw(mut self, key: &str, json: &[u8]) -> Line {
        self.key(key).extend_from_slice(json);
        self
    }

    /// The object's bytes, closed.
    pub(crate) fn into_object(mut self) -> Vec<u8> {
        self.buf.push(b'}');
        self.buf
    }

    /// The line's bytes, closed and ended with a newline.
    pub(crate) fn finish(self) -> Vec<u8> {
        let mut buf = self.into_object();
        buf.push(b'\n');
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_round_trip_through_serde() {
        for text in [
            "",
            "plain",
            "q\"uote\\",
            "\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}",
            "é中文😀",
            "\u{2028}",
        ] {
            let encoded = s(|o| push_str(o, text));
            let decoded: String = serde_json::from_str(&encoded).unwrap();
            assert_eq!(decoded, text);
        }
    }

    #[test]
    fn values() {
        assert_eq!(s(|o| push_value(o, None, false)), "null");
        assert_eq!(s(|o| push_value(o, Some(b"ada"), false)), "\"ada\"");
        assert_eq!(
            s(|o| push_value(o, Some(&[0x01, 0xab]), true)),
            "\"\\\\x01ab\""
        );
        let lossy = s(|o| push_value(o, Some(&[b'a', 0xff]), false));
        assert_eq!(serde_json::from_str::<String>(&lossy).unwrap(), "a\u{fffd}");
    }

    #[test]
    fn seconds() {
        assert_eq!(s(|o| push_secs(o, 0)), "0.0");
        assert_eq!(s(|o| push_secs(o, 1_500_000)), "1.5");
        assert_eq!(s(|o| push_secs(o, 12_000_123)), "12.000123");
        assert_eq!(s(|o| push_secs(o, 1_000)), "0.001");
        assert_eq!(
            serde_json::from_str::<f64>(&s(|o| push_secs(o, 3_000_450))).unwrap(),
            3.00045
        );
    }
}
