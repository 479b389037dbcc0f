//! What a MySQL statement does, read by the `sqlparser` crate's MySQL dialect after the
//! gateway has done what MySQL's own lexer does first, so a statement cannot be spelled to
//! look harmless. A statement the parser does not read is refused (and so denied).
//!
//! # Reading the text
//! - Comments (`#`, `-- `, `/* */`) are removed before parsing, exactly where MySQL sees them
//!   (`--1` is two minus signs). Executable comments (`/*! ... */`, `/*!50000 ... */`) are
//!   replaced by their contents, which MySQL runs: `SELECT 1 /*! ; DROP TABLE t */` is two
//!   statements. A version above 5.7.0 runs only on newer servers, and the gateway does not
//!   know the server's: the text is read for each range of versions and refused unless every
//!   reading has the same facts. A comment inside an executable one, a version that is not
//!   five digits and an unterminated comment or quote are refused.
//! - The string is split at the semicolons outside quotes, and each statement is analysed.
//!   `DELIMITER` is the command-line client's, never the server's, and compound statements
//!   (`BEGIN ... END` bodies with semicolons inside) are split like any other text: both are
//!   refused as unparseable.
//! - Strings: `'...'` and `"..."` are both strings (the default SQL mode; ANSI_QUOTES, which
//!   makes `"..."` a name, is not supported), with backslash escapes (NO_BACKSLASH_ESCAPES off).
//!   Under any [`Lexing`] other than `BackslashEscapes` (MySQL's default), a text with a
//!   backslash anywhere is refused as [`SqlError::Ambiguous`]: the parser library cannot lex
//!   with the mode on.
//!
//! # Names
//! MySQL has no schemas: tables are `database.table`. Unquoted names are lower-cased (the
//! spelling `lower_case_table_names = 1` stores; a server that keeps case tells `Orders` from
//! `orders`, which the facts do not, so such deployments should write names in lower case);
//! backtick-quoted names keep their case and are shown without backticks. An unqualified name
//! takes the session's current database ([`NameContext::Database`]); with none,
//! [`UNRESOLVED_DATABASE`] (`mysql_unresolved`), so allow-lists deny. Names of CTEs in scope
//! are not tables. Functions are listed by bare lower-case name, user-defined ones and
//! `CALL`ed procedures included.
//!
//! # Kinds
//! SELECT (`INTO @v` included) is `read`; INSERT, REPLACE, UPDATE, DELETE, TRUNCATE and
//! `LOAD DATA LOCAL` are `write`; CREATE, ALTER, DROP, RENAME, GRANT, REVOKE are `ddl`; CALL,
//! PREPARE, EXECUTE, `SELECT ... INTO OUTFILE | DUMPFILE` and `LOAD DATA` without LOCAL (both
//! touch files on the server's disk) are `procedural`, as is any statement not recognised;
//! SET and USE are `session_change`; BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT are
//! `transaction`; SHOW, EXPLAIN, DESCRIBE, FLUSH, KILL, LOCK TABLES are `utility`. EXPLAIN
//! ANALYZE runs its statement and takes its kind. `HANDLER t ...` reads `t`.
//! `unbounded_write`: an UPDATE or DELETE without WHERE, and TRUNCATE.
//!
//! # Session changes
//! See `session`: `USE db` is the setting `database`; `SET GLOBAL x` is `global.x`.
//!
//! # Text and shape
//! The `text` of a statement and the shape of a string are their tokens with every constant
//! replaced by `$1`, `$2`, ... and white space collapsed (`shape`). A string with `?`
//! parameters, `$` followed by a digit, a backslash, or a version-dependent executable comment
//! has no shape (no cached decision is shared for it).
//!
//! # Not visible
//! Stored procedure and trigger bodies, statements run by `EXECUTE`, views, the tables of a
//! `SELECT ... INTO OUTFILE`, and the tables named by GRANT.

mod kind;
mod names;
mod session;
mod shape;
mod source;
mod special;
mod walk;

use std::collections::BTreeMap;

use sluice_decision::SqlDialect;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

pub use names::UNRESOLVED_DATABASE;

use crate::StatementKind;
use crate::{Dialect, Lexing, NameContext, ParseError, SessionChange, SqlError, SqlStatement};

/// MySQL, read by the `sqlparser` crate's MySQL dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct MySql;

/// The one MySQL dialect, for sessions to point at.
pub static MYSQL: MySql = MySql;

impl Dialect for MySql {
    fn name(&self) -> SqlDialect {
        SqlDialect::Mysql
    }

    /// The database the client connected with; an empty one is no database (MySQL's
    /// handshake without CONNECT_WITH_DB).
    fn initial_names(
        &self,
        _settings: &BTreeMap<String, String>,
        database: &str,
    ) -> Result<NameContext, String> {
        Ok(NameContext::Database(
            (!database.is_empty()).then(|| database.to_owned()),
        ))
    }

