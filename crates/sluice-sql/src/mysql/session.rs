//! The session setting a MySQL statement changes.
//!
//! - `USE db` is the setting `database`, its value the database as the facts spell it.
//! - `SET x = v`, `SET SESSION x = v`, `SET @@x`, `SET @@session.x` are the setting `x`.
//! - `SET GLOBAL x = v`, `SET @@global.x` (and PERSIST, where the parser reads it) are
//!   `global.x`: they change the server for every session, so a policy denies them by that
//!   prefix.
//! - `SET @v = ...` (a user variable) is the setting `@v`.
//! - `SET NAMES cs` is `names`; `SET TRANSACTION ...` is `transaction`; `SET ROLE` is `role`;
//!   `SET TIME ZONE` is `time_zone`.
//!
//! A `SET` of several settings at once is refused: the facts hold one change per statement,
//! and naming only one of them would hide the others.

use sqlparser::ast::{ContextModifier, Expr, ObjectName, Set, Statement, Use, Value};

use super::names;
use crate::{ParseError, SessionChange, SqlError};

pub fn change(statement: &Statement) -> Result<Option<SessionChange>, SqlError> {
    let change = match statement {
        Statement::Use(u) => use_database(u)?,
        Statement::Set(set) => set_change(set)?,
        _ => return Ok(None),
    };
    Ok(Some(change))
}

fn use_database(u: &Use) -> Result<SessionChange, SqlError> {
    let name = match u {
        Use::Object(n) | Use::Database(n) | Use::Schema(n) | Use::Catalog(n) => n,
        _ => return Err(refused("this USE is not MySQL's")),
    };
    let [part] = name.0.as_slice() else {
        return Err(refused("USE takes one database name"));
    };
    let database = part
        .as_ident()
        .map(names::ident)
        .ok_or_else(|| refused("USE takes a database name"))?;
    Ok(SessionChange {
        setting: "database".to_owned(),
        value: Some(database),
    })
}

fn set_change(set: &Set) -> Result<SessionChange, SqlError> {
    let simple = |setting: &str, value: Option<String>| SessionChange {
        setting: setting.to_owned(),
        value,
    };
    Ok(match set {
        Set::SingleAssignment {
            scope,
            variable,
            values,
            ..
        } => {
            let [value] = values.as_slice() else {
                return Err(refused("SET of several values at once"));
            };
            assignment(*scope, variable, value)
        }
        Set::MultipleAssignments { assignments } => match assignments.as_slice() {
            [a] => assignment(a.scope, &a.name, &a.value),
            _ => {
                return Err(refused(
                    "SET of several settings at once; send one SET each",
                ))
            }
        },
        Set::SetNames { charset_name, .. } => simple("names", Some(names::ident(charset_name))),
        Set::SetNamesDefault {} => simple("names", None),
        Set::SetTransaction { modes, .. } => simple(
            "transaction",
            Some(
                modes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ),
        Set::SetRole { role_name, .. } => simple("role", role_name.as_ref().map(names::ident)),
        Set::SetTimeZone { value, .. } => simple("time_zone", value_of(value)),
        _ => return Err(refused("this SET is not MySQL's")),
    })
}

/// One `name = value` of a SET.
fn assignment(
    scope: Option<ContextModifier>,
    variable: &ObjectName,
    value: &Expr,
) -> SessionChange {
    let written = variable.to_string().to_lowercase();
    let (global, name) = match written.split_once('.') {
        Some(("@@global" | "@@persist" | "@@persist_only", rest)) => (true, rest.to_owned()),
        Some(("@@session" | "@@local", rest)) => (false, rest.to_owned()),
        _ => match written.strip_prefix("@@") {
            Some(rest) => (false, rest.to_owned()),
            None => (false, written.clone()),
        },
    };
    let global = global || scope == Some(ContextModifier::Global);
    SessionChange {
        setting: if global {
            format!("global.{name}")
        } else {
            name
        },
        value: value_of(value),
    }
}

/// The value as written, a string without its quotes; `None` for DEFAULT.
fn value_of(value: &Expr) -> Option<String> {
    match value {
        Expr::Identifier(i)
            if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default") =>
        {
            None
        }
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            other => Some(other.to_string()),
        },
        other => Some(other.to_string()),
    }
}

fn refused(message: &str) -> SqlError {
    SqlError::Rejected(ParseError {
        message: message.to_owned(),
        position: None,
    })
}
