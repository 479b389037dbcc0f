//! What sort of statement a MySQL parse tree is, its command, and the tables it acts on other
//! than by reading. A statement not listed here is `procedural`: its effect is not known to
//! the gateway, and policies deny procedural statements unless they allow them.

use sqlparser::ast::{
    FromTable, ObjectName, ObjectType, Statement, TableFactor, TableObject, TableWithJoins,
};

use crate::StatementKind;

pub struct Classified<'a> {
    pub kind: StatementKind,
    pub command: String,
    /// Tables written, created, altered, dropped, renamed or truncated.
    pub targets: Vec<&'a ObjectName>,
}

pub fn classify(statement: &Statement) -> Classified<'_> {
    use StatementKind::*;
    let (kind, command, targets): (StatementKind, String, Vec<&ObjectName>) = match statement {
        Statement::Query(_) => (Read, "SELECT".into(), vec![]),
        Statement::Insert(i) => (
            Write,
            if i.replace_into { "REPLACE" } else { "INSERT" }.into(),
            match &i.table {
                TableObject::TableName(name) => vec![name],
                _ => vec![],
            },
        ),
        Statement::Update(u) => (Write, "UPDATE".into(), tables(&u.table)),
        Statement::Delete(d) => {
            // `DELETE t1 FROM t1 JOIN t2` deletes from t1; `DELETE FROM t` from t.
            let targets = if d.tables.is_empty() {
                match &d.from {
                    FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => {
                        f.iter().flat_map(tables).collect()
                    }
                }
            } else {
                d.tables.iter().collect()
            };
            (Write, "DELETE".into(), targets)
        }
        Statement::Truncate(t) => (
            Write,
            "TRUNCATE".into(),
            t.table_names.iter().map(|t| &t.name).collect(),
        ),
        Statement::CreateTable(c) => (Ddl, "CREATE TABLE".into(), vec![&c.name]),
        Statement::CreateView(c) => (Ddl, "CREATE VIEW".into(), vec![&c.name]),
        Statement::CreateIndex(c) => (Ddl, "CREATE INDEX".into(), vec![&c.table_name]),
        Statement::AlterTable(a) => (Ddl, "ALTER TABLE".into(), vec![&a.name]),
        Statement::Drop {
            object_type,
            names,
            table,
            ..
        } => {
            let targets = match object_type {
                ObjectType::Table | ObjectType::View => names.iter().collect(),
                _ => table.iter().collect(),
            };
            (Ddl, format!("DROP {object_type}"), targets)
        }
        Statement::RenameTable(r) => (
            Ddl,
            "RENAME TABLE".into(),
            r.iter().flat_map(|r| [&r.old_name, &r.new_name]).collect(),
        ),
        Statement::CreateDatabase { .. }
        | Statement::CreateSchema { .. }
        | Statement::CreateFunction(_)
        | Statement::CreateProcedure { .. }
        | Statement::CreateTrigger(_)
        | Statement::CreateRole(_)
        | Statement::CreateUser(_)
        | Statement::AlterUser(_)
        | Statement::AlterView(_)
        | Statement::AlterIndex { .. }
        | Statement::AlterSchema(_)
        | Statement::AlterRole { .. }
        | Statement::DropFunction(_)
        | Statement::DropProcedure { .. }
        | Statement::DropTrigger(_)
        | Statement::Grant(_)
        | Statement::GrantRole(_)
        | Statement::Revoke(_)
        | Statement::RevokeRole(_)
        | Statement::Comment { .. } => (Ddl, leading_words(statement, 2), vec![]),
        Statement::Set(_) => (SessionChange, "SET".into(), vec![]),
        Statement::Use(_) => (SessionChange, "USE".into(), vec![]),
        Statement::StartTransaction { .. } => (Transaction, leading_words(statement, 1), vec![]),
        Statement::Commit { .. } => (Transaction, "COMMIT".into(), vec![]),
        Statement::Rollback { .. } => (Transaction, "ROLLBACK".into(), vec![]),
        Statement::Savepoint { .. } => (Transaction, "SAVEPOINT".into(), vec![]),
        Statement::ReleaseSavepoint { .. } => (Transaction, "RELEASE".into(), vec![]),
        // EXPLAIN ANALYZE runs the statement it explains.
        Statement::Explain {
            analyze: true,
            statement: inner,
            ..
        } => {
            let inner = classify(inner);
            (
                inner.kind,
                format!("EXPLAIN ANALYZE {}", inner.command),
                inner.targets,
            )
        }
        Statement::Explain { .. } | Statement::ExplainTable { .. } => {
            (Utility, leading_words(statement, 1), vec![])
        }
        Statement::ShowFunctions { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowCreate { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowProcessList { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowCharset(_)
        | Statement::ShowObjects(_)
        | Statement::ShowTables { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowCollation { .. } => (Utility, "SHOW".into(), vec![]),
        Statement::LockTables { .. }
        | Statement::UnlockTables
        | Statement::Flush { .. }
        | Statement::Kill { .. }
        | Statement::Analyze(_)
        | Statement::OptimizeTable { .. }
        | Statement::Deallocate { .. } => (Utility, leading_words(statement, 1), vec![]),
        Statement::Call(_) => (Procedural, "CALL".into(), vec![]),
        Statement::Execute { .. } => (Procedural, "EXECUTE".into(), vec![]),
        Statement::Prepare { .. } => (Procedural, "PREPARE".into(), vec![]),
        _ => (Procedural, leading_words(statement, 1), vec![]),
    };
    Classified {
        kind,
        command,
        targets,
    }
}

/// The tables of a FROM item (joined ones included), for multi-table UPDATE and DELETE, where
/// any of them may be written.
fn tables(from: &TableWithJoins) -> Vec<&ObjectName> {
    std::iter::once(&from.relation)
        .chain(from.joins.iter().map(|j| &j.relation))
        .filter_map(|f| match f {
            TableFactor::Table { name, .. } => Some(name),
            _ => None,
        })
        .collect()
}

/// The first `n` keywords of the statement as the parser prints it, for commands that have no
/// name of their own here.
fn leading_words(statement: &Statement, n: usize) -> String {
    statement
        .to_string()
        .split_whitespace()
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}
