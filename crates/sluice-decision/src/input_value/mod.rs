//! The input document as a regorus [`Value`], built directly from the facts.
//!
//! Going through JSON text costs more than the evaluation budget of a whole decision, so the
//! tree is built in place. Most of it changes rarely (who, where, which session), so each
//! part is kept from the previous decision on the same thread and reused when its facts
//! compare equal: comparing a few strings is cheaper than allocating them again, and the
//! comparison is exact, so a reused part can never belong to someone else.

mod kinds;

use std::collections::BTreeMap;

use regorus::Value;

use crate::{
    GrantFacts, IdentityFacts, Input, Request, SessionFacts, SessionSection, SqlDialect,
    SqlStatement, StatementKind, TargetFacts, TimeFacts, SCHEMA_VERSION,
};

/// Declares the strings the document uses (and its schema version) as prebuilt values, so
/// that building a document clones reference-counted values instead of allocating them.
macro_rules! names {
    ($($field:ident = $text:expr),* $(,)?) => {
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
    schema_version = "schema_version", version = SCHEMA_VERSION, dialect = "dialect",
    postgresql = "postgresql", mysql = "mysql", sql = "sql", postgres = "postgres",
    // The kinds protocols still to come will send; see `kinds`.
    programs = "programs", argv = "argv", interactive = "interactive", parsed = "parsed",
    commands = "commands", unresolved = "unresolved", program = "program",
    wrappers = "wrappers", shell_depth = "shell_depth",
    channel = "channel", type_ = "type", host = "host", port = "port",
    originator = "originator", file = "file", operation = "operation", path = "path",
    target_path = "target_path", via = "via", http = "http", method = "method",
    claims = "claims", provider = "provider", task = "task", token = "token", admin = "admin",
    purpose = "purpose", targets = "targets", ttl_seconds = "ttl_seconds",

    query = "query", headers = "headers", content_type = "content_type",
    body_size = "body_size", kube = "kube", verb = "verb", api_group = "api_group",
    api_version = "api_version", resource = "resource", subresource = "subresource",
    namespace = "namespace", label_selector = "label_selector",
    field_selector = "field_selector", dry_run = "dry_run", container = "container",
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
            (&n.schema_version, n.version.clone()),
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
        (&n.claims, claims(&f.claims)),
        (&n.groups, strings(&f.groups)),
        (&n.kind, string(&f.kind)),
        (&n.name, string(&f.name)),
        (&n.provider, optional(f.provider.as_deref())),
        (&n.task, optional(f.task.as_deref())),
    ])
}

/// Claims are arbitrary JSON; their text is canonical, and this runs once per identity per
/// thread (the identity part is reused), so parsing it is cheap enough.
fn claims(c: &crate::Claims) -> Value {
    if c.is_empty() {
        return Value::from(BTreeMap::<Value, Value>::new());
    }
    Value::from_json_str(c.canonical())
        .unwrap_or_else(|_| Value::from(BTreeMap::<Value, Value>::new()))
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
    let neutral = [
        (&n.application_name, optional(f.application_name.as_deref())),
        (&n.client_address, string(&f.client_address)),
        (&n.id, string(&f.id)),
        (&n.protocol, string(&f.protocol)),
        (&n.started_at, string(&f.started_at)),
    ];
    match &f.section {
        SessionSection::None => object(neutral),
        SessionSection::Postgres(postgres) => {
            // The version 1 aliases share the section's values rather than copies of them.
            let search_path = strings(&postgres.search_path);
            let settings = string_map(&postgres.settings);
            let section = object([
                (&n.search_path, search_path.clone()),
                (&n.settings, settings.clone()),
            ]);
            let mut map: BTreeMap<Value, Value> = neutral
                .into_iter()
                .map(|(key, value)| (key.clone(), value))
                .collect();
            map.insert(n.postgres.clone(), section);
            map.insert(n.search_path.clone(), search_path);
            map.insert(n.settings.clone(), settings);
            Value::from(map)
        }
    }
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
        Request::Connect => object([(&n.action, n.connect.clone()), (&n.kind, n.connect.clone())]),
        Request::Statement {
            statement,
            dialect,
            index,
            count,
            parameters,
        } => object([
            (&n.action, n.statement.clone()),
            (&n.count, Value::from(count)),
            (
                &n.dialect,
                match dialect {
                    SqlDialect::Postgresql => n.postgresql.clone(),
                    SqlDialect::Mysql => n.mysql.clone(),
                },
            ),
            (&n.index, Value::from(index)),
            (&n.kind, n.sql.clone()),
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
            (&n.kind, n.access.clone()),
            (&n.reason, string(reason)),
            (&n.scope, string(scope)),
        ]),
        Request::Command { command } => tagged(n, &n.command, kinds::command(n, command)),
        Request::Channel { channel } => tagged(n, &n.channel, kinds::channel(n, channel)),
        Request::File { file } => tagged(n, &n.file, kinds::file(n, file)),
        Request::Http { http } => tagged(n, &n.http, kinds::http(n, http)),
        Request::Kube { kube } => tagged(n, &n.kube, kinds::kube(n, kube)),
        Request::Token { token } => tagged(n, &n.token, kinds::token(n, token)),
        Request::Admin { admin } => tagged(n, &n.admin, kinds::admin(n, admin)),
    }
}

/// A request of a kind whose facts sit under the kind's own name, as `action`, `kind` and
/// the facts all say: `{"action": "http", "kind": "http", "http": {...}}`. (`kube` sorts after
/// `kind`, so for it the entries are not in key order; the map sorts them all the same.)
fn tagged(n: &Names, kind: &Value, facts: Value) -> Value {
    object([
        (&n.action, kind.clone()),
        (kind, facts),
        (&n.kind, kind.clone()),
    ])
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
mod tests;
