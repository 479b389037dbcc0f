//! Column lineage: for every value a statement sends back, the stored columns it was computed
//! from, and for every clause that filters, orders or groups rows, the stored columns it
//! compares. Masking decides on this (a value computed from a masked column is masked whatever
//! expression made it), and the policy sees the columns a statement uses as predicates (a
//! predicate on a masked column is an oracle for its values).
//!
//! Names are resolved as PostgreSQL resolves them, with the relations' columns and the views'
//! definitions read from a [`Catalog`] the caller provides (this crate does no I/O): `*` and
//! `t.*` expand to the relation's columns in order, unqualified column names are looked up in
//! the FROM items in scope (then the enclosing queries'), and a view's columns are traced
//! through its definition. Relations are named as in the facts (`crate::names`): schema as
//! written, or the first usable schema of the search path.
//!
//! What is traced: plain and qualified column references, `*` and `t.*`, whole-row references
//! (`SELECT c FROM customers c`), every expression (operators, function calls, casts, CASE,
//! COALESCE, subscripts, sub-selects), aggregates and window functions, FROM items of every
//! kind (tables, views, CTEs (recursive too), sub-selects, LATERAL, joins with ON, USING and
//! NATURAL, functions in FROM, VALUES), set operations, `RETURNING` of INSERT, UPDATE and
//! DELETE, `COPY ... TO`, and cursors and prepared statements by name (`DECLARE`/`FETCH`,
//! `PREPARE`/`EXECUTE`; the caller keeps what they declared).
//!
//! How a value derives from its sources:
//! - `plain`: it is one stored column's value, unchanged (masking applies that column's
//!   strategy, `keep_last` say);
//! - computed: anything else that reveals values (masking applies the strongest strategy of
//!   its sources to the whole value);
//! - counted: only through `count(...)`, which cannot reveal a value (let through by default).
//!
//! A reference the analysis cannot trace (a relation the catalog does not know, a column of a
//! function's composite result, a cursor it never saw declared) makes the lineage `unresolved`:
//! the caller decides what that means (masking denies such statements on masked tables).

use std::collections::BTreeSet;
use std::sync::Arc;

use pg_query::protobuf::{AExprKind, SetOperation, SubLinkType};

use crate::tree::{self, Value};
use crate::{Lexing, SearchPath, SqlError};

/// A stored column, as the catalog names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ColumnId {
    pub schema: String,
    pub table: String,
    pub column: String,
}

/// Where a value comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lineage {
    /// Stored columns whose values the value may reveal.
    pub sources: BTreeSet<ColumnId>,
    /// Stored columns it depends on only through `count(...)`.
    pub counted: BTreeSet<ColumnId>,
    /// Exactly one source column's value, unchanged.
    pub plain: bool,
    /// Some part of it could not be traced.
    pub unresolved: bool,
}

impl Lineage {
    fn column(id: ColumnId) -> Lineage {
        Lineage {
            sources: BTreeSet::from([id]),
            plain: true,
            ..Lineage::default()
        }
    }

    fn unresolved() -> Lineage {
        Lineage {
            unresolved: true,
            ..Lineage::default()
        }
    }

    /// Adds `other`'s sources; the result is computed (no longer plain).
    fn absorb(&mut self, other: &Lineage) {
        self.sources.extend(other.sources.iter().cloned());
        self.counted.extend(other.counted.iter().cloned());
        self.unresolved |= other.unresolved;
        self.plain = false;
    }

    /// The union of several, computed.
    fn union<'l>(all: impl IntoIterator<Item = &'l Lineage>) -> Lineage {
        let mut out = Lineage::default();
        for l in all {
            out.absorb(l);
        }
        out
    }

    /// Two lineages for the same output position (a set operation's sides, a USING column):
    /// plain only when both are the same plain column.
    fn either(a: &Lineage, b: &Lineage) -> Lineage {
        if a.plain && b.plain && a.sources == b.sources {
            let mut same = a.clone();
            same.unresolved |= b.unresolved;
            return same;
        }
        Lineage::union([a, b])
    }

    /// The lineage of `count(expr)`. Counting a column's values (`count(ssn)`, `count(DISTINCT
    /// ssn)`) reveals none of them; counting an expression computed from a column does
    /// (`count(CASE WHEN ssn = '...' THEN 1 END)` is an equality test), so its sources stay.
    fn counting(inner: &Lineage) -> Lineage {
        if !inner.plain && !inner.sources.is_empty() {
            let mut computed = inner.clone();
            computed.plain = false;
            return computed;
        }
        let mut counted = inner.counted.clone();
        counted.extend(inner.sources.iter().cloned());
        Lineage {
            sources: BTreeSet::new(),
            counted,
            plain: false,
            unresolved: inner.unresolved,
        }
    }
}

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Its name in the result, as PostgreSQL would name it (for messages; masking goes by
    /// position).
    pub name: String,
    pub lineage: Lineage,
}

/// Where in a statement a column is used to pick, order or group rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Clause {
    Where,
    Join,
    Having,
    OrderBy,
    GroupBy,
    Window,
    Distinct,
    /// A FILTER clause of an aggregate.
    Filter,
}

impl Clause {
    pub fn as_str(self) -> &'static str {
        match self {
            Clause::Where => "where",
            Clause::Join => "join",
            Clause::Having => "having",
            Clause::OrderBy => "order_by",
            Clause::GroupBy => "group_by",
            Clause::Window => "window",
            Clause::Distinct => "distinct",
            Clause::Filter => "filter",
        }
    }
}

/// How a predicate compares a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Comparison {
    /// `=`, `<>`, `IN`, `IS [NOT] DISTINCT FROM`.
    Equality,
    /// `LIKE`, `ILIKE`, `SIMILAR TO`, regular expressions.
    Pattern,
    /// `<`, `>`, `BETWEEN`, ...
    Range,
    /// Ordering, grouping, or any other use.
    Other,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Equality => "equality",
            Comparison::Pattern => "pattern",
            Comparison::Range => "range",
            Comparison::Other => "other",
        }
    }
}

/// A stored column used to pick, order or group rows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PredicateUse {
    pub column: ColumnId,
    pub clause: Clause,
    pub comparison: Comparison,
}

/// A function called with values of stored columns as arguments.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FunctionUse {
    /// The schema the call names, if it names one.
    pub schema: Option<String>,
    /// The function's name, lower case.
    pub name: String,
    /// The stored columns its arguments are computed from.
    pub sources: BTreeSet<ColumnId>,
}

