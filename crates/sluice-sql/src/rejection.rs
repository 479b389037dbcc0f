//! A text the parser rejects, with the position PostgreSQL would report, so a client shows the
//! refusal as it shows the server's own syntax errors (psql's `LINE 1: ...` and `^`).
//!
//! The parser binding reports only the message, not the cursor position the C parser knows.
//! The position is found from the message instead:
//! - `... at end of input`: just past the last character;
//! - `... at or near "X"`: where the token `X` starts. The parser stops at the first token
//!   that cannot continue the text, so the shortest prefix of the text that fails with the
//!   same message ends with that token; it is found by bisection over prefixes.
//!
//! Other messages (the few raised by grammar actions, such as `LIMIT #,# syntax is not
//! supported`) carry no position, and no hint or detail: the binding does not expose them.

/// Why the parser rejected a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The parser's message, as PostgreSQL words it.
    pub message: String,
    /// 1-based character position in the text, as PostgreSQL's error position field.
    pub position: Option<u32>,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Texts longer than this get no position: bisection parses the text about log2(length)
/// times, which an error path should not spend on megabytes.
const MAX_LOCATED: usize = 64 * 1024;

const AT_END: &str = " at end of input";

/// The position of the error `message` that parsing `sql` with `options` gave.
pub(crate) fn locate(sql: &str, options: pg_query::ParserOptions, message: &str) -> Option<u32> {
    let chars_before = |byte: usize| u32::try_from(sql[..byte].chars().count()).ok();
    if message.ends_with(AT_END) {
        return chars_before(sql.len()).map(|n| n + 1);
    }
    let token = near_token(message)?;
    if sql.len() > MAX_LOCATED {
        return None;
    }
    let fails_alike = |end: usize| match pg_query::parse(&sql[..end], options) {
        Err(pg_query::Error::Parse(m)) => m == message,
        _ => false,
    };
    // The smallest prefix length (at a character boundary) that fails like the whole text.
    let (mut low, mut high) = (0, sql.len());
    while low < high {
        let mid = floor_char_boundary(sql, low + (high - low) / 2);
        let mid = if mid <= low {
            ceil_char_boundary(sql, low + 1)
        } else {
            mid
        };
        if mid >= high {
            break;
        }
        if fails_alike(mid) {
            high = mid;
        } else {
            low = mid;
        }
    }
    let start = high.checked_sub(token.len())?;
    (sql.get(start..high) == Some(token)).then(|| chars_before(start).map(|n| n + 1))?
}

/// `X` from a message ending `at or near "X"`.
fn near_token(message: &str) -> Option<&str> {
    const NEAR: &str = " at or near \"";
    let at = message.rfind(NEAR)?;
    message[at + NEAR.len()..].strip_suffix('"')
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(sql: &str) -> Option<u32> {
        let options = pg_query::ParserOptions::DEFAULT;
        match pg_query::parse(sql, options) {
            Err(pg_query::Error::Parse(m)) => locate(sql, options, &m),
            other => panic!("{sql} parsed: {other:?}"),
        }
    }

    #[test]
    fn positions_are_those_postgresql_reports() {
        // Positions as PostgreSQL 15 reports them for the same texts.
        assert_eq!(position("SELECT * FROM WHERE x"), Some(15));
        assert_eq!(position("SELEC 1"), Some(1));
        assert_eq!(position("SELECT 1 +"), Some(11));
        assert_eq!(position("SELECT 1; SELECT FROM WHERE"), Some(23));
        assert_eq!(position("SELECT 'abc"), Some(8));
        assert_eq!(position("SELECT 'é', 'ü' FROM FROM"), Some(22));
        assert_eq!(position("SELECT 1\nFROM t WHERE AND x"), Some(23));
        assert_eq!(position("select * from t where a = = 1"), Some(27));
        assert_eq!(position("SELECT 1 +   "), Some(14));
        assert_eq!(position("SELECT $$abc"), Some(8));
        assert_eq!(position("SELECT /* x"), Some(8));
        assert_eq!(position("SELECT \"abc"), Some(8));
        assert_eq!(position("CREATE TABLE ("), Some(14));
    }

    #[test]
    fn messages_without_a_token_have_no_position() {
        assert_eq!(near_token("LIMIT #,# syntax is not supported"), None);
        assert_eq!(near_token("syntax error at or near \"x\""), Some("x"));
    }
}
