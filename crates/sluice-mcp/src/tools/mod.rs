//! The tools a caller sees: per target their credential reaches, the actions its protocol has
//! (`TARGET.query` and `TARGET.describe` for SQL, `TARGET.run` for SSH, `TARGET.get` and
//! `TARGET.request` for HTTP services and Kubernetes). Listing decides nothing: every call is
//! decided by the policy on what it does, in the target's own listener.

mod call;
mod request;
mod run;
mod schema;
mod sql;

pub(crate) use call::{call, Call, UnknownTool};

use serde_json::{json, Value};
use sluice_core::config::{TargetConfig, TargetKind};
use sluice_core::gateway::CredentialView;
use sluice_core::Gateway;

/// The actions a target kind has.
fn actions(kind: TargetKind) -> &'static [&'static str] {
    match kind {
        TargetKind::Postgres | TargetKind::Mysql => &["query", "describe"],
        TargetKind::Ssh => &["run"],
        TargetKind::Http | TargetKind::Kubernetes => &["get", "request"],
    }
}

/// The listener a kind is reached through, as `Gateway::listeners` names it.
pub(crate) fn protocol(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Postgres => "postgres",
        TargetKind::Mysql => "mysql",
        TargetKind::Ssh => "ssh",
        TargetKind::Http | TargetKind::Kubernetes => "http",
    }
}

/// A tool name is `TARGET.ACTION` in the characters MCP allows.
fn nameable(target: &str) -> bool {
    !target.is_empty()
        && target.len() <= 100
        && target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The targets `view`'s credential reaches whose listener this gateway runs.
pub(crate) fn reachable<'a>(
    gateway: &'a Gateway,
    view: &'a CredentialView,
) -> impl Iterator<Item = &'a TargetConfig> + 'a {
    let listeners = gateway.listeners();
    gateway.config().targets.iter().filter(move |t| {
        nameable(&t.name)
            && listeners.contains_key(protocol(t.kind))
            && view
                .targets
                .as_ref()
                .is_none_or(|names| names.contains(&t.name))
    })
}

pub(crate) fn list(gateway: &Gateway, view: &CredentialView, max_rows: usize) -> Value {
    let mut tools = Vec::new();
    for target in reachable(gateway, view) {
        for action in actions(target.kind) {
            tools.push(schema::tool(target, action, max_rows));
        }
    }
    json!({ "tools": tools })
}

/// `TARGET.ACTION` read back: the target, if the caller reaches it, and the action, if its
/// kind has it.
pub(crate) fn resolve<'a>(
    gateway: &'a Gateway,
    view: &'a CredentialView,
    name: &str,
) -> Option<(&'a TargetConfig, &'static str)> {
    let (target, action) = name.rsplit_once('.')?;
    let target = reachable(gateway, view).find(|t| t.name == target)?;
    let action = actions(target.kind).iter().find(|a| **a == action)?;
    Some((target, action))
}
