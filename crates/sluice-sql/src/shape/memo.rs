//! Shapes without parsing, for texts seen before in another form.
//!
//! pg_query's normalize parses the whole text (about 10 µs for a pgbench statement), and a
//! simple-protocol client sends a new text for every value. Here a text's constants are found
//! by a lexer that reads only the simplest of them (small integers, plain decimals, standard
//! `'...'` strings) and bails out on anything else, and the text is rendered with `$n` in their
//! place, as normalize renders it. The rendering is trusted only after normalize produced
//! exactly that string for an earlier text with the same rendering and the same kinds of
//! constants in the same places: two such texts have the same bytes outside their constants, so
//! the parser builds the same tree around the constants and normalize takes out the same ones.
//! Where normalize kept a constant the lexer took out (or the other way round), the two strings
//! differ, nothing is trusted, and such texts keep going to normalize.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{OnceLock, RwLock};

/// Longer texts are normalized every time: they are rarely repeated and would make the memo
/// large.
const MAX_TEXT: usize = 4096;
/// The memo is emptied when it reaches this many renderings.
const MAX_ENTRIES: usize = 8192;

/// What is known about a rendering (with its constants' kinds): whether normalize agreed.
type Memo = RwLock<HashMap<Box<str>, bool>>;

fn memo() -> &'static Memo {
    static MEMO: OnceLock<Memo> = OnceLock::new();
    MEMO.get_or_init(|| RwLock::new(HashMap::new()))
}

/// The shape of `sql`, computed by `normalize` unless an earlier text with the same rendering
/// showed the rendering to be what `normalize` returns.
pub(super) fn shape(sql: &str, normalize: impl FnOnce(&str) -> Option<String>) -> Option<String> {
    let Some(rendered) = render(sql) else {
        return normalize(sql);
    };
    // A poisoned lock only means another thread panicked mid-insert; the memo is a cache.
    let known = memo()
        .read()
        .map(|m| m.get(rendered.key.as_str()).copied())
        .unwrap_or(None);
    match known {
        Some(true) => Some(rendered.into_shape()),
        Some(false) => normalize(sql),
        None => {
            let shape = normalize(sql);
            let agreed = shape.as_deref() == Some(rendered.shape());
            if let Ok(mut m) = memo().write() {
                if m.len() >= MAX_ENTRIES {
                    m.clear();
                }
                m.insert(rendered.key.into(), agreed);
            }
            shape
        }
    }
}

/// A text's rendering and, after a NUL, one letter per constant for its kind: the memo's key,
/// of which the rendering (the shape, once trusted) is the first `shape_len` bytes.
struct Rendered {
    key: String,
    shape_len: usize,
}

impl Rendered {
    fn shape(&self) -> &str {
        &self.key[..self.shape_len]
    }

    fn into_shape(mut self) -> String {
        self.key.truncate(self.shape_len);
        self.key
    }
}

/// The text with its simple constants replaced by `$1`, `$2`, ..., or `None` when it holds
/// anything the lexer does not read with certainty: `$` (parameters, dollar quotes), a quote
/// after a letter or `&` (`E'...'`, `U&'...'`, `B'...'`), an unterminated quote or comment, or
/// a NUL.
fn render(sql: &str) -> Option<Rendered> {
    let b = sql.as_bytes();
    if b.len() > MAX_TEXT || b.iter().any(|&c| c == b'$' || c == 0) {
        return None;
    }
    let mut key = String::with_capacity(b.len() + 16);
    let mut kinds = Vec::new();
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let (end, kind) = match c {
            b'\'' => {
                if i > 0 && (ident_byte(b[i - 1]) || b[i - 1] == b'&') {
                    return None;
                }
                (quoted(b, i, b'\'')?, Some(b's'))
            }
            b'"' => (quoted(b, i, b'"')?, None),
            b'-' if b.get(i + 1) == Some(&b'-') => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n' || c == b'\r')
                    .map_or(b.len(), |p| i + p);
                (end, None)
            }
            b'/' if b.get(i + 1) == Some(&b'*') => (block_comment(b, i)?, None),
            b'0'..=b'9' => number(b, i),
            c if ident_start(c) => {
                let end = b[i..]
                    .iter()
                    .position(|&c| !ident_byte(c))
                    .map_or(b.len(), |p| i + p);
                (end, None)
            }
            _ => (i + 1, None),
        };
        if let Some(kind) = kind {
            key.push_str(&sql[copied..i]);
            kinds.push(kind);
            // Writing to a String cannot fail.
            let _ = write!(key, "${}", kinds.len());
            copied = end;
        }
        i = end;
    }
    key.push_str(&sql[copied..]);
    let shape_len = key.len();
    key.push('\0');
    key.extend(kinds.iter().map(|&k| k as char));
    Some(Rendered { key, shape_len })
}

fn ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn ident_byte(c: u8) -> bool {
    ident_start(c) || c.is_ascii_digit()
}

