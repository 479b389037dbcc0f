//! Recognising spans that are bare JSON numbers.
//!
//! A card number stored as a JSON number (`{"card": 4111111111111111}`) cannot be replaced by
//! `****` in place: the document would no longer parse. Such a span is replaced by a quoted
//! string instead. Inside a JSON string, quotes must never be added, so this needs to know,
//! for each span, whether it is inside a string: one forward pass over the text up to the last
//! span, only when something was found.

use std::ops::Range;

/// Walks a text once, tracking whether a position is inside a JSON string.
pub(crate) struct JsonStrings<'t> {
    bytes: &'t [u8],
    /// Only texts that open like a JSON document (or a PostgreSQL array, where a quoted
    /// element is just as valid) are treated as JSON.
    enabled: bool,
    pos: usize,
    inside: bool,
}

impl<'t> JsonStrings<'t> {
    pub(crate) fn new(text: &'t str) -> JsonStrings<'t> {
        JsonStrings {
            bytes: text.as_bytes(),
            enabled: text.trim_start().starts_with(['{', '[']),
            pos: 0,
            inside: false,
        }
    }

    /// Whether `span` is a number token outside any string. Spans must come in text order.
    pub(crate) fn is_bare_number(&mut self, span: Range<usize>) -> bool {
        if !self.enabled {
            return false;
        }
        self.advance_to(span.start);
        !self.inside
            && self.bytes.get(span).is_some_and(|s| {
                !s.is_empty()
                    && s.iter().all(|b| {
                        b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')
                    })
            })
    }

    fn advance_to(&mut self, to: usize) {
        while self.pos < to {
            let Some(&b) = self.bytes.get(self.pos) else {
                return;
            };
            match b {
                b'\\' if self.inside => self.pos += 1,
                b'"' => self.inside = !self.inside,
                _ => {}
            }
            self.pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_outside_strings_only() {
        let text = r#"{"a": 4111, "b": "x 4111", "c\"": 4111}"#;
        let mut json = JsonStrings::new(text);
        let spans: Vec<Range<usize>> = text
            .match_indices("4111")
            .map(|(i, s)| i..i + s.len())
            .collect();
        let bare: Vec<bool> = spans.into_iter().map(|s| json.is_bare_number(s)).collect();
        assert_eq!(bare, [true, false, true]);
    }

    #[test]
    fn free_text_is_never_json() {
        let mut json = JsonStrings::new("card 4111");
        assert!(!json.is_bare_number(5..9));
    }
}
