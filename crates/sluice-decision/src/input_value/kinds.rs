//! The facts of the request kinds beyond SQL, connect and access, as regorus values. None of
//! them is on a hot path yet; they are built the same way as the rest so that the document a
//! policy sees never depends on which route built it.

use std::collections::BTreeMap;

use regorus::Value;

use super::{object, optional, string, strings, Names};
use crate::{
    AdminRequest, ChannelOpen, FileAccess, HttpRequest, KubeRequest, ShellCommand, SimpleCommand,
    TokenRequest,
};

pub(super) fn command(n: &Names, c: &ShellCommand) -> Value {
    object([
        (&n.argv, strings(&c.argv)),
        (
            &n.commands,
            Value::from(
                c.commands
                    .iter()
                    .map(|s| simple_command(n, s))
                    .collect::<Vec<_>>(),
            ),
        ),
        (&n.interactive, Value::from(c.interactive)),
        (&n.parsed, Value::from(c.parsed)),
        (&n.programs, strings(&c.programs)),
        (&n.text, string(&c.text)),
        (&n.unresolved, strings(&c.unresolved)),
    ])
}

fn simple_command(n: &Names, s: &SimpleCommand) -> Value {
    object([
        (&n.argv, strings(&s.argv)),
        (&n.name, string(&s.name)),
        (&n.program, string(&s.program)),
        (&n.shell_depth, Value::from(s.shell_depth)),
        (&n.wrappers, strings(&s.wrappers)),
    ])
}

pub(super) fn channel(n: &Names, c: &ChannelOpen) -> Value {
    object([
        (&n.host, optional(c.host.as_deref())),
        (&n.name, optional(c.name.as_deref())),
        (&n.originator, optional(c.originator.as_deref())),
        (
            &n.port,
            c.port.map_or(Value::Null, |p| Value::from(u32::from(p))),
        ),
        (&n.type_, string(c.channel_type.as_str())),
    ])
}

pub(super) fn file(n: &Names, f: &FileAccess) -> Value {
    object([
        (&n.operation, string(f.operation.as_str())),
        (&n.path, string(&f.path)),
        (&n.target_path, optional(f.target_path.as_deref())),
        (&n.via, string(f.via.as_str())),
    ])
}

pub(super) fn http(n: &Names, h: &HttpRequest) -> Value {
    object([
        (&n.body_size, h.body_size.map_or(Value::Null, Value::from)),
        (&n.content_type, optional(h.content_type.as_deref())),
        (&n.headers, lists(&h.headers)),
        (&n.host, string(&h.host)),
        (&n.method, string(&h.method)),
        (&n.path, string(&h.path)),
        (&n.query, lists(&h.query)),
    ])
}

pub(super) fn kube(n: &Names, k: &KubeRequest) -> Value {
    object([
        (&n.api_group, string(&k.api_group)),
        (&n.api_version, string(&k.api_version)),
        (
            &n.command,
            k.command.as_deref().map_or(Value::Null, strings),
        ),
        (&n.container, optional(k.container.as_deref())),
        (&n.dry_run, Value::from(k.dry_run)),
        (&n.field_selector, optional(k.field_selector.as_deref())),
        (&n.label_selector, optional(k.label_selector.as_deref())),
        (&n.name, optional(k.name.as_deref())),
        (&n.namespace, optional(k.namespace.as_deref())),
        (&n.path, string(&k.path)),
        (&n.resource, string(&k.resource)),
        (&n.subresource, optional(k.subresource.as_deref())),
        (&n.verb, string(k.verb.as_str())),
    ])
}

fn lists(map: &BTreeMap<String, Vec<String>>) -> Value {
    Value::from(
        map.iter()
            .map(|(k, v)| (string(k), strings(v)))
            .collect::<BTreeMap<_, _>>(),
    )
}

pub(super) fn token(n: &Names, t: &TokenRequest) -> Value {
    object([
        (&n.provider, optional(t.provider.as_deref())),
        (&n.purpose, string(&t.purpose)),
        (&n.targets, strings(&t.targets)),
        (&n.task, optional(t.task.as_deref())),
        (&n.ttl_seconds, Value::from(t.ttl_seconds)),
    ])
}

pub(super) fn admin(n: &Names, a: &AdminRequest) -> Value {
    object([
        (&n.method, string(&a.method)),
        (&n.operation, string(&a.operation)),
        (&n.path, string(&a.path)),
    ])
}
