//! The input document as a regorus [`Value`], built directly from the facts.
//!
//! Going through JSON text costs more than the evaluation budget of a whole decision, so the
//! tree is built in place. Most of it changes rarely (who, where, which session), so each
//! part is kept from the previous decision on the same thread and reused when its facts
//! compare equal: comparing a few strings is cheaper than allocating them again, and the
//! comparison is exact, so a reused part can never belong to someone else.

use std::collections::BTreeMap;

use regorus::Value;

use crate::{
    GrantFacts, IdentityFacts, Input, Request, SessionFacts, SqlStatement, StatementKind,
    TargetFacts, TimeFacts,
};

/// Declares the strings the document uses as prebuilt values, so that building a document
/// clones reference-counted strings instead of allocating them.
macro_rules! names {
    ($($field:ident = $text:literal),* $(,)?) => {
        struct Names { $($field: Value,)* }
        impl Names {
            fn new() -> Self {
                Self { $($field: Value::from($text),)* }
            }
        }
    };
}

names! {
    identity = "identity", target = "target", session = "session", request = "request",
    time = "time", grants = "grants", name = "name", kind = "kind", groups = "groups",
    attributes = "attributes", tags = "tags", database = "database", id = "id",
    client_address = "client_address", application_name = "application_name",
    started_at = "started_at", protocol = "protocol", search_path = "search_path",
    settings = "settings",
    now = "now", timezone = "timezone", weekday = "weekday", hour = "hour",
    action = "action", connect = "connect", statement = "statement", index = "index",
    count = "count", parameters = "parameters", text = "text", command = "command",
    tables_read = "tables_read", tables_written = "tables_written", functions = "functions",
    unbounded_write = "unbounded_write", session_change = "session_change",
    parameter_count = "parameter_count", setting = "setting", value = "value",
    scope = "scope", reason = "reason", expires_at = "expires_at", approvers = "approvers",
    read = "read", write = "write", ddl = "ddl", procedural = "procedural",
    transaction = "transaction", utility = "utility", access = "access",
    duration_seconds = "duration_seconds",
    masked_columns_in_predicates = "masked_columns_in_predicates", column = "column",
    clause = "clause", comparison = "comparison", strategy = "strategy",
}

/// The last part built for each kind of facts, with the facts it was built from.
struct Reused<F> {
    last: Option<(F, Value)>,
}

impl<F: PartialEq + Clone> Reused<F> {
    const fn new() -> Self {
        Self { last: None }
    }

    fn get(&mut self, facts: &F, build: impl FnOnce(&F) -> Value) -> Value {
        if let Some((seen, value)) = &self.last {
            if seen == facts {
                return value.clone();
            }
        }
        let value = build(facts);
        self.last = Some((facts.clone(), value.clone()));
        value
    }
}

/// Builds input documents; one per thread, reused across decisions.
pub(crate) struct InputBuilder {
    names: Names,
    identity: Reused<IdentityFacts>,
    target: Reused<TargetFacts>,
    session: Reused<SessionFacts>,
    time: Reused<TimeFacts>,
    grants: Reused<Vec<GrantFacts>>,
}

impl Default for InputBuilder {
    fn default() -> Self {
        Self {
            names: Names::new(),
            identity: Reused::new(),
            target: Reused::new(),
            session: Reused::new(),
            time: Reused::new(),
            grants: Reused::new(),
        }
    }
}

impl InputBuilder {
    /// The same document `serde_json::to_value(input)` describes.
    pub(crate) fn build(&mut self, input: &Input<'_>) -> Value {
        let n = &self.names;
        let identity = self.identity.get(input.identity, |f| identity(n, f));
        let target = self.target.get(input.target, |f| target(n, f));
        let session = self.session.get(input.session, |f| session(n, f));
        let time = self.time.get(input.time, |f| time(n, f));
        let grants = if input.grants.is_empty() {
            Value::from(Vec::new())
        } else {
            let slice = input.grants;
            // Compared as a slice so that the common case (same grants) does not allocate.
            match &self.grants.last {
                Some((seen, value)) if seen.as_slice() == slice => value.clone(),
                _ => self.grants.get(&slice.to_vec(), |f| grants(n, f)),
            }
        };
        object([
            (&n.grants, grants),
            (&n.identity, identity),
            (&n.request, request(n, &input.request)),
            (&n.session, session),
            (&n.target, target),
            (&n.time, time),
        ])
    }
}

