//! Facts that the parser's own summaries do not give and that need the tree.

use pg_query::protobuf::RangeVar;
use pg_query::{NodeEnum, NodeRef, ParseResult};

use crate::SessionChange;

#[derive(Default)]
pub struct TreeFacts {
    /// Tables created by `SELECT ... INTO` (the parser lists only what they read).
    pub created: Vec<String>,
    pub unbounded_write: bool,
    pub session_change: Option<SessionChange>,
    /// The relation of a `COPY ... TO`: the parser files it under modified tables, but it is read.
    pub copied_out: Option<String>,
}

pub fn facts(parsed: &ParseResult) -> TreeFacts {
    let mut facts = TreeFacts::default();
    for (node, _depth, _context, _) in parsed.protobuf.nodes() {
        match node {
            NodeRef::SelectStmt(s) => {
                if let Some(rel) = s.into_clause.as_ref().and_then(|i| i.rel.as_ref()) {
                    facts.created.push(qualified(rel));
                }
            }
            NodeRef::CopyStmt(c) if !c.is_from => {
                facts.copied_out = c.relation.as_ref().map(qualified);
            }
            NodeRef::UpdateStmt(u) => facts.unbounded_write |= u.where_clause.is_none(),
            NodeRef::DeleteStmt(d) => facts.unbounded_write |= d.where_clause.is_none(),
            NodeRef::VariableSetStmt(v) => {
                facts.session_change = Some(SessionChange {
                    setting: v.name.to_ascii_lowercase(),
                    value: setting_value(&v.args),
                });
            }
            _ => {}
        }
    }
    facts
}

/// The value of `SET name = value[, ...]` as text; `None` when there is none (RESET, DEFAULT).
fn setting_value(args: &[pg_query::protobuf::Node]) -> Option<String> {
    let parts: Vec<String> = args
        .iter()
        .filter_map(|a| match a.node.as_ref()? {
            NodeEnum::AConst(c) => match c.val.as_ref()? {
                pg_query::protobuf::a_const::Val::Sval(s) => Some(s.sval.clone()),
                pg_query::protobuf::a_const::Val::Ival(i) => Some(i.ival.to_string()),
                pg_query::protobuf::a_const::Val::Fval(f) => Some(f.fval.clone()),
                pg_query::protobuf::a_const::Val::Boolval(b) => Some(b.boolval.to_string()),
                pg_query::protobuf::a_const::Val::Bsval(b) => Some(b.bsval.clone()),
            },
            _ => None,
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn qualified(rel: &RangeVar) -> String {
    if rel.schemaname.is_empty() {
        rel.relname.clone()
    } else {
        format!("{}.{}", rel.schemaname, rel.relname)
    }
}
