//! The session setting a statement changes. Only top-level statements count: a `SET` inside
//! `CREATE FUNCTION` or `ALTER ROLE` configures something else, not this session.

use pg_query::protobuf::a_const::Val;
use pg_query::protobuf::{DiscardMode, VariableSetKind};
use pg_query::NodeEnum;
use sluice_decision::SessionChange;

use crate::names::quote;

/// Settings whose value PostgreSQL stores as a list of quoted identifiers (GUC_LIST_QUOTE), so
/// `SET search_path TO a, "B"` is `a, "B"`, and the one string `'a, b'` is the single schema
/// `"a, b"`.
const IDENTIFIER_LISTS: &[&str] = &[
    "search_path",
    "temp_tablespaces",
    "session_preload_libraries",
    "shared_preload_libraries",
    "local_preload_libraries",
];

pub fn change(node: &NodeEnum) -> Option<SessionChange> {
    match node {
        NodeEnum::VariableSetStmt(v) => {
            let kind = VariableSetKind::try_from(v.kind).ok();
            if kind == Some(VariableSetKind::VarResetAll) {
                return Some(reset_all());
            }
            // Setting names are case-insensitive: `SET "SEARCH_PATH"` sets search_path.
            let setting = v.name.to_ascii_lowercase();
            let value = match kind {
                Some(VariableSetKind::VarSetValue | VariableSetKind::VarSetCurrent) => {
                    value(&setting, &v.args)
                }
                _ => None,
            };
            Some(SessionChange { setting, value })
        }
        // DISCARD ALL includes RESET ALL and SET SESSION AUTHORIZATION DEFAULT.
        NodeEnum::DiscardStmt(d) if d.target == DiscardMode::DiscardAll as i32 => Some(reset_all()),
        _ => None,
    }
}

fn reset_all() -> SessionChange {
    SessionChange {
        setting: "all".to_owned(),
        value: None,
    }
}

/// The value as PostgreSQL would store it; `None` when it has no constant (which only `FROM
/// CURRENT` lacks).
fn value(setting: &str, args: &[pg_query::protobuf::Node]) -> Option<String> {
    let quoted = IDENTIFIER_LISTS.contains(&setting);
    let parts: Vec<String> = args
        .iter()
        .filter_map(|a| constant(a.node.as_ref()?))
        .map(|(text, is_string)| {
            if quoted && is_string {
                quote(&text).into_owned()
            } else {
                text
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// A constant's text and whether it is a string (numbers are never quoted). A typed constant
/// (`SET TIME ZONE INTERVAL '+1' HOUR`) gives its literal.
fn constant(node: &NodeEnum) -> Option<(String, bool)> {
    match node {
        NodeEnum::AConst(c) => Some(match c.val.as_ref()? {
            Val::Sval(s) => (s.sval.clone(), true),
            Val::Ival(i) => (i.ival.to_string(), false),
            Val::Fval(f) => (f.fval.clone(), false),
            Val::Boolval(b) => (b.boolval.to_string(), false),
            Val::Bsval(b) => (b.bsval.clone(), false),
        }),
        NodeEnum::TypeCast(t) => constant(t.arg.as_ref()?.node.as_ref()?),
        _ => None,
    }
}
