//! Percent-decoding as Go's `net/url` does it for the API server, but strict: where Go would
//! fail (a bad escape) or differ between its decoded and raw forms, this refuses.

use crate::KubeError;

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, as in a query).
/// `part` names the URL part for the error.
pub(crate) fn decode(
    raw: &str,
    plus_is_space: bool,
    part: &'static str,
) -> Result<String, KubeError> {
    // Most segments and values have nothing to decode: no allocation beyond the copy.
    let escaped = raw.contains('%') || (plus_is_space && raw.contains('+'));
    if !escaped {
        return Ok(raw.to_owned());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|&h| hex(h));
                let lo = bytes.get(i + 2).and_then(|&l| hex(l));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
                    _ => return Err(KubeError::BadEscape(part)),
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| KubeError::NotUtf8(part))
}

/// Control characters have no place in a path segment (a name, a namespace, a proxied path)
/// an API server would accept, and Go refuses them raw; refusing them decoded too keeps log
/// lines and reviewers' screens honest.
pub(crate) fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
