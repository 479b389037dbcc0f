//! Routing, authentication, discovery and the REST verbs on stored objects.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::objects::{self, Kind, WriteError, KINDS};
use super::{exec, logs, portforward, table, SeenRequest, State};

pub type Body = UnsyncBoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

/// A body fed line by line from the returned sender; the sender's `closed()` tells the
/// producer that the client went away (hyper drops the body then).
pub fn streaming() -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    (tx, BodyExt::boxed_unsync(StreamBody::new(stream)))
}

pub fn json_response(code: StatusCode, value: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(full(serde_json::to_vec(value).unwrap()))
        .unwrap()
}

/// A Kubernetes `Status` failure, the error shape kubectl decodes and prints.
pub fn status_error(
    code: u16,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Response<Body> {
    let mut status = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    });
    if let Some(d) = details {
        status["details"] = d;
    }
    json_response(StatusCode::from_u16(code).unwrap(), &status)
}

fn not_found(kind: &Kind, name: &str) -> Response<Body> {
    status_error(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", kind.resource),
        Some(json!({"name": name, "kind": kind.resource})),
    )
}

fn no_route() -> Response<Body> {
    status_error(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(
            json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]}),
        ),
    )
}

/// Query parameters, percent-decoded, in order (repeats kept: `command` is one per word).
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The subprotocol a WebSocket upgrade gets, or "SPDY/3.1" for a SPDY upgrade.
fn upgrade_of(req: &Request<Incoming>) -> Option<String> {
    let upgrade = req.headers().get("upgrade")?.to_str().ok()?;
    if upgrade.eq_ignore_ascii_case("websocket") {
        let offered = req
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let supported: &[&str] = if req.uri().path().ends_with("/portforward") {
            portforward::WEBSOCKET_PROTOCOLS
        } else {
            exec::WEBSOCKET_PROTOCOLS
        };
        super::websocket::choose(&offered, supported)
    } else {
        Some(upgrade.to_owned())
    }
}

pub async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let upgrade = upgrade_of(&req);
    state.requests.lock().unwrap().push(SeenRequest {
        method: req.method().as_str().to_owned(),
        path: path.clone(),
        query: query.clone(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        upgrade: upgrade.clone(),
        version: format!("{:?}", req.version()),
    });
    let expected = format!("Bearer {}", state.token);
    if req.headers().get("authorization").map(|v| v.as_bytes()) != Some(expected.as_bytes()) {
        return status_error(401, "Unauthorized", "Unauthorized", None);
    }
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let q = Query::parse(&query);
    match segs.as_slice() {
        ["version"] => json_response(StatusCode::OK, &version()),
        ["api"] => json_response(
            StatusCode::OK,
            &json!({"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                     "serverAddress": state.addr.to_string()}]}),
        ),
        ["apis"] => json_response(StatusCode::OK, &group_list()),
        ["apis", "apps"] => json_response(StatusCode::OK, &apps_group()),
        ["openapi", "v3"] => json_response(
            StatusCode::OK,
            &json!({"paths": {
                "api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=F1XTURE1"},
                "apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=F1XTURE2"}}}),
        ),
        ["openapi", "v3", "api", "v1"] => json_response(StatusCode::OK, &openapi_v3("v1")),
        ["openapi", "v3", "apis", "apps", "v1"] => {
            json_response(StatusCode::OK, &openapi_v3("apps/v1"))
        }
        ["api", "v1"] => json_response(StatusCode::OK, &resource_list("v1")),
        ["apis", "apps", "v1"] => json_response(StatusCode::OK, &resource_list("apps/v1")),
        ["api", "v1", rest @ ..] => resource(&state, req, q, upgrade, "v1", rest).await,
        ["apis", "apps", "v1", rest @ ..] => {
            resource(&state, req, q, upgrade, "apps/v1", rest).await
        }
        _ => no_route(),
    }
}

fn version() -> Value {
    json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0-sluice-fixture",
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
           "platform": "linux/amd64"})
}

fn apps_group() -> Value {
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": "apps",
           "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
           "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}})
}

/// The legacy discovery list. kubectl also asks for aggregated discovery
/// (`as=APIGroupDiscoveryList`) but falls back to this when the reply's Content-Type is
/// plain `application/json`.
fn group_list() -> Value {
    let mut group = apps_group();
    group.as_object_mut().unwrap().remove("kind");
    group.as_object_mut().unwrap().remove("apiVersion");
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]})
}

