//! Masking by lineage (docs/masking.md): for a statement whose decision masks columns, which
//! masked columns each value of its results was computed from, and which masked columns its
//! predicates compare. The analysis is `sluice_sql::lineage`; this module reads it against the
//! target's catalog (as the protocol has read it into [`RelationCache`]) and the decision's
//! column rules, and turns it into three things:
//! - per result column, the strategy the relay applies to the whole value ([`ResultPlan`]);
//! - the `masked_columns_in_predicates` fact, on which the statement is decided again;
//! - denials, where masking cannot follow (`mask_unknown_lineage`, `mask_computed`, COPY).
//!
//! Statements that read no relation with a masked column pay a few cache lookups and nothing
//! else: no second parse, no second evaluation.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use sluice_decision::{
    CacheSubject, ColumnRule, Computed, Counted, Decision, MaskRules, MaskedPredicate,
    SqlStatement, StatementKind,
};
use sluice_mask::Strategy;
use sluice_sql::lineage::{
    self as analysis, Catalog, CatalogRelation, ColumnId, Ends, Lineage, LineageError, Named,
    StatementLineage,
};
use sluice_sql::{Lexing, SearchPath};

mod functions;
use crate::sync::lock;

/// A COPY whose columns masking cannot follow field by field.
pub const RULE_MASK_COPY: &str = "sluice.mask_copy";
/// Masking cannot establish where a statement's values come from, and it reads a table with
/// masked columns.
pub const RULE_MASK_UNKNOWN_LINEAGE: &str = "mask_unknown_lineage";
/// A result column is computed from a masked column whose rule says `computed = "deny"`.
pub const RULE_MASK_COMPUTED: &str = "mask_computed";

/// A relation, as `(schema, name)`.
pub type RelationName = (String, String);

/// How long a relation just read is trusted even under a shorter (or zero) catalog TTL, so
/// that the request it was read for can be traced.
const JUST_READ: Duration = Duration::from_secs(1);

/// What was read of one database's relations, and when: by schema, then by name.
type Relations = HashMap<String, HashMap<String, (Instant, CatalogRelation)>>;

/// Relations' columns and views' definitions, read from each target database by the
/// protocol, shared by every session of the gateway and trusted for the masking catalog TTL.
/// Nested by target, database, schema and name, so a lookup allocates nothing; read far more
/// often than written.
#[derive(Default)]
pub struct RelationCache {
    by_database: RwLock<HashMap<String, HashMap<String, Relations>>>,
}

impl RelationCache {
    pub(crate) fn store(
        &self,
        (target, database): (&str, &str),
        read: impl IntoIterator<Item = (RelationName, CatalogRelation)>,
    ) {
        let now = Instant::now();
        let mut all = crate::sync::write(&self.by_database);
        let relations = all
            .entry(target.to_owned())
            .or_default()
            .entry(database.to_owned())
            .or_default();
        for ((schema, name), relation) in read {
            relations
                .entry(schema)
                .or_default()
                .insert(name, (now, relation));
        }
    }

    fn get(
        &self,
        (target, database): (&str, &str),
        schema: &str,
        name: &str,
        ttl: Duration,
    ) -> Option<CatalogRelation> {
        let all = crate::sync::read(&self.by_database);
        let (read_at, relation) = all.get(target)?.get(database)?.get(schema)?.get(name)?;
        // What was just read serves the request it was read for, whatever the TTL.
        (read_at.elapsed() < ttl.max(JUST_READ)).then(|| relation.clone())
    }
}

/// The cache as one database's catalog, for the analysis.
struct CatalogView<'c> {
    cache: &'c RelationCache,
    database: (&'c str, &'c str),
    ttl: Duration,
}

impl Catalog for CatalogView<'_> {
    fn relation(&self, schema: &str, name: &str) -> Option<CatalogRelation> {
        self.cache.get(self.database, schema, name, self.ttl)
    }
}

/// How the columns of one result (a statement's rows) are masked by lineage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultColumns {
    columns: Vec<Option<Strategy>>,
    /// Columns past `columns`, when the analysis could not count them (`*` over a function).
    rest: Option<Option<Strategy>>,
}

impl ResultColumns {
    /// Whether this plan describes a result of `width` columns.
    pub fn fits(&self, width: usize) -> bool {
        match self.rest {
            None => width == self.columns.len(),
            Some(_) => width >= self.columns.len(),
        }
    }

