//! `meta.k8s.io/v1` Table responses: what `kubectl get` asks for and prints as columns.

use serde_json::{json, Value};

fn age(object: &Value) -> String {
    let Some(created) = object["metadata"]["creationTimestamp"].as_str() else {
        return "<unknown>".into();
    };
    let Ok(created) =
        time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
    else {
        return "<unknown>".into();
    };
    let secs = (time::OffsetDateTime::now_utc() - created)
        .whole_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn count(v: &Value) -> usize {
    v.as_object().map_or(0, |m| m.len())
}

/// Column names and types, then the cells of one object, for `resource`.
fn columns(resource: &str) -> &'static [(&'static str, &'static str)] {
    match resource {
        "pods" => &[
            ("Name", "string"),
            ("Ready", "string"),
            ("Status", "string"),
            ("Restarts", "string"),
            ("Age", "string"),
        ],
        "secrets" => &[
            ("Name", "string"),
            ("Type", "string"),
            ("Data", "integer"),
            ("Age", "string"),
        ],
        "configmaps" => &[("Name", "string"), ("Data", "integer"), ("Age", "string")],
        "namespaces" => &[("Name", "string"), ("Status", "string"), ("Age", "string")],
        "services" => &[
            ("Name", "string"),
            ("Type", "string"),
            ("Cluster-IP", "string"),
            ("Ports", "string"),
            ("Age", "string"),
        ],
        "deployments" => &[
            ("Name", "string"),
            ("Ready", "string"),
            ("Up-to-date", "integer"),
            ("Available", "integer"),
            ("Age", "string"),
        ],
        _ => &[("Name", "string"), ("Age", "string")],
    }
}

fn cells(resource: &str, o: &Value) -> Vec<Value> {
    let name = json!(o["metadata"]["name"]);
    let age = json!(age(o));
    match resource {
        "pods" => {
            let statuses = o["status"]["containerStatuses"].as_array();
            let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = statuses.map_or(0, |s| {
                s.iter().filter(|c| c["ready"] == json!(true)).count()
            });
            let restarts: i64 = statuses.map_or(0, |s| {
                s.iter()
                    .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                    .sum()
            });
            let phase = o["status"]["phase"].as_str().unwrap_or("Pending");
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(phase),
                json!(restarts.to_string()),
                age,
            ]
        }
        "secrets" => vec![
            name,
            json!(o["type"].as_str().unwrap_or("Opaque")),
            json!(count(&o["data"])),
            age,
        ],
        "configmaps" => vec![
            name,
            json!(count(&o["data"]) + count(&o["binaryData"])),
            age,
        ],
        "namespaces" => vec![
            name,
            json!(o["status"]["phase"].as_str().unwrap_or("Active")),
            age,
        ],
        "services" => {
            let ports: Vec<String> = o["spec"]["ports"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            vec![
                name,
                json!(o["spec"]["type"].as_str().unwrap_or("ClusterIP")),
                json!(o["spec"]["clusterIP"].as_str().unwrap_or("None")),
                json!(if ports.is_empty() {
                    "<none>".to_owned()
                } else {
                    ports.join(",")
                }),
                age,
            ]
        }
        "deployments" => {
            let s = &o["status"];
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    s["readyReplicas"].as_i64().unwrap_or(0),
                    o["spec"]["replicas"].as_i64().unwrap_or(1)
                )),
                json!(s["updatedReplicas"].as_i64().unwrap_or(0)),
                json!(s["availableReplicas"].as_i64().unwrap_or(0)),
                age,
            ]
        }
        _ => vec![name, age],
    }
}

/// The Table of `objects`; each row carries the object as `include_object` asks
/// ("Object", "None", or by default "Metadata": a PartialObjectMetadata).
pub fn table(
    resource: &str,
    objects: &[Value],
    include_object: Option<&str>,
    resource_version: &str,
) -> Value {
    let column_definitions: Vec<Value> = columns(resource)
        .iter()
        .map(|(name, ty)| {
            json!({"name": name, "type": ty, "format": if *name == "Name" { "name" } else { "" },
                   "description": "", "priority": 0})
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let object = match include_object {
                Some("Object") => o.clone(),
                Some("None") => Value::Null,
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                            "metadata": o["metadata"]}),
            };
            json!({"cells": cells(resource, o), "object": object})
        })
        .collect();
    json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}