fn resource_list(group_version: &str) -> Value {
    let mut resources = Vec::new();
    for k in KINDS.iter().filter(|k| k.group_version == group_version) {
        let mut verbs = vec![
            "create", "delete", "get", "list", "patch", "update", "watch",
        ];
        if k.namespaced {
            verbs.push("deletecollection");
        }
        resources.push(
            json!({"name": k.resource, "singularName": k.kind.to_lowercase(),
                              "namespaced": k.namespaced, "kind": k.kind, "verbs": verbs,
                              "shortNames": k.short_names}),
        );
        for sub in k.subresources {
            let (kind, verbs): (&str, &[&str]) = match *sub {
                "log" => ("Pod", &["get"]),
                "exec" => ("PodExecOptions", &["create", "get"]),
                "attach" => ("PodAttachOptions", &["create", "get"]),
                "portforward" => ("PodPortForwardOptions", &["create", "get"]),
                "scale" => ("Scale", &["get", "patch", "update"]),
                _ => (k.kind, &["get", "patch", "update"]),
            };
            let mut entry = json!({"name": format!("{}/{sub}", k.resource), "singularName": "",
                                   "namespaced": k.namespaced, "kind": kind, "verbs": verbs});
            if *sub == "scale" {
                entry["group"] = json!("autoscaling");
                entry["version"] = json!("v1");
            }
            resources.push(entry);
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
           "resources": resources})
}

/// A skeleton OpenAPI v3 document: only the PATCH operations with their GVK extension and
/// `fieldValidation` parameter, which is what kubectl reads to decide that the server
/// validates (`--validate=strict`, its default) instead of fetching schemas to validate itself.
/// There are no schemas: kubectl then builds apply patches from the types it has compiled in.
fn openapi_v3(group_version: &str) -> Value {
    let (group, version) = group_version.split_once('/').unwrap_or(("", group_version));
    let prefix = if group.is_empty() {
        "/api/v1".to_owned()
    } else {
        format!("/apis/{group_version}")
    };
    let mut paths = serde_json::Map::new();
    for k in KINDS.iter().filter(|k| k.group_version == group_version) {
        let path = if k.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", k.resource)
        } else {
            format!("{prefix}/{}/{{name}}", k.resource)
        };
        let operation = json!({
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": k.kind},
            "parameters": [{"name": "fieldValidation", "in": "query",
                            "schema": {"type": "string", "uniqueItems": true}}],
            "responses": {"200": {"description": "OK"}}});
        paths.insert(path, json!({"patch": operation}));
    }
    json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
           "paths": paths, "components": {"schemas": {}}})
}

