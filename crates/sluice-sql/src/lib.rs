//! What a PostgreSQL statement does, read by PostgreSQL's own parser (libpg_query), so that a
//! statement cannot be spelled to look harmless: comments, case, quoting, unicode escapes,
//! dollar quoting and several statements in one string all reach the same parse tree the
//! server builds. No I/O; the facts ([`SqlStatement`]) are the decision crate's vocabulary.
//!
//! # Names
//! Relations are reported as `schema.name`, functions by their bare name. Unquoted identifiers
//! arrive folded to lower case; any name that is not a plain lower-case identifier is written
//! in double quotes as PostgreSQL's `quote_ident` would (keywords excepted), so the string is
//! unambiguous: `public."Customers"`, `public."a.b"`. A database in `db.schema.table` is dropped.
//!
//! The gateway cannot see the catalog, so an unqualified relation name is resolved by rule, not
//! by lookup:
//! - names of CTEs in scope are not relations (`WITH x AS (...) SELECT * FROM x` reads nothing
//!   called x), following PostgreSQL's scoping: a CTE is visible to later CTEs of its WITH list
//!   (all of them with RECURSIVE), the statement body and nested queries, never to DML targets;
//! - relations created with TEMP are `pg_temp.name` (a temporary table used later, which in
//!   PostgreSQL hides a same-named table of the path, is reported under the path's schema);
//! - names starting with `pg_` are `pg_catalog.name`: PostgreSQL searches the system catalogs
//!   before the search path, and all catalog relations are named `pg_...`;
//! - any other name takes the first schema of the search path other than `$user`, `pg_catalog`
//!   and `pg_temp` ([`SearchPath`]). `$user` is skipped because whether a schema named after the
//!   user exists is in the catalog; a deployment with such schemas should write qualified names;
//! - when no such schema remains (`SET search_path = ''`), the schema is
//!   [`UNRESOLVED_SCHEMA`] (`pg_unresolved`), a name no real schema can have, so policies that
//!   allow listed schemas deny it.
//!
//! The search path is the session's: a `SET search_path` changes what later statements resolve
//! to, and the caller passes the new path. Policies whose rules depend on schemas should deny
//! `search_path` changes (including `set_config('search_path', ...)`, visible only as the
//! function `set_config`), as the example policy does.
//!
//! # Functions
//! `functions` lists every function called (in any clause, FROM included) or defined, altered,
//! dropped or granted, by bare name: the schema is dropped so that a rule about `pg_read_file`
//! also holds for `pg_catalog.pg_read_file` and `"pg_read_file"`. Field selections `(x).f` are
//! listed too, since PostgreSQL calls `f(x)` when `f` is no field of `x`. Not listed: operators,
//! functions implied by syntax without a call (casts, `CURRENT_USER`), `t.f` on a table's
//! whole row, and support functions named in `CREATE OPERATOR` / `CREATE AGGREGATE` options.
//!
//! # Writes
//! `tables_written` holds every relation a statement acts on other than by reading: DML targets,
//! created, altered, dropped, renamed, granted, locked, vacuumed or truncated relations.
//! `unbounded_write` marks an UPDATE or DELETE without WHERE (anywhere in the statement) and
//! TRUNCATE; only a missing WHERE counts, `WHERE true` is bounded by syntax. `SELECT ... FOR
//! UPDATE` is a read (PostgreSQL still requires the UPDATE privilege for it). `LOCK` and
//! `VACUUM` are utility statements whose tables are listed as written.
//!
//! # Session changes
//! `session_change` is set for a top-level `SET`/`RESET` (`RESET ALL` and `DISCARD ALL` as the
//! setting `all`), not for `SET` clauses of `ALTER ROLE`, `ALTER SYSTEM` or `CREATE FUNCTION`,
//! which configure something else. Its value is what PostgreSQL would store: for `search_path`
//! one quoted identifier per schema (`SET search_path TO a, "B"` gives `a, "B"`), which
//! [`SearchPath::parse`] reads back.
//!
//! # Limits
//! The parse tree crosses from the C parser with a bound on nesting (about 16 nested subqueries
//! or a chain of 45 operators); deeper statements are rejected rather than analysed partly.
//!
//! # What is not visible
//! Function bodies (`DO`, `CREATE FUNCTION ... AS $$...$$`, calling a function later shows only
//! its name), prepared statements run by `EXECUTE`, views, rules and triggers fired by a
//! statement, and the effect of functions called: all show only the names written.
//!
//! # Lexing
//! The text is read as the server will read it under the session's `standard_conforming_strings`
//! ([`Lexing`]; `lexing` says which settings matter and why). The caller decodes the text from
//! the client's encoding first.
//!
//! # Layout
//! - [`dialect`]: the [`Dialect`] trait the session logic in sluice-core is written over,
//!   and [`PostgreSql`], its implementation by the functions below.
//! - [`mysql`]: [`MySql`], the dialect for MySQL, read by the `sqlparser` crate.
//! - [`analyze`]: SQL text to one [`SqlStatement`] per statement, or a rejection.
//! - `lexing`: the settings that change how the server reads a text ([`Lexing`]).
//! - [`lineage`]: for every value a statement returns, the stored columns it is computed
//!   from, and the columns its predicates compare, resolved against a [`lineage::Catalog`].
//! - `rejection`: a rejected text's [`ParseError`], with the position PostgreSQL reports.
//! - `kind`: what sort of statement a parse tree is ([`StatementKind`], the command).
//! - `tree`: a generic copy of the parse tree, so a walk reaches every field.
//! - `walk`: relations by use, functions, parameters, UPDATE/DELETE without WHERE.
//! - `session`: the session setting a `SET`/`RESET` changes.
//! - `names`: how relation and function names are spelled and resolved.
//! - `search_path`: [`SearchPath`], read like PostgreSQL reads the setting.
//! - `shape`: [`normalize`], a string with its constants taken out, for caching by shape.