/// What a statement's lineage says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementLineage {
    /// The columns of the rows it returns, in order; `None` when it returns none.
    pub outputs: Option<Vec<Output>>,
    /// The number of result columns is not known (a `*` over a function's result): every
    /// result column past `outputs` has this lineage.
    pub rest: Option<Lineage>,
    /// Its rows are COPY data (`COPY ... TO STDOUT`), not a result set.
    pub copy: bool,
    pub predicates: BTreeSet<PredicateUse>,
    /// Functions it passes column values to (what a function does with them, a notification
    /// or a setting, is outside the result; the caller decides which functions it trusts).
    pub calls: BTreeSet<FunctionUse>,
    /// The stored relations it reads, with their columns: `(schema, table)`.
    pub relations: BTreeSet<(String, String)>,
    /// Something in it could not be traced.
    pub unresolved: bool,
    /// A cursor (`DECLARE`) or prepared statement (`PREPARE`) it defines, for the caller to
    /// keep: its name and the lineage of its query.
    pub defines: Option<(Named, Arc<StatementLineage>)>,
    /// Its rows are those of a cursor or prepared statement defined earlier (`FETCH`,
    /// `EXECUTE`), which the caller looks up.
    pub uses: Option<Named>,
    /// A cursor it defines outlives the transaction (`DECLARE ... WITH HOLD`).
    pub hold: bool,
    /// Cursors or prepared statements it ends (`CLOSE`, `DEALLOCATE`, `DISCARD`, the end of
    /// a transaction), for the caller to forget.
    pub ends: Option<Ends>,
}

/// What a statement ends of what the caller keeps by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ends {
    /// `CLOSE name`, `DEALLOCATE name`.
    One(Named),
    /// `CLOSE ALL`.
    AllCursors,
    /// `DEALLOCATE ALL`.
    AllPrepared,
    /// `DISCARD ALL`.
    Everything,
    /// `COMMIT`, `ROLLBACK` (also to a savepoint, conservatively), `PREPARE TRANSACTION`:
    /// cursors not declared `WITH HOLD` are gone.
    Transaction,
}

/// `CURSOR_OPT_HOLD` in a DeclareCursorStmt's options (PostgreSQL's parsenodes.h).
const CURSOR_OPT_HOLD: i64 = 0x0020;

/// A cursor or a prepared statement, by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Named {
    Cursor(String),
    Prepared(String),
}

/// What the catalog knows of a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogRelation {
    /// A table (or any relation whose columns are stored): its columns, in order.
    Table(Arc<[String]>),
    /// A view: its columns and its defining query.
    View {
        columns: Arc<[String]>,
        definition: Arc<str>,
    },
    /// No such relation (or none the catalog connection can see).
    Missing,
}

/// The catalog, as far as the caller has read it.
pub trait Catalog {
    /// `schema.name`, or `None` when the caller has not read it yet.
    fn relation(&self, schema: &str, name: &str) -> Option<CatalogRelation>;
}

/// Why lineage could not be given yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineageError {
    /// The catalog must be read for these relations, `(schema, name)`, first.
    #[error("the catalog must be read for {0:?}")]
    NeedCatalog(Vec<(String, String)>),
    #[error("{0}")]
    Sql(#[from] SqlError),
}

/// Rounds of a recursive CTE's resolution before the lineage gives up (unresolved); each
/// round adds at least one source to a column, so real queries settle in a few.
const MAX_RECURSION_ROUNDS: usize = 32;

/// How deep views may be nested in one another before the lineage gives up (unresolved).
const MAX_VIEW_DEPTH: usize = 16;

/// The lineage of each statement in `sql`, read under `lexing`, unqualified relation names
/// resolved against `search_path`.
pub fn lineage(
    sql: &str,
    search_path: &SearchPath,
    lexing: Lexing,
    catalog: &dyn Catalog,
) -> Result<Vec<StatementLineage>, LineageError> {
    let standard = !matches!(lexing, Lexing::BackslashEscapes) || Lexing::indifferent(sql);
    let options = crate::lexing::options(standard);
    let parsed = pg_query::parse(sql, options).map_err(|e| crate::rejected(sql, options, e))?;
    let mut resolver = Resolver {
        catalog,
        search_path: search_path.clone(),
        needed: Vec::new(),
        views: Vec::new(),
    };
    let mut all = Vec::new();
    for raw in &parsed.protobuf.stmts {
        let Some(node) = raw.stmt.as_ref().and_then(|n| n.node.as_ref()) else {
            continue;
        };
        let tree = tree::of(node)?;
        all.push(resolver.statement(&tree));
    }
    if !resolver.needed.is_empty() {
        resolver.needed.sort();
        resolver.needed.dedup();
        return Err(LineageError::NeedCatalog(resolver.needed));
    }
    Ok(all)
}

/// A FROM item as the names in its query see it.
#[derive(Debug, Clone, Default)]
struct Item {
    /// Its name (alias, table name or CTE name); empty for an unaliased join or sub-select.
    name: String,
    /// `schema.table`, for references that name the schema.
    relation: Option<(String, String)>,
    columns: Vec<(String, Lineage)>,
    /// It has columns the analysis cannot name (a function's composite result, a relation
    /// the catalog does not know): any of them has `hidden`'s lineage.
    hidden: Option<Lineage>,
    /// Whether `*` shows its columns; items inside an unaliased join are expanded by the
    /// join's own entry.
    in_star: bool,
}

impl Item {
    fn whole(&self) -> Lineage {
        let mut whole = Lineage::union(self.columns.iter().map(|(_, l)| l));
        if let Some(hidden) = &self.hidden {
            whole.absorb(hidden);
        }
        whole
    }

    fn column(&self, name: &str) -> Option<Lineage> {
        let found: Vec<&Lineage> = self
            .columns
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, l)| l)
            .collect();
        match found.as_slice() {
            [] => None,
            [one] => Some((*one).clone()),
            many => Some(Lineage::union(many.iter().copied())),
        }
    }
}

/// The FROM items of one query level, and the level around it (for correlated references).
struct Scope<'s> {
    items: Vec<Item>,
    parent: Option<&'s Scope<'s>>,
    ctes: Vec<(String, Vec<(String, Lineage)>)>,
}

