//! The one call into the bash parser, behind the limits that keep it safe: the parser
//! recurses once per nesting level, and a line from a client must not be able to overflow
//! the gateway's stack.

use brush_parser::{ast, Parser, ParserOptions};

use crate::limits;

/// Parses a script; `None` when it is not valid bash or is past the limits.
pub fn program(text: &str, options: &ParserOptions) -> Option<ast::Program> {
    if !fits(text) {
        return None;
    }
    Parser::new(text.as_bytes(), options).parse_program().ok()
}

/// Whether `text` is within the length and nesting the parser is trusted with. Nesting is
/// bounded by counting every character or keyword that can open a level, quoted or not:
/// an over-count only refuses an unusually dense line, an under-count could crash.
pub fn fits(text: &str) -> bool {
    if text.len() > limits::MAX_TEXT || text.contains('\0') {
        return false;
    }
    openers(text) <= limits::MAX_OPENERS
}

pub fn openers(text: &str) -> usize {
    let brackets = text
        .chars()
        .filter(|c| matches!(c, '(' | '{' | '[' | '`'))
        .count();
    let keywords = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| {
            matches!(
                *w,
                "if" | "while"
                    | "until"
                    | "for"
                    | "case"
                    | "select"
                    | "function"
                    | "coproc"
                    | "then"
                    | "do"
            )
        })
        .count();
    brackets + keywords
}
