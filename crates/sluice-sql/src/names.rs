//! How relation and function names are spelled in the facts, so that one object has one
//! spelling however the statement wrote it.

use std::borrow::Cow;

use crate::walk::Relation;
use crate::SearchPath;

/// The schema reported for an unqualified name when the search path has no schema the gateway
/// can name. PostgreSQL reserves the `pg_` prefix for system schemas, so no real schema has this
/// name, and a policy that allows listed schemas denies it.
pub const UNRESOLVED_SCHEMA: &str = "pg_unresolved";

/// An identifier as PostgreSQL's `quote_ident` writes it, except that keywords stay unquoted
/// (the result is for comparing, never parsed again): names other than plain lower-case
/// identifiers get double quotes, so `"a.b"` cannot be mistaken for schema `a`, table `b`.
pub fn quote(ident: &str) -> Cow<'_, str> {
    let mut chars = ident.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        Cow::Borrowed(ident)
    } else {
        Cow::Owned(format!("\"{}\"", ident.replace('"', "\"\"")))
    }
}

/// `schema.name` for a relation. Without a written schema: TEMP relations live in `pg_temp`;
/// `pg_` names are system catalogs, which PostgreSQL searches before the path; everything else
/// takes the first usable schema of the path.
pub fn relation(rel: &Relation, path: &SearchPath) -> String {
    let schema = if !rel.schema.is_empty() {
        quote(&rel.schema)
    } else if rel.temporary {
        Cow::Borrowed("pg_temp")
    } else if rel.name.starts_with("pg_") {
        Cow::Borrowed("pg_catalog")
    } else {
        Cow::Borrowed(path.first_usable().unwrap_or(UNRESOLVED_SCHEMA))
    };
    format!("{schema}.{}", quote(&rel.name))
}
