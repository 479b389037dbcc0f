//! An HTTP request as the HTTPS listener hands it to `sluice_http::describe`: the input, read
//! lossily as text, is split at newlines into the method, the Host (or `:authority`), the
//! request target and then headers (`name: value`, one a line); byte 0 picks which header names
//! the policy may see.
//!
//! Beyond not panicking, what is described must be what a rule can rely on (the promises of
//! crates/sluice-http/src/path.rs and facts.rs): the path fact is absolute, has no `.` or `..`
//! segment, no byte outside visible ASCII, no backslash, and no escape but an upper-case one of
//! a byte that is neither unreserved (it would have been decoded) nor `/` or `\` (refused);
//! the target forwarded is that path with the raw query after it; describing the forwarded
//! target again gives the same facts (one spelling); the method is upper case, the host not
//! empty and in one spelling; credential headers never reach the facts, and only visible
//! names do. Empty segments (`//`) and `;` are refused, so never in a path fact.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_http::{describe, normalise_path, POLICY_HEADERS};

const CREDENTIALS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let (Some(method), Some(host), Some(target)) = (lines.next(), lines.next(), lines.next())
    else {
        return;
    };
    let headers: Vec<(&str, &str)> = lines
        .map(|l| l.split_once(':').map_or((l, ""), |(n, v)| (n, v.trim())))
        .collect();
    // The default list, a configuration that also lists credentials (never shown), or none.
    let extra = ["authorization", "cookie", "x-api-key", "host"];
    let listed: Vec<&str> = match selector % 3 {
        0 => POLICY_HEADERS.to_vec(),
        1 => POLICY_HEADERS.iter().copied().chain(extra).collect(),
        _ => Vec::new(),
    };

    let (raw_path, query) = target.split_once('?').unwrap_or((target, ""));
    let normalised = normalise_path(raw_path);
    let Ok(described) = describe(method, host, target, headers.iter().copied(), &listed) else {
        return;
    };
    let facts = &described.facts;
    // describe normalises exactly as normalise_path does.
    assert_eq!(normalised.as_deref(), Ok(facts.path.as_str()), "{target:?}");

    let path = facts.path.as_str();
    let Some(relative) = path.strip_prefix('/') else {
        panic!("relative path fact {path:?}");
    };
    for segment in relative.split('/') {
        assert!(
            segment != "." && segment != "..",
            "{target:?} gave {path:?}"
        );
    }
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        assert!((0x21..0x7f).contains(&b) && b != b'\\', "{path:?}");
        if b == b'%' {
            let hex = &path[i + 1..i + 3];
            assert!(
                hex.bytes()
                    .all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(&h)),
                "{path:?}"
            );
            let value = u8::from_str_radix(hex, 16).unwrap();
            assert!(
                !(value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~')),
                "{path:?} keeps an unreserved byte encoded"
            );
            assert!(value != b'/' && value != b'\\', "{path:?}");
            i += 3;
        } else {
            i += 1;
        }
    }

    let forwarded = if query.is_empty() {
        facts.path.clone()
    } else {
        format!("{}?{query}", facts.path)
    };
    assert_eq!(described.target, forwarded);
    let again = describe(
        method,
        host,
        &described.target,
        headers.iter().copied(),
        &listed,
    );
    assert_eq!(again.as_ref(), Ok(&described), "{target:?} described twice");
    assert_eq!(normalise_path(path).as_deref(), Ok(path));

    assert_eq!(facts.method, method.to_ascii_uppercase());
    assert!(facts.method.bytes().all(|b| b.is_ascii_uppercase()));
    assert!(!facts.host.is_empty());
    // Spellings servers read differently never reach a rule.
    assert!(!facts.path.contains("//") && !facts.path.contains(';'));
    // The host in one spelling: lower case (inside brackets too), no `:` outside them.
    assert_eq!(facts.host, facts.host.to_ascii_lowercase());
    assert!(facts.host.starts_with('[') || !facts.host.contains(':'));
    for name in facts.headers.keys() {
        assert!(
            !CREDENTIALS.contains(&name.as_str()),
            "{name} reached the policy"
        );
        assert!(listed.contains(&name.as_str()), "{name} is not listed");
    }
});