impl<'s> Scope<'s> {
    fn new(parent: Option<&'s Scope<'s>>) -> Scope<'s> {
        Scope {
            items: Vec::new(),
            parent,
            ctes: Vec::new(),
        }
    }

    fn cte(&self, name: &str) -> Option<&Vec<(String, Lineage)>> {
        self.ctes
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .or_else(|| self.parent.and_then(|p| p.cte(name)))
    }

    /// An unqualified column name: a column of the items here, else a whole-row reference to
    /// an item here, else the enclosing query's.
    fn unqualified(&self, name: &str) -> Lineage {
        let found: Vec<Lineage> = self.items.iter().filter_map(|i| i.column(name)).collect();
        match found.as_slice() {
            [] => {}
            // Were it also one of the columns the analysis cannot name, PostgreSQL would
            // refuse the reference as ambiguous.
            [one] => return one.clone(),
            many => return Lineage::union(many),
        }
        if let Some(hidden) = self.items.iter().find_map(|i| i.hidden.clone()) {
            let mut l = hidden;
            l.unresolved = true;
            return l;
        }
        if let Some(item) = self.items.iter().find(|i| i.name == name) {
            return item.whole();
        }
        match self.parent {
            Some(parent) => parent.unqualified(name),
            None => Lineage::unresolved(),
        }
    }

    /// `qualifier.name`, `schema.qualifier.name`: the item so named (by alias, or by table
    /// and schema), here or around.
    fn qualified(&self, schema: Option<&str>, qualifier: &str, name: &str) -> Lineage {
        let item = self.items.iter().find(|i| match schema {
            None => i.name == qualifier,
            Some(s) => i
                .relation
                .as_ref()
                .is_some_and(|(rs, rt)| rs == s && rt == qualifier),
        });
        match item {
            Some(item) => item.column(name).unwrap_or_else(|| match &item.hidden {
                Some(hidden) => {
                    let mut l = hidden.clone();
                    l.unresolved = true;
                    l
                }
                None => Lineage::unresolved(),
            }),
            None => match self.parent {
                Some(parent) => parent.qualified(schema, qualifier, name),
                None => Lineage::unresolved(),
            },
        }
    }

    fn item(&self, qualifier: &str) -> Option<&Item> {
        self.items
            .iter()
            .find(|i| i.name == qualifier)
            .or_else(|| self.parent.and_then(|p| p.item(qualifier)))
    }

    /// What `*` expands to: the columns of every item shown by `*`, in order, and the
    /// lineage of columns the analysis cannot enumerate.
    fn star(&self) -> (Vec<(String, Lineage)>, Option<Lineage>) {
        let mut columns = Vec::new();
        let mut rest: Option<Lineage> = None;
        for item in self.items.iter().filter(|i| i.in_star) {
            // From an item whose width the analysis does not know on, positions are unknown.
            if rest.is_some() || item.hidden.is_some() {
                rest.get_or_insert_with(Lineage::default)
                    .absorb(&item.whole());
                continue;
            }
            columns.extend(item.columns.iter().cloned());
        }
        (columns, rest)
    }
}

/// What resolving one query level gives.
#[derive(Default)]
struct Resolved {
    outputs: Vec<Output>,
    rest: Option<Lineage>,
}

struct Resolver<'c> {
    catalog: &'c dyn Catalog,
    search_path: SearchPath,
    /// Relations the catalog has not been read for.
    needed: Vec<(String, String)>,
    /// Views being expanded, innermost last, against cycles and runaway nesting.
    views: Vec<(String, String)>,
}

/// What the statement-level walk collects besides outputs.
#[derive(Default)]
struct Collected {
    predicates: BTreeSet<PredicateUse>,
    calls: BTreeSet<FunctionUse>,
    relations: BTreeSet<(String, String)>,
    unresolved: bool,
}

impl Collected {
    fn lineage(&mut self, l: &Lineage) {
        self.unresolved |= l.unresolved;
    }

    /// What a statement inside this one (a cursor's, a prepared statement's, EXPLAIN's
    /// query) compares, calls and reads.
    fn include(&mut self, inner: &StatementLineage) {
        self.predicates.extend(inner.predicates.iter().cloned());
        self.calls.extend(inner.calls.iter().cloned());
        self.relations.extend(inner.relations.iter().cloned());
        self.unresolved |= inner.unresolved;
    }

    fn predicate(&mut self, l: &Lineage, clause: Clause, comparison: Comparison) {
        self.unresolved |= l.unresolved;
        for column in &l.sources {
            self.predicates.insert(PredicateUse {
                column: column.clone(),
                clause,
                comparison,
            });
        }
    }
}