    /// The strategy for column `index` (from 0): `None` when none of its sources is masked.
    pub fn strategy(&self, index: usize) -> Option<Strategy> {
        match self.columns.get(index) {
            Some(s) => *s,
            None => self.rest.flatten(),
        }
    }
}

/// The lineage masking of one request: one entry per result it returns, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultPlan {
    results: Vec<ResultColumns>,
    /// Every statement of the request that may return rows has an entry, so the k-th result
    /// is the k-th entry. False when a statement returns rows the analysis does not describe
    /// (`SHOW`, `EXPLAIN`): then no entry can be matched to a result.
    aligned: bool,
}

impl ResultPlan {
    /// The plan for the request's `index`-th result (from 0) of `width` columns; `None` when
    /// it cannot be known, and the relay must then mask every column that could hold a
    /// masked value (docs/masking.md, "Lineage").
    pub fn result(&self, index: usize, width: usize) -> Option<&ResultColumns> {
        if !self.aligned {
            return None;
        }
        self.results.get(index).filter(|r| r.fits(width))
    }
}

/// What cursors and prepared statements a session declared by SQL read, and whether a
/// cursor outlives its transaction (`WITH HOLD`).
type NamedLineage = HashMap<Named, (Arc<StatementLineage>, bool)>;

/// What a session keeps for lineage across requests.
#[derive(Default)]
pub(crate) struct SessionLineage {
    /// Cursors and prepared statements declared by SQL (`DECLARE`, `PREPARE`), by name.
    named: Mutex<NamedLineage>,
    /// Why the catalog could not be read for the request being decided.
    unreadable: Mutex<Option<String>>,
}

impl SessionLineage {
    pub(crate) fn catalog_unreadable(&self, why: String) {
        *lock(&self.unreadable) = Some(why);
    }
}

/// The outcome of tracing a decided request.
pub(crate) enum Traced {
    /// The protocol must read these relations into the cache, then decide the request again.
    NeedCatalog(Vec<RelationName>),
    /// `decision`: the decision as it stands after lineage (`None`: unchanged); `results`:
    /// the lineage masking of its results (`None`: none needed).
    Done {
        decision: Option<Decision>,
        results: Option<Arc<ResultPlan>>,
    },
}

impl Traced {
    pub(crate) fn unchanged() -> Traced {
        Traced::Done {
            decision: None,
            results: None,
        }
    }

    fn deny(decision: &Decision, rule: &str, reason: String) -> Traced {
        Traced::Done {
            decision: Some(Decision::deny(rule, &decision.policy, reason)),
            results: None,
        }
    }
}

/// A traced request's outcome, kept with its analysis (`Verdicted`, cached per statement
/// shape) so that the next statement of the same shape, for the same subject under the same
/// rules, is not traced again while the catalog it was traced against is fresh. Requests
/// whose lineage depends on the session's cursors and prepared statements are not kept.
/// Read without a lock: every session deciding the shape reads it.
#[derive(Default)]
pub(crate) struct TraceMemo(ArcSwapOption<Memo>);

impl std::fmt::Debug for TraceMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TraceMemo")
    }
}

struct Memo {
    at: Instant,
    subject: Arc<CacheSubject>,
    /// The hour of the second decision it made; `None` when it made none.
    bucket: Option<u32>,
    rules: Arc<MaskRules>,
    decision: Option<Decision>,
    results: Option<Arc<ResultPlan>>,
}

/// What tracing needs to know of the request and where it runs.
pub(crate) struct Request<'a> {
    pub text: &'a str,
    pub lexing: Lexing,
    pub search_path: &'a SearchPath,
    pub statements: &'a [SqlStatement],
    /// `(target, database)`.
    pub database: (&'a str, &'a str),
    pub ttl: Duration,
    /// Who decides, as the decision cache keys it, and the hour: what a memo holds for.
    pub subject: &'a Arc<CacheSubject>,
    pub bucket: u32,
}

/// Commands that declare or use cursors and prepared statements: always traced.
const DECLARES: [&str; 4] = ["FETCH", "EXECUTE", "DECLARE CURSOR", "PREPARE"];
/// Commands that end them (transactions end cursors): traced while the session has any, so
/// its names stay true.
const ENDS: [&str; 6] = [
    "CLOSE",
    "DEALLOCATE",
    "DISCARD",
    "COMMIT",
    "ROLLBACK",
    "PREPARE TRANSACTION",
];