pub mod dialect;
mod kind;
mod lexing;
pub mod lineage;
pub mod mysql;
mod names;
mod rejection;
mod search_path;
mod session;
mod shape;
mod tree;
mod walk;

pub use dialect::{Dialect, NameContext, PostgreSql, POSTGRESQL};
pub use lexing::Lexing;
pub use mysql::{MySql, MYSQL};
pub use names::UNRESOLVED_SCHEMA;
pub use rejection::ParseError;
pub use search_path::SearchPath;
pub use shape::normalize;
pub use sluice_decision::{SessionChange, SqlStatement, StatementKind};

/// Why SQL text could not be analysed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SqlError {
    /// PostgreSQL would reject it as well; the message is the parser's.
    #[error("the statement does not parse: {0}")]
    Rejected(ParseError),
    /// The session's `standard_conforming_strings` may change before the server reads the
    /// text, and the text reads differently under the two settings.
    #[error(
        "the statement reads differently with standard_conforming_strings on and off, and an \
         earlier statement still running may change the setting; send it once that has \
         finished, or write the literal with E'' so it reads the same either way"
    )]
    Ambiguous,
    #[error("invalid search_path {0}")]
    SearchPath(String),
    /// [`normalize`] was given a string that already has `$n` parameters.
    #[error("the statement already has $n parameters, so it has no shape")]
    HasParameters,
    /// The parse tree could not be copied for walking; never expected.
    #[error("the parse tree could not be read: {0}")]
    Tree(String),
}

/// Splits `sql` into statements with PostgreSQL's parser, reading it as the server will under
/// `lexing`, and analyses each, resolving unqualified relation names against `search_path`.
/// An empty string (or only comments) has no statements. Any statement the parser rejects
/// rejects the whole string, as the server would.
pub fn analyze(
    sql: &str,
    search_path: &SearchPath,
    lexing: Lexing,
) -> Result<Vec<SqlStatement>, SqlError> {
    match lexing {
        Lexing::Standard => analyze_as(sql, search_path, true),
        _ if Lexing::indifferent(sql) => analyze_as(sql, search_path, true),
        Lexing::BackslashEscapes => analyze_as(sql, search_path, false),
        Lexing::Unsettled => {
            let standard = analyze_as(sql, search_path, true);
            if standard == analyze_as(sql, search_path, false) {
                standard
            } else {
                Err(SqlError::Ambiguous)
            }
        }
    }
}

