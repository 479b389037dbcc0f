//! Backslash escapes, so that a span never cuts one in half.
//!
//! Values are often JSON text. A detector match that starts on the `n` of `\n` (an email local
//! part happily takes it) or ends on a backslash would, once replaced, leave a broken escape
//! (`\*`) or eat the backslash of `\"`, and the client's JSON parser would fail. Spans are
//! therefore moved off escapes. Outside JSON the cost is at most one character of context.

use std::ops::Range;

/// The escape `pos` falls strictly inside of (after its backslash, before its end), if any.
/// Escapes are `\` plus one character, or `\u` plus four hex digits.
pub(crate) fn around(text: &str, pos: usize) -> Option<Range<usize>> {
    let bytes = text.as_bytes();
    // A `\uXXXX` is six bytes, so its backslash is at most five bytes back; escapes contain no
    // backslash after their first byte, so the nearest one is the only candidate.
    let start = (pos.saturating_sub(5)..pos)
        .rev()
        .find(|&i| bytes.get(i) == Some(&b'\\'))?;
    let run = bytes
        .get(..=start)?
        .iter()
        .rev()
        .take_while(|&&b| b == b'\\')
        .count();
    // Backslashes pair up from the start of a run: in `\\\n` the third one starts an escape,
    // in `\\n` the second one is itself escaped.
    if run % 2 == 0 {
        return None;
    }
    let end = start + len_at(text, start);
    (pos < end).then_some(start..end)
}

/// `end` moved back to before an escape it would cut, so a span never ends inside one.
pub(crate) fn clip_end(text: &str, end: usize) -> usize {
    match around(text, end) {
        Some(escape) => escape.start,
        None => end,
    }
}

/// The length of the escape whose backslash is at `start`.
pub(crate) fn len_at(text: &str, start: usize) -> usize {
    let rest = text.get(start + 1..).unwrap_or("");
    let unicode = rest.len() >= 5
        && rest.starts_with('u')
        && rest.as_bytes()[1..5].iter().all(u8::is_ascii_hexdigit);
    if unicode {
        6
    } else {
        1 + rest.chars().next().map_or(0, char::len_utf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_inside_escapes_are_found() {
        let text = r#"a\nb"#;
        assert_eq!(around(text, 2), Some(1..3));
        assert_eq!(around(text, 3), None);
        assert_eq!(around(text, 1), None);
        let text = r#"x\u00e9y"#;
        assert_eq!(around(text, 2), Some(1..7));
        assert_eq!(around(text, 6), Some(1..7));
        assert_eq!(around(text, 7), None);
    }

    #[test]
    fn escaped_backslashes_pair_up() {
        // `\\` then a plain `n`: position 3 (the `n`) is outside any escape.
        let text = r#"a\\nb"#;
        assert_eq!(around(text, 3), None);
        assert_eq!(around(text, 2), Some(1..3));
        // `\\` then `\n`.
        let text = r#"a\\\nb"#;
        assert_eq!(around(text, 4), Some(3..5));
    }

    #[test]
    fn ends_are_clipped_before_a_cut_escape() {
        let text = r#"ab\"c"#;
        assert_eq!(clip_end(text, 3), 2);
        assert_eq!(clip_end(text, 4), 4);
        assert_eq!(clip_end(text, 2), 2);
    }
}
