//! Which result columns a column rule applies to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::MaskError;

/// A column rule's target: `schema.table.column` or a bare `column`.
///
/// - Each part is a glob where `*` matches any run of characters (`*.*.email`,
///   `public.customers.*`, `*ssn*`); there is no other wildcard.
/// - Unquoted parts compare ASCII case-insensitively, as PostgreSQL folds unquoted names.
///   Double-quoted parts (`public."Customers".ssn`, `""` for a quote inside) compare exactly,
///   and `*` and `.` inside them are literal.
/// - A bare pattern matches the result column's name, whatever table it comes from, including
///   computed columns whose source is unknown. A three-part pattern matches only a column
///   whose source schema and table are known, and `column` is then the source column's name.
/// - Two parts are refused: `a.b` could mean `schema.table` or `table.column`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct ColumnPattern {
    text: String,
    scope: Option<(Part, Part)>,
    column: Part,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Lowercased, `*` as wildcard.
    Glob(String),
    /// Quoted: compared exactly.
    Exact(String),
}

impl ColumnPattern {
    pub fn matches(&self, schema: Option<&str>, table: Option<&str>, column: &str) -> bool {
        let scoped = match (&self.scope, schema, table) {
            (None, _, _) => true,
            (Some((s, t)), Some(schema), Some(table)) => s.matches(schema) && t.matches(table),
            (Some(_), _, _) => false,
        };
        scoped && self.column.matches(column)
    }

    /// Whether the pattern names columns of this relation (a bare column pattern names none
    /// in particular).
    pub fn scopes(&self, schema: &str, table: &str) -> bool {
        self.scope
            .as_ref()
            .is_some_and(|(s, t)| s.matches(schema) && t.matches(table))
    }
}

impl Part {
    fn matches(&self, name: &str) -> bool {
        match self {
            Part::Exact(exact) => exact == name,
            Part::Glob(glob) => glob_matches(glob.as_bytes(), name.as_bytes()),
        }
    }
}

/// `*`-only glob, ASCII case-insensitive (the pattern is already lowercase). On a mismatch
/// the last `*` takes one more character, which keeps this linear enough for names.
fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if name.get(n).map(u8::to_ascii_lowercase) == Some(c) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((star_p, star_n)) => {
                    star = Some((star_p, star_n + 1));
                    p = star_p + 1;
                    n = star_n + 1;
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

impl FromStr for ColumnPattern {
    type Err = MaskError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| MaskError::ColumnPattern {
            pattern: text.to_owned(),
            reason,
        };
        let mut parts = split(text).map_err(error)?;
        let column = parts.pop().ok_or_else(|| error("empty pattern"))?;
        let scope = match parts.len() {
            0 => None,
            2 => {
                let table = parts.pop().ok_or_else(|| error("empty pattern"))?;
                let schema = parts.pop().ok_or_else(|| error("empty pattern"))?;
                Some((schema, table))
            }
            _ => return Err(error("expected `column` or `schema.table.column`")),
        };
        Ok(ColumnPattern {
            text: text.to_owned(),
            scope,
            column,
        })
    }
}

impl From<ColumnPattern> for String {
    fn from(pattern: ColumnPattern) -> String {
        pattern.text
    }
}

impl TryFrom<String> for ColumnPattern {
    type Error = MaskError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl fmt::Display for ColumnPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits on dots outside double quotes.
fn split(text: &str) -> Result<Vec<Part>, &'static str> {
    let mut parts = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let part = if chars.peek() == Some(&'"') {
            chars.next();
            let mut exact = String::new();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        exact.push('"');
                    }
                    Some('"') => break,
                    Some(c) => exact.push(c),
                    None => return Err("unterminated quoted name"),
                }
            }
            if !matches!(chars.peek(), None | Some('.')) {
                return Err("a quoted name must be a whole part");
            }
            if exact.is_empty() {
                return Err("empty name");
            }
            Part::Exact(exact)
        } else {
            let mut glob = String::new();
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                if c == '"' {
                    return Err("a quoted name must be a whole part");
                }
                glob.push(c.to_ascii_lowercase());
                chars.next();
            }
            if glob.is_empty() {
                return Err("empty name");
            }
            Part::Glob(glob)
        };
        parts.push(part);
        match chars.next() {
            Some(_) => continue,
            None => return Ok(parts),
        }
    }
}