fn wants_table(req: &Request<Incoming>) -> bool {
    req.headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

fn dry_run(q: &Query, body: &Value) -> bool {
    q.get("dryRun") == Some("All")
        || body["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "All"))
}

async fn body_json(req: Request<Incoming>) -> Result<Value, Response<Body>> {
    let protobuf = req.headers().get("content-type").is_some_and(|v| {
        v.as_bytes()
            .starts_with(b"application/vnd.kubernetes.protobuf")
    });
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    if protobuf {
        return super::protobuf::decode(&bytes).ok_or_else(|| {
            status_error(
                415,
                "UnsupportedMediaType",
                "this fixture reads protobuf for ConfigMap, Secret and Namespace only",
                None,
            )
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        status_error(
            400,
            "BadRequest",
            &format!("the body is not JSON: {e}"),
            None,
        )
    })
}

fn write_error(kind: &Kind, name: &str, e: WriteError) -> Response<Body> {
    match e {
        WriteError::NotFound => not_found(kind, name),
        WriteError::AlreadyExists => status_error(
            409,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", kind.resource),
            Some(json!({"name": name, "kind": kind.resource})),
        ),
        WriteError::Invalid(m) => status_error(
            422,
            "Invalid",
            &format!("{} \"{name}\" is invalid: {m}", kind.kind),
            Some(json!({"name": name, "kind": kind.kind})),
        ),
    }
}

async fn resource(
    state: &Arc<State>,
    req: Request<Incoming>,
    q: Query,
    upgrade: Option<String>,
    group_version: &str,
    rest: &[&str],
) -> Response<Body> {
    // /namespaces/NS/RESOURCE[/NAME[/SUB]] or /RESOURCE[/NAME[/SUB]].
    let (namespace, rest) = match rest {
        ["namespaces", ns, more @ ..] if !more.is_empty() => (Some(*ns), more),
        _ => (None, rest),
    };
    let Some((resource, rest)) = rest.split_first() else {
        return no_route();
    };
    let Some(kind) = objects::kind(group_version, resource) else {
        return no_route();
    };
    let name = rest.first().copied();
    let sub = rest.get(1).copied();
    if rest.len() > 2 || (kind.namespaced && name.is_some() && namespace.is_none()) {
        return no_route();
    }
    if !kind.namespaced && namespace.is_some() {
        return no_route();
    }
    let ns = namespace.unwrap_or("");
    let method = req.method().clone();
    let Some(name) = name else {
        return match method.as_str() {
            "GET" if q.flag("watch") => watch(state, &req, &q, kind, namespace),
            "GET" => list(state, &req, &q, kind, namespace),
            "POST" => {
                if kind.namespaced && namespace.is_none() {
                    return no_route();
                }
                let table = wants_table(&req);
                let body = match body_json(req).await {
                    Ok(b) => b,
                    Err(r) => return r,
                };
                create(state, &q, kind, ns, body, table)
            }
            _ => status_error(405, "MethodNotAllowed", "method not allowed", None),
        };
    };
    match (sub, method.as_str()) {
        (Some("log"), "GET") => logs::logs(state, &q, ns, name),
        (Some("exec" | "attach"), _) => exec::exec(state, req, &q, upgrade, ns, name),
        (Some("portforward"), _) => portforward::portforward(state, req, upgrade, ns, name),
        (Some("scale"), _) => scale(state, req, &q, kind, ns, name).await,
        (Some("status") | None, "GET") => {
            let table = wants_table(&req);
            match state.store.get(kind.resource, ns, name) {
                Some(o) if table => json_response(
                    StatusCode::OK,
                    &table::table(
                        kind.resource,
                        &[o],
                        q.get("includeObject"),
                        &state.store.resource_version(),
                    ),
                ),
                Some(o) => json_response(StatusCode::OK, &o),
                None => not_found(kind, name),
            }
        }
        (Some("status") | None, "PUT") => {
            let body = match body_json(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let result = state
                .store
                .update(kind.resource, ns, name, dry_run(&q, &body), |_| Ok(body));
            respond(kind, name, result, StatusCode::OK)
        }
        (Some("status") | None, "PATCH") => patch(state, req, &q, kind, ns, name).await,
        (None, "DELETE") => {
            let body = match body_json(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            match state
                .store
                .delete(kind.resource, ns, name, dry_run(&q, &body))
            {
                Ok(_) => json_response(
                    StatusCode::OK,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Success",
                            "details": {"name": name, "kind": kind.resource,
                                        "uid": ""}}),
                ),
                Err(e) => write_error(kind, name, e),
            }
        }
        _ => status_error(405, "MethodNotAllowed", "method not allowed", None),
    }
}

fn respond(
    kind: &Kind,
    name: &str,
    result: Result<Value, WriteError>,
    ok: StatusCode,
) -> Response<Body> {
    match result {
        Ok(o) => json_response(ok, &o),
        Err(e) => write_error(kind, name, e),
    }
}

fn matching(state: &State, q: &Query, kind: &Kind, namespace: Option<&str>) -> Vec<Value> {
    state
        .store
        .list(kind.resource, namespace)
        .into_iter()
        .filter(|o| selected(q, o))
        .collect()
}

fn selected(q: &Query, o: &Value) -> bool {
    q.get("labelSelector")
        .is_none_or(|s| objects::labels_match(o, s))
        && q.get("fieldSelector")
            .is_none_or(|s| objects::fields_match(o, s))
}

fn list(
    state: &State,
    req: &Request<Incoming>,
    q: &Query,
    kind: &Kind,
    namespace: Option<&str>,
) -> Response<Body> {
    let items = matching(state, q, kind, namespace);
    let rv = state.store.resource_version();
    if wants_table(req) {
        return json_response(
            StatusCode::OK,
            &table::table(kind.resource, &items, q.get("includeObject"), &rv),
        );
    }
    json_response(
        StatusCode::OK,
        &json!({"kind": format!("{}List", kind.kind), "apiVersion": kind.group_version,
                "metadata": {"resourceVersion": rv}, "items": items}),
    )
}

/// One JSON watch event per line: ADDED for what exists (unless the client resumes from a
/// resourceVersion), then changes as they happen, until the client leaves or
/// `timeoutSeconds` pass.
fn watch(
    state: &Arc<State>,
    req: &Request<Incoming>,
    q: &Query,
    kind: &'static Kind,
    namespace: Option<&str>,
) -> Response<Body> {
    let mut events = state.store.subscribe();
    let resume = q
        .get("resourceVersion")
        .is_some_and(|rv| !rv.is_empty() && rv != "0");
    let initial = if resume {
        Vec::new()
    } else {
        matching(state, q, kind, namespace)
    };
    let table = wants_table(req);
    let include = q.get("includeObject").map(str::to_owned);
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let label = q.get("labelSelector").map(str::to_owned);
    let field = q.get("fieldSelector").map(str::to_owned);
    let namespace = namespace.map(str::to_owned);
    let rv = state.store.resource_version();
    let (tx, body) = streaming();
    let guard = state.stream_guard();
    let line = move |kind_of_event: &str, object: &Value| {
        let object = if table {
            table::table(
                kind.resource,
                std::slice::from_ref(object),
                include.as_deref(),
                &rv,
            )
        } else {
            object.clone()
        };
        let mut text =
            serde_json::to_vec(&json!({"type": kind_of_event, "object": object})).unwrap();
        text.push(b'\n');
        Bytes::from(text)
    };
    tokio::spawn(async move {
        let _guard = guard;
        for o in &initial {
            if tx.send(line("ADDED", o)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(e) => {
                        let o = &e.object;
                        let same_ns = namespace.as_deref().is_none_or(|n| o["metadata"]["namespace"].as_str() == Some(n));
                        let selected = label.as_deref().is_none_or(|s| objects::labels_match(o, s))
                            && field.as_deref().is_none_or(|s| objects::fields_match(o, s));
                        if e.resource == kind.resource && same_ns && selected
                            && tx.send(line(e.kind, o)).await.is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                },
                _ = tx.closed() => return,
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    });
    Response::builder()
        .header("content-type", "application/json")
        .header("transfer-encoding", "chunked")
        .body(body)
        .unwrap()
}

fn create(
    state: &State,
    q: &Query,
    kind: &Kind,
    ns: &str,
    mut body: Value,
    table: bool,
) -> Response<Body> {
    if !body.is_object() {
        return status_error(400, "BadRequest", "the body must be an object", None);
    }
    if body["kind"].is_null() {
        body["kind"] = json!(kind.kind);
        body["apiVersion"] = json!(kind.group_version);
    }
    if !body["metadata"].is_object() {
        body["metadata"] = json!({});
    }
    let name = body["metadata"]["name"].as_str().unwrap_or("").to_owned();
    match state
        .store
        .create(kind.resource, ns, body, q.get("dryRun") == Some("All"))
    {
        Ok(o) if table => json_response(
            StatusCode::CREATED,
            &table::table(
                kind.resource,
                &[o],
                q.get("includeObject"),
                &state.store.resource_version(),
            ),
        ),
        Ok(o) => json_response(StatusCode::CREATED, &o),
        Err(e) => write_error(kind, &name, e),
    }
}

async fn patch(
    state: &State,
    req: Request<Incoming>,
    q: &Query,
    kind: &Kind,
    ns: &str,
    name: &str,
) -> Response<Body> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = match body_json(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let json_patch = content_type.starts_with("application/json-patch+json");
    if !json_patch
        && !content_type.starts_with("application/merge-patch+json")
        && !content_type.starts_with("application/strategic-merge-patch+json")
    {
        return status_error(
            415,
            "UnsupportedMediaType",
            &format!("the patch type {content_type:?} is not supported by this fixture"),
            None,
        );
    }
    let result = state
        .store
        .update(kind.resource, ns, name, dry_run(q, &Value::Null), |old| {
            let mut new = old.clone();
            if json_patch {
                objects::json_patch(&mut new, &body).map_err(WriteError::Invalid)?;
            } else {
                objects::merge_patch(&mut new, &body);
            }
            Ok(new)
        });
    respond(kind, name, result, StatusCode::OK)
}

/// `deployments/NAME/scale` as an autoscaling/v1 Scale, so `kubectl scale` works.
async fn scale(
    state: &State,
    req: Request<Incoming>,
    q: &Query,
    kind: &Kind,
    ns: &str,
    name: &str,
) -> Response<Body> {
    let as_scale = |o: &Value| {
        json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
               "metadata": {"name": name, "namespace": ns,
                            "resourceVersion": o["metadata"]["resourceVersion"],
                            "uid": o["metadata"]["uid"],
                            "creationTimestamp": o["metadata"]["creationTimestamp"]},
               "spec": {"replicas": o["spec"]["replicas"]},
               "status": {"replicas": o["status"]["replicas"], "selector": "app=web"}})
    };
    let method = req.method().as_str().to_owned();
    if method == "GET" {
        return match state.store.get(kind.resource, ns, name) {
            Some(o) => json_response(StatusCode::OK, &as_scale(&o)),
            None => not_found(kind, name),
        };
    }
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = match body_json(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let result = state
        .store
        .update(kind.resource, ns, name, dry_run(q, &Value::Null), |old| {
            let mut scale = as_scale(old);
            if method == "PUT" {
                scale = body.clone();
            } else if content_type.starts_with("application/json-patch+json") {
                objects::json_patch(&mut scale, &body).map_err(WriteError::Invalid)?;
            } else {
                objects::merge_patch(&mut scale, &body);
            }
            let mut new = old.clone();
            new["spec"]["replicas"] = scale["spec"]["replicas"].clone();
            for field in [
                "replicas",
                "readyReplicas",
                "updatedReplicas",
                "availableReplicas",
            ] {
                new["status"][field] = scale["spec"]["replicas"].clone();
            }
            Ok(new)
        })
        .map(|o| as_scale(&o));
    respond(kind, name, result, StatusCode::OK)
}
