//! One tool call: the caller's per-task credential for the target, the client for the target's
//! protocol against the gateway's own listener, and the answer as MCP content, structured
//! (columns and rows, output, status) and as text.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use sluice_core::config::TargetConfig;
use sluice_core::{CoreError, Gateway};

use super::{request, run, sql};
use crate::caller::{Caller, Callers};
use crate::exec::Progress;
use crate::McpError;

/// What every call shares.
pub(crate) struct Call<'a> {
    pub gateway: &'a Gateway,
    pub callers: &'a Callers,
    pub caller: &'a Caller,
    pub client_name: Option<&'a str>,
    /// The SSH listener's host key fingerprint, pinned by the SSH leg.
    pub ssh_fingerprint: Option<&'a str>,
    /// The HTTPS listener's certificate, pinned by the HTTP leg.
    pub https_tls: &'a Arc<rustls::ClientConfig>,
    /// The PostgreSQL listener's certificate, pinned, when that listener requires TLS.
    pub postgres_tls: Option<&'a Arc<rustls::ClientConfig>>,
    pub max_rows: usize,
    pub max_output: usize,
}

/// One call's target, login and arguments, as every tool takes them.
#[derive(Clone, Copy)]
pub(super) struct Invocation<'a> {
    pub call: &'a Call<'a>,
    pub target: &'a TargetConfig,
    pub identity: &'a str,
    pub secret: &'a str,
    pub args: &'a Map<String, Value>,
}

/// A JSON-RPC error instead of a result: the tool does not exist for this caller.
pub(crate) struct UnknownTool(pub String);

pub(crate) async fn call(
    c: &Call<'_>,
    name: &str,
    args: &Map<String, Value>,
    progress: &mut dyn Progress,
) -> Result<Value, UnknownTool> {
    let Some((target, action)) = super::resolve(c.gateway, &c.caller.view, name) else {
        return Err(UnknownTool(format!(
            "there is no tool {name:?} for this credential (tools/list names them)"
        )));
    };
    let login = match c
        .callers
        .login(c.gateway, c.caller, &target.name, c.client_name)
        .await
    {
        Ok(login) => login,
        Err(e @ CoreError::Refused { .. }) => {
            return Ok(failed(&format!(
                "sluice issued no credential for this task on {}: {e}",
                target.name
            )))
        }
        Err(e) => return Ok(failed(&format!("sluice: {e}"))),
    };
    let secret = login.secret.expose();
    let inv = Invocation {
        call: c,
        target,
        identity: &login.identity,
        secret,
        args,
    };
    let ran = match action {
        "query" => sql::query(inv, progress).await,
        "describe" => sql::describe(inv, progress).await,
        "run" => run::run(inv, progress).await,
        _ => request::request(inv, action).await,
    };
    Ok(ran.unwrap_or_else(|e| failed(&e.to_string())))
}

/// A failed call the model can read and act on.
fn failed(message: &str) -> Value {
    json!({"content": [{"type": "text", "text": message}], "isError": true})
}

pub(super) fn bad_args(message: &str) -> McpError {
    McpError::Client(format!("invalid arguments: {message}"))
}

pub(super) fn string_arg<'a>(
    args: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, McpError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad_args(&format!("{key} must be a string"))),
    }
}
