//! Just enough of Kubernetes' protobuf encoding to read what kubectl's typed commands send
//! (`kubectl create configmap|secret|namespace` post `application/vnd.kubernetes.protobuf`
//! whatever the server prefers): the `k8s\0` + runtime.Unknown envelope, ObjectMeta's
//! common fields, and the ConfigMap, Secret and Namespace messages. Anything else is refused
//! with 415 by the caller.

use base64::Engine as _;
use serde_json::{json, Map, Value};

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The (field number, value) pairs of one message, in order.
fn fields(mut buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let field = match key & 7 {
            0 => Field::Varint(varint(&mut buf)?),
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                if buf.len() < len {
                    return None;
                }
                let (a, b) = buf.split_at(len);
                buf = b;
                Field::Bytes(a)
            }
            1 => {
                buf = buf.get(8..)?;
                continue;
            }
            5 => {
                buf = buf.get(4..)?;
                continue;
            }
            _ => return None,
        };
        out.push((key >> 3, field));
    }
    Some(out)
}

fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

/// A map entry (key = 1, value = 2), the value as text or base64.
fn map_entry(b: &[u8], base64_value: bool) -> Option<(String, Value)> {
    let mut key = String::new();
    let mut value = Value::String(String::new());
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(k)) => key = String::from_utf8_lossy(k).into_owned(),
            (2, Field::Bytes(v)) if base64_value => {
                value = json!(base64::engine::general_purpose::STANDARD.encode(v))
            }
            (2, Field::Bytes(v)) => value = text(v),
            _ => {}
        }
    }
    Some((key, value))
}

fn insert_entry(object: &mut Value, field: &str, b: &[u8], base64_value: bool) -> Option<()> {
    let (k, v) = map_entry(b, base64_value)?;
    if !object[field].is_object() {
        object[field] = Value::Object(Map::new());
    }
    object[field][k] = v;
    Some(())
}

fn object_meta(b: &[u8]) -> Option<Value> {
    let mut meta = json!({});
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(v)) => meta["name"] = text(v),
            (2, Field::Bytes(v)) => meta["generateName"] = text(v),
            (3, Field::Bytes(v)) => meta["namespace"] = text(v),
            (11, Field::Bytes(v)) => insert_entry(&mut meta, "labels", v, false)?,
            (12, Field::Bytes(v)) => insert_entry(&mut meta, "annotations", v, false)?,
            _ => {}
        }
    }
    Some(meta)
}

/// The JSON form of a protobuf-encoded object, if it is one this module knows.
pub fn decode(body: &[u8]) -> Option<Value> {
    let envelope = body.strip_prefix(b"k8s\0")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, f) in fields(envelope)? {
        match (n, f) {
            (1, Field::Bytes(type_meta)) => {
                for (m, g) in fields(type_meta)? {
                    match (m, g) {
                        (1, Field::Bytes(v)) => api_version = String::from_utf8_lossy(v).into(),
                        (2, Field::Bytes(v)) => kind = String::from_utf8_lossy(v).into(),
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    let mut object = json!({"apiVersion": api_version, "kind": kind, "metadata": {}});
    for (n, f) in fields(raw)? {
        match (kind.as_str(), n, f) {
            (_, 1, Field::Bytes(m)) => object["metadata"] = object_meta(m)?,
            ("ConfigMap", 2, Field::Bytes(e)) => insert_entry(&mut object, "data", e, false)?,
            ("ConfigMap", 3, Field::Bytes(e)) => insert_entry(&mut object, "binaryData", e, true)?,
            ("ConfigMap", 4, Field::Varint(v)) | ("Secret", 5, Field::Varint(v)) => {
                object["immutable"] = json!(v != 0)
            }
            ("Secret", 2, Field::Bytes(e)) => insert_entry(&mut object, "data", e, true)?,
            ("Secret", 3, Field::Bytes(t)) => object["type"] = text(t),
            ("Secret", 4, Field::Bytes(e)) => insert_entry(&mut object, "stringData", e, false)?,
            ("Namespace", _, _) => {}
            ("ConfigMap" | "Secret", _, _) => {}
            _ => return None,
        }
    }
    Some(object)
}
