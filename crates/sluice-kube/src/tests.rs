//! Request shapes kubectl (1.30 and later) and curl users send, with the facts each must
//! give, and the requests that must be refused.

use sluice_decision::{KubeRequest, KubeVerb};

use crate::{classify, delete_dry_run, limits, KubeError};

use KubeVerb::*;

/// Facts of a request that names no resource.
fn plain(verb: KubeVerb, path: &str) -> KubeRequest {
    KubeRequest {
        verb,
        path: path.to_owned(),
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
    }
}

/// Facts of a resource request; the builder methods below fill in the rest.
fn res(verb: KubeVerb, path: &str, group: &str, version: &str, resource: &str) -> KubeRequest {
    KubeRequest {
        api_group: group.to_owned(),
        api_version: version.to_owned(),
        resource: resource.to_owned(),
        ..plain(verb, path)
    }
}

/// A core-group (`/api/v1`) resource.
fn v1(verb: KubeVerb, path: &str, resource: &str) -> KubeRequest {
    res(verb, path, "", "v1", resource)
}

trait Build {
    fn ns(self, ns: &str) -> Self;
    fn name(self, name: &str) -> Self;
    fn sub(self, sub: &str) -> Self;
    fn labels(self, selector: &str) -> Self;
    fn fields(self, selector: &str) -> Self;
    fn dry(self) -> Self;
    fn container(self, container: &str) -> Self;
    fn command(self, argv: &[&str]) -> Self;
}

impl Build for KubeRequest {
    fn ns(mut self, ns: &str) -> Self {
        self.namespace = Some(ns.to_owned());
        self
    }
    fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
    fn sub(mut self, sub: &str) -> Self {
        self.subresource = Some(sub.to_owned());
        self
    }
    fn labels(mut self, selector: &str) -> Self {
        self.label_selector = Some(selector.to_owned());
        self
    }
    fn fields(mut self, selector: &str) -> Self {
        self.field_selector = Some(selector.to_owned());
        self
    }
    fn dry(mut self) -> Self {
        self.dry_run = true;
        self
    }
    fn container(mut self, container: &str) -> Self {
        self.container = Some(container.to_owned());
        self
    }
    fn command(mut self, argv: &[&str]) -> Self {
        self.command = Some(argv.iter().map(|a| (*a).to_owned()).collect());
        self
    }
}

const POD: &str = "/api/v1/namespaces/shop/pods/web-0";
const PODS: &str = "/api/v1/namespaces/shop/pods";
const DEPLOY: &str = "/apis/apps/v1/namespaces/shop/deployments/web";

