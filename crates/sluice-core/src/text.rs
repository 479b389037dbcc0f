//! Text that requesters write (statements, reasons, comments), made safe to show a reviewer
//! or an auditor: one place for the CLI, the audit search and the review summaries.

/// `text` made safe to print. A reviewer must see exactly what they approve: terminal escapes
/// could rewrite the screen and bidirectional overrides could reorder a statement, so both
/// are shown as `\u{..}` instead. `keep_newlines` is for multi-line statement blocks.
pub fn printable(text: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let layout = c == '\n' || c == '\t';
        if (c.is_control() && !(keep_newlines && layout)) || is_bidi_control(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whitespace runs folded to one space, at most `max` characters (an ellipsis marks the cut),
/// and made [`printable`].
pub fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat = printable(&flat, false);
    if flat.chars().count() > max {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        flat
    }
}
