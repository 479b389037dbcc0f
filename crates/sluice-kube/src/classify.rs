//! One request line to kube facts, following the API server's request-info rules:
//!
//! - Only `/api/VERSION/...` (the core group) and `/apis/GROUP/VERSION/...` with at least
//!   one segment after the version name a resource; every other path (`/version`,
//!   `/healthz`, discovery at `/api`, `/api/v1`, `/apis`, `/apis/GROUP[/VERSION]`) names
//!   none, and its verb is the method's.
//! - After the version, `watch/` or `proxy/` is an older spelling of the verb.
//! - `namespaces/NS/...` scopes what follows to NS, except that `namespaces/NS`,
//!   `namespaces/NS/status` and `namespaces/NS/finalize` are the namespace object itself
//!   (whose namespace, as on the server, is its own name).
//! - What remains is `RESOURCE[/NAME[/SUBRESOURCE]]`; a read without a name is a list, or a
//!   watch when `watch` is set to anything but `false`/`0`, and narrows to one name when its
//!   field selector pins `metadata.name`; a delete without a name is a deletecollection.
//!
//! Beyond the server, as the facts define them: streams into pods (`exec`, `attach`,
//! `portforward`) are `connect` and proxying to pods, services and nodes is `proxy`, whatever
//! the method. And stricter than the server: anything it would route one way and a policy
//! could read another is refused (see `KubeError`).

use sluice_decision::{KubeRequest, KubeVerb};

use crate::method::Method;
use crate::options::dry_run_all;
use crate::path::{self, Segments};
use crate::query::Query;
use crate::selector::exact_name;
use crate::KubeError;

/// `namespaces/NS/status` is the namespace's status, where `namespaces/NS/pods` is the pods in
/// it: the server keeps this list so that it can tell the two apart.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];
/// Subresources of core pods that open a stream into the pod.
const POD_STREAMS: [&str; 3] = ["exec", "attach", "portforward"];
/// Core resources the API server proxies HTTP to (`.../NAME/proxy[/PATH]`).
const PROXIED: [&str; 3] = ["pods", "services", "nodes"];

/// A verb spelled in the path, before the resource (deprecated, still served).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathVerb {
    Watch,
    Proxy,
}

impl PathVerb {
    fn parse(segment: &str) -> Option<Self> {
        match segment {
            "watch" => Some(PathVerb::Watch),
            "proxy" => Some(PathVerb::Proxy),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            PathVerb::Watch => "watch",
            PathVerb::Proxy => "proxy",
        }
    }
}