    fn analyze(
        &self,
        text: &str,
        names: &NameContext,
        lexing: Lexing,
    ) -> Result<Vec<SqlStatement>, SqlError> {
        if lexing != Lexing::BackslashEscapes && text.contains('\\') {
            return Err(SqlError::Ambiguous);
        }
        let database = match names {
            NameContext::Database(d) => d.as_deref(),
            NameContext::SearchPath(_) => None,
        };
        let readings = source::Source::read(text)?.readings()?;
        let mut analysed = readings.iter().map(|statements| {
            statements
                .iter()
                .map(|s| statement(s, database))
                .collect::<Result<Vec<_>, _>>()
        });
        let first = match analysed.next() {
            Some(first) => first?,
            None => Vec::new(),
        };
        for other in analysed {
            if !same_facts(&first, &other?) {
                return Err(rejected(
                    "the statement does different things on different MySQL versions (a \
                     versioned /*!NNNNN */ comment)"
                        .to_owned(),
                ));
            }
        }
        Ok(first)
    }

    fn shape(&self, text: &str) -> Option<String> {
        let has_parameters = text.contains('?')
            || text
                .as_bytes()
                .windows(2)
                .any(|w| w[0] == b'$' && w[1].is_ascii_digit());
        if has_parameters || text.contains('\\') {
            return None;
        }
        let readings = source::Source::read(text).ok()?.readings().ok()?;
        let [statements] = readings.as_slice() else {
            return None;
        };
        let mut next = 1;
        let shaped: Option<Vec<String>> = statements
            .iter()
            .map(|s| Some(shape::normalized(&tokens(s).ok()?, &mut next)))
            .collect();
        Some(shaped?.join("; "))
    }

    fn follow(
        &self,
        _names: &NameContext,
        _initial: &NameContext,
        change: &SessionChange,
    ) -> Option<NameContext> {
        match change.setting.as_str() {
            "database" => Some(NameContext::Database(change.value.clone())),
            _ => None,
        }
    }

    fn moves_names(&self, change: &SessionChange) -> bool {
        change.setting == "database"
    }
}

/// Whether two readings of a text do the same, their texts aside (a constant moved into or
/// out of a comment changes the text, not what the policy decides on).
fn same_facts(a: &[SqlStatement], b: &[SqlStatement]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            SqlStatement {
                text: String::new(),
                ..a.clone()
            } == SqlStatement {
                text: String::new(),
                ..b.clone()
            }
        })
}

fn tokens(sql: &str) -> Result<Vec<Token>, SqlError> {
    Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize()
        .map_err(|e| rejected(e.to_string()))
}

fn rejected(message: String) -> SqlError {
    SqlError::Rejected(ParseError {
        message,
        position: None,
    })
}

/// The facts of one statement (no semicolons outside quotes, no comments).
fn statement(sql: &str, database: Option<&str>) -> Result<SqlStatement, SqlError> {
    let tokens = tokens(sql)?;
    let text = shape::normalized(&tokens, &mut 1);
    let sorted = |mut names: Vec<String>| {
        names.sort();
        names.dedup();
        names
    };
    if let Some(s) = special::read(&tokens, database)? {
        return Ok(SqlStatement {
            text,
            kind: s.kind,
            command: s.command.to_owned(),
            tables_read: sorted(s.read),
            tables_written: sorted(s.written),
            functions: Vec::new(),
            unbounded_write: false,
            session_change: None,
            parameter_count: 0,
            masked_columns_in_predicates: Vec::new(),
        });
    }
    let parsed = Parser::parse_sql(&MySqlDialect {}, sql).map_err(|e| rejected(e.to_string()))?;
    let [parsed] = parsed.as_slice() else {
        return Err(rejected(format!(
            "expected one statement, the parser read {}",
            parsed.len()
        )));
    };
    let found = walk::walk(parsed, database);
    let classified = kind::classify(parsed);
    let written: Vec<String> = classified
        .targets
        .iter()
        .map(|t| names::table(t, database))
        .collect();
    // A target is named in the tree as well: what remains once each target is taken out once
    // is read (`UPDATE t ... WHERE x IN (SELECT x FROM t)` reads and writes t).
    let mut read = found.tables;
    for target in &written {
        if let Some(at) = read.iter().position(|r| r == target) {
            read.remove(at);
        }
    }
    let tables_written = sorted(written);
    let kind = match classified.kind {
        StatementKind::Read if !tables_written.is_empty() => StatementKind::Write,
        k => k,
    };
    Ok(SqlStatement {
        text,
        kind,
        command: classified.command,
        tables_read: sorted(read),
        tables_written,
        functions: sorted(found.functions),
        unbounded_write: found.unbounded_write,
        session_change: session::change(parsed)?,
        parameter_count: found.parameters,
        masked_columns_in_predicates: Vec::new(),
    })
}