impl Resolver<'_> {
    fn statement(&mut self, tree: &Value) -> StatementLineage {
        let mut c = Collected::default();
        let mut out = StatementLineage::default();
        let top = Scope::new(None);
        match tree.name() {
            Some("SelectStmt") => {
                let r = self.select(tree, &top, &mut c);
                // SELECT ... INTO creates a table and returns no rows.
                if matches!(tree.field("into_clause"), Value::Null) {
                    out.outputs = Some(r.outputs);
                    out.rest = r.rest;
                }
            }
            Some("InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt") => {
                let r = self.modify(tree, &top, &mut c);
                if !tree
                    .field("returning_clause")
                    .field("exprs")
                    .items()
                    .is_empty()
                {
                    out.outputs = Some(r.outputs);
                    out.rest = r.rest;
                }
            }
            Some("DeclareCursorStmt") => {
                let query = tree.field("query");
                let inner = Arc::new(self.statement(query));
                c.include(&inner);
                let name = tree.field("portalname").str().to_owned();
                out.defines = Some((Named::Cursor(name), inner));
                out.hold = tree.field("options").int() & CURSOR_OPT_HOLD != 0;
            }
            Some("PrepareStmt") => {
                let inner = Arc::new(self.statement(tree.field("query")));
                // Decided at PREPARE: an EXECUTE only fills in the parameters.
                c.include(&inner);
                let name = tree.field("name").str().to_owned();
                out.defines = Some((Named::Prepared(name), inner));
            }
            Some("FetchStmt") if !tree.field("ismove").is_true() => {
                out.uses = Some(Named::Cursor(tree.field("portalname").str().to_owned()));
            }
            Some("ClosePortalStmt") => {
                out.ends = Some(match tree.field("portalname").str() {
                    "" => Ends::AllCursors,
                    name => Ends::One(Named::Cursor(name.to_owned())),
                });
            }
            Some("DeallocateStmt") => {
                out.ends = Some(match tree.field("name").str() {
                    "" => Ends::AllPrepared,
                    name => Ends::One(Named::Prepared(name.to_owned())),
                });
            }
            Some("DiscardStmt") => out.ends = Some(Ends::Everything),
            Some("TransactionStmt") => {
                use pg_query::protobuf::TransactionStmtKind as T;
                let kind = i32::try_from(tree.field("kind").int()).unwrap_or(0);
                if matches!(
                    T::try_from(kind),
                    Ok(T::TransStmtCommit
                        | T::TransStmtRollback
                        | T::TransStmtRollbackTo
                        | T::TransStmtPrepare)
                ) {
                    out.ends = Some(Ends::Transaction);
                }
            }
            Some("ExecuteStmt") => {
                self.expr_list(tree.field("params"), &top, &mut c);
                out.uses = Some(Named::Prepared(tree.field("name").str().to_owned()));
            }
            Some("CopyStmt") if !tree.field("is_from").is_true() => {
                let r = match tree.field("query") {
                    Value::Null => self.copy_table(tree, &mut c),
                    query => self.any_query(query, &top, &mut c),
                };
                out.outputs = Some(r.outputs);
                out.rest = r.rest;
                out.copy = true;
            }
            // EXPLAIN ANALYZE runs its query and reports row counts: its predicates count.
            Some("ExplainStmt" | "CreateTableAsStmt") => {
                c.include(&self.statement(tree.field("query")));
            }
            _ => {
                // Anything else: its nested queries' predicates and relations still count.
                self.nested_queries(tree, &top, &mut c);
            }
        }
        out.predicates = c.predicates;
        out.calls = c.calls;
        out.relations = c.relations;
        out.unresolved = c.unresolved
            || out.outputs.iter().flatten().any(|o| o.lineage.unresolved)
            || out.rest.as_ref().is_some_and(|r| r.unresolved);
        out
    }

    /// Queries inside a statement this module has no rule for (utility statements).
    fn nested_queries(&mut self, v: &Value, scope: &Scope<'_>, c: &mut Collected) {
        match v {
            Value::Seq(items) => items.iter().for_each(|i| self.nested_queries(i, scope, c)),
            Value::Node(name, fields) => {
                if matches!(
                    *name,
                    "SelectStmt" | "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt"
                ) {
                    self.any_query(v, scope, c);
                } else {
                    for (_, f) in fields {
                        self.nested_queries(f, scope, c);
                    }
                }
            }
            _ => {}
        }
    }

    fn any_query(&mut self, v: &Value, scope: &Scope<'_>, c: &mut Collected) -> Resolved {
        match v.name() {
            Some("SelectStmt") => self.select(v, scope, c),
            Some("InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt") => {
                self.modify(v, scope, c)
            }
            _ => {
                c.unresolved = true;
                Resolved::default()
            }
        }
    }

    /// `COPY table [(columns)] TO ...`.
    fn copy_table(&mut self, v: &Value, c: &mut Collected) -> Resolved {
        let item = self.range_var(v.field("relation"), &Scope::new(None), c);
        let wanted = v.field("attlist").strings();
        let columns: Vec<(String, Lineage)> = if wanted.is_empty() {
            item.columns.clone()
        } else {
            wanted
                .iter()
                .map(|w| {
                    let l = item.column(w).unwrap_or_else(Lineage::unresolved);
                    ((*w).to_owned(), l)
                })
                .collect()
        };
        Resolved {
            outputs: columns
                .into_iter()
                .map(|(name, lineage)| Output { name, lineage })
                .collect(),
            rest: item.hidden,
        }
    }

    fn with_clause(&mut self, with: &Value, scope: &mut Scope<'_>, c: &mut Collected) {
        let recursive = with.field("recursive").is_true();
        for cte in with.field("ctes").items() {
            let name = cte.field("ctename").str().to_owned();
            let query = cte.field("ctequery");
            let aliases = cte.field("aliascolnames").strings();
            let mut columns = if recursive {
                self.recursive_cte(&name, query, &aliases, scope, c)
            } else {
                columns_of(self.any_query(query, scope, c))
            };
            columns = renamed(columns, &aliases);
            scope.ctes.push((name, columns));
        }
    }

    /// A recursive CTE's columns: resolved again with the previous round's columns for its
    /// references to itself (starting from none) until no column gains a source, so a value
    /// passed from column to column through the recursion keeps every source it had.
    fn recursive_cte(
        &mut self,
        name: &str,
        query: &Value,
        aliases: &[&str],
        scope: &mut Scope<'_>,
        c: &mut Collected,
    ) -> Vec<(String, Lineage)> {
        let computed = |columns: Vec<(String, Lineage)>| -> Vec<(String, Lineage)> {
            columns
                .into_iter()
                .map(|(n, mut l)| {
                    l.plain = false;
                    (n, l)
                })
                .collect()
        };
        let mut seed: Vec<(String, Lineage)> = Vec::new();
        for _ in 0..MAX_RECURSION_ROUNDS {
            scope.ctes.push((name.to_owned(), seed.clone()));
            let mut scratch = Collected::default();
            let round = computed(renamed(
                columns_of(self.any_query(query, scope, &mut scratch)),
                aliases,
            ));
            scope.ctes.pop();
            // A reference to a column the previous round did not have yet is not a gap; the
            // final round below reports real ones.
            let round: Vec<(String, Lineage)> = round
                .into_iter()
                .map(|(n, mut l)| {
                    l.unresolved = false;
                    (n, l)
                })
                .collect();
            if round == seed {
                scope.ctes.push((name.to_owned(), seed));
                let last = self.any_query(query, scope, c);
                scope.ctes.pop();
                return computed(columns_of(last));
            }
            seed = round;
        }
        c.unresolved = true;
        computed(seed)
    }

    fn select(&mut self, v: &Value, outer: &Scope<'_>, c: &mut Collected) -> Resolved {
        let mut scope = Scope::new(Some(outer));
        self.with_clause(v.field("with_clause"), &mut scope, c);
        let op = v.field("op").int();
        if op != SetOperation::SetopNone as i64 && op != SetOperation::Undefined as i64 {
            let left = self.select(v.field("larg"), &scope, c);
            let right = self.select(v.field("rarg"), &scope, c);
            let outputs: Vec<Output> = left
                .outputs
                .iter()
                .enumerate()
                .map(|(i, l)| Output {
                    name: l.name.clone(),
                    lineage: match right.outputs.get(i) {
                        Some(r) => Lineage::either(&l.lineage, &r.lineage),
                        None => {
                            let mut l = l.lineage.clone();
                            if let Some(rest) = &right.rest {
                                l.absorb(rest);
                            }
                            l
                        }
                    },
                })
                .collect();
            let rest = match (left.rest, right.rest) {
                (None, None) => None,
                (a, b) => Some(Lineage::union(a.iter().chain(b.iter()))),
            };
            let resolved = Resolved { outputs, rest };
            self.sorting(v, &scope, &resolved.outputs, c);
            return resolved;
        }
        let values = v.field("values_lists").items();
        if !values.is_empty() {
            let mut columns: Vec<Lineage> = Vec::new();
            for row in values {
                // Each row is a List node of expressions.
                let cells = match row {
                    Value::Seq(cells) => cells.as_slice(),
                    _ => row.field("items").items(),
                };
                for (i, e) in cells.iter().enumerate() {
                    let l = self.expr(e, &scope, c, None);
                    match columns.get_mut(i) {
                        Some(col) => *col = Lineage::either(col, &l),
                        None => columns.push(l),
                    }
                }
            }
            let outputs = columns
                .into_iter()
                .enumerate()
                .map(|(i, lineage)| Output {
                    name: format!("column{}", i + 1),
                    lineage,
                })
                .collect();
            return Resolved {
                outputs,
                rest: None,
            };
        }
        for from in v.field("from_clause").items() {
            self.range_item(from, &mut scope, c);
        }
        let mut outputs = Vec::new();
        let mut rest = None;
        for target in v.field("target_list").items() {
            self.target(target, &scope, c, &mut outputs, &mut rest);
        }
        self.predicate(v.field("where_clause"), &scope, c, Clause::Where);
        for g in v.field("group_clause").items() {
            self.predicate(g, &scope, c, Clause::GroupBy);
        }
        self.predicate(v.field("having_clause"), &scope, c, Clause::Having);
        for d in v.field("distinct_clause").items() {
            self.predicate(d, &scope, c, Clause::Distinct);
        }
        for w in v.field("window_clause").items() {
            self.window(w, &scope, c);
        }
        self.expr(v.field("limit_offset"), &scope, c, None);
        self.expr(v.field("limit_count"), &scope, c, None);
        self.sorting(v, &scope, &outputs, c);
        Resolved { outputs, rest }
    }

    /// ORDER BY, which may name the query's own output columns (by name or position).
    fn sorting(&mut self, v: &Value, scope: &Scope<'_>, outputs: &[Output], c: &mut Collected) {
        for sort in v.field("sort_clause").items() {
            let node = sort.field("node");
            let by_output = match node.name() {
                Some("ColumnRef") => match ref_names(node).as_slice() {
                    [name] => outputs.iter().find(|o| &o.name == name),
                    _ => None,
                },
                Some("AConst") => usize::try_from(node.field("ival").field("ival").int())
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|i| outputs.get(i)),
                _ => None,
            };
            match by_output {
                Some(o) => c.predicate(&o.lineage, Clause::OrderBy, Comparison::Other),
                None => self.predicate(node, scope, c, Clause::OrderBy),
            }
        }
    }

    fn window(&mut self, w: &Value, scope: &Scope<'_>, c: &mut Collected) {
        for p in w.field("partition_clause").items() {
            self.predicate(p, scope, c, Clause::Window);
        }
        for s in w.field("order_clause").items() {
            self.predicate(s.field("node"), scope, c, Clause::Window);
        }
    }

    /// One target list entry: one output, or several for `*` and `t.*`.
    fn target(
        &mut self,
        target: &Value,
        scope: &Scope<'_>,
        c: &mut Collected,
        outputs: &mut Vec<Output>,
        rest: &mut Option<Lineage>,
    ) {
        let val = target.field("val");
        if val.name() == Some("ColumnRef") && is_star(val) {
            let names = ref_names(val);
            let (columns, hidden) = match names.as_slice() {
                [] => scope.star(),
                [.., qualifier] => match scope.item(qualifier) {
                    Some(item) if item.hidden.is_some() => (Vec::new(), Some(item.whole())),
                    Some(item) => (item.columns.clone(), None),
                    None => (Vec::new(), Some(Lineage::unresolved())),
                },
            };
            if rest.is_some() {
                let r = rest.get_or_insert_with(Lineage::default);
                for (_, l) in &columns {
                    r.absorb(l);
                }
            } else {
                outputs.extend(
                    columns
                        .into_iter()
                        .map(|(name, lineage)| Output { name, lineage }),
                );
            }
            if let Some(hidden) = hidden {
                rest.get_or_insert_with(Lineage::default).absorb(&hidden);
            }
            return;
        }
        let lineage = self.expr(val, scope, c, None);
        let name = match target.field("name").str() {
            "" => output_name(val),
            n => n.to_owned(),
        };
        match rest {
            Some(r) => r.absorb(&lineage),
            None => outputs.push(Output { name, lineage }),
        }
    }

    fn range_item(&mut self, v: &Value, scope: &mut Scope<'_>, c: &mut Collected) {
        match v.name() {
            Some("RangeVar") => {
                let item = self.range_var(v, scope, c);
                scope.items.push(item);
            }
            Some("RangeSubselect") => {
                let r = if v.field("lateral").is_true() {
                    self.any_query(v.field("subquery"), scope, c)
                } else {
                    let detached = Scope {
                        items: Vec::new(),
                        parent: scope.parent,
                        ctes: scope.ctes.clone(),
                    };
                    self.any_query(v.field("subquery"), &detached, c)
                };
                let alias = v.field("alias");
                scope.items.push(Item {
                    name: alias.field("aliasname").str().to_owned(),
                    relation: None,
                    columns: renamed(columns_of_ref(&r), &alias.field("colnames").strings()),
                    hidden: r.rest,
                    in_star: true,
                });
            }
            Some("JoinExpr") => self.join(v, scope, c),
            Some("RangeFunction") => {
                let mut args = Lineage::default();
                // Each entry is a list: the call, and its column definitions.
                for f in v.field("functions").items() {
                    for part in f.field("items").items() {
                        let l = self.expr(part, scope, c, None);
                        args.absorb(&l);
                    }
                }
                let alias = v.field("alias");
                let names = alias.field("colnames").strings();
                let mut columns: Vec<(String, Lineage)> = names
                    .iter()
                    .map(|n| ((*n).to_owned(), args.clone()))
                    .collect();
                for def in v.field("coldeflist").items() {
                    columns.push((def.field("colname").str().to_owned(), args.clone()));
                }
                let name = alias.field("aliasname").str().to_owned();
                // Without a column list the result may be one column (named after the
                // alias) or a composite of any width.
                let hidden = if columns.is_empty() {
                    Some(args.clone())
                } else {
                    None
                };
                if columns.is_empty() && !name.is_empty() {
                    columns.push((name.clone(), args.clone()));
                }
                scope.items.push(Item {
                    name,
                    relation: None,
                    columns,
                    hidden,
                    in_star: true,
                });
            }
            Some("RangeTableSample") => {
                self.expr_list(v.field("args"), scope, c);
                self.range_item(v.field("relation"), scope, c);
            }
            _ => {
                // XMLTABLE, JSON_TABLE and anything newer: columns computed from what it
                // mentions, which the analysis does not enumerate.
                let l = self.expr(v, scope, c, None);
                let mut hidden = l;
                hidden.unresolved = true;
                scope.items.push(Item {
                    name: v.field("alias").field("aliasname").str().to_owned(),
                    relation: None,
                    columns: Vec::new(),
                    hidden: Some(hidden),
                    in_star: true,
                });
            }
        }
    }

    fn join(&mut self, v: &Value, scope: &mut Scope<'_>, c: &mut Collected) {
        let first = scope.items.len();
        self.range_item(v.field("larg"), scope, c);
        let middle = scope.items.len();
        self.range_item(v.field("rarg"), scope, c);
        let side = |items: &[Item]| -> Vec<(String, Lineage)> {
            items
                .iter()
                .filter(|i| i.in_star)
                .flat_map(|i| i.columns.iter().cloned())
                .collect()
        };
        let left = side(&scope.items[first..middle]);
        let right = side(&scope.items[middle..]);
        let hidden = scope.items[first..]
            .iter()
            .filter(|i| i.in_star)
            .filter_map(|i| i.hidden.clone())
            .reduce(|a, b| Lineage::union([&a, &b]));
        let mut using: Vec<String> = v
            .field("using_clause")
            .strings()
            .into_iter()
            .map(str::to_owned)
            .collect();
        if v.field("is_natural").is_true() {
            using = left
                .iter()
                .filter(|(n, _)| right.iter().any(|(m, _)| m == n))
                .map(|(n, _)| n.clone())
                .collect();
        }
        // The join's own columns, as `*` shows them: the merged USING columns first.
        let mut columns: Vec<(String, Lineage)> = Vec::new();
        for name in &using {
            let pick = |cols: &[(String, Lineage)]| {
                cols.iter().find(|(n, _)| n == name).map(|(_, l)| l.clone())
            };
            let merged = match (pick(&left), pick(&right)) {
                (Some(a), Some(b)) => Lineage::either(&a, &b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => Lineage::unresolved(),
            };
            columns.push((name.clone(), merged));
        }
        columns.extend(left.into_iter().filter(|(n, _)| !using.contains(n)));
        columns.extend(right.into_iter().filter(|(n, _)| !using.contains(n)));
        for item in &mut scope.items[first..] {
            item.in_star = false;
        }
        let alias = v.field("alias");
        let name = alias.field("aliasname").str().to_owned();
        let join = Item {
            name: name.clone(),
            relation: None,
            columns: renamed(columns, &alias.field("colnames").strings()),
            hidden,
            in_star: true,
        };
        if !name.is_empty() {
            // An aliased join hides the names of the items inside it.
            scope.items.truncate(first);
        } else if !using.is_empty() {
            // An unqualified USING column means the merged one, not either side's.
            for item in &mut scope.items[first..] {
                item.columns.retain(|(n, _)| !using.contains(n));
            }
        }
        scope.items.push(join);
        self.predicate(v.field("quals"), scope, c, Clause::Join);
        for name in &using {
            let l = scope.unqualified(name);
            c.predicate(&l, Clause::Join, Comparison::Equality);
        }
    }

    fn range_var(&mut self, v: &Value, scope: &Scope<'_>, c: &mut Collected) -> Item {
        let schema = v.field("schemaname").str();
        let name = v.field("relname").str();
        let alias = v.field("alias");
        let alias_name = match alias.field("aliasname").str() {
            "" => name.to_owned(),
            a => a.to_owned(),
        };
        let qualified = !schema.is_empty() || !v.field("catalogname").str().is_empty();
        if !qualified {
            if let Some(cte) = scope.cte(name) {
                return Item {
                    name: alias_name,
                    relation: None,
                    columns: renamed(cte.clone(), &alias.field("colnames").strings()),
                    hidden: None,
                    in_star: true,
                };
            }
        }
        let schema = if !schema.is_empty() {
            schema.to_owned()
        } else if v.field("relpersistence").str() == "t" {
            "pg_temp".to_owned()
        } else if name.starts_with("pg_") {
            "pg_catalog".to_owned()
        } else {
            self.search_path
                .first_usable()
                .unwrap_or(crate::UNRESOLVED_SCHEMA)
                .to_owned()
        };
        let relation = (schema.clone(), name.to_owned());
        let columns = match self.catalog.relation(&schema, name) {
            None => {
                self.needed.push(relation.clone());
                None
            }
            Some(CatalogRelation::Missing) => None,
            Some(CatalogRelation::Table(columns)) => {
                c.relations.insert(relation.clone());
                Some(
                    columns
                        .iter()
                        .map(|col| {
                            let id = ColumnId {
                                schema: schema.clone(),
                                table: name.to_owned(),
                                column: col.clone(),
                            };
                            (col.clone(), Lineage::column(id))
                        })
                        .collect::<Vec<_>>(),
                )
            }
            Some(CatalogRelation::View {
                columns,
                definition,
            }) => self.view(&relation, &columns, &definition, c),
        };
        let (columns, hidden) = match columns {
            Some(columns) => (columns, None),
            None => (Vec::new(), Some(Lineage::unresolved())),
        };
        Item {
            name: alias_name,
            relation: Some(relation),
            columns: renamed(columns, &alias.field("colnames").strings()),
            hidden,
            in_star: true,
        }
    }

    /// A view's columns, traced through its definition (read with PostgreSQL's default search
    /// path: the catalog writes the names it needs qualified).
    fn view(
        &mut self,
        relation: &(String, String),
        columns: &[String],
        definition: &str,
        c: &mut Collected,
    ) -> Option<Vec<(String, Lineage)>> {
        if self.views.len() >= MAX_VIEW_DEPTH || self.views.contains(relation) {
            return None;
        }
        let parsed = pg_query::parse(definition, pg_query::ParserOptions::DEFAULT).ok()?;
        let node = parsed
            .protobuf
            .stmts
            .first()?
            .stmt
            .as_ref()?
            .node
            .as_ref()?;
        let tree = tree::of(node).ok()?;
        self.views.push(relation.clone());
        let saved = std::mem::take(&mut self.search_path);
        let inner = self.statement(&tree);
        self.search_path = saved;
        self.views.pop();
        c.relations.insert(relation.clone());
        c.relations.extend(inner.relations.iter().cloned());
        c.predicates.extend(inner.predicates.iter().cloned());
        c.calls.extend(inner.calls.iter().cloned());
        let outputs = inner.outputs?;
        if inner.rest.is_some() || outputs.len() != columns.len() {
            return None;
        }
        Some(
            columns
                .iter()
                .cloned()
                .zip(outputs.into_iter().map(|o| o.lineage))
                .collect(),
        )
    }

    /// INSERT, UPDATE, DELETE, MERGE: predicates, and RETURNING's lineage.
    fn modify(&mut self, v: &Value, outer: &Scope<'_>, c: &mut Collected) -> Resolved {
        let mut scope = Scope::new(Some(outer));
        self.with_clause(v.field("with_clause"), &mut scope, c);
        let mut target = self.range_var(v.field("relation"), &scope, c);
        match v.name() {
            Some("InsertStmt") => {
                let source = match v.field("select_stmt") {
                    Value::Null => Resolved::default(),
                    s => self.select(s, &scope, c),
                };
                let named: Vec<String> = v
                    .field("cols")
                    .items()
                    .iter()
                    .map(|col| col.field("name").str().to_owned())
                    .collect();
                let order: Vec<String> = if named.is_empty() {
                    target.columns.iter().map(|(n, _)| n.clone()).collect()
                } else {
                    named
                };
                for (i, col) in order.iter().enumerate() {
                    let from = source
                        .outputs
                        .get(i)
                        .map(|o| o.lineage.clone())
                        .or_else(|| source.rest.clone());
                    if let (Some(from), Some((_, l))) =
                        (from, target.columns.iter_mut().find(|(n, _)| n == col))
                    {
                        l.absorb(&from);
                    }
                }
                let conflict = v.field("on_conflict_clause");
                scope.items.push(target);
                for set in conflict.field("target_list").items() {
                    self.expr(set.field("val"), &scope, c, None);
                }
                self.predicate(conflict.field("where_clause"), &scope, c, Clause::Where);
            }
            Some("UpdateStmt") => {
                for from in v.field("from_clause").items() {
                    self.range_item(from, &mut scope, c);
                }
                let mut assigned: Vec<(String, Lineage)> = Vec::new();
                let context = Scope {
                    items: std::iter::once(target.clone())
                        .chain(scope.items.iter().cloned())
                        .collect(),
                    parent: Some(outer),
                    ctes: scope.ctes.clone(),
                };
                for set in v.field("target_list").items() {
                    let l = self.expr(set.field("val"), &context, c, None);
                    assigned.push((set.field("name").str().to_owned(), l));
                }
                for (col, l) in assigned {
                    if let Some((_, t)) = target.columns.iter_mut().find(|(n, _)| *n == col) {
                        t.absorb(&l);
                    }
                }
                scope.items.insert(0, target);
                self.predicate(v.field("where_clause"), &scope, c, Clause::Where);
            }
            Some("DeleteStmt") => {
                scope.items.push(target);
                for using in v.field("using_clause").items() {
                    self.range_item(using, &mut scope, c);
                }
                self.predicate(v.field("where_clause"), &scope, c, Clause::Where);
            }
            _ => {
                // MERGE: its source and join condition pick rows.
                scope.items.push(target);
                self.range_item(v.field("source_relation"), &mut scope, c);
                self.predicate(v.field("join_condition"), &scope, c, Clause::Join);
                self.nested_queries(v.field("merge_when_clauses"), &scope, c);
            }
        }
        let mut outputs = Vec::new();
        let mut rest = None;
        for r in v.field("returning_clause").field("exprs").items() {
            self.target(r, &scope, c, &mut outputs, &mut rest);
        }
        Resolved { outputs, rest }
    }

    fn expr_list(&mut self, v: &Value, scope: &Scope<'_>, c: &mut Collected) -> Lineage {
        let parts: Vec<Lineage> = v
            .items()
            .iter()
            .map(|e| self.expr(e, scope, c, None))
            .collect();
        Lineage::union(&parts)
    }

    /// A predicate clause: every column it mentions is a predicate use, compared as the
    /// nearest operator around it compares.
    fn predicate(&mut self, v: &Value, scope: &Scope<'_>, c: &mut Collected, clause: Clause) {
        if !matches!(v, Value::Null) {
            self.expr(v, scope, c, Some((clause, Comparison::Other)));
        }
    }

    /// The lineage of an expression. Inside a predicate (`within`), the columns it meets are
    /// recorded as predicate uses.
    fn expr(
        &mut self,
        v: &Value,
        scope: &Scope<'_>,
        c: &mut Collected,
        within: Option<(Clause, Comparison)>,
    ) -> Lineage {
        let name = match v {
            Value::Node(name, _) => *name,
            Value::Seq(items) => {
                let parts: Vec<Lineage> = items
                    .iter()
                    .map(|e| self.expr(e, scope, c, within))
                    .collect();
                return Lineage::union(&parts);
            }
            _ => return Lineage::default(),
        };
        let l = match name {
            "ColumnRef" => {
                let l = self.column_ref(v, scope);
                if let Some((clause, comparison)) = within {
                    c.predicate(&l, clause, comparison);
                }
                c.lineage(&l);
                return l;
            }
            "AConst" | "ParamRef" | "SQLValueFunction" | "SetToDefault" => {
                return Lineage::default()
            }
            "AExpr" => {
                let comparison = comparison(v);
                let inner = within.map(|(clause, _)| (clause, comparison));
                let mut l = self.expr(v.field("lexpr"), scope, c, inner);
                l.absorb(&self.expr(v.field("rexpr"), scope, c, inner));
                l
            }
            "FuncCall" => self.call(v, scope, c, within),
            "SubLink" => {
                let kind = v.field("sub_link_type").int();
                let compared = matches!(
                    SubLinkType::try_from(i32::try_from(kind).unwrap_or(0)),
                    Ok(SubLinkType::AnySublink | SubLinkType::AllSublink)
                );
                let inner = within.map(|(clause, cmp)| {
                    (clause, if compared { Comparison::Equality } else { cmp })
                });
                let mut l = self.expr(v.field("testexpr"), scope, c, inner);
                let sub = self.any_query(v.field("subselect"), scope, c);
                for o in &sub.outputs {
                    if let Some((clause, cmp)) = inner {
                        c.predicate(&o.lineage, clause, cmp);
                    }
                    l.absorb(&o.lineage);
                }
                if let Some(rest) = &sub.rest {
                    l.absorb(rest);
                }
                if kind == SubLinkType::ExistsSublink as i64 {
                    // Only whether rows exist: its predicates carry what it reveals.
                    return Lineage {
                        unresolved: l.unresolved,
                        ..Lineage::default()
                    };
                }
                l
            }
            _ => {
                // Every other expression (casts, CASE, COALESCE, boolean logic, subscripts,
                // row and array constructors, ...) is computed from all it mentions.
                let mut l = Lineage::default();
                if let Value::Node(_, fields) = v {
                    for (_, f) in fields {
                        let part = self.expr(f, scope, c, within);
                        l.absorb(&part);
                    }
                }
                l
            }
        };
        let mut l = l;
        l.plain = false;
        l
    }

    fn call(
        &mut self,
        v: &Value,
        scope: &Scope<'_>,
        c: &mut Collected,
        within: Option<(Clause, Comparison)>,
    ) -> Lineage {
        // A function whose result picks rows by itself (`WHERE starts_with(ssn, '1')`,
        // `WHERE texteq(ssn, '...')`) tests its arguments' values as a comparison would.
        let within = within.map(|(clause, comparison)| match (clause, comparison) {
            (Clause::Where | Clause::Join | Clause::Having | Clause::Filter, Comparison::Other) => {
                (clause, Comparison::Equality)
            }
            kept => kept,
        });
        let qualified = v.field("funcname").strings();
        let func = qualified
            .last()
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default();
        let schema = match qualified.as_slice() {
            [.., schema, _] => Some((*schema).to_owned()),
            _ => None,
        };
        let parts: Vec<Lineage> = v
            .field("args")
            .items()
            .iter()
            .map(|a| self.expr(a, scope, c, within))
            .collect();
        let args = match parts.as_slice() {
            // One argument keeps its own lineage, so `count(ssn)` knows it counts a column.
            [one] => one.clone(),
            many => Lineage::union(many),
        };
        if !args.sources.is_empty() || !args.counted.is_empty() {
            c.calls.insert(FunctionUse {
                schema,
                name: func.clone(),
                sources: args.sources.union(&args.counted).cloned().collect(),
            });
        }
        // `ORDER BY` inside an aggregate orders its input: like a query's ORDER BY.
        for sort in v.field("agg_order").items() {
            self.predicate(sort.field("node"), scope, c, Clause::OrderBy);
        }
        let filter = v.field("agg_filter");
        if !matches!(filter, Value::Null) {
            self.expr(filter, scope, c, Some((Clause::Filter, Comparison::Other)));
        }
        let over = v.field("over");
        if !matches!(over, Value::Null) {
            self.window(over, scope, c);
        }
        let mut l = if func == "count" && over.name().is_none() {
            Lineage::counting(&args)
        } else {
            args
        };
        l.plain = false;
        l
    }

    fn column_ref(&self, v: &Value, scope: &Scope<'_>) -> Lineage {
        let names = ref_names(v);
        if is_star(v) {
            // `t.*` outside a target list (row constructors, function arguments): every
            // column of `t`.
            return match names.as_slice() {
                [] => {
                    let (cols, hidden) = scope.star();
                    let mut l = Lineage::union(cols.iter().map(|(_, l)| l));
                    if let Some(h) = hidden {
                        l.absorb(&h);
                    }
                    l
                }
                [.., q] => scope.item(q).map_or_else(Lineage::unresolved, |i| {
                    let mut l = i.whole();
                    l.plain = false;
                    l
                }),
            };
        }
        match names.as_slice() {
            [column] => scope.unqualified(column),
            [qualifier, column] => scope.qualified(None, qualifier, column),
            [.., schema, qualifier, column] => scope.qualified(Some(schema), qualifier, column),
            [] => Lineage::unresolved(),
        }
    }
}