/// The planner's statistics: their histograms and most common values are values of every
/// analysed column, masked ones included, under columns no rule names.
const STATISTICS: [&str; 5] = [
    "pg_statistic",
    "pg_statistic_ext_data",
    "pg_stats",
    "pg_stats_ext",
    "pg_stats_ext_exprs",
];

fn statistics(schema: &str, name: &str) -> bool {
    schema == "pg_catalog" && STATISTICS.contains(&name)
}

/// Commands whose effect the analysis cannot follow at all: code.
const OPAQUE: [&str; 2] = ["DO", "CALL"];
/// Commands that return no rows and have no lineage of their own.
const ROWLESS: [&str; 10] = [
    "DECLARE CURSOR",
    "PREPARE",
    "CLOSE",
    "DEALLOCATE",
    "LISTEN",
    "UNLISTEN",
    "NOTIFY",
    "MOVE",
    "DISCARD",
    "COPY",
];

/// Traces `request` under `decision`, or takes the outcome from `memo` when it holds one for
/// `key`. `redecide` decides the statements again with their `masked_columns_in_predicates`
/// filled in.
pub(crate) fn trace(
    cache: &RelationCache,
    session: &SessionLineage,
    request: &Request<'_>,
    decision: &Decision,
    memo: Option<&TraceMemo>,
    redecide: impl FnOnce(&[SqlStatement]) -> Decision,
) -> Traced {
    let Some(rules) = decision
        .mask
        .as_ref()
        .filter(|m| !m.columns.is_empty() && decision.deny_reason().is_none())
    else {
        return Traced::unchanged();
    };
    let unreadable = lock(&session.unreadable).take();
    if let Some(why) = unreadable {
        return Traced::deny(
            decision,
            RULE_MASK_UNKNOWN_LINEAGE,
            format!("the target's catalog could not be read to trace masked columns: {why}"),
        );
    }
    let memo = memo.filter(|_| {
        !request.statements.iter().any(|s| {
            let c = s.command.as_str();
            DECLARES.contains(&c) || ENDS.contains(&c) || OPAQUE.contains(&c)
        })
    });
    // A guard, not a clone: every session deciding the shape reads the memo, and a clone
    // would make them all write one reference count.
    let kept = memo.map(|m| m.0.load());
    if let Some(m) = kept.as_ref().and_then(|g| g.as_deref()).filter(|m| {
        // Sessions of one identity share the memo (it lives with the cached verdict) but each
        // makes its own decision at Execute, so equal rules are usually other Arcs: comparing
        // pointers only made every other session's execution trace anew.
        (Arc::ptr_eq(&m.rules, rules) || m.rules == *rules)
            && m.bucket.is_none_or(|b| b == request.bucket)
            && (Arc::ptr_eq(&m.subject, request.subject) || m.subject == *request.subject)
            && m.at.elapsed() < request.ttl
    }) {
        return Traced::Done {
            decision: m.decision.clone(),
            results: m.results.clone(),
        };
    }
    drop(kept);
    let traced = trace_anew(cache, session, request, decision, rules, redecide);
    if let (Some(memo), Traced::Done { decision, results }) = (memo, &traced) {
        memo.0.store(Some(Arc::new(Memo {
            at: Instant::now(),
            subject: request.subject.clone(),
            bucket: decision.is_some().then_some(request.bucket),
            rules: rules.clone(),
            decision: decision.clone(),
            results: results.clone(),
        })));
    }
    traced
}

