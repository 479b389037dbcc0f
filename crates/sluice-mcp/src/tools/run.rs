//! `TARGET.run`: one command line over the gateway's SSH listener.

use serde_json::{json, Value};

use super::call::{bad_args, string_arg, Invocation};
use crate::exec::{self, Progress};
use crate::McpError;

pub(super) async fn run(
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
    let command = string_arg(args, "command")?.ok_or_else(|| bad_args("command is required"))?;
    let listen = c.gateway.config().ssh.as_ref().and_then(|s| s.listen);
    let addr = exec::listener(c.gateway, "ssh", listen)?;
    let ran = exec::ssh::run(
        exec::ssh::Command {
            addr,
            fingerprint: c.ssh_fingerprint.map(str::to_owned),
            identity,
            target: &target.name,
            password: secret,
            line: command,
            max_output: c.max_output,
        },
        progress,
    )
    .await?;
    let structured = json!({
        "stdout": ran.stdout,
        "stderr": ran.stderr,
        "exit_status": ran.exit_status,
        "truncated": ran.truncated,
    });
    let mut text = ran.stdout.clone();
    if !ran.stderr.is_empty() {
        text.push_str(&format!("\n[stderr]\n{}", ran.stderr));
    }
    if let Some(status) = ran.exit_status.filter(|s| *s != 0) {
        text.push_str(&format!("\n[exit status {status}]"));
    }
    Ok(json!({
        "content": [{"type": "text", "text": text}],
        "structuredContent": structured,
        "isError": ran.exit_status != Some(0),
    }))
}