/// How a comparison operator compares.
fn comparison(v: &Value) -> Comparison {
    let kind = i32::try_from(v.field("kind").int()).unwrap_or(0);
    let op = v
        .field("name")
        .strings()
        .last()
        .map(|s| (*s).to_owned())
        .unwrap_or_default();
    match AExprKind::try_from(kind) {
        Ok(AExprKind::AexprLike | AExprKind::AexprIlike | AExprKind::AexprSimilar) => {
            Comparison::Pattern
        }
        Ok(AExprKind::AexprIn | AExprKind::AexprDistinct | AExprKind::AexprNotDistinct) => {
            Comparison::Equality
        }
        Ok(
            AExprKind::AexprBetween
            | AExprKind::AexprNotBetween
            | AExprKind::AexprBetweenSym
            | AExprKind::AexprNotBetweenSym,
        ) => Comparison::Range,
        _ => match op.as_str() {
            "=" | "<>" | "!=" => Comparison::Equality,
            "<" | ">" | "<=" | ">=" => Comparison::Range,
            "~~" | "!~~" | "~~*" | "!~~*" | "~" | "!~" | "~*" | "!~*" => Comparison::Pattern,
            _ => Comparison::Other,
        },
    }
}

/// The names of a ColumnRef, without a trailing `*`.
fn ref_names(v: &Value) -> Vec<String> {
    v.field("fields")
        .items()
        .iter()
        .filter(|f| f.name() == Some("String"))
        .map(|f| f.field("sval").str().to_owned())
        .collect()
}

