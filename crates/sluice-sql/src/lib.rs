//! What a PostgreSQL statement does, read by PostgreSQL's own parser (libpg_query), so that a
//! statement cannot be spelled to look harmless: comments, case, quoting, unicode escapes,
//! dollar quoting and several statements in one string all reach the same parse tree the
//! server builds. No I/O; facts out, for the decision crate.
//!
//! # Layout
//! - [`analyze`]: SQL text to one [`Statement`] per statement, or a rejection.
//! - `kind`: what sort of statement a parse tree is ([`StatementKind`], the command).
//! - `walk`: facts that need the tree itself (`SELECT INTO` targets, UPDATE/DELETE without
//!   WHERE, session settings).

mod kind;
mod walk;

use serde::Serialize;

pub use kind::StatementKind;

/// Why SQL text could not be analysed. PostgreSQL would reject it as well.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SqlError {
    #[error("the statement does not parse: {0}")]
    Rejected(String),
}

/// One statement and what it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// The statement's own text, cut out of a multi-statement string by the parser.
    pub text: String,
    pub kind: StatementKind,
    /// The command, as PostgreSQL names it: `SELECT`, `UPDATE`, `CREATE TABLE AS`, ...
    pub command: String,
    /// Relations read, as `schema.name` when qualified; quoted names keep their case.
    pub tables_read: Vec<String>,
    /// Relations written or created, altered, dropped (DML and DDL targets).
    pub tables_written: Vec<String>,
    /// Functions called or defined, as written (`pg_catalog.pg_read_file` stays qualified).
    pub functions: Vec<String>,
    /// An UPDATE or DELETE somewhere in the statement (CTEs included) has no WHERE clause.
    pub unbounded_write: bool,
    /// A `SET`/`RESET` of a session setting (`role`, `session_authorization`, `search_path`, ...).
    pub session_change: Option<SessionChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionChange {
    /// The setting's name, lower case.
    pub setting: String,
    /// The new value as written; `None` for `RESET` or `SET ... TO DEFAULT`.
    pub value: Option<String>,
}

/// Splits `sql` into statements with PostgreSQL's parser and analyses each. An empty string
/// (or only comments) has no statements. Any statement the parser rejects rejects the whole
/// string, as the server would.
pub fn analyze(sql: &str) -> Result<Vec<Statement>, SqlError> {
    let pieces = pg_query::split_with_parser(sql).map_err(rejected)?;
    pieces
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .map(analyze_one)
        .collect()
}

fn analyze_one(text: &str) -> Result<Statement, SqlError> {
    let parsed = pg_query::parse(text, pg_query::ParserOptions::DEFAULT).map_err(rejected)?;
    let node = parsed
        .protobuf
        .stmts
        .first()
        .and_then(|s| s.stmt.as_ref())
        .and_then(|n| n.node.as_ref());
    let name = parsed.statement_types().first().copied();
    let (kind, command) = kind::classify(node, name);
    // The parser's summaries do not look inside `PREPARE name AS <query>`: summarise the
    // prepared query on its own, so its tables and functions are seen.
    let parsed = match node {
        Some(pg_query::NodeEnum::PrepareStmt(p)) => match &p.query {
            Some(query) => prepared_query(&parsed, query),
            None => parsed,
        },
        _ => parsed,
    };
    let tree = walk::facts(&parsed);
    let mut read = Vec::new();
    let mut written = tree.created;
    for (name, context) in &parsed.tables {
        match context {
            pg_query::Context::Select => read.push(name.clone()),
            _ if tree.copied_out.as_ref() == Some(name) => read.push(name.clone()),
            _ => written.push(name.clone()),
        }
    }
    let mut functions: Vec<String> = parsed.functions.iter().map(|(f, _)| f.clone()).collect();
    for list in [&mut read, &mut written, &mut functions] {
        list.sort();
        list.dedup();
    }
    // Anything that writes is at least a write, whatever its top-level node says
    // (`WITH d AS (DELETE ...) SELECT ...`).
    let kind = match kind {
        StatementKind::Read if !written.is_empty() => StatementKind::Write,
        k => k,
    };
    Ok(Statement {
        text: text.trim().to_owned(),
        kind,
        command,
        tables_read: read,
        tables_written: written,
        functions,
        unbounded_write: tree.unbounded_write,
        session_change: tree.session_change,
    })
}

fn prepared_query(
    outer: &pg_query::ParseResult,
    query: &pg_query::protobuf::Node,
) -> pg_query::ParseResult {
    let tree = pg_query::protobuf::ParseResult {
        version: outer.protobuf.version,
        stmts: vec![pg_query::protobuf::RawStmt {
            stmt: Some(Box::new(query.clone())),
            stmt_location: 0,
            stmt_len: 0,
        }],
    };
    pg_query::ParseResult::new(tree, String::new())
}

fn rejected(e: pg_query::Error) -> SqlError {
    SqlError::Rejected(e.to_string())
}
