//! Which target a request is for: the first path segment (`routing = "path"`, the default:
//! one certificate, no DNS) or the host name's first label under the gateway's domain
//! (`routing = "host"`).

use sluice_core::config::HttpRouting;

/// A request's target and what is left of its request target for the target itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Routed {
    pub target: String,
    /// Path and query as the target gets them (under its `url`'s base path), starting `/`.
    pub rest: String,
}

/// `None` when the request names no target.
pub(crate) fn route(
    routing: HttpRouting,
    domain: Option<&str>,
    host: Option<&str>,
    path_and_query: &str,
) -> Option<Routed> {
    match routing {
        HttpRouting::Path => {
            let after = path_and_query.strip_prefix('/')?;
            let end = after.find(['/', '?']).unwrap_or(after.len());
            let (target, rest) = after.split_at(end);
            if target.is_empty() {
                return None;
            }
            let rest = if rest.starts_with('/') {
                rest.to_owned()
            } else {
                format!("/{rest}")
            };
            Some(Routed {
                target: target.to_owned(),
                rest,
            })
        }
        HttpRouting::Host => {
            let domain = domain?;
            let host = host?.to_ascii_lowercase();
            let host = strip_port(&host);
            let label = host.strip_suffix(domain)?.strip_suffix('.')?;
            if label.is_empty() || label.contains('.') {
                return None;
            }
            Some(Routed {
                target: label.to_owned(),
                rest: path_and_query.to_owned(),
            })
        }
    }
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Option<(String, String)> {
        route(HttpRouting::Path, None, None, p).map(|r| (r.target, r.rest))
    }

    #[test]
    fn path_routing_takes_the_first_segment() {
        assert_eq!(path("/api/hello"), Some(("api".into(), "/hello".into())));
        assert_eq!(path("/api"), Some(("api".into(), "/".into())));
        assert_eq!(path("/api?x=1"), Some(("api".into(), "/?x=1".into())));
        assert_eq!(
            path("/kube/api/v1/pods?watch=1"),
            Some(("kube".into(), "/api/v1/pods?watch=1".into()))
        );
        assert_eq!(path("/"), None);
        assert_eq!(path("//x"), None);
        assert_eq!(path("x"), None);
    }

    #[test]
    fn host_routing_takes_the_label_under_the_domain() {
        let r = |h| route(HttpRouting::Host, Some("gw.example"), Some(h), "/p").map(|r| r.target);
        assert_eq!(r("api.gw.example"), Some("api".into()));
        assert_eq!(r("API.gw.example:8443"), Some("api".into()));
        assert_eq!(r("a.b.gw.example"), None);
        assert_eq!(r("gw.example"), None);
        assert_eq!(r("api.other.example"), None);
        assert_eq!(r("apigw.example"), None);
    }
}
