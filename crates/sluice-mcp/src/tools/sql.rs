//! `TARGET.query` and `TARGET.describe`: SQL over the gateway's PostgreSQL or MySQL listener,
//! answered as columns and rows; a table's columns marked with the masking the caller gets.

use serde_json::{json, Value};
use sluice_core::config::{TargetConfig, TargetKind};
use sluice_core::gateway::ColumnsPreview;

use super::call::{bad_args, string_arg, Call, Invocation};
use crate::exec::{self, cap_text, Outcome, Progress};
use crate::McpError;

/// The name a SQL session shows, which the audit record and the recording keep: the MCP
/// client's, and where the call came from (the session's own client address is the gateway's
/// loopback).
fn application_name(c: &Call<'_>) -> String {
    let ip = sluice_core::identity::client_ip(&c.caller.client_addr)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let mut name = format!("mcp {} from {ip}", c.client_name.unwrap_or("client"));
    cap_text(&mut name, 63);
    name
}

enum SqlLeg {
    Postgres(exec::postgres::Leg),
    Mysql(exec::mysql::Leg),
}

impl SqlLeg {
    async fn open(
        c: &Call<'_>,
        target: &TargetConfig,
        identity: &str,
        secret: &str,
    ) -> Result<SqlLeg, McpError> {
        let config = c.gateway.config();
        Ok(match target.kind {
            TargetKind::Mysql => {
                let listen = config.mysql.as_ref().and_then(|m| m.listen);
                let addr = exec::listener(c.gateway, "mysql", listen)?;
                let root = match config.mysql.as_ref().filter(|m| m.require_tls) {
                    Some(m) => Some(
                        sluice_net::tls::listener_certificate(
                            (m.tls_cert.as_deref(), m.tls_key.as_deref()),
                            &config.gateway.data_dir,
                        )
                        .map_err(|e| McpError::Tls(e.to_string()))?,
                    ),
                    None => None,
                };
                SqlLeg::Mysql(
                    exec::mysql::Leg::connect(
                        addr,
                        identity,
                        &target.name,
                        secret,
                        root.as_deref(),
                    )
                    .await?,
                )
            }
            _ => {
                let addr = exec::listener(c.gateway, "postgres", config.postgres.listen)?;
                SqlLeg::Postgres(
                    exec::postgres::Leg::connect(
                        addr,
                        identity,
                        &target.name,
                        secret,
                        &application_name(c),
                        c.postgres_tls,
                    )
                    .await?,
                )
            }
        })
    }

    async fn run(
        &mut self,
        sql: &str,
        params: &[Value],
        max_rows: usize,
        progress: &mut dyn Progress,
    ) -> Result<Outcome, McpError> {
        match self {
            SqlLeg::Postgres(leg) => leg.run(sql, params, max_rows, progress).await,
            SqlLeg::Mysql(leg) => leg.run(sql, params, max_rows).await,
        }
    }

    async fn close(self) {
        match self {
            SqlLeg::Postgres(leg) => leg.close().await,
            SqlLeg::Mysql(leg) => leg.close().await,
        }
    }
}

pub(super) async fn query(
    inv: Invocation<'_>,
    progress: &mut dyn Progress,
) -> Result<Value, McpError> {
    let Invocation {
        call: c,
        target,
        identity,
        secret,
        args,
    } = inv;
    let sql = string_arg(args, "sql")?.ok_or_else(|| bad_args("sql is required"))?;
    let params = match args.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values.clone(),
        Some(_) => return Err(bad_args("params must be an array")),
    };
    let max_rows = match args.get("max_rows") {
        None | Some(Value::Null) => c.max_rows,
        Some(v) => v
            .as_u64()
            .filter(|n| *n >= 1)
            .map(|n| (n as usize).min(c.max_rows))
            .ok_or_else(|| bad_args("max_rows must be a positive integer"))?,
    };
    let mut leg = SqlLeg::open(c, target, identity, secret).await?;
    let outcome = leg.run(sql, &params, max_rows, progress).await;
    leg.close().await;
    Ok(sql_result(target.kind, outcome?))
}

