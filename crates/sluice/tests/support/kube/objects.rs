//! The objects the fixture serves, kept in memory, and the watch events their changes make.

use std::collections::BTreeMap;
use std::sync::Mutex;

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// A resource the fixture knows (its discovery entry and its object kind).
pub struct Kind {
    pub resource: &'static str,
    pub kind: &'static str,
    pub group_version: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub subresources: &'static [&'static str],
}

pub const KINDS: &[Kind] = &[
    Kind {
        resource: "pods",
        kind: "Pod",
        group_version: "v1",
        namespaced: true,
        short_names: &["po"],
        subresources: &["log", "exec", "attach", "portforward", "status"],
    },
    Kind {
        resource: "secrets",
        kind: "Secret",
        group_version: "v1",
        namespaced: true,
        short_names: &[],
        subresources: &[],
    },
    Kind {
        resource: "configmaps",
        kind: "ConfigMap",
        group_version: "v1",
        namespaced: true,
        short_names: &["cm"],
        subresources: &[],
    },
    Kind {
        resource: "namespaces",
        kind: "Namespace",
        group_version: "v1",
        namespaced: false,
        short_names: &["ns"],
        subresources: &["status"],
    },
    Kind {
        resource: "services",
        kind: "Service",
        group_version: "v1",
        namespaced: true,
        short_names: &["svc"],
        subresources: &["status"],
    },
    // Empty, but there: `kubectl describe` lists a pod's events.
    Kind {
        resource: "events",
        kind: "Event",
        group_version: "v1",
        namespaced: true,
        short_names: &["ev"],
        subresources: &[],
    },
    Kind {
        resource: "deployments",
        kind: "Deployment",
        group_version: "apps/v1",
        namespaced: true,
        short_names: &["deploy"],
        subresources: &["scale", "status"],
    },
];

pub fn kind(group_version: &str, resource: &str) -> Option<&'static Kind> {
    KINDS
        .iter()
        .find(|k| k.group_version == group_version && k.resource == resource)
}

/// One change, as a watch reports it.
#[derive(Clone, Debug)]
pub struct Event {
    pub resource: String,
    pub kind: &'static str,
    pub object: Value,
}

/// Why a write was refused.
pub enum WriteError {
    NotFound,
    AlreadyExists,
    Invalid(String),
}

type Key = (String, String, String);

struct Inner {
    objects: BTreeMap<Key, Value>,
    resource_version: u64,
    uid: u64,
}

pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Event>,
}

pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn pod(name: &str, namespace: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "registry.example/web:1.0",
                                 "stdin": true, "tty": true,
                                 "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
                 "nodeName": "node-1"},
        "status": {"phase": "Running", "podIP": "10.0.0.7",
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                                          "image": "registry.example/web:1.0",
                                          "state": {"running": {"startedAt": now_rfc3339()}}}]}
    })
}

