//! SQL statements, as the dialect's parser reads them.

use serde::Serialize;

/// The sort of a SQL statement, coarse enough for rules such as "analysts read only".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    /// Reads data only.
    Read,
    /// Changes data: INSERT, UPDATE, DELETE, MERGE, COPY FROM, TRUNCATE, data-modifying CTEs.
    Write,
    /// Creates, alters or drops objects, or changes privileges (includes SELECT INTO and
    /// CREATE TABLE AS, which create tables).
    Ddl,
    /// Code whose effect cannot be read from the statement: DO blocks, CALL, EXECUTE of a
    /// prepared statement, LOAD, COPY to or from a server program or file.
    Procedural,
    /// SET / RESET of a session setting.
    SessionChange,
    /// BEGIN, COMMIT, ROLLBACK, SAVEPOINT, ...
    Transaction,
    /// Everything else (SHOW, VACUUM, LISTEN, NOTIFY, DISCARD, ...).
    Utility,
}

/// One SQL statement and what it does, as PostgreSQL's parser reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SqlStatement {
    /// The statement's own text, cut out of a multi-statement string by the parser, with its
    /// constants replaced by `$n` placeholders (as `pg_stat_statements` shows statements).
    pub text: String,
    pub kind: StatementKind,
    /// The command, as PostgreSQL names it: `SELECT`, `UPDATE`, `CREATE TABLE AS`, ...
    pub command: String,
    /// Relations read, as `schema.name`, unqualified names resolved against the search path.
    pub tables_read: Vec<String>,
    /// Relations written or created, altered, dropped (DML and DDL targets).
    pub tables_written: Vec<String>,
    /// Functions called or defined, by bare name (schema dropped), so a deny list of
    /// `pg_read_file` also catches `pg_catalog.pg_read_file`.
    pub functions: Vec<String>,
    /// An UPDATE or DELETE somewhere in the statement (CTEs included) has no WHERE clause, or
    /// the statement is a TRUNCATE.
    pub unbounded_write: bool,
    /// A `SET`/`RESET` of a session setting (`role`, `session_authorization`, `search_path`, ...).
    pub session_change: Option<SessionChange>,
    /// How many `$n` parameters the statement takes.
    pub parameter_count: u32,
    /// Columns the decision masks that the statement uses to pick, order or group rows (a
    /// predicate on a masked column answers questions about its values). Filled in only for
    /// a statement whose first decision masks columns, which is then decided again with it;
    /// empty otherwise.
    pub masked_columns_in_predicates: Vec<MaskedPredicate>,
}

/// A masked column used in a predicate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MaskedPredicate {
    /// `schema.table.column`.
    pub column: String,
    /// Where: `where`, `join`, `having`, `order_by`, `group_by`, `window`, `distinct`,
    /// `filter`.
    pub clause: String,
    /// How it is compared: `equality`, `pattern`, `range`, `other`.
    pub comparison: String,
    /// The strategy the column is masked with: `redact`, `keep_last`, `email_domain`,
    /// `token`, `null`.
    pub strategy: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SessionChange {
    /// The setting's name, lower case.
    pub setting: String,
    /// The new value as written; `None` for `RESET` or `SET ... TO DEFAULT`.
    pub value: Option<String>,
}

/// Whose SQL a statement is, so that one rule can tell PostgreSQL's `SELECT` from another
/// server's: command names, function names and quoting differ between dialects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlDialect {
    #[default]
    Postgresql,
    Mysql,
}

impl SqlDialect {
    pub const fn as_str(self) -> &'static str {
        match self {
            SqlDialect::Postgresql => "postgresql",
            SqlDialect::Mysql => "mysql",
        }
    }
}
