//! The schemas unqualified relation names resolve against, read from a `search_path` value the
//! way PostgreSQL reads it.

use std::fmt;

use crate::names::quote;
use crate::SqlError;

/// A session's `search_path`: the schemas in order, each spelled as it appears in reported table
/// names (`public`, `"Sales"`), and the placeholder for the session user's schema as `$user`
/// (PostgreSQL reads `$user` as that placeholder however it is quoted, so it names no schema).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchPath {
    schemas: Vec<String>,
}

/// PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes; a longer name in the setting
/// names the same schema as its first 63 bytes.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// The entry for the schema named like the session user, if one exists.
const USER: &str = "$user";

impl Default for SearchPath {
    /// PostgreSQL's default, `"$user", public`.
    fn default() -> Self {
        Self {
            schemas: vec![USER.to_owned(), "public".to_owned()],
        }
    }
}

impl SearchPath {
    /// Reads a `search_path` value (the startup parameter, or a `SET search_path` value from
    /// [`crate::analyze`]) as PostgreSQL's `SplitIdentifierString` does: comma separated
    /// identifiers; double-quoted ones keep their case and may hold commas (`""` is a quote);
    /// unquoted ones fold to lower case. The empty string is the empty path.
    pub fn parse(value: &str) -> Result<Self, SqlError> {
        let invalid = |why: &str| SqlError::SearchPath(format!("{value:?}: {why}"));
        let mut schemas = Vec::new();
        let mut rest = value.trim_start_matches(is_space);
        if rest.is_empty() {
            return Ok(Self { schemas });
        }
        loop {
            let (name, after) = match rest.strip_prefix('"') {
                Some(quoted) => quoted_name(quoted).ok_or_else(|| invalid("unterminated quote"))?,
                None => {
                    let end = rest
                        .find(|c: char| c == ',' || is_space(c))
                        .unwrap_or(rest.len());
                    if end == 0 {
                        return Err(invalid("empty schema name"));
                    }
                    let (name, after) = rest.split_at(end);
                    (name.to_ascii_lowercase(), after)
                }
            };
            schemas.push(match truncated(&name) {
                USER => USER.to_owned(),
                name => quote(name).into_owned(),
            });
            let after = after.trim_start_matches(is_space);
            match after.strip_prefix(',') {
                Some(next) => rest = next.trim_start_matches(is_space),
                None if after.is_empty() => return Ok(Self { schemas }),
                None => return Err(invalid("expected a comma between schema names")),
            }
        }
    }

    /// The schemas, in order, as they appear in table names; for the policy input.
    /// The path with no schema: every unqualified name is unresolved.
    pub fn empty() -> Self {
        Self {
            schemas: Vec::new(),
        }
    }

    pub fn schemas(&self) -> &[String] {
        &self.schemas
    }

    /// The schema an unqualified relation name resolves to, if the path has one the gateway can
    /// name. `$user` is skipped because whether that schema exists is in the catalog, which the
    /// gateway cannot see; `pg_catalog` and `pg_temp` are skipped because the caller has already
    /// decided names that can live there (`pg_` names, TEMP relations); `""` names no schema.
    pub(crate) fn first_usable(&self) -> Option<&str> {
        self.schemas
            .iter()
            .map(String::as_str)
            .find(|s| ![USER, "pg_catalog", "pg_temp", "\"\""].contains(s))
    }
}

impl fmt::Display for SearchPath {
    /// The path as a `search_path` value, e.g. `$user, public`; [`SearchPath::parse`] reads it
    /// back unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.schemas.join(", "))
    }
}

/// The name inside double quotes and the text after the closing quote; `None` when unterminated.
fn quoted_name(s: &str) -> Option<(String, &str)> {
    let mut name = String::new();
    let mut rest = s;
    loop {
        let end = rest.find('"')?;
        name.push_str(&rest[..end]);
        rest = &rest[end + 1..];
        match rest.strip_prefix('"') {
            Some(after_doubled) => {
                name.push('"');
                rest = after_doubled;
            }
            None => return Some((name, rest)),
        }
    }
}

fn truncated(name: &str) -> &str {
    if name.len() <= MAX_IDENTIFIER_BYTES {
        return name;
    }
    let mut end = MAX_IDENTIFIER_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Whitespace as PostgreSQL's scanner sees it.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}
