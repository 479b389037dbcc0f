//! How MySQL names are spelled in the facts: `database.table`, unquoted names lower-cased,
//! backtick-quoted names as written (without the backticks), so one table has one spelling
//! however an ordinary statement writes it.

use sqlparser::ast::{Ident, ObjectName};
use sqlparser::tokenizer::Word;

/// The database reported for an unqualified name when the session has no current database
/// (MySQL then rejects the statement, but the policy decides first). A quoted database name can
/// be almost anything, so this is a name no allow-list should hold: policies that allow listed
/// databases deny it, as they deny PostgreSQL's `pg_unresolved`.
pub const UNRESOLVED_DATABASE: &str = "mysql_unresolved";

/// An identifier as the facts spell it: unquoted names fold to lower case (the spelling that
/// `lower_case_table_names = 1` stores); quoted ones keep their case.
pub fn ident(ident: &Ident) -> String {
    spelled(&ident.value, ident.quote_style)
}

/// A name token of the statement, spelled as [`ident`] spells it.
pub fn word(word: &Word) -> String {
    spelled(&word.value, word.quote_style)
}

fn spelled(value: &str, quote: Option<char>) -> String {
    match quote {
        Some(_) => value.to_owned(),
        None => value.to_lowercase(),
    }
}

/// `database.table` for a table name, an unqualified one taking the current `database`.
/// Names of more than two parts (which MySQL rejects) keep their last two.
pub fn table(name: &ObjectName, database: Option<&str>) -> String {
    let parts: Option<Vec<String>> = name.0.iter().map(|p| p.as_ident().map(ident)).collect();
    // A part computed by a function names nothing the gateway can read.
    match parts {
        Some(parts) => qualified(&parts, database),
        None => format!("{UNRESOLVED_DATABASE}."),
    }
}

/// `database.table` for the parts of a name as the facts spell them.
pub fn qualified(parts: &[String], database: Option<&str>) -> String {
    match parts {
        [.., db, table] => format!("{db}.{table}"),
        [table] => format!("{}.{table}", database.unwrap_or(UNRESOLVED_DATABASE)),
        [] => format!("{}.", database.unwrap_or(UNRESOLVED_DATABASE)),
    }
}

/// A function's bare name, lower case (MySQL function names are case-insensitive).
pub fn function(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_lowercase())
        .unwrap_or_default()
}
