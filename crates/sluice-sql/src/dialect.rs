//! What a SQL dialect supplies to the session logic that is written once for every SQL
//! protocol (deciding a string, the decision cache, prepared statements and their
//! re-decision at each execution, following session changes): how text is analysed, the
//! shape a decision is cached under, and the context unqualified names resolve in, as the
//! session changes it.
//!
//! [`PostgreSql`] is one dialect; [`crate::MySql`] (its current database as the name context,
//! `USE db` as the change that moves it) is the other, for the MySQL listener.

use std::collections::BTreeMap;

use sluice_decision::SqlDialect;

use crate::{Lexing, SearchPath, SessionChange, SqlError, SqlStatement};

/// How a dialect reads SQL. Object-safe: a session holds `&'static dyn Dialect`.
pub trait Dialect: std::fmt::Debug + Send + Sync {
    /// The dialect as the policy input names it (`request.dialect`), and review details.
    fn name(&self) -> SqlDialect;

    /// The name context a session starts in, from what the client asked for when it
    /// connected (`settings`, names lower-cased) and the database it uses. An error is a
    /// refusal of the session, in words for the client.
    fn initial_names(
        &self,
        settings: &BTreeMap<String, String>,
        database: &str,
    ) -> Result<NameContext, String>;

    /// The statements of `text`, read as the server reads it under `lexing`, unqualified
    /// names resolved in `names`. Any statement the server would reject rejects the string.
    fn analyze(
        &self,
        text: &str,
        names: &NameContext,
        lexing: Lexing,
    ) -> Result<Vec<SqlStatement>, SqlError>;

    /// `text` with its constants taken out, so texts that differ only in constants share a
    /// cached decision; `None` when the text has no shape (it does not parse, or already has
    /// parameters).
    fn shape(&self, text: &str) -> Option<String>;

    /// The name context after an allowed `change` (`SET search_path`, `RESET ALL`, `USE db`),
    /// or `None` when the change leaves it alone. `initial` is where the session started, for
    /// a reset.
    fn follow(
        &self,
        names: &NameContext,
        initial: &NameContext,
        change: &SessionChange,
    ) -> Option<NameContext>;

    /// Whether `change` moves the name context: a string in which such a change is followed
    /// by more statements is denied, since those were analysed in the old context.
    fn moves_names(&self, change: &SessionChange) -> bool;
}

/// Where unqualified names resolve, by dialect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NameContext {
    /// PostgreSQL: the schemas of `search_path`, in order.
    SearchPath(SearchPath),
    /// MySQL: the current database, if the session has one.
    Database(Option<String>),
}

/// The search path of a context that has none (MySQL's): no schema, so an unqualified name
/// resolves to [`crate::UNRESOLVED_SCHEMA`], never to a schema a policy allows.
static NO_SEARCH_PATH: std::sync::LazyLock<SearchPath> =
    std::sync::LazyLock::new(SearchPath::empty);

impl NameContext {
    /// The schemas, for the policy input's `session.postgres.search_path`; none for a MySQL
    /// session.
    pub fn search_path(&self) -> &SearchPath {
        match self {
            NameContext::SearchPath(path) => path,
            NameContext::Database(_) => &NO_SEARCH_PATH,
        }
    }
}

/// PostgreSQL, read by PostgreSQL's own parser (libpg_query).
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgreSql;

/// The one PostgreSQL dialect, for sessions to point at.
pub static POSTGRESQL: PostgreSql = PostgreSql;

impl Dialect for PostgreSql {
    fn name(&self) -> SqlDialect {
        SqlDialect::Postgresql
    }

    fn initial_names(
        &self,
        settings: &BTreeMap<String, String>,
        _database: &str,
    ) -> Result<NameContext, String> {
        match settings.get("search_path") {
            Some(v) => SearchPath::parse(v)
                .map(NameContext::SearchPath)
                .map_err(|e| format!("invalid search_path: {e}")),
            None => Ok(NameContext::SearchPath(SearchPath::default())),
        }
    }

    fn analyze(
        &self,
        text: &str,
        names: &NameContext,
        lexing: Lexing,
    ) -> Result<Vec<SqlStatement>, SqlError> {
        crate::analyze(text, names.search_path(), lexing)
    }

    fn shape(&self, text: &str) -> Option<String> {
        crate::normalize(text).ok()
    }

    fn follow(
        &self,
        _names: &NameContext,
        initial: &NameContext,
        change: &SessionChange,
    ) -> Option<NameContext> {
        match (change.setting.as_str(), &change.value) {
            // A value sluice cannot read leaves no schema to resolve against: unqualified
            // names then resolve to a schema no policy allows, never to a stale one.
            ("search_path", Some(value)) => Some(NameContext::SearchPath(
                SearchPath::parse(value).unwrap_or_else(|_| SearchPath::empty()),
            )),
            ("search_path" | "all", None) => Some(initial.clone()),
            _ => None,
        }
    }

    fn moves_names(&self, change: &SessionChange) -> bool {
        matches!(change.setting.as_str(), "search_path" | "all")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(setting: &str, value: Option<&str>) -> SessionChange {
        SessionChange {
            setting: setting.to_owned(),
            value: value.map(str::to_owned),
        }
    }

    #[test]
    fn postgresql_follows_its_search_path() {
        let d: &dyn Dialect = &POSTGRESQL;
        let start = d
            .initial_names(
                &BTreeMap::from([("search_path".to_owned(), "app, public".to_owned())]),
                "shop",
            )
            .unwrap();
        assert_eq!(start.search_path().schemas(), ["app", "public"]);
        let moved = d
            .follow(&start, &start, &change("search_path", Some("other")))
            .unwrap();
        assert_eq!(moved.search_path().schemas(), ["other"]);
        assert_eq!(
            d.follow(&moved, &start, &change("all", None)).as_ref(),
            Some(&start)
        );
        assert_eq!(
            d.follow(&moved, &start, &change("statement_timeout", Some("1s"))),
            None
        );
        assert!(d.moves_names(&change("search_path", None)));
        assert!(!d.moves_names(&change("work_mem", Some("1MB"))));
        assert!(d
            .initial_names(
                &BTreeMap::from([("search_path".to_owned(), "\"unterminated".to_owned())]),
                "shop"
            )
            .is_err());
    }

    #[test]
    fn postgresql_analyzes_in_its_name_context() {
        let names = NameContext::SearchPath(SearchPath::parse("app").unwrap());
        let statements = POSTGRESQL
            .analyze("SELECT * FROM orders", &names, Lexing::Standard)
            .unwrap();
        assert_eq!(statements[0].tables_read, ["app.orders"]);
        assert_eq!(
            POSTGRESQL.shape("SELECT 1 FROM t WHERE id = 42").as_deref(),
            Some("SELECT $1 FROM t WHERE id = $2")
        );
    }
}
