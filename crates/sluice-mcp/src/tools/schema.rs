//! Each tool's description and input schema, written for the model that reads them.

use serde_json::{json, Value};
use sluice_core::config::{TargetConfig, TargetKind};

const ENFORCED: &str = "Runs through the sluice gateway: decided by policy on what it does \
    (denials name the rule), possibly held until a reviewer approves it, with sensitive values \
    masked in the answer; recorded and audited under your task.";

pub(crate) fn tool(target: &TargetConfig, action: &str, max_rows: usize) -> Value {
    let name = format!("{}.{action}", target.name);
    let kind = target.kind.as_str();
    let (title, description, schema, read_only) = match action {
        "query" => {
            (
                format!("SQL on {}", target.name),
                format!(
                "Run SQL on the {kind} target {} (database {}). Without params the text may hold \
                 several statements; with params it is one statement whose placeholders \
                 ({}) take them in order. At most max_rows rows per result are returned \
                 (truncated says when there were more). {ENFORCED}",
                target.name,
                target.database,
                if target.kind == TargetKind::Mysql { "?" } else { "$1, $2, ..." },
            ),
                json!({
                    "type": "object",
                    "properties": {
                        "sql": {"type": "string", "description": "The SQL text."},
                        "params": {"type": "array", "description": "Parameter values, in order; null for NULL."},
                        "max_rows": {"type": "integer", "minimum": 1, "maximum": max_rows,
                                     "description": format!("Rows kept per result (default and most {max_rows}).")},
                    },
                    "required": ["sql"],
                    "additionalProperties": false,
                }),
                false,
            )
        }
        "describe" => (
            format!("Tables of {}", target.name),
            format!(
                "List the tables of the {kind} target {} or, given a table, its columns (name, \
                 type, nullable). Read through the gateway like any query. {ENFORCED}",
                target.name
            ),
            json!({
                "type": "object",
                "properties": {
                    "schema": {"type": "string", "description": "Only this schema (database, for MySQL)."},
                    "table": {"type": "string", "description": "Describe this table's columns."},
                },
                "additionalProperties": false,
            }),
            true,
        ),
        "run" => (
            format!("Command on {}", target.name),
            format!(
                "Run one shell command line on the SSH target {} and return its stdout, stderr \
                 and exit status. The whole line is decided before anything runs. {ENFORCED}",
                target.name
            ),
            json!({
                "type": "object",
                "properties": {"command": {"type": "string", "description": "The command line."}},
                "required": ["command"],
                "additionalProperties": false,
            }),
            false,
        ),
        "get" => (
            format!("GET on {}", target.name),
            format!(
                "GET a path of the {kind} target {} (for Kubernetes an API path such as \
                 /api/v1/namespaces/default/pods). {ENFORCED}",
                target.name
            ),
            json!({
                "type": "object",
                "properties": {"path": {"type": "string", "description": "Path and query, starting with /."}},
                "required": ["path"],
                "additionalProperties": false,
            }),
            true,
        ),
        _ => (
            format!("Request to {}", target.name),
            format!(
                "Send an HTTP request to the {kind} target {}. {ENFORCED}",
                target.name
            ),
            json!({
                "type": "object",
                "properties": {
                    "method": {"type": "string", "enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]},
                    "path": {"type": "string", "description": "Path and query, starting with /."},
                    "body": {"type": "string", "description": "The request body (JSON as text)."},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "required": ["method", "path"],
                "additionalProperties": false,
            }),
            false,
        ),
    };
    json!({
        "name": name,
        "title": title,
        "description": description,
        "inputSchema": schema,
        "annotations": {
            "readOnlyHint": read_only,
            "destructiveHint": !read_only,
            "idempotentHint": read_only,
            "openWorldHint": false,
        },
    })
}