impl Store {
    /// Namespaces default/prod/staging, pods web-1 (prod) and web-2 (staging), secret db-creds,
    /// configmap settings and deployment web in prod.
    pub fn seeded() -> Store {
        let (events, _) = broadcast::channel(1024);
        let store = Store {
            inner: Mutex::new(Inner {
                objects: BTreeMap::new(),
                resource_version: 1000,
                uid: 0,
            }),
            events,
        };
        for ns in ["default", "prod", "staging"] {
            store.seed(
                "namespaces",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns},
                       "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
            );
        }
        store.seed("pods", pod("web-1", "prod"));
        store.seed("pods", pod("web-2", "staging"));
        store.seed(
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "db-creds", "namespace": "prod"}, "type": "Opaque",
                   "data": {"password": b64("hunter2-prod"), "username": b64("app")}}),
        );
        store.seed(
            "configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "settings", "namespace": "prod"},
                   "data": {"admin_email": "ops@example.com",
                            "test_card": "4111 1111 1111 1111",
                            "log_level": "info"}}),
        );
        store.seed(
            "deployments",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"},
                                "generation": 1},
                   "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {"app": "web"}},
                                         "spec": {"containers": [{"name": "app",
                                                  "image": "registry.example/web:1.0"}]}}},
                   "status": {"replicas": 1, "readyReplicas": 1, "updatedReplicas": 1,
                              "availableReplicas": 1, "observedGeneration": 1}}),
        );
        store
    }

    fn seed(&self, resource: &str, object: Value) {
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let _ = self.create(resource, &ns, object, false);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub fn resource_version(&self) -> String {
        self.inner.lock().unwrap().resource_version.to_string()
    }

    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = (resource.to_owned(), namespace.to_owned(), name.to_owned());
        self.inner.lock().unwrap().objects.get(&key).cloned()
    }

    /// Objects of `resource`, in `namespace` or in all when `None`.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        let inner = self.inner.lock().unwrap();
        inner
            .objects
            .iter()
            .filter(|((r, ns, _), _)| r == resource && namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Stores a new object (server-set metadata filled in) unless `dry_run`.
    pub fn create(
        &self,
        resource: &str,
        namespace: &str,
        mut object: Value,
        dry_run: bool,
    ) -> Result<Value, WriteError> {
        let Some(name) = object["metadata"]["name"].as_str().map(str::to_owned) else {
            return Err(WriteError::Invalid(
                "metadata.name: Required value: name is required".into(),
            ));
        };
        let mut inner = self.inner.lock().unwrap();
        let key = (resource.to_owned(), namespace.to_owned(), name);
        if inner.objects.contains_key(&key) {
            return Err(WriteError::AlreadyExists);
        }
        inner.uid += 1;
        let meta = object["metadata"].as_object_mut().unwrap();
        if !namespace.is_empty() {
            meta.insert("namespace".into(), json!(namespace));
        }
        meta.insert(
            "uid".into(),
            json!(format!("00000000-0000-4000-8000-{:012}", inner.uid)),
        );
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        // The API server folds a Secret's stringData into data.
        if let Some(Value::Object(plain)) =
            object.as_object_mut().and_then(|o| o.remove("stringData"))
        {
            for (k, v) in plain {
                object["data"][k] = json!(b64(v.as_str().unwrap_or("")));
            }
        }
        if resource == "pods" && object.get("status").is_none() {
            object["status"] = pod("", "")["status"].clone();
        }
        if dry_run {
            return Ok(object);
        }
        inner.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(inner.resource_version.to_string());
        inner.objects.insert(key, object.clone());
        self.emit(resource, "ADDED", &object);
        Ok(object)
    }

    /// Replaces an object with `change(old)`; server-owned metadata stays the server's.
    pub fn update(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        dry_run: bool,
        change: impl FnOnce(&Value) -> Result<Value, WriteError>,
    ) -> Result<Value, WriteError> {
        let mut inner = self.inner.lock().unwrap();
        let key = (resource.to_owned(), namespace.to_owned(), name.to_owned());
        let Some(old) = inner.objects.get(&key).cloned() else {
            return Err(WriteError::NotFound);
        };
        let mut new = change(&old)?;
        if !new["metadata"].is_object() {
            new["metadata"] = json!({});
        }
        for field in ["name", "namespace", "uid", "creationTimestamp"] {
            if let Some(v) = old["metadata"].get(field) {
                new["metadata"][field] = v.clone();
            }
        }
        if dry_run {
            return Ok(new);
        }
        inner.resource_version += 1;
        new["metadata"]["resourceVersion"] = json!(inner.resource_version.to_string());
        if new["spec"] != old["spec"] {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
            new["metadata"]["generation"] = json!(generation + 1);
        }
        inner.objects.insert(key, new.clone());
        self.emit(resource, "MODIFIED", &new);
        Ok(new)
    }

    pub fn delete(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        dry_run: bool,
    ) -> Result<Value, WriteError> {
        let mut inner = self.inner.lock().unwrap();
        let key = (resource.to_owned(), namespace.to_owned(), name.to_owned());
        let Some(old) = inner.objects.get(&key).cloned() else {
            return Err(WriteError::NotFound);
        };
        if dry_run {
            return Ok(old);
        }
        inner.objects.remove(&key);
        inner.resource_version += 1;
        let mut gone = old;
        gone["metadata"]["resourceVersion"] = json!(inner.resource_version.to_string());
        self.emit(resource, "DELETED", &gone);
        Ok(gone)
    }

    fn emit(&self, resource: &str, kind: &'static str, object: &Value) {
        // No receivers is the usual case; nothing to do then.
        let _ = self.events.send(Event {
            resource: resource.to_owned(),
            kind,
            object: object.clone(),
        });
    }
}