/// (what kubectl or curl did, method, path?query, facts).
fn table() -> Vec<(&'static str, &'static str, String, KubeRequest)> {
    let pod = || v1(Get, POD, "pods").ns("shop").name("web-0");
    let exec_path = format!("{POD}/exec");
    vec![
        // Reads.
        ("get pod web-0", "GET", POD.into(), pod()),
        ("get pod (HEAD)", "HEAD", POD.into(), pod()),
        ("get pod -o yaml, name percent-encoded", "GET", "/api/v1/namespaces/%73hop/pods/web%2D0".into(), pod()),
        ("get pods", "GET", format!("{PODS}?limit=500"), v1(List, PODS, "pods").ns("shop")),
        ("get pods -A", "GET", "/api/v1/pods?limit=500".into(), v1(List, "/api/v1/pods", "pods")),
        (
            "get pods -l app=web,tier in (a,b)",
            "GET",
            format!("{PODS}?labelSelector=app%3Dweb%2Ctier+in+%28a%2Cb%29&limit=500"),
            v1(List, PODS, "pods").ns("shop").labels("app=web,tier in (a,b)"),
        ),
        (
            "get pods --field-selector status.phase=Running",
            "GET",
            format!("{PODS}?fieldSelector=status.phase%3DRunning&limit=500"),
            v1(List, PODS, "pods").ns("shop").fields("status.phase=Running"),
        ),
        (
            "get pods --field-selector metadata.name=web-0: narrowed to the name",
            "GET",
            format!("{PODS}?fieldSelector=metadata.name%3Dweb-0"),
            v1(List, PODS, "pods").ns("shop").name("web-0").fields("metadata.name=web-0"),
        ),
        (
            "get pods -w",
            "GET",
            format!("{PODS}?resourceVersion=4711&watch=true"),
            v1(Watch, PODS, "pods").ns("shop"),
        ),
        (
            "get pod web-0 -w: a watch narrowed by field selector",
            "GET",
            format!("{PODS}?fieldSelector=metadata.name%3Dweb-0&resourceVersion=4711&watch=true"),
            v1(Watch, PODS, "pods").ns("shop").name("web-0").fields("metadata.name=web-0"),
        ),
        ("watch=1", "GET", format!("{PODS}?watch=1"), v1(Watch, PODS, "pods").ns("shop")),
        ("watch=yes reads as true on the server", "GET", format!("{PODS}?watch=yes"), v1(Watch, PODS, "pods").ns("shop")),
        ("watch=false", "GET", format!("{PODS}?watch=false"), v1(List, PODS, "pods").ns("shop")),
        ("watch=0", "GET", format!("{PODS}?watch=0"), v1(List, PODS, "pods").ns("shop")),
        ("watch=FALſE folds to false on the server", "GET", format!("{PODS}?watch=FAL%C5%BFE"), v1(List, PODS, "pods").ns("shop")),
        ("watch= (empty) reads as true", "GET", format!("{PODS}?watch="), v1(Watch, PODS, "pods").ns("shop")),
        ("watch on a named get is a get", "GET", format!("{POD}?watch=true"), pod()),
        (
            "legacy /watch/ prefix on a collection, with a selector",
            "GET",
            "/api/v1/watch/namespaces/shop/pods?labelSelector=app%3Dweb".into(),
            v1(Watch, "/api/v1/watch/namespaces/shop/pods", "pods").ns("shop").labels("app=web"),
        ),
        (
            "legacy /watch/ prefix on one object",
            "GET",
            "/api/v1/watch/namespaces/shop/pods/web-0".into(),
            v1(Watch, "/api/v1/watch/namespaces/shop/pods/web-0", "pods").ns("shop").name("web-0"),
        ),
        (
            "logs -f -c c",
            "GET",
            format!("{POD}/log?container=c&follow=true"),
            v1(Get, &format!("{POD}/log"), "pods").ns("shop").name("web-0").sub("log"),
        ),
        // Streams.
        (
            "exec -it -c c -- sh -c ls (WebSocket)",
            "GET",
            format!("{exec_path}?command=sh&command=-c&command=ls&container=c&stdin=true&stdout=true&stderr=true&tty=true"),
            v1(Connect, &exec_path, "pods").ns("shop").name("web-0").sub("exec").container("c").command(&["sh", "-c", "ls"]),
        ),
        (
            "exec over SPDY (POST), arguments encoded",
            "POST",
            format!("{exec_path}?command=echo&command=hello+world&command=a%26b%3Dc&stdout=true"),
            v1(Connect, &exec_path, "pods").ns("shop").name("web-0").sub("exec").command(&["echo", "hello world", "a&b=c"]),
        ),
        (
            "exec -- sh -c with a two-line script",
            "POST",
            format!("{exec_path}?command=sh&command=-c&command=echo+a%0Aecho+b&stdout=true"),
            v1(Connect, &exec_path, "pods").ns("shop").name("web-0").sub("exec").command(&["sh", "-c", "echo a\necho b"]),
        ),
        (
            "exec with an empty container: the default one",
            "POST",
            format!("{exec_path}?command=id&container="),
            v1(Connect, &exec_path, "pods").ns("shop").name("web-0").sub("exec").command(&["id"]),
        ),
        (
            "exec without a command (the server refuses it; the facts say so)",
            "POST",
            format!("{exec_path}?stdout=true"),
            v1(Connect, &exec_path, "pods").ns("shop").name("web-0").sub("exec").command(&[]),
        ),
        (
            "exec with dryRun=All: a stream ignores it",
            "POST",
            format!("{exec_path}?command=id&dryRun=All"),
            v1(Connect, &exec_path, "pods").ns("shop").name("web-0").sub("exec").command(&["id"]),
        ),
        (
            "attach -c c -i -t",
            "POST",
            format!("{POD}/attach?container=c&stdin=true&stdout=true&tty=true"),
            v1(Connect, &format!("{POD}/attach"), "pods").ns("shop").name("web-0").sub("attach").container("c"),
        ),
        (
            "port-forward over SPDY",
            "POST",
            format!("{POD}/portforward"),
            v1(Connect, &format!("{POD}/portforward"), "pods").ns("shop").name("web-0").sub("portforward"),
        ),
        (
            "port-forward over WebSocket",
            "GET",
            format!("{POD}/portforward?ports=8080"),
            v1(Connect, &format!("{POD}/portforward"), "pods").ns("shop").name("web-0").sub("portforward"),
        ),
        (
            "an `exec` subresource outside the core group is not a pod stream",
            "GET",
            "/apis/example.com/v1/namespaces/shop/pods/web-0/exec".into(),
            res(Get, "/apis/example.com/v1/namespaces/shop/pods/web-0/exec", "example.com", "v1", "pods").ns("shop").name("web-0").sub("exec"),
        ),
        // Proxies.
        (
            "pods/proxy with a proxied path",
            "GET",
            "/api/v1/namespaces/shop/pods/web-0:8080/proxy/metrics?x=1".into(),
            v1(Proxy, "/api/v1/namespaces/shop/pods/web-0:8080/proxy/metrics", "pods").ns("shop").name("web-0:8080").sub("proxy"),
        ),
        (
            "services/proxy root, trailing slash",
            "GET",
            "/api/v1/namespaces/shop/services/http:web:80/proxy/".into(),
            v1(Proxy, "/api/v1/namespaces/shop/services/http:web:80/proxy/", "services").ns("shop").name("http:web:80").sub("proxy"),
        ),
        (
            "nodes/proxy (kubectl get --raw .../stats/summary)",
            "GET",
            "/api/v1/nodes/node-1/proxy/stats/summary".into(),
            v1(Proxy, "/api/v1/nodes/node-1/proxy/stats/summary", "nodes").name("node-1").sub("proxy"),
        ),
        (
            "pods/proxy by POST is still proxy",
            "POST",
            "/api/v1/namespaces/shop/pods/web-0/proxy/hook".into(),
            v1(Proxy, "/api/v1/namespaces/shop/pods/web-0/proxy/hook", "pods").ns("shop").name("web-0").sub("proxy"),
        ),
        (
            "legacy /api/v1/proxy/ prefix",
            "GET",
            "/api/v1/proxy/namespaces/shop/pods/web-0/metrics".into(),
            v1(Proxy, "/api/v1/proxy/namespaces/shop/pods/web-0/metrics", "pods").ns("shop").name("web-0").sub("proxy"),
        ),
        (
            "legacy proxy to a node, trailing slash",
            "GET",
            "/api/v1/proxy/nodes/node-1/".into(),
            v1(Proxy, "/api/v1/proxy/nodes/node-1/", "nodes").name("node-1").sub("proxy"),
        ),
        // Writes.
        (
            "create -f configmap.yaml",
            "POST",
            "/api/v1/namespaces/shop/configmaps?fieldManager=kubectl-create&fieldValidation=Strict".into(),
            v1(Create, "/api/v1/namespaces/shop/configmaps", "configmaps").ns("shop"),
        ),
        (
            "create --dry-run=server",
            "POST",
            "/api/v1/namespaces/shop/configmaps?dryRun=All&fieldManager=kubectl-create".into(),
            v1(Create, "/api/v1/namespaces/shop/configmaps", "configmaps").ns("shop").dry(),
        ),
        (
            "create with dryRun=All twice",
            "POST",
            "/api/v1/namespaces/shop/configmaps?dryRun=All&dryRun=All".into(),
            v1(Create, "/api/v1/namespaces/shop/configmaps", "configmaps").ns("shop").dry(),
        ),
        (
            "create with an invalid dryRun value is no dry run",
            "POST",
            "/api/v1/namespaces/shop/configmaps?dryRun=All&dryRun=all".into(),
            v1(Create, "/api/v1/namespaces/shop/configmaps", "configmaps").ns("shop"),
        ),
        (
            "apply --server-side (PATCH application/apply-patch+yaml)",
            "PATCH",
            format!("{DEPLOY}?fieldManager=kubectl&fieldValidation=Strict&force=false"),
            res(Patch, DEPLOY, "apps", "v1", "deployments").ns("shop").name("web"),
        ),
        (
            "apply --server-side --dry-run=server",
            "PATCH",
            format!("{DEPLOY}?dryRun=All&fieldManager=kubectl&force=false"),
            res(Patch, DEPLOY, "apps", "v1", "deployments").ns("shop").name("web").dry(),
        ),
        (
            "replace -f (PUT)",
            "PUT",
            "/api/v1/namespaces/shop/configmaps/settings?fieldManager=kubectl-replace".into(),
            v1(Update, "/api/v1/namespaces/shop/configmaps/settings", "configmaps").ns("shop").name("settings"),
        ),
        ("delete pod web-0", "DELETE", POD.into(), v1(Delete, POD, "pods").ns("shop").name("web-0")),
        (
            "delete --dry-run=server: kubectl puts dryRun in the body (see delete_dry_run)",
            "DELETE",
            POD.into(),
            v1(Delete, POD, "pods").ns("shop").name("web-0"),
        ),
        (
            "delete with dryRun in the query: unknown until the body is seen",
            "DELETE",
            format!("{POD}?dryRun=All"),
            v1(Delete, POD, "pods").ns("shop").name("web-0"),
        ),
        (
            "delete pods -l app=old as one deletecollection",
            "DELETE",
            format!("{PODS}?labelSelector=app%3Dold"),
            v1(Deletecollection, PODS, "pods").ns("shop").labels("app=old"),
        ),
        (
            "get the scale subresource",
            "GET",
            format!("{DEPLOY}/scale"),
            res(Get, &format!("{DEPLOY}/scale"), "apps", "v1", "deployments").ns("shop").name("web").sub("scale"),
        ),
        (
            "scale --replicas=3",
            "PATCH",
            format!("{DEPLOY}/scale?fieldManager=kubectl-scale"),
            res(Patch, &format!("{DEPLOY}/scale"), "apps", "v1", "deployments").ns("shop").name("web").sub("scale"),
        ),
        (
            "update a pod's status",
            "PUT",
            format!("{POD}/status"),
            v1(Update, &format!("{POD}/status"), "pods").ns("shop").name("web-0").sub("status"),
        ),
        (
            "drain: evict a pod",
            "POST",
            format!("{POD}/eviction"),
            v1(Create, &format!("{POD}/eviction"), "pods").ns("shop").name("web-0").sub("eviction"),
        ),
        (
            "auth can-i",
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews".into(),
            res(Create, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"),
        ),
        // Custom resources and other groups.
        (
            "get certificates (a CRD)",
            "GET",
            "/apis/cert-manager.io/v1/namespaces/shop/certificates?limit=500".into(),
            res(List, "/apis/cert-manager.io/v1/namespaces/shop/certificates", "cert-manager.io", "v1", "certificates").ns("shop"),
        ),
        (
            "get crd (cluster-scoped)",
            "GET",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/certificates.cert-manager.io".into(),
            res(Get, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/certificates.cert-manager.io", "apiextensions.k8s.io", "v1", "customresourcedefinitions")
                .name("certificates.cert-manager.io"),
        ),
        (
            "top pods",
            "GET",
            "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods".into(),
            res(List, "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods", "metrics.k8s.io", "v1beta1", "pods").ns("shop"),
        ),
        // Namespaces themselves: the namespace of a namespace is its own name, as on the server.
        ("get namespaces", "GET", "/api/v1/namespaces".into(), v1(List, "/api/v1/namespaces", "namespaces")),
        ("create namespace", "POST", "/api/v1/namespaces".into(), v1(Create, "/api/v1/namespaces", "namespaces")),
        (
            "get namespace shop",
            "GET",
            "/api/v1/namespaces/shop".into(),
            v1(Get, "/api/v1/namespaces/shop", "namespaces").ns("shop").name("shop"),
        ),
        (
            "delete namespace shop",
            "DELETE",
            "/api/v1/namespaces/shop".into(),
            v1(Delete, "/api/v1/namespaces/shop", "namespaces").ns("shop").name("shop"),
        ),
        (
            "a namespace's status",
            "GET",
            "/api/v1/namespaces/shop/status".into(),
            v1(Get, "/api/v1/namespaces/shop/status", "namespaces").ns("shop").name("shop").sub("status"),
        ),
        (
            "finalize a namespace",
            "PUT",
            "/api/v1/namespaces/shop/finalize".into(),
            v1(Update, "/api/v1/namespaces/shop/finalize", "namespaces").ns("shop").name("shop").sub("finalize"),
        ),
        // Cluster-scoped nodes.
        ("get nodes", "GET", "/api/v1/nodes".into(), v1(List, "/api/v1/nodes", "nodes")),
        ("get node node-1", "GET", "/api/v1/nodes/node-1".into(), v1(Get, "/api/v1/nodes/node-1", "nodes").name("node-1")),
        ("cordon node-1", "PATCH", "/api/v1/nodes/node-1".into(), v1(Patch, "/api/v1/nodes/node-1", "nodes").name("node-1")),
        // Requests that name no resource.
        ("version", "GET", "/version?timeout=32s".into(), plain(Get, "/version")),
        ("healthz", "GET", "/healthz".into(), plain(Get, "/healthz")),
        ("readyz?verbose", "GET", "/readyz?verbose".into(), plain(Get, "/readyz")),
        ("root", "GET", "/".into(), plain(Get, "/")),
        ("openapi v2", "GET", "/openapi/v2".into(), plain(Get, "/openapi/v2")),
        ("openapi v3 of a group", "GET", "/openapi/v3/apis/apps/v1".into(), plain(Get, "/openapi/v3/apis/apps/v1")),
        ("discovery /api", "GET", "/api".into(), plain(Get, "/api")),
        ("discovery /api/v1", "GET", "/api/v1".into(), plain(Get, "/api/v1")),
        ("discovery /apis", "GET", "/apis".into(), plain(Get, "/apis")),
        ("discovery /apis/apps", "GET", "/apis/apps".into(), plain(Get, "/apis/apps")),
        ("discovery /apis/apps/v1", "GET", "/apis/apps/v1".into(), plain(Get, "/apis/apps/v1")),
        ("a POST that names no resource", "POST", "/apis/apps".into(), plain(Create, "/apis/apps")),
    ]
}

#[test]
fn kubectl_requests_give_the_servers_facts() {
    let table = table();
    assert!(table.len() >= 40, "{}", table.len());
    for (what, method, target, want) in table {
        let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
        let got = classify(method, path, query);
        assert_eq!(got.as_ref(), Ok(&want), "{what}: {method} {target}");
    }
}

#[test]
fn ambiguous_requests_are_refused() {
    let long_path = format!("/api/v1/namespaces/{}", "a".repeat(limits::MAX_PATH));
    let long_query = format!("labelSelector={}", "a".repeat(limits::MAX_QUERY));
    let refusals: Vec<(&str, &str, &str, &str, KubeError)> = vec![
        (
            "dot-dot segment",
            "GET",
            "/api/v1/namespaces/shop/pods/../secrets",
            "",
            KubeError::DotSegment,
        ),
        (
            "encoded dot-dot",
            "GET",
            "/api/v1/namespaces/shop/%2e%2E/secrets",
            "",
            KubeError::DotSegment,
        ),
        (
            "dot segment",
            "GET",
            "/api/v1/./pods",
            "",
            KubeError::DotSegment,
        ),
        (
            "encoded slash",
            "GET",
            "/api/v1/namespaces/shop%2Fx/pods",
            "",
            KubeError::SlashInSegment,
        ),
        (
            "encoded slash, lower case",
            "GET",
            "/api/v1/namespaces/shop/pods/a%2fb",
            "",
            KubeError::SlashInSegment,
        ),
        (
            "encoded backslash",
            "GET",
            "/api/v1/namespaces/shop/pods/a%5Cb",
            "",
            KubeError::SlashInSegment,
        ),
        (
            "raw backslash",
            "GET",
            "/api/v1/namespaces/shop/pods/a\\b",
            "",
            KubeError::SlashInSegment,
        ),
        (
            "empty segment",
            "GET",
            "/api/v1//pods",
            "",
            KubeError::EmptySegment,
        ),
        (
            "leading double slash",
            "GET",
            "//api/v1/pods",
            "",
            KubeError::EmptySegment,
        ),
        (
            "trailing slash",
            "GET",
            "/api/v1/pods/",
            "",
            KubeError::EmptySegment,
        ),
        (
            "trailing slash, no resource",
            "GET",
            "/version/",
            "",
            KubeError::EmptySegment,
        ),
        (
            "empty segment in a proxied path",
            "GET",
            "/api/v1/nodes/n/proxy/a//b",
            "",
            KubeError::EmptySegment,
        ),
        (
            "dot-dot in a proxied path",
            "GET",
            "/api/v1/nodes/n/proxy/../../secrets",
            "",
            KubeError::DotSegment,
        ),
        (
            "not UTF-8",
            "GET",
            "/api/v1/namespaces/%FF/pods",
            "",
            KubeError::NotUtf8("path"),
        ),
        (
            "not UTF-8 in the query",
            "GET",
            "/api/v1/pods",
            "labelSelector=%C3",
            KubeError::NotUtf8("query"),
        ),
        (
            "bad escape",
            "GET",
            "/api/v1/namespaces/%zz/pods",
            "",
            KubeError::BadEscape("path"),
        ),
        (
            "cut escape",
            "GET",
            "/api/v1/pods/a%4",
            "",
            KubeError::BadEscape("path"),
        ),
        (
            "bad escape in the query",
            "GET",
            "/api/v1/pods",
            "watch=%G1",
            KubeError::BadEscape("query"),
        ),
        (
            "NUL",
            "GET",
            "/api/v1/pods/a%00",
            "",
            KubeError::ControlCharacter("path"),
        ),
        (
            "raw space",
            "GET",
            "/api/v1/pods/a b",
            "",
            KubeError::ControlCharacter("path"),
        ),
        ("raw #", "GET", "/api/v1/pods/a#b", "", KubeError::Fragment),
        (
            "NUL in a command",
            "POST",
            "/api/v1/namespaces/s/pods/p/exec",
            "command=a%00b",
            KubeError::ControlCharacter("query"),
        ),
        (
            "path too long",
            "GET",
            &long_path,
            "",
            KubeError::TooLong {
                part: "path",
                len: long_path.len(),
                max: limits::MAX_PATH,
            },
        ),
        (
            "query too long",
            "GET",
            "/api/v1/pods",
            &long_query,
            KubeError::TooLong {
                part: "query",
                len: long_query.len(),
                max: limits::MAX_QUERY,
            },
        ),
        (
            "OPTIONS",
            "OPTIONS",
            "/api/v1/pods",
            "",
            KubeError::Method("OPTIONS".into()),
        ),
        (
            "lower-case method",
            "get",
            "/api/v1/pods",
            "",
            KubeError::Method("get".into()),
        ),
        (
            "CONNECT",
            "CONNECT",
            "/version",
            "",
            KubeError::Method("CONNECT".into()),
        ),
        (
            "relative path",
            "GET",
            "api/v1/pods",
            "",
            KubeError::NotAbsolute,
        ),
        ("empty path", "GET", "", "", KubeError::NotAbsolute),
        (
            "semicolon in the query",
            "GET",
            "/api/v1/pods",
            "watch=false;true",
            KubeError::Semicolon,
        ),
        (
            "repeated watch",
            "GET",
            "/api/v1/pods",
            "watch=false&watch=true",
            KubeError::Repeated("watch"),
        ),
        (
            "repeated selector",
            "GET",
            "/api/v1/pods",
            "labelSelector=a&labelSelector=b",
            KubeError::Repeated("labelSelector"),
        ),
        (
            "repeated container",
            "POST",
            "/api/v1/namespaces/s/pods/p/exec",
            "container=a&container=b&command=id",
            KubeError::Repeated("container"),
        ),
        (
            "watch prefix without a resource",
            "GET",
            "/api/v1/watch",
            "",
            KubeError::MissingResource("watch"),
        ),
        (
            "proxy prefix without a resource",
            "GET",
            "/apis/apps/v1/proxy",
            "",
            KubeError::MissingResource("proxy"),
        ),
        (
            "watch prefix by DELETE",
            "DELETE",
            "/api/v1/watch/pods",
            "",
            KubeError::WatchMethod("DELETE"),
        ),
        (
            "segments after the subresource",
            "POST",
            "/api/v1/namespaces/s/pods/p/exec/x",
            "",
            KubeError::TrailingSegments,
        ),
        (
            "segments after a namespace's status",
            "GET",
            "/api/v1/namespaces/s/status/x",
            "",
            KubeError::TrailingSegments,
        ),
    ];
    for (what, method, path, query, want) in refusals {
        let got = classify(method, path, query);
        assert_eq!(got, Err(want), "{what}: {method} {path}?{query}");
    }
}

#[test]
fn refusals_say_why() {
    let shown = KubeError::SlashInSegment.to_string();
    assert!(shown.contains("encoded `/`"), "{shown}");
    let shown = KubeError::TooLong {
        part: "path",
        len: 9000,
        max: 8192,
    }
    .to_string();
    assert_eq!(shown, "the path is 9000 bytes, over the limit of 8192");
    // A client's method is shown bounded.
    let Err(KubeError::Method(shown)) = classify(&"X".repeat(10_000), "/", "") else {
        panic!("a long method must be refused");
    };
    assert_eq!(shown.len(), 32);
}

#[test]
fn delete_options_come_from_the_body_when_there_is_one() {
    let body = br#"{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"],"propagationPolicy":"Background"}"#;
    assert!(delete_dry_run("", body), "kubectl delete --dry-run=server");
    assert!(!delete_dry_run(
        "dryRun=All",
        br#"{"kind":"DeleteOptions","apiVersion":"v1"}"#
    ));
    assert!(
        delete_dry_run("dryRun=All", b""),
        "curl -X DELETE ...?dryRun=All"
    );
    assert!(!delete_dry_run("", b""));
    assert!(!delete_dry_run("", br#"{"dryRun":["All","Bogus"]}"#));
    assert!(!delete_dry_run("", br#"{"dryRun":[true]}"#));
    assert!(!delete_dry_run("", br#"{"dryRun":[]}"#));
    assert!(!delete_dry_run("", b"\x6b\x38\x73\x00 protobuf"));
}

/// The docs' example (docs/policy.md, "kube") is what an exec gives.
#[test]
fn an_exec_serialises_as_documented() {
    let facts = classify(
        "POST",
        "/api/v1/namespaces/shop/pods/web-0/exec",
        "command=sh&command=-c&command=id&container=web&stdin=true&stdout=true&tty=true",
    )
    .unwrap();
    let want = serde_json::json!({
        "verb": "connect",
        "path": "/api/v1/namespaces/shop/pods/web-0/exec",
        "api_group": "",
        "api_version": "v1",
        "resource": "pods",
        "subresource": "exec",
        "namespace": "shop",
        "name": "web-0",
        "label_selector": null,
        "field_selector": null,
        "dry_run": false,
        "container": "web",
        "command": ["sh", "-c", "id"]
    });
    assert_eq!(serde_json::to_value(&facts).unwrap(), want);
}