fn is_star(v: &Value) -> bool {
    v.field("fields")
        .items()
        .last()
        .is_some_and(|f| f.name() == Some("AStar"))
}

/// The name PostgreSQL gives an output column without an alias.
fn output_name(v: &Value) -> String {
    match v.name() {
        Some("ColumnRef") => ref_names(v).last().cloned().unwrap_or_default(),
        Some("FuncCall") => v
            .field("funcname")
            .strings()
            .last()
            .map(|s| (*s).to_owned())
            .unwrap_or_default(),
        Some("TypeCast") => output_name(v.field("arg")),
        _ => "?column?".to_owned(),
    }
}

fn columns_of(r: Resolved) -> Vec<(String, Lineage)> {
    r.outputs.into_iter().map(|o| (o.name, o.lineage)).collect()
}

fn columns_of_ref(r: &Resolved) -> Vec<(String, Lineage)> {
    r.outputs
        .iter()
        .map(|o| (o.name.clone(), o.lineage.clone()))
        .collect()
}

/// Columns renamed by an alias list, which may name only the first few.
fn renamed(mut columns: Vec<(String, Lineage)>, names: &[&str]) -> Vec<(String, Lineage)> {
    for (column, name) in columns.iter_mut().zip(names) {
        column.0 = (*name).to_owned();
    }
    columns
}
