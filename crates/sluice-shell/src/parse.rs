//! The one call into the bash parser, behind the limits that keep it safe. The parser
//! recurses once per nesting level, and backtracks at every level of parentheses when what
//! is inside does not parse: a line from a client must be able neither to overflow the
//! gateway's stack nor to keep a core busy for seconds.

use brush_parser::{ast, parse_tokens, uncached_tokenize_str, ParserOptions, Token};

use crate::limits;

/// Why a script was not parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not valid bash (or holds a NUL byte).
    Invalid,
    /// Past the nesting limits.
    TooDeep,
}

/// Parses a script after checking it is within the limits.
pub fn program(text: &str, options: &ParserOptions) -> Result<ast::Program, Refused> {
    if text.len() > limits::MAX_TEXT || text.contains('\0') || overflows_parser(text) {
        return Err(Refused::Invalid);
    }
    if openers(text) > limits::MAX_OPENERS {
        return Err(Refused::TooDeep);
    }
    let tokens =
        std::panic::catch_unwind(|| uncached_tokenize_str(text, &options.tokenizer_options()))
            .map_err(|_| Refused::Invalid)?
            .map_err(|_| Refused::Invalid)?;
    if paren_depth(&tokens) > limits::MAX_PARENS {
        return Err(Refused::TooDeep);
    }
    // A panic in the parser (its tokenizer has one, found by fuzzing) must not take the
    // gateway's worker with it: the line is then one that does not parse, which policies
    // deny.
    std::panic::catch_unwind(|| parse_tokens(&tokens, options))
        .map_err(|_| Refused::Invalid)?
        .map_err(|_| Refused::Invalid)
}

/// Input the parser cannot take (found by fuzzing): numbers it converts with `unwrap` (a file
/// descriptor before a redirection that does not fit an `i32`, `99999999999>x`, and a
/// directory-stack index after a tilde that does not fit a `usize`), and here-document
/// delimiters that are not plain words or that expand (`<<\r `, `<<$( (`, `<<E$( (`), on which its tokenizer allocates
/// without end. bash rejects the numbers, and no real line has such a delimiter.
pub fn overflows_parser(text: &str) -> bool {
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices("<<") {
        if at > 0 && bytes.get(at - 1) == Some(&b'<') {
            continue;
        }
        let mut next = at + 2;
        if bytes.get(next) == Some(&b'<') {
            continue;
        }
        if bytes.get(next) == Some(&b'-') {
            next += 1;
        }
        while matches!(bytes.get(next), Some(b' ' | b'\t')) {
            next += 1;
        }
        let plain = bytes
            .get(next)
            .is_some_and(|&b| b >= 0x80 || (b.is_ascii_graphic() && !b"$`()<>|&;".contains(&b)));
        if !plain {
            return true;
        }
        let expands = bytes
            .get(next..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| !b" \t\n;&|<>()".contains(b))
            .any(|b| matches!(b, b'$' | b'`'));
        if expands {
            return true;
        }
    }
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let after_tilde = start > 0
            && (bytes.get(start - 1) == Some(&b'~')
                || (matches!(bytes.get(start - 1), Some(b'+' | b'-'))
                    && start > 1
                    && bytes.get(start - 2) == Some(&b'~')));
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = i - start;
        if digits >= 10 && matches!(bytes.get(i), Some(b'<' | b'>')) {
            return true;
        }
        if digits >= 19 && after_tilde {
            return true;
        }
        if digits == 0 {
            i += 1;
        }
    }
    false
}

/// Counts every character or keyword that can open a level, quoted or not: an over-count
/// only refuses an unusually dense line, an under-count could crash.
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

/// The deepest nesting of parentheses among the operator tokens (quotes and words are
/// already set apart by the tokenizer, so a quoted `)` cannot hide a level). The parser's
/// time doubles with each level when the innermost part fails to parse.
fn paren_depth(tokens: &[Token]) -> usize {
    let mut depth: usize = 0;
    let mut deepest = 0;
    for token in tokens {
        if let Token::Operator(op, _) = token {
            for c in op.chars() {
                match c {
                    '(' => depth += 1,
                    ')' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                deepest = deepest.max(depth);
            }
        }
    }
    deepest
}