/// The end of the quoted token starting at `start` (a doubled quote stands for one).
fn quoted(b: &[u8], start: usize, quote: u8) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match b.get(i)? {
            &c if c == quote => {
                if b.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return Some(i + 1);
                }
            }
            _ => i += 1,
        }
    }
}

/// The end of the block comment starting at `start`; PostgreSQL's nest.
fn block_comment(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    loop {
        match (b.get(i)?, b.get(i + 1)) {
            (b'/', Some(b'*')) => {
                depth += 1;
                i += 2;
            }
            (b'*', Some(b'/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
}

/// A number starting at `start`: an integer of at most nine digits (which PostgreSQL always
/// lexes as an integer) or `digits.digits`, as a constant; anything else (exponents, hex,
/// underscores, longer integers, trailing letters) is copied as it is, which makes the
/// rendering disagree with normalize and so never be trusted.
fn number(b: &[u8], start: usize) -> (usize, Option<u8>) {
    let digits = |from: usize| {
        b[from..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map_or(b.len(), |p| from + p)
    };
    let whole_end = digits(start);
    if start > 0 && (ident_byte(b[start - 1]) || b[start - 1] == b'.') {
        // Inside a name, or after a dot: not a constant of its own.
        return (whole_end, None);
    }
    let (end, kind) = if b.get(whole_end) == Some(&b'.')
        && b.get(whole_end + 1).is_some_and(u8::is_ascii_digit)
    {
        (digits(whole_end + 1), b'f')
    } else if whole_end - start <= 9 {
        (whole_end, b'i')
    } else {
        return (whole_end, None);
    };
    match b.get(end) {
        Some(&c) if ident_byte(c) || c == b'.' => (end, None),
        _ => (end, Some(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(sql: &str) -> Option<(String, String)> {
        render(sql).map(|r| {
            let kinds = r.key[r.shape_len + 1..].to_owned();
            (r.into_shape(), kinds)
        })
    }

    #[test]
    fn simple_constants_are_rendered_as_normalize_renders_them() {
        let (shape, kinds) =
            rendered("SELECT abalance FROM pgbench_accounts WHERE aid = 12345;").unwrap();
        assert_eq!(
            shape,
            "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"
        );
        assert_eq!(kinds, "i");
        assert_eq!(
            crate::normalize("SELECT abalance FROM pgbench_accounts WHERE aid = 12345;").unwrap(),
            shape
        );
        let (shape, kinds) = rendered("select 'it''s', 1.5, t1.c2 from t1 -- 'x' 5\n").unwrap();
        assert_eq!(shape, "select $1, $2, t1.c2 from t1 -- 'x' 5\n");
        assert_eq!(kinds, "sf");
    }

    #[test]
    fn what_the_lexer_cannot_read_with_certainty_is_left_to_normalize() {
        for sql in [
            "SELECT E'a\\'' , 1",
            "SELECT U&'d\\0061t'",
            "SELECT $1",
            "SELECT $$a$$",
            "SELECT 'unterminated",
            "SELECT /* /* nested */ 1",
            "SELECT 1\0",
        ] {
            assert!(render(sql).is_none(), "{sql}");
        }
        // Copied as they are, so the rendering differs from normalize's and is never trusted.
        for sql in [
            "SELECT 1e5",
            "SELECT 0x1F",
            "SELECT 12345678901",
            "SELECT 5abc",
        ] {
            assert_eq!(rendered(sql).unwrap().1, "", "{sql}");
        }
    }

    /// The memoized shape, counting how often pg_query's normalize had to run.
    fn counting_shape(sql: &str, calls: &std::cell::Cell<usize>) -> Option<String> {
        super::shape(sql, |s| {
            calls.set(calls.get() + 1);
            pg_query::normalize(s).ok()
        })
    }

    #[test]
    fn a_rendering_is_trusted_only_once_normalize_agreed() {
        let calls = std::cell::Cell::new(0);
        let shape = |sql: &str| counting_shape(sql, &calls);
        let a = shape("SELECT * FROM memo_test_a WHERE id = 1 AND name = 'x'");
        let b = shape("SELECT * FROM memo_test_a WHERE id = 2 AND name = 'y'");
        assert_eq!(a, b);
        assert_eq!(
            a.as_deref(),
            Some("SELECT * FROM memo_test_a WHERE id = $1 AND name = $2")
        );
        // A negative constant is one constant to normalize (`$1`), two tokens to the lexer
        // (`-$1`): never trusted, always normalized.
        let c = shape("SELECT * FROM memo_test_b WHERE id = -1");
        let d = shape("SELECT * FROM memo_test_b WHERE id = -2");
        assert_eq!(
            c.as_deref(),
            Some("SELECT * FROM memo_test_b WHERE id = $1")
        );
        assert_eq!(c, d);
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn constants_of_other_kinds_in_the_same_places_are_checked_again() {
        let calls = std::cell::Cell::new(0);
        let shape = |sql: &str| counting_shape(sql, &calls);
        shape("SELECT * FROM memo_test_c LIMIT 5");
        shape("SELECT * FROM memo_test_c LIMIT '5'");
        assert_eq!(calls.get(), 2);
    }
}
