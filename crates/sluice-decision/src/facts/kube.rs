//! A Kubernetes API request, described as the API server describes requests to its own
//! authorisation (its RequestInfo), so that rules read like RBAC rules.

use serde::Serialize;

/// What a Kubernetes API request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KubeVerb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    Deletecollection,
    /// Through the API server to a pod, service or node (`.../proxy`).
    Proxy,
    /// A stream into a pod: `exec`, `attach`, `portforward` (the subresource says which).
    /// Named as the API server's admission names it, whichever HTTP method opened the
    /// stream, so that one rule covers both.
    Connect,
}

impl KubeVerb {
    pub const fn as_str(self) -> &'static str {
        match self {
            KubeVerb::Get => "get",
            KubeVerb::List => "list",
            KubeVerb::Watch => "watch",
            KubeVerb::Create => "create",
            KubeVerb::Update => "update",
            KubeVerb::Patch => "patch",
            KubeVerb::Delete => "delete",
            KubeVerb::Deletecollection => "deletecollection",
            KubeVerb::Proxy => "proxy",
            KubeVerb::Connect => "connect",
        }
    }
}

/// One request to the Kubernetes API.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct KubeRequest {
    pub verb: KubeVerb,
    /// The URL path without the query; the only fact besides `verb` for requests that name
    /// no resource (`/version`, `/healthz`, discovery under `/api` and `/apis`).
    pub path: String,
    /// `""` for the core group (pods, secrets, ...), else e.g. `apps`.
    pub api_group: String,
    /// `v1`, `v1beta1`, ...; `""` when the request names no resource.
    pub api_version: String,
    /// Plural, lower case: `pods`, `deployments`; `""` when the request names no resource.
    pub resource: String,
    /// `exec`, `log`, `status`, `scale`, ...
    pub subresource: Option<String>,
    /// `None` for cluster-scoped resources and for requests across all namespaces; for a
    /// namespace itself (`namespaces/NAME`, its `status`, `finalize`), its own name, as the
    /// API server's authorisation has it.
    pub namespace: Option<String>,
    /// `None` for a collection (list, watch, create, deletecollection), except a list or
    /// watch whose field selector requires `metadata.name`: that name, as on the server.
    pub name: Option<String>,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    /// The request asked for `dryRun=All`: nothing will be persisted. Only ever for writes
    /// (create, update, patch from the query; delete, deletecollection from the body's
    /// options when there is a body).
    pub dry_run: bool,
    /// For `exec` and `attach`: the container, `None` when the pod's default is used.
    pub container: Option<String>,
    /// For `exec`: the command, one element per argument; `None` otherwise.
    pub command: Option<Vec<String>>,
}
