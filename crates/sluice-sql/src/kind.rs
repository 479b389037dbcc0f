//! What sort of statement a parse tree's top node is.

use pg_query::NodeEnum;
use sluice_decision::StatementKind;

/// The kind and command name of a top-level statement node. EXPLAIN and PREPARE take the kind
/// of the statement they wrap: `EXPLAIN ANALYZE DELETE` deletes (and so, conservatively, does
/// a plain `EXPLAIN DELETE`, which does not run it).
///
/// `name` is the node's type name (`SelectStmt`, ...).
pub fn classify(node: &NodeEnum, name: &str) -> (StatementKind, String) {
    let command = match node {
        NodeEnum::ExplainStmt(_) => "EXPLAIN".to_owned(),
        NodeEnum::PrepareStmt(_) => "PREPARE".to_owned(),
        NodeEnum::DeclareCursorStmt(_) => "DECLARE CURSOR".to_owned(),
        NodeEnum::VariableSetStmt(v) => {
            use pg_query::protobuf::VariableSetKind as V;
            match v.kind() {
                V::VarReset | V::VarResetAll => "RESET",
                _ => "SET",
            }
            .to_owned()
        }
        NodeEnum::TransactionStmt(t) => transaction_command(t.kind()).to_owned(),
        NodeEnum::GrantStmt(g) if !g.is_grant => "REVOKE".to_owned(),
        _ => match name {
            // Node names that do not spell PostgreSQL's command tag.
            "VariableShowStmt" => "SHOW".to_owned(),
            "CreateStmt" => "CREATE TABLE".to_owned(),
            "ViewStmt" => "CREATE VIEW".to_owned(),
            "IndexStmt" => "CREATE INDEX".to_owned(),
            "CreateTrigStmt" => "CREATE TRIGGER".to_owned(),
            "RuleStmt" => "CREATE RULE".to_owned(),
            "CreateSeqStmt" => "CREATE SEQUENCE".to_owned(),
            "AlterSeqStmt" => "ALTER SEQUENCE".to_owned(),
            "CreatedbStmt" => "CREATE DATABASE".to_owned(),
            "DropdbStmt" => "DROP DATABASE".to_owned(),
            "CheckPointStmt" => "CHECKPOINT".to_owned(),
            "ClosePortalStmt" => "CLOSE".to_owned(),
            "CompositeTypeStmt" | "CreateEnumStmt" | "CreateRangeStmt" => "CREATE TYPE".to_owned(),
            _ => command_of(name),
        },
    };
    let kind = node_kind(node).unwrap_or_else(|| {
        let ddl = [
            "Create", "Alter", "Drop", "Grant", "Revoke", "Comment", "Rename", "Reassign", "Sec",
            "Import", "Refresh",
        ];
        // CREATE INDEX / RULE / VIEW / TYPE ... AS / AGGREGATE, OPERATOR, TYPE.
        let ddl_nodes = [
            "IndexStmt",
            "RuleStmt",
            "ViewStmt",
            "CompositeTypeStmt",
            "DefineStmt",
        ];
        if ddl.iter().any(|p| name.starts_with(p)) || ddl_nodes.contains(&name) {
            StatementKind::Ddl
        } else {
            StatementKind::Utility
        }
    });
    (kind, command)
}

/// The kind of the nodes recognised by type; `None` for the rest, which the caller classifies
/// by name.
fn node_kind(node: &NodeEnum) -> Option<StatementKind> {
    Some(match node {
        NodeEnum::SelectStmt(s) if s.into_clause.is_some() => StatementKind::Ddl,
        NodeEnum::SelectStmt(_) => StatementKind::Read,
        NodeEnum::CreateTableAsStmt(_) => StatementKind::Ddl,
        NodeEnum::InsertStmt(_)
        | NodeEnum::UpdateStmt(_)
        | NodeEnum::DeleteStmt(_)
        | NodeEnum::MergeStmt(_)
        | NodeEnum::TruncateStmt(_) => StatementKind::Write,
        // A server-side file or program: what it reads or writes is outside the database.
        NodeEnum::CopyStmt(c) if c.is_program || !c.filename.is_empty() => {
            StatementKind::Procedural
        }
        NodeEnum::CopyStmt(c) if c.is_from => StatementKind::Write,
        NodeEnum::CopyStmt(_) => StatementKind::Read,
        // LOAD runs a shared library's initialisation code in the server.
        NodeEnum::DoStmt(_)
        | NodeEnum::CallStmt(_)
        | NodeEnum::ExecuteStmt(_)
        | NodeEnum::LoadStmt(_) => StatementKind::Procedural,
        NodeEnum::VariableSetStmt(_) => StatementKind::SessionChange,
        NodeEnum::TransactionStmt(_) => StatementKind::Transaction,
        NodeEnum::ExplainStmt(e) => wrapped(e.query.as_deref()),
        NodeEnum::PrepareStmt(p) => wrapped(p.query.as_deref()),
        NodeEnum::DeclareCursorStmt(d) => wrapped(d.query.as_deref()),
        _ => return None,
    })
}

/// The statement inside EXPLAIN, PREPARE or DECLARE is one the grammar allows there (SELECT,
/// INSERT, UPDATE, DELETE, MERGE, EXECUTE, CREATE TABLE AS), all recognised by type; anything
/// else stays opaque.
fn wrapped(inner: Option<&pg_query::protobuf::Node>) -> StatementKind {
    inner
        .and_then(|n| n.node.as_ref())
        .and_then(node_kind)
        .unwrap_or(StatementKind::Procedural)
}

/// BEGIN, COMMIT, ... as the server's command tags name them.
fn transaction_command(kind: pg_query::protobuf::TransactionStmtKind) -> &'static str {
    use pg_query::protobuf::TransactionStmtKind as T;
    match kind {
        T::TransStmtBegin => "BEGIN",
        T::TransStmtStart => "START TRANSACTION",
        T::TransStmtCommit => "COMMIT",
        T::TransStmtRollback => "ROLLBACK",
        T::TransStmtSavepoint => "SAVEPOINT",
        T::TransStmtRelease => "RELEASE",
        T::TransStmtRollbackTo => "ROLLBACK",
        T::TransStmtPrepare => "PREPARE TRANSACTION",
        T::TransStmtCommitPrepared => "COMMIT PREPARED",
        T::TransStmtRollbackPrepared => "ROLLBACK PREPARED",
        T::Undefined => "TRANSACTION",
    }
}

/// `CreateTableAsStmt` → `CREATE TABLE AS`.
fn command_of(name: &str) -> String {
    let base = name.strip_suffix("Stmt").unwrap_or(name);
    let mut out = String::with_capacity(base.len() + 4);
    for (i, c) in base.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}
