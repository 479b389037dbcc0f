//! `sluice mcp --server URL [--ca FILE]`: a stdio bridge for MCP clients that only start local
//! servers (Claude Desktop and the like). Each newline-delimited JSON-RPC message on stdin is
//! POSTed to the gateway's MCP endpoint (the streamable HTTP transport) on its own task, so a
//! tool call held for approval does not block a `ping`; the answers, JSON or server-sent
//! events, come back on stdout one message per line. stdout carries nothing else; messages for
//! people go to stderr.
//!
//! # Layout
//! - `lines`: stdin read as bounded lines.
//! - `headers`: the MCP headers of a message (session, protocol version, method and name).
//! - `sse`: the incremental event-stream parser.
//! - `transport`: the endpoint, TLS, and one POST.
//! - `exchange`: one message relayed and its answers written.
//! - `output`: the shared stdout and JSON-RPC errors.

mod exchange;
mod headers;
mod lines;
mod output;
mod sse;
#[cfg(test)]
mod tests;
mod transport;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use sluice_core::secret::Secret;
use tokio::task::JoinSet;

use crate::admin_client::{AdminClient, TOKEN_ENV};
use crate::cli::{McpArgs, ServerArg};
use exchange::Bridge;
use lines::{Line, MAX_LINE};
use output::{Output, PARSE_ERROR};
use transport::Endpoint;

/// How long requests still in flight at stdin's end may take to finish.
const DRAIN: Duration = Duration::from_secs(5);

pub async fn run(args: McpArgs) -> Result<()> {
    let endpoint = Endpoint::new(&args.server, args.ca.as_deref())?;
    let token = token(&args, &endpoint)?;
    let bridge = Arc::new(Bridge {
        endpoint,
        bearer: transport::bearer(token.expose())?,
        token,
        session: Mutex::new(headers::Session::default()),
        opening: tokio::sync::RwLock::new(()),
        output: Output::new(tokio::io::stdout()),
    });
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let mut in_flight = JoinSet::new();
    loop {
        // Finished relays are reaped as we go, so a long session does not accumulate them.
        while in_flight.try_join_next().is_some() {}
        let line = match lines::next_line(&mut stdin, MAX_LINE)
            .await
            .context("reading stdin")?
        {
            Line::Eof => break,
            Line::TooLong => {
                let text = format!("the message is longer than {} MiB", MAX_LINE >> 20);
                parse_error(&bridge.output, &text).await;
                continue;
            }
            Line::Text(line) => line,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(&line) {
            Ok(message) => {
                in_flight.spawn(exchange::relay(Arc::clone(&bridge), message, line));
            }
            Err(e) => {
                let text = format!("the message is not JSON: {e}");
                parse_error(&bridge.output, &text).await;
            }
        }
    }
    let drained = tokio::time::timeout(DRAIN, async {
        while in_flight.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        eprintln!(
            "sluice mcp: stdin closed; {} request(s) still unanswered after {}s are dropped",
            in_flight.len(),
            DRAIN.as_secs()
        );
    }
    Ok(())
}

async fn parse_error(output: &Output, text: &str) {
    eprintln!("sluice mcp: {text}");
    output
        .write(&output::error(Value::Null, PARSE_ERROR, text))
        .await;
}

/// SLUICE_TOKEN, else the credential `sluice login` stored: for this URL, else for the default
/// gateway when it is on the same host (the MCP endpoint is a listener of the gateway signed in
/// to, on another port than its admin API). Never another host's: the token would be handed to
/// a server it was not issued for.
fn token(args: &McpArgs, endpoint: &Endpoint) -> Result<Secret> {
    let this_url = ServerArg {
        server: Some(args.server.clone()),
        ca: args.ca.clone(),
    };
    let first = match AdminClient::connect(&this_url) {
        Ok(client) => return Ok(client.token().clone()),
        Err(e) => e,
    };
    if std::env::var_os(TOKEN_ENV).is_some_and(|t| !t.is_empty()) {
        return Err(first);
    }
    match AdminClient::connect(&ServerArg::default()) {
        Ok(client) if client.gateway().host() == endpoint.host() => Ok(client.token().clone()),
        _ => Err(first.context(format!(
            "no token for the MCP server: set {TOKEN_ENV}, or sign in with `sluice login --server \
             ADMIN_URL` to the gateway on {}",
            endpoint.host()
        ))),
    }
}