pub(super) async fn describe(
    inv: Invocation<'_>,
    progress: &mut dyn Progress,
) -> Result<Value, McpError> {
    let Invocation {
        call: c,
        target,
        identity,
        secret,
        args,
    } = inv;
    let schema = string_arg(args, "schema")?;
    let table = string_arg(args, "table")?;
    let mysql = target.kind == TargetKind::Mysql;
    let p = |n: usize| {
        if mysql {
            "?".to_owned()
        } else {
            format!("${n}")
        }
    };
    let (sql, params) = match table {
        Some(table) => {
            let (schema_filter, mut params) = match schema {
                Some(s) => (format!("table_schema = {}", p(2)), vec![json!(s)]),
                None if mysql => ("table_schema = DATABASE()".to_owned(), vec![]),
                None => (
                    "table_schema = ANY (current_schemas(false))".to_owned(),
                    vec![],
                ),
            };
            params.insert(0, json!(table));
            (
                format!(
                    "SELECT table_schema, column_name, data_type, is_nullable FROM \
                     information_schema.columns WHERE table_name = {} AND {schema_filter} \
                     ORDER BY table_schema, ordinal_position",
                    p(1)
                ),
                params,
            )
        }
        None => {
            let (filter, params) = match schema {
                Some(s) => (format!("table_schema = {}", p(1)), vec![json!(s)]),
                None if mysql => ("table_schema = DATABASE()".to_owned(), vec![]),
                None => (
                    "table_schema NOT IN ('pg_catalog', 'information_schema')".to_owned(),
                    vec![],
                ),
            };
            (
                format!(
                    "SELECT table_schema, table_name, table_type FROM information_schema.tables \
                     WHERE {filter} ORDER BY table_schema, table_name"
                ),
                params,
            )
        }
    };
    let mut leg = SqlLeg::open(c, target, identity, secret).await?;
    let outcome = leg.run(&sql, &params, c.max_rows, progress).await;
    leg.close().await;
    let outcome = outcome?;
    let Some(rows) = outcome
        .results
        .first()
        .filter(|_| outcome.error.is_none())
        .map(|r| (r.rows.clone(), r.truncated))
    else {
        return Ok(sql_result(target.kind, outcome));
    };
    let structured = match table {
        None => json!({
            "tables": rows.0.iter().map(|r| json!({
                "schema": r.first(), "name": r.get(1), "type": r.get(2),
            })).collect::<Vec<_>>(),
            "truncated": rows.1,
        }),
        Some(table) => describe_columns(c, target, table, &rows.0),
    };
    Ok(json!({
        "content": [{"type": "text", "text": structured.to_string()}],
        "structuredContent": structured,
        "isError": false,
    }))
}

/// A table's columns, each marked with the masking this caller's reads of it get (asked of the
/// policy as a `SELECT` of them would be decided: `Gateway::preview_columns`).
fn describe_columns(
    c: &Call<'_>,
    target: &TargetConfig,
    table: &str,
    rows: &[Vec<Value>],
) -> Value {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let mut schemas: Vec<String> = rows.iter().map(|r| text(r.first())).collect();
    schemas.dedup();
    let mut columns = Vec::new();
    let mut notes = Vec::new();
    for schema in schemas {
        let of_schema: Vec<&Vec<Value>> =
            rows.iter().filter(|r| text(r.first()) == schema).collect();
        let names: Vec<String> = of_schema.iter().map(|r| text(r.get(1))).collect();
        let preview = c
            .gateway
            .preview_columns(&c.caller.auth, target, (&schema, table), &names);
        let masked: Vec<Value> = match &preview {
            ColumnsPreview::Readable { columns, detectors } => {
                if !detectors.is_empty() {
                    notes.push(json!({"schema": schema, "content_detectors": detectors}));
                }
                columns.iter().map(|m| json!(m)).collect()
            }
            ColumnsPreview::NotReadable { rule, reason } => {
                notes.push(
                    json!({"schema": schema, "not_readable": {"rule": rule, "reason": reason}}),
                );
                vec![Value::Null; names.len()]
            }
        };
        for (row, masked) in of_schema.iter().zip(masked) {
            columns.push(json!({
                "schema": schema,
                "name": row.get(1),
                "type": row.get(2),
                "nullable": text(row.get(3)) == "YES",
                "masked": masked,
            }));
        }
    }
    json!({"table": table, "columns": columns, "notes": notes})
}

fn type_name(kind: TargetKind, oid: u32) -> String {
    if kind == TargetKind::Mysql {
        return format!("mysql type {oid}");
    }
    match oid {
        16 => "boolean",
        17 => "bytea",
        18 | 25 | 1043 | 1042 | 19 => "text",
        20 => "bigint",
        21 => "smallint",
        23 => "integer",
        114 => "json",
        3802 => "jsonb",
        700 => "real",
        701 => "double precision",
        1700 => "numeric",
        1082 => "date",
        1114 => "timestamp",
        1184 => "timestamptz",
        2950 => "uuid",
        _ => return format!("oid {oid}"),
    }
    .to_owned()
}

fn sql_result(kind: TargetKind, outcome: Outcome) -> Value {
    let results: Vec<Value> = outcome
        .results
        .into_iter()
        .map(|set| {
            let columns: Vec<Value> = set
                .columns
                .iter()
                .map(|(name, oid)| json!({"name": name, "type": type_name(kind, *oid)}))
                .collect();
            json!({
                "columns": columns,
                "rows": set.rows,
                "row_count": set.row_count,
                "truncated": set.truncated,
                "command": set.tag,
            })
        })
        .collect();
    let mut structured = json!({"results": results, "notices": outcome.notices});
    let is_error = outcome.error.is_some();
    let text = match &outcome.error {
        Some(e) => {
            let mut text = format!("ERROR {}: {}", e.code, e.message);
            if let Some(d) = &e.detail {
                text.push_str(&format!("\nDETAIL: {d}"));
            }
            if let Some(h) = &e.hint {
                text.push_str(&format!("\nHINT: {h}"));
            }
            if let Value::Object(s) = &mut structured {
                s.insert(
                    "error".into(),
                    json!({"code": e.code, "message": e.message, "detail": e.detail, "hint": e.hint}),
                );
            }
            text
        }
        None => structured.to_string(),
    };
    json!({
        "content": [{"type": "text", "text": text}],
        "structuredContent": structured,
        "isError": is_error,
    })
}
