//! A Kubernetes API request as the gateway's listener will hand it over: byte 0 picks the
//! method (the six the API server serves and two it does not), the rest is the request
//! target, converted lossily to text and split at its first `?` into path and query, handed to
//! `sluice_kube::classify`.
//!
//! Beyond not panicking, classified facts must hold together: the path fact is absolute, with
//! no dot segments and no empty one but a trailing one; re-encoded (`%`, `?`, `#` and spaces
//! escaped) it classifies to the same facts, so the decoded path says exactly what was asked
//! for; a request that names no resource has no group-level facts; resource, namespace and
//! subresource are segments of the path, and so is the name unless a field selector gave it;
//! an exec command, a container, a dry run and selectors appear only with the verbs that take
//! them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_kube::classify;

const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let method = METHODS[usize::from(selector) % METHODS.len()];
    let target = String::from_utf8_lossy(rest);
    let (path, query) = target.split_once('?').unwrap_or((&*target, ""));
    let Ok(facts) = classify(method, path, query) else {
        return;
    };

    let Some(relative) = facts.path.strip_prefix('/') else {
        panic!("relative path fact {:?}", facts.path);
    };
    let segments: Vec<&str> = relative.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        assert!(*segment != "." && *segment != "..", "{:?}", facts.path);
        assert!(!segment.is_empty() || i + 1 == segments.len(), "{:?}", facts.path);
    }
    let again = classify(method, &encode(&facts.path), query);
    assert_eq!(again.as_ref(), Ok(&facts), "{path:?} gave {:?}", facts.path);

    let verb = facts.verb.as_str();
    if facts.resource.is_empty() {
        assert!(facts.api_group.is_empty() && facts.api_version.is_empty());
        assert!(facts.namespace.is_none() && facts.name.is_none() && facts.subresource.is_none());
    } else {
        assert!(!facts.api_version.is_empty());
        assert!(segments.contains(&facts.resource.as_str()));
        for fact in [&facts.namespace, &facts.subresource].into_iter().flatten() {
            assert!(segments.contains(&fact.as_str()), "{fact:?} in {:?}", facts.path);
        }
        if let Some(name) = &facts.name {
            assert!(segments.contains(&name.as_str()) || facts.field_selector.is_some());
        }
    }
    assert_eq!(facts.command.is_some(), verb == "connect" && facts.subresource.as_deref() == Some("exec"));
    assert!(facts.container.is_none() || verb == "connect");
    assert!(!facts.dry_run || matches!(verb, "create" | "update" | "patch"));
    if facts.label_selector.is_some() || facts.field_selector.is_some() {
        assert!(matches!(verb, "list" | "watch" | "deletecollection"));
    }
});

/// The decoded path as a client would send it again.
fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            ' ' => out.push_str("%20"),
            c => out.push(c),
        }
    }
    out
}
