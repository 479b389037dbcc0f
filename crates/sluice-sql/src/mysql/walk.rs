//! Every table a MySQL statement names, every function it calls, its `?` parameters and its
//! UPDATE/DELETE without WHERE, found by visiting the whole tree so no clause is missed.
//!
//! Names of common table expressions in scope are not tables. Scoping follows MySQL: a CTE is
//! visible to the later CTEs of its WITH list (all of them, itself included, with RECURSIVE),
//! to the query body and to the queries nested in them; a non-recursive CTE's own body that
//! names it reads the table of that name.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Ident, ObjectName, Query, SetExpr, Statement, Value, ValueWithSpan, Visit, Visitor,
};

use super::names;

/// What the walk finds in one statement.
#[derive(Debug, Default)]
pub struct Found {
    /// Every table named, as `database.table`, once per mention.
    pub tables: Vec<String>,
    pub functions: Vec<String>,
    pub parameters: u32,
    pub unbounded_write: bool,
}

pub fn walk(statement: &Statement, database: Option<&str>) -> Found {
    let mut walker = Walker {
        database,
        scopes: Vec::new(),
        found: Found::default(),
    };
    // The walker never breaks.
    let _ = statement.visit(&mut walker);
    walker.found
}

/// The CTEs of one query's WITH, and how many of them are visible where the walk is.
struct Scope {
    names: Vec<String>,
    /// The CTE bodies, to recognise them when the walk enters one (compared by address only).
    bodies: Vec<*const Query>,
    recursive: bool,
    visible: usize,
}

impl Scope {
    fn of(query: &Query) -> Scope {
        let (names, bodies, recursive) = match &query.with {
            Some(with) => (
                with.cte_tables
                    .iter()
                    .map(|c| names::ident(&c.alias.name))
                    .collect(),
                with.cte_tables
                    .iter()
                    .map(|c| &*c.query as *const Query)
                    .collect(),
                with.recursive,
            ),
            None => (Vec::new(), Vec::new(), false),
        };
        Scope {
            names,
            bodies,
            recursive,
            visible: 0,
        }
    }

    fn body_index(&self, query: &Query) -> Option<usize> {
        self.bodies
            .iter()
            .position(|b| std::ptr::eq(*b, query as *const Query))
    }
}

struct Walker<'d> {
    database: Option<&'d str>,
    scopes: Vec<Scope>,
    found: Found,
}

impl Walker<'_> {
    fn is_cte(&self, name: &ObjectName) -> bool {
        let [part] = name.0.as_slice() else {
            return false;
        };
        let Some(ident) = part.as_ident() else {
            return false;
        };
        let name = names::ident(ident);
        self.scopes
            .iter()
            .any(|s| s.names[..s.visible.min(s.names.len())].contains(&name))
    }
}

impl Walker<'_> {
    /// MySQL's `TABLE t` (alone or in a UNION) reads `t`; the tree holds its name as text,
    /// not as a relation, so the walk finds it here.
    fn table_statements(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Table(t) => {
                let name: Vec<Ident> = match (&t.schema_name, &t.table_name) {
                    (Some(db), Some(table)) => vec![db.clone(), table.clone()],
                    (None, Some(table)) => vec![table.clone()],
                    _ => vec![],
                };
                let name = ObjectName::from(name);
                if !self.is_cte(&name) {
                    self.found.tables.push(names::table(&name, self.database));
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.table_statements(left);
                self.table_statements(right);
            }
            _ => {}
        }
    }
}

/// `FROM DUAL` names no table: MySQL's placeholder for a FROM with nothing in it.
fn is_dual(name: &ObjectName) -> bool {
    matches!(name.0.as_slice(), [part] if part.as_ident().is_some_and(|i| i.quote_style.is_none() && i.value.eq_ignore_ascii_case("dual")))
}

impl Visitor for Walker<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(scope) = self.scopes.last_mut() {
            if let Some(i) = scope.body_index(query) {
                scope.visible = if scope.recursive {
                    scope.names.len()
                } else {
                    i
                };
            }
        }
        self.scopes.push(Scope::of(query));
        self.table_statements(&query.body);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.scopes.pop();
        // After a CTE body, the next CTE or the query body: all visible until told otherwise.
        if let Some(scope) = self.scopes.last_mut() {
            if scope.body_index(query).is_some() {
                scope.visible = scope.names.len();
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        if !self.is_cte(relation) && !is_dual(relation) {
            self.found
                .tables
                .push(names::table(relation, self.database));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = expr {
            self.found.functions.push(names::function(&f.name));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_value(&mut self, value: &ValueWithSpan) -> ControlFlow<()> {
        if matches!(value.value, Value::Placeholder(_)) {
            self.found.parameters += 1;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        match statement {
            Statement::Update(u) if u.selection.is_none() => self.found.unbounded_write = true,
            Statement::Delete(d) if d.selection.is_none() => self.found.unbounded_write = true,
            Statement::Truncate(_) => self.found.unbounded_write = true,
            Statement::Call(f) => self.found.functions.push(names::function(&f.name)),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}
