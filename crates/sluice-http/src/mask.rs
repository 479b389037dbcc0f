//! Masking response bodies: JSON by field name and by content, text a line at a time, and
//! Kubernetes Secrets' values always unless the decision reveals them.
//!
//! A JSON field whose name matches a mask rule's column pattern (`email`, `*card*`) has its
//! value replaced wherever it appears in the document; every other string goes through the
//! content detectors. Kubernetes lists do not name each item's kind, so Secrets are found by
//! the request (`resource = "secrets"`) as well as by `"kind": "Secret"` anywhere in the
//! document (a `List`, a watch event, a Table row's object).

use serde_json::Value;

use sluice_core::{MaskPlan, MaskTally};

/// What a Secret's values become: valid base64 in `data`, so clients that decode still work.
const REDACTED: &str = "<redacted by sluice>";
/// base64 of [`REDACTED`].
const REDACTED_B64: &str = "PHJlZGFjdGVkIGJ5IHNsdWljZT4=";
/// Holds a copy of the whole object as it was applied, data included.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What a body needs done to it.
pub(crate) struct Masking<'a> {
    pub plan: Option<&'a MaskPlan>,
    /// Redact Kubernetes Secrets' values.
    pub secrets: bool,
    /// The request was for Secrets: a list's items and a table's objects are Secrets even
    /// when they do not say so.
    pub secret_request: bool,
}

impl Masking<'_> {
    pub fn is_needed(&self) -> bool {
        self.plan.is_some() || self.secrets
    }

    /// Masks a JSON document in place; `true` when anything changed.
    pub fn json(&self, value: &mut Value, tally: &mut MaskTally) -> bool {
        let mut changed = false;
        if self.secrets {
            changed |= redact_secrets(value, self.secret_request);
        }
        if let Some(plan) = self.plan {
            changed |= mask_value(plan, value, tally);
        }
        changed
    }

    /// Masks a whole JSON body; `None` when it is not JSON (the caller refuses to pass it).
    pub fn json_bytes(&self, body: &[u8], tally: &mut MaskTally) -> Option<(Vec<u8>, bool)> {
        let mut value: Value = serde_json::from_slice(body).ok()?;
        if !self.json(&mut value, tally) {
            return Some((body.to_vec(), false));
        }
        serde_json::to_vec(&value).ok().map(|v| (v, true))
    }

    /// Masks one line of a line-based body (a watch event, a log line, an event-stream
    /// field); `line` excludes its newline.
    pub fn line(&self, line: &[u8], json_lines: bool, tally: &mut MaskTally) -> Option<Vec<u8>> {
        if json_lines {
            let trimmed = line.trim_ascii();
            if trimmed.is_empty() {
                return None;
            }
            let mut value: Value = match serde_json::from_slice(trimmed) {
                Ok(v) => v,
                // Not JSON: a secret could hide in it unrecognised; nothing of it passes.
                Err(_) => return Some(b"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"sluice: an event the gateway could not read was withheld\"}}".to_vec()),
            };
            if !self.json(&mut value, tally) {
                return None;
            }
            return serde_json::to_vec(&value).ok();
        }
        let plan = self.plan?;
        let text = String::from_utf8_lossy(line);
        plan.mask_content(&text, tally).map(String::into_bytes)
    }
}

/// Replaces the values of every Secret in `value`.
fn redact_secrets(value: &mut Value, secret_request: bool) -> bool {
    walk(value, secret_request, false)
}

/// `secret`: the value is a Secret by where it sits (an item of a list of Secrets, the object
/// of a watch event or a table row of a request for Secrets).
fn walk(value: &mut Value, secret_request: bool, secret: bool) -> bool {
    let mut changed = false;
    match value {
        Value::Object(map) => {
            let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
            let is_secret = secret || kind == "Secret";
            let items_are_secrets = kind == "SecretList" || secret_request;
            if is_secret {
                changed |= redact_one(map);
            }
            for (key, child) in map.iter_mut() {
                let placed = match key.as_str() {
                    "items" => items_are_secrets,
                    "object" => secret_request,
                    _ => false,
                };
                changed |= match child {
                    Value::Array(items) if placed => items
                        .iter_mut()
                        .fold(false, |c, item| walk(item, secret_request, true) | c),
                    other => walk(other, secret_request, placed),
                };
            }
        }
        Value::Array(items) => {
            for item in items {
                changed |= walk(item, secret_request, false);
            }
        }
        _ => {}
    }
    changed
}