/// Describes one Kubernetes API request: its HTTP method (upper case), its path as sent
/// (percent-encoded, without the query) and its raw query (without `?`, `""` for none).
///
/// A DELETE's `dry_run` is always `false` here: the server reads a delete's options from the
/// body when there is one (kubectl sends them there) and from the query only when there is
/// none; `delete_dry_run` decides once the body is known.
pub fn classify(method: &str, path: &str, query: &str) -> Result<KubeRequest, KubeError> {
    let method = Method::parse(method)?;
    let segments = path::split(path)?;
    let query = Query::parse(query)?;
    let parts = segments.parts.as_slice();
    let (api_group, after_group) = match parts {
        [prefix, rest @ ..] if prefix == "api" && rest.len() >= 2 => ("", rest),
        [prefix, group, rest @ ..] if prefix == "apis" && rest.len() >= 2 => (group.as_str(), rest),
        _ => return non_resource(method, &segments),
    };
    let [api_version, rest @ ..] = after_group else {
        return non_resource(method, &segments);
    };
    let (path_verb, rest) = match rest {
        [first, tail @ ..] => match PathVerb::parse(first) {
            Some(verb) if tail.is_empty() => return Err(KubeError::MissingResource(verb.as_str())),
            Some(verb) => (Some(verb), tail),
            None => (None, rest),
        },
        [] => return non_resource(method, &segments),
    };
    let (namespace, rest) = scope(rest);
    let Some((resource, rest)) = rest.split_first() else {
        return non_resource(method, &segments);
    };
    let path_name = rest.first();
    // The older proxy spelling takes no subresource: everything after the name is the
    // proxied path.
    let (subresource, tail) = match (path_verb, rest) {
        (Some(PathVerb::Proxy), [_, tail @ ..]) => (None, tail),
        (_, [_, sub, tail @ ..]) => (Some(sub.as_str()), tail),
        _ => (None, &[][..]),
    };

    let core = api_group.is_empty();
    let (mut verb, proxied) = match (path_verb, subresource) {
        (Some(PathVerb::Proxy), _) => (KubeVerb::Proxy, true),
        (Some(PathVerb::Watch), _) => match method {
            Method::Get | Method::Head => (KubeVerb::Watch, false),
            other => return Err(KubeError::WatchMethod(other.as_str())),
        },
        (None, Some(sub)) if core && resource == "pods" && POD_STREAMS.contains(&sub) => {
            (KubeVerb::Connect, false)
        }
        (None, Some("proxy")) if core && PROXIED.contains(&resource.as_str()) => {
            (KubeVerb::Proxy, true)
        }
        (None, _) => (method.verb(), false),
    };
    // Only a proxied path goes on past the subresource (or ends in `/`); anywhere else the
    // server ignores the rest for authorisation and then routes it nowhere useful.
    if !proxied {
        if !tail.is_empty() {
            return Err(KubeError::TrailingSegments);
        }
        if segments.trailing_slash {
            return Err(KubeError::EmptySegment);
        }
    }

    let mut name = path_name.cloned();
    if name.is_none() && verb == KubeVerb::Get {
        verb = match query.single("watch")? {
            Some(value) if !is_false(value) => KubeVerb::Watch,
            _ => KubeVerb::List,
        };
        name = query.single("fieldSelector")?.and_then(exact_name);
    }
    if name.is_none() && verb == KubeVerb::Delete {
        verb = KubeVerb::Deletecollection;
    }

    // The server filters collections by selectors; on one object by path it ignores them.
    let collection = path_name.is_none()
        && matches!(
            verb,
            KubeVerb::List | KubeVerb::Watch | KubeVerb::Deletecollection
        );
    let (label_selector, field_selector) = if collection {
        (
            owned(query.single("labelSelector")?),
            owned(query.single("fieldSelector")?),
        )
    } else {
        (None, None)
    };
    // Only writes take `dryRun` from the query; a stream or a read would ignore it, so a
    // policy must not see it there.
    let dry_run = matches!(verb, KubeVerb::Create | KubeVerb::Update | KubeVerb::Patch)
        && dry_run_all(query.all("dryRun"));
    let (container, command) = match (verb, subresource) {
        (KubeVerb::Connect, Some("exec")) => (
            container(&query)?,
            Some(query.all("command").map(str::to_owned).collect()),
        ),
        (KubeVerb::Connect, Some("attach")) => (container(&query)?, None),
        _ => (None, None),
    };

    Ok(KubeRequest {
        verb,
        path: segments.decoded(),
        api_group: api_group.to_owned(),
        api_version: api_version.clone(),
        resource: resource.clone(),
        subresource: if verb == KubeVerb::Proxy {
            Some("proxy".to_owned())
        } else {
            owned(subresource)
        },
        namespace,
        name,
        label_selector,
        field_selector,
        dry_run,
        container,
        command,
    })
}

/// Splits off `namespaces/NS` when what follows is in the namespace; leaves it when the
/// namespace itself is the resource.
fn scope(rest: &[String]) -> (Option<String>, &[String]) {
    match rest {
        [first, ns, tail @ ..] if first == "namespaces" => {
            let own = tail
                .first()
                .is_none_or(|t| NAMESPACE_SUBRESOURCES.contains(&t.as_str()));
            (Some(ns.clone()), if own { rest } else { tail })
        }
        _ => (None, rest),
    }
}

fn non_resource(method: Method, segments: &Segments) -> Result<KubeRequest, KubeError> {
    if segments.trailing_slash {
        return Err(KubeError::EmptySegment);
    }
    Ok(KubeRequest {
        verb: method.verb(),
        path: segments.decoded(),
        api_group: String::new(),
        api_version: String::new(),
        resource: String::new(),
        subresource: None,
        namespace: None,
        name: None,
        label_selector: None,
        field_selector: None,
        dry_run: false,
        container: None,
        command: None,
    })
}

/// The server reads a boolean parameter as false only for `0` and `false` in any case, by
/// Unicode case folding (Go's `strings.EqualFold`), where the long s `ſ` folds to `s`; no
/// other letter of `false` has a non-ASCII fold.
fn is_false(value: &str) -> bool {
    value == "0" || value.to_lowercase().replace('ſ', "s") == "false"
}

/// An empty `container=` is the pod's default container, as no parameter is.
fn container(query: &Query) -> Result<Option<String>, KubeError> {
    Ok(query
        .single("container")?
        .filter(|c| !c.is_empty())
        .map(str::to_owned))
}

fn owned(value: Option<&str>) -> Option<String> {
    value.map(str::to_owned)
}