/// Callers list entries in key order, which turns the map's sort into one pass.
fn object<const N: usize>(entries: [(&Value, Value); N]) -> Value {
    let map: BTreeMap<Value, Value> = entries
        .into_iter()
        .map(|(key, value)| (key.clone(), value))
        .collect();
    Value::from(map)
}

fn string(s: &str) -> Value {
    Value::from(s)
}

fn strings(items: &[String]) -> Value {
    Value::from(items.iter().map(|s| string(s)).collect::<Vec<_>>())
}

fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::from(
        map.iter()
            .map(|(k, v)| (string(k), string(v)))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn optional(s: Option<&str>) -> Value {
    s.map_or(Value::Null, string)
}

fn identity(n: &Names, f: &IdentityFacts) -> Value {
    object([
        (&n.attributes, string_map(&f.attributes)),
        (&n.groups, strings(&f.groups)),
        (&n.kind, string(&f.kind)),
        (&n.name, string(&f.name)),
    ])
}

fn target(n: &Names, f: &TargetFacts) -> Value {
    object([
        (&n.database, string(&f.database)),
        (&n.kind, string(&f.kind)),
        (&n.name, string(&f.name)),
        (&n.tags, string_map(&f.tags)),
    ])
}

fn session(n: &Names, f: &SessionFacts) -> Value {
    object([
        (&n.application_name, optional(f.application_name.as_deref())),
        (&n.client_address, string(&f.client_address)),
        (&n.id, string(&f.id)),
        (&n.protocol, string(&f.protocol)),
        (&n.search_path, strings(&f.search_path)),
        (&n.settings, string_map(&f.settings)),
        (&n.started_at, string(&f.started_at)),
    ])
}

fn time(n: &Names, f: &TimeFacts) -> Value {
    object([
        (&n.hour, Value::from(u32::from(f.hour))),
        (&n.now, string(&f.now)),
        (&n.timezone, string(&f.timezone)),
        (&n.weekday, string(&f.weekday)),
    ])
}

fn grants(n: &Names, grants: &[GrantFacts]) -> Value {
    Value::from(
        grants
            .iter()
            .map(|g| {
                object([
                    (&n.approvers, strings(&g.approvers)),
                    (&n.expires_at, string(&g.expires_at)),
                    (&n.id, string(&g.id)),
                    (&n.reason, string(&g.reason)),
                    (&n.scope, string(&g.scope)),
                    (&n.target, string(&g.target)),
                ])
            })
            .collect::<Vec<_>>(),
    )
}

fn request(n: &Names, request: &Request<'_>) -> Value {
    match *request {
        Request::Connect => object([(&n.action, n.connect.clone())]),
        Request::Statement {
            statement,
            index,
            count,
            parameters,
        } => object([
            (&n.action, n.statement.clone()),
            (&n.count, Value::from(count)),
            (&n.index, Value::from(index)),
            (
                &n.parameters,
                parameters.map_or(Value::Null, |params| {
                    Value::from(
                        params
                            .iter()
                            .map(|p| optional(p.as_deref()))
                            .collect::<Vec<_>>(),
                    )
                }),
            ),
            (&n.statement, sql_statement(n, statement)),
        ]),
        Request::Access {
            scope,
            duration_seconds,
            reason,
        } => object([
            (&n.action, n.access.clone()),
            (&n.duration_seconds, Value::from(duration_seconds)),
            (&n.reason, string(reason)),
            (&n.scope, string(scope)),
        ]),
    }
}

fn sql_statement(n: &Names, s: &SqlStatement) -> Value {
    let kind = match s.kind {
        StatementKind::Read => &n.read,
        StatementKind::Write => &n.write,
        StatementKind::Ddl => &n.ddl,
        StatementKind::Procedural => &n.procedural,
        StatementKind::SessionChange => &n.session_change,
        StatementKind::Transaction => &n.transaction,
        StatementKind::Utility => &n.utility,
    };
    let change = s.session_change.as_ref().map_or(Value::Null, |c| {
        object([
            (&n.setting, string(&c.setting)),
            (&n.value, optional(c.value.as_deref())),
        ])
    });
    let predicates = Value::from(
        s.masked_columns_in_predicates
            .iter()
            .map(|p| {
                object([
                    (&n.clause, string(&p.clause)),
                    (&n.column, string(&p.column)),
                    (&n.comparison, string(&p.comparison)),
                    (&n.strategy, string(&p.strategy)),
                ])
            })
            .collect::<Vec<_>>(),
    );
    object([
        (&n.command, string(&s.command)),
        (&n.functions, strings(&s.functions)),
        (&n.kind, kind.clone()),
        (&n.masked_columns_in_predicates, predicates),
        (&n.parameter_count, Value::from(s.parameter_count)),
        (&n.session_change, change),
        (&n.tables_read, strings(&s.tables_read)),
        (&n.tables_written, strings(&s.tables_written)),
        (&n.text, string(&s.text)),
        (&n.unbounded_write, Value::from(s.unbounded_write)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::SessionChange;

    struct Facts {
        identity: IdentityFacts,
        target: TargetFacts,
        session: SessionFacts,
        time: TimeFacts,
        grants: Vec<GrantFacts>,
        statement: SqlStatement,
    }

    fn facts() -> Facts {
        Facts {
            identity: IdentityFacts {
                name: "alice".into(),
                kind: "human".into(),
                groups: vec!["analysts".into()],
                attributes: [("team".to_string(), "data".to_string())].into(),
            },
            target: TargetFacts {
                name: "orders".into(),
                kind: "postgres".into(),
                tags: [("env".to_string(), "production".to_string())].into(),
                database: "orders".into(),
            },
            session: SessionFacts {
                id: "s1".into(),
                client_address: "10.0.0.1".into(),
                application_name: None,
                started_at: "2024-05-01T10:00:00Z".into(),
                protocol: "postgres".into(),
                search_path: vec!["$user".into(), "public".into()],
                settings: [("datestyle".to_string(), "ISO".to_string())].into(),
            },
            time: TimeFacts {
                now: "2024-05-01T12:00:00+02:00".into(),
                timezone: "Europe/Berlin".into(),
                weekday: "wednesday".into(),
                hour: 12,
            },
            grants: vec![GrantFacts {
                id: "g1".into(),
                target: "orders".into(),
                scope: "write".into(),
                reason: "incident".into(),
                expires_at: "2024-05-01T13:00:00Z".into(),
                approvers: vec!["bob".into()],
            }],
            statement: SqlStatement {
                text: "SET role admin".into(),
                kind: StatementKind::SessionChange,
                command: "SET".into(),
                tables_read: vec![],
                tables_written: vec!["public.t".into()],
                functions: vec!["now".into()],
                unbounded_write: false,
                session_change: Some(SessionChange {
                    setting: "role".into(),
                    value: Some("admin".into()),
                }),
                parameter_count: 2,
                masked_columns_in_predicates: vec![crate::facts::MaskedPredicate {
                    column: "public.customers.ssn".into(),
                    clause: "where".into(),
                    comparison: "equality".into(),
                    strategy: "redact".into(),
                }],
            },
        }
    }

    fn same_as_json(input: &Input<'_>, builder: &mut InputBuilder) {
        let json = serde_json::to_string(input).unwrap();
        let expected = Value::from_json_str(&json).unwrap();
        assert_eq!(builder.build(input), expected, "{json}");
    }

    #[test]
    fn matches_the_serde_document() {
        let f = facts();
        let params = [Some("1".to_string()), None];
        let mut builder = InputBuilder::default();
        for request in [
            Request::Connect,
            Request::Statement {
                statement: &f.statement,
                index: 1,
                count: 3,
                parameters: None,
            },
            Request::Statement {
                statement: &f.statement,
                index: 0,
                count: 1,
                parameters: Some(&params),
            },
        ] {
            let input = Input {
                identity: &f.identity,
                target: &f.target,
                session: &f.session,
                request,
                time: &f.time,
                grants: &f.grants,
            };
            same_as_json(&input, &mut builder);
        }
    }

    #[test]
    fn reused_parts_follow_changed_facts() {
        let mut f = facts();
        let mut builder = InputBuilder::default();
        let input = |f: &Facts| {
            let json = serde_json::to_string(&Input {
                identity: &f.identity,
                target: &f.target,
                session: &f.session,
                request: Request::Connect,
                time: &f.time,
                grants: &f.grants,
            })
            .unwrap();
            Value::from_json_str(&json).unwrap()
        };
        let build = |f: &Facts, b: &mut InputBuilder| {
            b.build(&Input {
                identity: &f.identity,
                target: &f.target,
                session: &f.session,
                request: Request::Connect,
                time: &f.time,
                grants: &f.grants,
            })
        };
        assert_eq!(build(&f, &mut builder), input(&f));
        f.identity.name = "mallory".into();
        f.session.search_path = vec!["evil".into()];
        f.grants.clear();
        f.time.hour = 13;
        assert_eq!(build(&f, &mut builder), input(&f));
        f.grants = facts().grants;
        assert_eq!(build(&f, &mut builder), input(&f));
    }
}