/// One Secret object: its data, stringData and the last-applied copy of itself.
fn redact_one(map: &mut serde_json::Map<String, Value>) -> bool {
    let mut changed = false;
    for (field, with) in [("data", REDACTED_B64), ("stringData", REDACTED)] {
        if let Some(Value::Object(values)) = map.get_mut(field) {
            for v in values.values_mut() {
                if v.as_str() != Some(with) {
                    *v = Value::String(with.to_owned());
                    changed = true;
                }
            }
        }
    }
    if let Some(Value::Object(annotations)) = map
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        if let Some(v) = annotations.get_mut(LAST_APPLIED) {
            if v.as_str() != Some(REDACTED) {
                *v = Value::String(REDACTED.to_owned());
                changed = true;
            }
        }
    }
    changed
}

/// Field rules by name at any depth, detectors over every other string.
fn mask_value(plan: &MaskPlan, value: &mut Value, tally: &mut MaskTally) -> bool {
    match value {
        Value::Object(map) => {
            let mut changed = false;
            for (key, child) in map.iter_mut() {
                if let Some(strategy) = plan.column_strategy(None, key) {
                    if !child.is_null() {
                        changed |= mask_whole(plan, key, child, &strategy, tally);
                        continue;
                    }
                }
                changed |= mask_value(plan, child, tally);
            }
            changed
        }
        Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= mask_value(plan, item, tally);
            }
            changed
        }
        Value::String(s) if plan.has_content() => match plan.mask_content(s, tally) {
            Some(masked) => {
                *s = masked;
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// A field a rule names: every scalar under it is masked whole.
fn mask_whole(
    plan: &MaskPlan,
    key: &str,
    value: &mut Value,
    strategy: &sluice_mask::Strategy,
    tally: &mut MaskTally,
) -> bool {
    match value {
        Value::Object(map) => {
            let mut changed = false;
            for child in map.values_mut() {
                changed |= mask_whole(plan, key, child, strategy, tally);
            }
            changed
        }
        Value::Array(items) => {
            let mut changed = false;
            for child in items {
                changed |= mask_whole(plan, key, child, strategy, tally);
            }
            changed
        }
        Value::Null => false,
        other => {
            let text = match &*other {
                Value::String(s) => s.clone(),
                scalar => scalar.to_string(),
            };
            *other = match plan.mask_value(&text, strategy) {
                Some(masked) => Value::String(masked),
                None => Value::Null,
            };
            tally.add_column(key, 1);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_wherever_they_appear() {
        let mut tally = MaskTally::default();
        let m = Masking {
            plan: None,
            secrets: true,
            secret_request: false,
        };
        let mut one = json!({"kind": "Secret", "data": {"password": "aHVudGVyMg=="},
            "stringData": {"token": "t"},
            "metadata": {"annotations": {LAST_APPLIED: "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}}});
        assert!(m.json(&mut one, &mut tally));
        assert_eq!(one["data"]["password"], REDACTED_B64);
        assert_eq!(one["stringData"]["token"], REDACTED);
        assert_eq!(one["metadata"]["annotations"][LAST_APPLIED], REDACTED);
        let mut list = json!({"kind": "SecretList", "items": [{"metadata": {"name": "a"}, "data": {"k": "dg=="}}]});
        assert!(m.json(&mut list, &mut tally));
        assert_eq!(list["items"][0]["data"]["k"], REDACTED_B64);
        let mut event =
            json!({"type": "ADDED", "object": {"kind": "Secret", "data": {"k": "dg=="}}});
        assert!(m.json(&mut event, &mut tally));
        assert_eq!(event["object"]["data"]["k"], REDACTED_B64);
        let mut pod = json!({"kind": "Pod", "data": {"k": "v"}});
        assert!(!m.json(&mut pod, &mut tally));
    }

    #[test]
    fn a_secret_request_redacts_unnamed_items() {
        let mut tally = MaskTally::default();
        let m = Masking {
            plan: None,
            secrets: true,
            secret_request: true,
        };
        let mut table = json!({"kind": "Table", "rows": [{"cells": ["a"], "object": {"metadata": {}, "data": {"k": "dg=="}}}]});
        assert!(m.json(&mut table, &mut tally));
        assert_eq!(table["rows"][0]["object"]["data"]["k"], REDACTED_B64);
        let mut list = json!({"kind": "List", "items": [{"data": {"k": "dg=="}}]});
        assert!(m.json(&mut list, &mut tally));
        assert_eq!(list["items"][0]["data"]["k"], REDACTED_B64);
    }

    #[test]
    fn unreadable_watch_lines_are_withheld() {
        let mut tally = MaskTally::default();
        let m = Masking {
            plan: None,
            secrets: true,
            secret_request: true,
        };
        let out = m.line(b"not json {", true, &mut tally).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("withheld"));
        assert!(m.line(b"", true, &mut tally).is_none());
    }
}
