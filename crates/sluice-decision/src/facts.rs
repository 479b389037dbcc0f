//! What is known about a request: the policy input document. The caller builds these; the
//! decision crate never fetches anything. Field names are the input document's (docs/policy.md),
//! so serialising an [`Input`] gives exactly what a Rego policy sees as `input`.

use std::collections::BTreeMap;

use serde::Serialize;

/// Who is asking. Fixed for a session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct IdentityFacts {
    pub name: String,
    /// `human` or `service`.
    pub kind: String,
    pub groups: Vec<String>,
    pub attributes: BTreeMap<String, String>,
}

/// Where the request goes. Fixed for a session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TargetFacts {
    pub name: String,
    /// `postgres`, later `mysql`, `ssh`, `kubernetes`.
    pub kind: String,
    pub tags: BTreeMap<String, String>,
    /// The database the session uses on the target.
    pub database: String,
}

/// The connection the request arrives on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SessionFacts {
    pub id: String,
    /// The client's IP address, without the port.
    pub client_address: String,
    pub application_name: Option<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub protocol: String,
    /// The schemas unqualified names resolve against, as the session last set them
    /// (PostgreSQL's default `"$user", public` until a `SET search_path` ran).
    pub search_path: Vec<String>,
    /// The server settings the client asked for when it connected (PostgreSQL's startup
    /// parameters and `options`), names lower-cased: `{"datestyle": "ISO", ...}`.
    pub settings: BTreeMap<String, String>,
}

/// When the request is decided, in the configured time zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TimeFacts {
    /// RFC 3339 with the zone's offset.
    pub now: String,
    /// IANA name, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// `monday` ... `sunday`.
    pub weekday: String,
    /// 0-23.
    pub hour: u8,
}

/// A live time-bound access grant of the identity on the target; expired and revoked ones are
/// never shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct GrantFacts {
    pub id: String,
    pub target: String,
    pub scope: String,
    pub reason: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
    pub approvers: Vec<String>,
}

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

/// What the request does.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Request<'a> {
    /// Opening a session on the target.
    Connect,
    /// One SQL statement. A string of several statements is decided one statement at a time.
    Statement {
        statement: &'a SqlStatement,
        /// Position of the statement in the string the client sent, from 0.
        index: usize,
        /// How many statements that string holds.
        count: usize,
        /// Bound parameter values (text; binary ones as `\x` hex), only when deciding an
        /// execution whose decision may depend on them.
        parameters: Option<&'a [Option<String>]>,
    },
    /// Asking for a time-bound grant on the target (`sluice access request`). Allowed: granted
    /// at once; held: granted when reviewers approve; denied: refused.
    Access {
        scope: &'a str,
        duration_seconds: u64,
        reason: &'a str,
    },
}

/// The whole input document.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Input<'a> {
    pub identity: &'a IdentityFacts,
    pub target: &'a TargetFacts,
    pub session: &'a SessionFacts,
    pub request: Request<'a>,
    pub time: &'a TimeFacts,
    pub grants: &'a [GrantFacts],
}