fn trace_anew(
    cache: &RelationCache,
    session: &SessionLineage,
    request: &Request<'_>,
    decision: &Decision,
    rules: &Arc<MaskRules>,
    redecide: impl FnOnce(&[SqlStatement]) -> Decision,
) -> Traced {
    let catalog = CatalogView {
        cache,
        database: request.database,
        ttl: request.ttl,
    };
    let has_named = !lock(&session.named).is_empty();
    match needs_lineage(&catalog, rules, request.statements, has_named) {
        Ok(false) => return Traced::unchanged(),
        Ok(true) => {}
        Err(needed) => return Traced::NeedCatalog(needed),
    }
    let all = match analysis::lineage(request.text, request.search_path, request.lexing, &catalog) {
        Ok(all) => all,
        Err(LineageError::NeedCatalog(needed)) => return Traced::NeedCatalog(needed),
        Err(LineageError::Sql(e)) => {
            return Traced::deny(
                decision,
                RULE_MASK_UNKNOWN_LINEAGE,
                format!("the statement's lineage could not be traced: {e}"),
            )
        }
    };
    if all.len() != request.statements.len() {
        return Traced::deny(
            decision,
            RULE_MASK_UNKNOWN_LINEAGE,
            "the statement's lineage could not be matched to its statements".to_owned(),
        );
    }
    let mut plan = ResultPlan {
        results: Vec::new(),
        aligned: true,
    };
    let mut touches_masked = false;
    let mut predicates: Vec<Vec<MaskedPredicate>> = Vec::with_capacity(all.len());
    // What the statements declare and end, in order: a FETCH sees the DECLARE before it in
    // the same string. Kept only if the request is let through.
    let mut named = lock(&session.named).clone();
    for (statement, lineage) in request.statements.iter().zip(&all) {
        let traced = match statement_plan(&catalog, rules, statement, lineage, &named) {
            Ok(traced) => traced,
            Err((rule, reason)) => return Traced::deny(decision, rule, reason),
        };
        follow_names(&mut named, lineage);
        touches_masked |= traced.touches_masked;
        match traced.result {
            Some(result) => plan.results.push(result),
            None if !rowless(statement, lineage) => plan.aligned = false,
            None => {}
        }
        predicates.push(traced.predicates);
    }
    let decision = if predicates.iter().any(|p| !p.is_empty()) {
        let decided: Vec<SqlStatement> = request
            .statements
            .iter()
            .zip(predicates)
            .map(|(s, p)| SqlStatement {
                masked_columns_in_predicates: p,
                ..s.clone()
            })
            .collect();
        let again = redecide(&decided);
        if again.deny_reason().is_some() {
            return Traced::Done {
                decision: Some(again),
                results: None,
            };
        }
        if again.mask != decision.mask {
            return Traced::deny(
                decision,
                RULE_MASK_UNKNOWN_LINEAGE,
                "the policy masks differently once it sees the masked columns in predicates; \
                 masking cannot follow that"
                    .to_owned(),
            );
        }
        Some(again)
    } else {
        None
    };
    *lock(&session.named) = named;
    Traced::Done {
        decision,
        results: touches_masked.then(|| Arc::new(plan)),
    }
}

/// Keeps what a statement declares by name, and forgets what it ends.
fn follow_names(named: &mut NamedLineage, lineage: &StatementLineage) {
    if let Some((name, declared)) = &lineage.defines {
        named.insert(name.clone(), (declared.clone(), lineage.hold));
    }
    match &lineage.ends {
        None => {}
        Some(Ends::One(name)) => {
            named.remove(name);
        }
        Some(Ends::AllCursors) => named.retain(|n, _| !matches!(n, Named::Cursor(_))),
        Some(Ends::AllPrepared) => named.retain(|n, _| !matches!(n, Named::Prepared(_))),
        Some(Ends::Everything) => named.clear(),
        Some(Ends::Transaction) => {
            named.retain(|n, (_, hold)| matches!(n, Named::Prepared(_)) || *hold);
        }
    }
}

/// Whether any statement may read a masked column (and so needs its lineage); `Err` names
/// the relations the catalog must be read for first.
fn needs_lineage(
    catalog: &CatalogView<'_>,
    rules: &MaskRules,
    statements: &[SqlStatement],
    has_named: bool,
) -> Result<bool, Vec<RelationName>> {
    let mut needed = Vec::new();
    let mut needs = false;
    for s in statements {
        let command = s.command.as_str();
        if OPAQUE.contains(&command)
            || DECLARES.contains(&command)
            || (has_named && ENDS.contains(&command))
        {
            needs = true;
        }
        for relation in s.tables_read.iter().chain(&s.tables_written) {
            // Names with a dot inside a part cannot be split back: trace those.
            let Some((schema, name)) = relation.split_once('.').filter(|(_, n)| !n.contains('.'))
            else {
                needs = true;
                continue;
            };
            if statistics(schema, name) {
                needs = true;
                continue;
            }
            match catalog.relation(schema, name) {
                None => needed.push((schema.to_owned(), name.to_owned())),
                Some(CatalogRelation::Table(columns)) => {
                    needs |= has_masked_column(rules, schema, name, &columns);
                }
                Some(CatalogRelation::View { .. }) => needs = true,
                Some(CatalogRelation::Missing) => {}
            }
        }
    }
    if needed.is_empty() {
        Ok(needs)
    } else {
        needed.sort();
        needed.dedup();
        Err(needed)
    }
}

