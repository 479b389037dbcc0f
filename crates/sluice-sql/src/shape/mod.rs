//! A statement string's shape: its text with the constants taken out, so that a caller can
//! share what it concluded about one string with strings that differ from it only in constants.

mod memo;

use crate::SqlError;

/// `sql` with every constant replaced by a `$n` parameter, as `pg_stat_statements` shows it:
/// `SELECT * FROM t WHERE id = 5` and `... id = 7` both become `SELECT * FROM t WHERE id = $1`.
///
/// Strings with the same shape have the same facts from [`crate::analyze`] except the statement
/// `text` and the `session_change` value; a caller sharing conclusions by shape must not share
/// those. A string that already holds `$n` parameters has no shape (the error
/// [`SqlError::HasParameters`]): its parameters and its replaced constants would be numbered
/// alike, and `SELECT $1` (one parameter) would share the shape of `SELECT 1` (none).
pub fn normalize(sql: &str) -> Result<String, SqlError> {
    // Conservative: a `$` and a digit inside a string or a name also count.
    if sql
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b'$' && w[1].is_ascii_digit())
    {
        return Err(SqlError::HasParameters);
    }
    // No position: a caller that needs the rejection reported analyses the text.
    let mut error = None;
    let shape = memo::shape(sql, |sql| {
        pg_query::normalize(sql)
            .map_err(|e| error = Some(e.to_string()))
            .ok()
    });
    shape.ok_or_else(|| {
        SqlError::Rejected(crate::ParseError {
            message: error.unwrap_or_else(|| "the statement does not parse".to_owned()),
            position: None,
        })
    })
}