fn analyze_as(
    sql: &str,
    search_path: &SearchPath,
    standard_conforming_strings: bool,
) -> Result<Vec<SqlStatement>, SqlError> {
    let options = lexing::options(standard_conforming_strings);
    let parsed = pg_query::parse(sql, options).map_err(|e| rejected(sql, options, e))?;
    parsed
        .protobuf
        .stmts
        .iter()
        .map(|raw| statement(sql, raw, search_path, standard_conforming_strings))
        .collect()
}

fn statement(
    sql: &str,
    raw: &pg_query::protobuf::RawStmt,
    search_path: &SearchPath,
    standard_conforming_strings: bool,
) -> Result<SqlStatement, SqlError> {
    let node = raw
        .stmt
        .as_ref()
        .and_then(|n| n.node.as_ref())
        .ok_or_else(|| SqlError::Tree("a statement without a tree".into()))?;
    let tree = tree::of(node)?;
    let (kind, command) = kind::classify(node, tree.name().unwrap_or_default());
    let facts = walk::facts(&tree);
    let resolve = |rels: &[walk::Relation]| {
        let mut names: Vec<String> = rels
            .iter()
            .map(|r| names::relation(r, search_path))
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let tables_read = resolve(&facts.read);
    let tables_written = resolve(&facts.written);
    let mut functions = facts.functions;
    functions.sort();
    functions.dedup();
    // Anything that writes is at least a write, whatever its top-level node says
    // (`WITH d AS (DELETE ...) SELECT ...`).
    let kind = match kind {
        StatementKind::Read if !tables_written.is_empty() => StatementKind::Write,
        k => k,
    };
    let text = text_of(sql, raw)?;
    // Policy sees the statement's shape, never its constants: they may hold personal data,
    // and a decision then holds for every statement of the same shape (the cache relies on
    // it). A statement that has `$n` parameters has no constants to take out; one whose
    // literals escape with backslashes cannot be normalized (that lexes with the default).
    let text = if standard_conforming_strings || Lexing::indifferent(&text) {
        normalize(&text).unwrap_or(text)
    } else {
        text
    };
    Ok(SqlStatement {
        text,
        kind,
        command,
        tables_read,
        tables_written,
        functions,
        unbounded_write: facts.unbounded_write,
        session_change: session::change(node),
        parameter_count: facts.parameter_count,
        masked_columns_in_predicates: Vec::new(),
    })
}

/// The statement's own text: the parser gives its byte range (a length of 0 runs to the end),
/// starting at its first token and excluding the semicolon.
fn text_of(sql: &str, raw: &pg_query::protobuf::RawStmt) -> Result<String, SqlError> {
    let start = usize::try_from(raw.stmt_location).unwrap_or(0);
    let end = match usize::try_from(raw.stmt_len) {
        Ok(0) | Err(_) => sql.len(),
        Ok(len) => start.saturating_add(len),
    };
    sql.get(start..end)
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| {
            SqlError::Tree(format!(
                "statement bounds {start}..{end} are not in the text"
            ))
        })
}

/// The rejection of `sql`, parsed with `options`, as PostgreSQL would report it.
pub(crate) fn rejected(
    sql: &str,
    options: pg_query::ParserOptions,
    e: pg_query::Error,
) -> SqlError {
    let message = match e {
        pg_query::Error::Parse(message) => {
            let position = rejection::locate(sql, options, &message);
            return SqlError::Rejected(ParseError { message, position });
        }
        pg_query::Error::Conversion(_) => "it contains a zero byte".to_owned(),
        // The tree crosses into Rust with a bound on nesting (100 message levels: about 16
        // nested subqueries or a chain of 45 operators); deeper statements are refused rather
        // than risk the stack.
        pg_query::Error::Decode(e) if e.to_string().contains("recursion limit") => {
            "the statement is nested too deeply for the gateway to analyse".to_owned()
        }
        other => other.to_string(),
    };
    SqlError::Rejected(ParseError {
        message,
        position: None,
    })
}
