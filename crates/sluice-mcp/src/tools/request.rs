//! `TARGET.get` and `TARGET.request`: one HTTP request over the gateway's HTTPS listener, to an
//! HTTP service or a Kubernetes API server.

use serde_json::{json, Value};
use sluice_core::config::HttpRouting;

use super::call::{bad_args, string_arg, Invocation};
use crate::exec;
use crate::McpError;

pub(super) async fn request(inv: Invocation<'_>, action: &str) -> Result<Value, McpError> {
    let Invocation {
        call: c,
        target,
        secret,
        args,
        ..
    } = inv;
    let path = string_arg(args, "path")?.ok_or_else(|| bad_args("path is required"))?;
    let method = match action {
        "get" => "GET",
        _ => string_arg(args, "method")?.ok_or_else(|| bad_args("method is required"))?,
    };
    let body = string_arg(args, "body")?;
    let mut headers = Vec::new();
    if let Some(given) = args.get("headers").and_then(Value::as_object) {
        for (name, value) in given {
            let value = value
                .as_str()
                .ok_or_else(|| bad_args("header values must be strings"))?;
            headers.push((name.clone(), value.to_owned()));
        }
    }
    // The endpoint is served by the HTTPS listener, so there is one.
    let settings = c
        .gateway
        .config()
        .http
        .as_ref()
        .ok_or_else(|| McpError::Listener("this gateway has no HTTPS listener".into()))?;
    let route = exec::http::Route {
        addr: exec::listener(c.gateway, "http", settings.listen)?,
        tls: c.https_tls.clone(),
        host: match (settings.routing, &settings.domain) {
            (HttpRouting::Host, Some(domain)) => Some(format!("{}.{domain}", target.name)),
            _ => None,
        },
    };
    let answer = exec::http::request(
        &route,
        exec::http::Ask {
            target: &target.name,
            bearer: secret,
            method,
            path,
            headers: &headers,
            body,
            max_output: c.max_output,
        },
    )
    .await?;
    let json_body = answer
        .content_type
        .as_deref()
        .is_some_and(|t| t.contains("json"))
        .then(|| serde_json::from_str::<Value>(&answer.body).ok())
        .flatten();
    let structured = json!({
        "status": answer.status,
        "content_type": answer.content_type,
        "body": json_body.clone().unwrap_or(Value::String(answer.body.clone())),
        "truncated": answer.truncated,
    });
    Ok(json!({
        "content": [{"type": "text", "text": format!("HTTP {}\n{}", answer.status, answer.body)}],
        "structuredContent": structured,
        "isError": answer.status >= 400,
    }))
}
