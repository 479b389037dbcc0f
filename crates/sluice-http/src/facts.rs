//! One request's facts. Headers reach the policy only from a list (by default
//! [`POLICY_HEADERS`]): a header may carry a credential under any name (`x-api-key`), and the
//! input document is shown to reviewers and recorded, where a secret must never land.

use std::collections::BTreeMap;

use sluice_decision::HttpRequest;

use crate::{normalise_path, parse_query, HttpError};

/// The headers a policy sees unless the target's configuration names others.
pub const POLICY_HEADERS: [&str; 6] = [
    "accept",
    "content-type",
    "user-agent",
    "x-request-id",
    "x-forwarded-for",
    "origin",
];

/// Never shown to a policy, whatever a configuration lists: they carry credentials.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// A request described: its facts, and the path and query as the target will get them
/// (normalised), so the target is sent what was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub facts: HttpRequest,
    /// The normalised path with the raw query after it, for the upstream request.
    pub target: String,
}

/// Describes a request: `target` is the request target as sent (origin form: path and
/// query), `host` the Host header or HTTP/2 `:authority`, `headers` every header with its name
/// as sent, `visible` the header names the policy may see (lower case).
pub fn describe<'a>(
    method: &str,
    host: &str,
    target: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    visible: &[&str],
) -> Result<Described, HttpError> {
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(HttpError::BadMethod(method.to_owned()));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = normalise_path(path)?;
    let query_params = parse_query(query)?;
    let mut shown: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut content_type = None;
    let mut body_size = None;
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "content-type" => {
                content_type = value
                    .split(';')
                    .next()
                    .map(|t| t.trim().to_ascii_lowercase())
                    .filter(|t| !t.is_empty());
            }
            "content-length" => body_size = value.trim().parse().ok(),
            _ => {}
        }
        if visible.contains(&name.as_str()) && !CREDENTIAL_HEADERS.contains(&name.as_str()) {
            shown.entry(name).or_default().push(value.to_owned());
        }
    }
    let facts = HttpRequest {
        method: method.to_ascii_uppercase(),
        host: host_name(host)?,
        path: path.clone(),
        query: query_params,
        headers: shown,
        content_type,
        body_size,
    };
    let target = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    Ok(Described { facts, target })
}

/// `Example.COM:8443` is `example.com`; `[::1]:80` is `[::1]`; a trailing dot goes.
fn host_name(host: &str) -> Result<String, HttpError> {
    let bad = || HttpError::BadHost(host.to_owned());
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        let (address, after) = rest.split_once(']').ok_or_else(bad)?;
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        let Ok(address) = address.parse::<std::net::Ipv6Addr>() else {
            return Err(bad());
        };
        if !port_ok {
            return Err(bad());
        }
        // The address's one spelling (lower case, zeros compressed).
        format!("[{address}]")
    } else if let Ok(address) = host.parse::<std::net::Ipv6Addr>() {
        // A bare IPv6 address (a target's configured host): bracketed, as in a URL.
        format!("[{address}]")
    } else {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            Some(_) => return Err(bad()),
            None => host,
        };
        // One colon is the port's: a name with another, or with brackets, is no host name.
        if name.contains([':', '[', ']']) {
            return Err(bad());
        }
        name.trim_end_matches('.').to_ascii_lowercase()
    };
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'[' | b']' | b':'));
    if ok {
        Ok(name)
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> Vec<(&'static str, &'static str)> {
        vec![
            ("Host", "api.example"),
            ("Authorization", "Bearer secret"),
            ("Cookie", "s=1"),
            ("X-Api-Key", "k"),
            ("Accept", "application/json"),
            ("Content-Type", "Application/JSON; charset=utf-8"),
            ("Content-Length", "12"),
        ]
    }

    #[test]
    fn facts_in_one_spelling_without_credentials() {
        let d = describe(
            "post",
            "API.Example.:8443",
            "/v1/../v1/%75sers?limit=5&tag=a&tag=b",
            headers(),
            &POLICY_HEADERS,
        )
        .unwrap();
        assert_eq!(d.facts.method, "POST");
        assert_eq!(d.facts.host, "api.example");
        assert_eq!(d.facts.path, "/v1/users");
        assert_eq!(d.facts.query["tag"], vec!["a", "b"]);
        assert_eq!(d.facts.content_type.as_deref(), Some("application/json"));
        assert_eq!(d.facts.body_size, Some(12));
        assert_eq!(
            d.facts.headers.keys().collect::<Vec<_>>(),
            vec!["accept", "content-type"]
        );
        assert_eq!(d.target, "/v1/users?limit=5&tag=a&tag=b");
    }

    #[test]
    fn credentials_stay_hidden_even_when_listed() {
        let d = describe(
            "GET",
            "h",
            "/",
            headers(),
            &["authorization", "cookie", "x-api-key"],
        )
        .unwrap();
        assert_eq!(
            d.facts.headers.keys().collect::<Vec<_>>(),
            vec!["x-api-key"]
        );
    }

    #[test]
    fn hosts_and_methods_are_checked() {
        for (host, want) in [
            ("[::1]:8080", "[::1]"),
            ("[::1]", "[::1]"),
            ("10.0.0.1:80", "10.0.0.1"),
            ("svc.ns.svc.cluster.local", "svc.ns.svc.cluster.local"),
            ("::1", "[::1]"),
        ] {
            assert_eq!(host_name(host).as_deref(), Ok(want));
        }
        for host in ["", "a b", "[zz]", "h:port", "a/b", "[::1]x", "a:b:80"] {
            assert!(host_name(host).is_err(), "{host}");
        }
        assert!(describe("G ET", "h", "/", [], &[]).is_err());
        assert!(describe("", "h", "/", [], &[]).is_err());
    }
}