/// RFC 7386 merge patch (strategic merge patches are treated the same way: lists replace).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if k.starts_with("$") {
                    // Strategic-merge directives ($patch, $retainKeys, ...): not modelled.
                    continue;
                }
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// RFC 6902 JSON patch: add, replace, remove, test (enough for `kubectl patch --type=json`).
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch is a list of operations")?;
    for op in ops {
        let path = op["path"].as_str().ok_or("an operation needs a path")?;
        let pointer_parts: Vec<String> = path
            .split('/')
            .skip(1)
            .map(|p| p.replace("~1", "/").replace("~0", "~"))
            .collect();
        let (last, parents) = pointer_parts
            .split_last()
            .ok_or("the whole document cannot be patched")?;
        let mut parent = &mut *target;
        for p in parents {
            parent = match parent {
                Value::Object(m) => m.get_mut(p).ok_or(format!("no {path}"))?,
                Value::Array(a) => a
                    .get_mut(p.parse::<usize>().map_err(|e| e.to_string())?)
                    .ok_or(format!("no {path}"))?,
                _ => return Err(format!("no {path}")),
            };
        }
        let value = op["value"].clone();
        match (op["op"].as_str(), parent) {
            (Some("add" | "replace"), Value::Object(m)) => {
                m.insert(last.clone(), value);
            }
            (Some("remove"), Value::Object(m)) => {
                m.remove(last).ok_or(format!("no {path}"))?;
            }
            (Some("add"), Value::Array(a)) if last == "-" => a.push(value),
            (Some("add"), Value::Array(a)) => {
                let i = last.parse::<usize>().map_err(|e| e.to_string())?;
                a.insert(i.min(a.len()), value);
            }
            (Some("replace"), Value::Array(a)) => {
                let i = last.parse::<usize>().map_err(|e| e.to_string())?;
                *a.get_mut(i).ok_or(format!("no {path}"))? = value;
            }
            (Some("remove"), Value::Array(a)) => {
                let i = last.parse::<usize>().map_err(|e| e.to_string())?;
                if i >= a.len() {
                    return Err(format!("no {path}"));
                }
                a.remove(i);
            }
            (Some("test"), Value::Object(m)) => {
                if m.get(last) != Some(&value) {
                    return Err(format!("test failed at {path}"));
                }
            }
            (op, _) => return Err(format!("unsupported operation {op:?} at {path}")),
        }
    }
    Ok(())
}

/// A label selector of `k=v`, `k==v`, `k!=v`, `k` and `!k` terms joined by commas.
pub fn labels_match(object: &Value, selector: &str) -> bool {
    let labels = &object["metadata"]["labels"];
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        let term = term.trim();
        if let Some((k, v)) = term.split_once("!=") {
            labels[k.trim()].as_str() != Some(v.trim())
        } else if let Some((k, v)) = term.split_once('=') {
            let v = v.trim_start_matches('=');
            labels[k.trim()].as_str() == Some(v.trim())
        } else if let Some(k) = term.strip_prefix('!') {
            labels.get(k).is_none()
        } else {
            labels.get(term).is_some()
        }
    })
}

/// A field selector on `metadata.name` / `metadata.namespace` (`=`, `==`, `!=`).
pub fn fields_match(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        let (field, want, equal) = if let Some((f, v)) = term.split_once("!=") {
            (f, v, false)
        } else if let Some((f, v)) = term.split_once('=') {
            (f, v.trim_start_matches('='), true)
        } else {
            return true;
        };
        let have = match field {
            "metadata.name" => object["metadata"]["name"].as_str(),
            "metadata.namespace" => object["metadata"]["namespace"].as_str(),
            "status.phase" => object["status"]["phase"].as_str(),
            _ => return true,
        };
        (have == Some(want)) == equal
    })
}