/// What one statement's lineage comes to.
struct StatementPlan {
    result: Option<ResultColumns>,
    predicates: Vec<MaskedPredicate>,
    touches_masked: bool,
}

type Refusal = (&'static str, String);

fn statement_plan(
    catalog: &CatalogView<'_>,
    rules: &MaskRules,
    statement: &SqlStatement,
    lineage: &StatementLineage,
    named: &NamedLineage,
) -> Result<StatementPlan, Refusal> {
    if OPAQUE.contains(&statement.command.as_str()) {
        return Err((
            RULE_MASK_UNKNOWN_LINEAGE,
            format!(
                "{} runs code whose reads masking cannot follow, and this session's results are \
                 masked",
                statement.command
            ),
        ));
    }
    let named_relations = statement
        .tables_read
        .iter()
        .filter_map(|r| r.split_once('.'))
        .map(|(s, n)| (s.to_owned(), n.to_owned()));
    if let Some((schema, name)) = lineage
        .relations
        .iter()
        .cloned()
        .chain(named_relations)
        .find(|(schema, name)| statistics(schema, name))
    {
        return Err((
            RULE_MASK_UNKNOWN_LINEAGE,
            format!(
                "{schema}.{name} holds values of every analysed column, masked ones included, \
                 and this session's results are masked"
            ),
        ));
    }
    let used = match &lineage.uses {
        None => None,
        Some(name) => match named.get(name) {
            Some((used, _)) => Some(used.clone()),
            None => {
                let (what, n) = match name {
                    Named::Cursor(n) => ("cursor", n),
                    Named::Prepared(n) => ("prepared statement", n),
                };
                return Err((
                    RULE_MASK_UNKNOWN_LINEAGE,
                    format!(
                        "{what} {n:?} was not declared by SQL in this session, so where its rows \
                         come from is unknown, and this session's results are masked"
                    ),
                ));
            }
        },
    };
    let source = used.as_deref().unwrap_or(lineage);
    let masked_tables: BTreeSet<String> = lineage
        .relations
        .iter()
        .chain(used.iter().flat_map(|u| u.relations.iter()))
        .filter(|(schema, name)| match catalog.relation(schema, name) {
            Some(CatalogRelation::Table(columns)) => {
                has_masked_column(rules, schema, name, &columns)
            }
            _ => false,
        })
        .map(|(schema, name)| format!("{schema}.{name}"))
        .collect();
    let touches_masked = !masked_tables.is_empty();
    if let Some((call, column)) = lineage.calls.iter().find_map(|call| {
        let masked = call
            .sources
            .iter()
            .find(|c| rule_for(rules, &c.schema, &c.table, &c.column).is_some())?;
        (!functions::trusted(call.schema.as_deref(), &call.name)).then_some((call, masked))
    }) {
        let name = match &call.schema {
            Some(schema) => format!("{schema}.{}", call.name),
            None => call.name.clone(),
        };
        return Err((
            RULE_MASK_UNKNOWN_LINEAGE,
            format!(
                "{name}() is given {}.{}.{}, which is masked, and masking cannot follow what \
                 that function does with it (only PostgreSQL's built-ins that compute a result \
                 are trusted with masked values)",
                column.schema, column.table, column.column
            ),
        ));
    }
    let unresolved = lineage.unresolved || used.as_ref().is_some_and(|u| u.unresolved);
    if unresolved && touches_masked {
        return Err((
            RULE_MASK_UNKNOWN_LINEAGE,
            format!(
                "part of the statement could not be traced to the columns it reads (a function \
                 of unknown result, a relation the catalog does not show), and it reads {}, \
                 whose masked columns could reach the results",
                masked_tables.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let result = match &source.outputs {
        Some(outputs) => {
            let mut columns = Vec::with_capacity(outputs.len());
            for output in outputs {
                columns.push(strategy(rules, &output.lineage, &output.name)?);
            }
            let rest = match &source.rest {
                Some(l) => Some(strategy(rules, l, "*")?),
                None => None,
            };
            let result = ResultColumns { columns, rest };
            if lineage.copy {
                if result
                    .columns
                    .iter()
                    .chain(result.rest.iter())
                    .any(Option::is_some)
                {
                    return Err((
                        RULE_MASK_COPY,
                        "COPY ... TO STDOUT of masked columns: COPY data is not masked by column, \
                         so it is denied; use SELECT, whose results are"
                            .to_owned(),
                    ));
                }
                None
            } else {
                Some(result)
            }
        }
        None => None,
    };
    let predicates = lineage
        .predicates
        .iter()
        .filter_map(|p| {
            let rule = rule_for(rules, &p.column.schema, &p.column.table, &p.column.column)?;
            Some(MaskedPredicate {
                column: format!("{}.{}.{}", p.column.schema, p.column.table, p.column.column),
                clause: p.clause.as_str().to_owned(),
                comparison: p.comparison.as_str().to_owned(),
                strategy: strategy_name(&rule.strategy).to_owned(),
            })
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(StatementPlan {
        result,
        predicates,
        touches_masked,
    })
}

/// Whether a rule masks any of the table's columns.
fn has_masked_column(rules: &MaskRules, schema: &str, table: &str, columns: &[String]) -> bool {
    columns
        .iter()
        .any(|c| rule_for(rules, schema, table, c).is_some())
}

/// The first column rule masking a stored column.
fn rule_for<'r>(
    rules: &'r MaskRules,
    schema: &str,
    table: &str,
    column: &str,
) -> Option<&'r ColumnRule> {
    rules
        .columns
        .iter()
        .find(|r| r.column.matches(Some(schema), Some(table), column))
}

/// The strategy a value of lineage `l` gets: its column's own for a plain reference to a
/// masked column; for a value computed from masked columns, their token when all of them
/// are tokenized (so computed tokens still join), NULL when all are nulled, else the marker.
fn strategy(rules: &MaskRules, l: &Lineage, output: &str) -> Result<Option<Strategy>, Refusal> {
    fn masked<'a>(rules: &'a MaskRules, c: &'a ColumnId) -> Option<(&'a ColumnId, &'a ColumnRule)> {
        rule_for(rules, &c.schema, &c.table, &c.column).map(|r| (c, r))
    }
    let revealed: Vec<(&ColumnId, &ColumnRule)> =
        l.sources.iter().filter_map(|c| masked(rules, c)).collect();
    let counted: Vec<(&ColumnId, &ColumnRule)> = l
        .counted
        .iter()
        .filter_map(|c| masked(rules, c))
        .filter(|(_, r)| r.counted == Counted::Mask)
        .collect();
    if let ([(_, rule)], true, []) = (revealed.as_slice(), l.plain, counted.as_slice()) {
        return Ok(Some(rule.strategy));
    }
    let all: Vec<_> = revealed.into_iter().chain(counted).collect();
    if all.is_empty() {
        return Ok(None);
    }
    if let Some((c, _)) = all.iter().find(|(_, r)| r.computed == Computed::Deny) {
        return Err((
            RULE_MASK_COMPUTED,
            format!(
                "result column {output:?} is computed from {}.{}.{}, which is masked, and its \
                 rule denies computed values",
                c.schema, c.table, c.column
            ),
        ));
    }
    let every = |s: Strategy| all.iter().all(|(_, r)| r.strategy == s);
    Ok(Some(if every(Strategy::Token) {
        Strategy::Token
    } else if every(Strategy::Null) {
        Strategy::Null
    } else {
        Strategy::Redact
    }))
}

fn strategy_name(s: &Strategy) -> &'static str {
    match s {
        Strategy::Redact => "redact",
        Strategy::KeepLast(_) => "keep_last",
        Strategy::EmailDomain => "email_domain",
        Strategy::Token => "token",
        Strategy::Null => "null",
    }
}

/// Whether a statement without lineage outputs certainly returns no rows.
fn rowless(statement: &SqlStatement, lineage: &StatementLineage) -> bool {
    if lineage.outputs.is_some() || lineage.uses.is_some() {
        return false;
    }
    matches!(
        statement.kind,
        StatementKind::Write
            | StatementKind::Transaction
            | StatementKind::SessionChange
            | StatementKind::Ddl
    ) || ROWLESS.contains(&statement.command.as_str())
}
