//! Reading the decision document (`data.sluice.decision`) into a [`Decision`].
//!
//! The document is a contract with policy authors, so anything this gateway cannot honour is
//! a denial that says why, never silently ignored: an unknown key may be a typo of a
//! restriction (`reason` for `reasons`), and a malformed `approval` or `mask` asks for
//! behaviour that would be unsafe to skip.

use std::sync::Arc;

use regorus::Value;

use crate::{ApprovalRequirement, CapAction, Decision, MaskRules, TokenScope, Verdict};

/// The rule named when the document itself is unusable and names no rule.
pub(crate) const INVALID_RULE: &str = "sluice.invalid_decision";
pub(crate) const UNDEFINED_RULE: &str = "sluice.undefined";
pub(crate) const ERROR_RULE: &str = "sluice.error";
pub(crate) const TIMEOUT_RULE: &str = "sluice.timeout";

pub(crate) const UNDEFINED_REASON: &str =
    "policy undefined: data.sluice.decision has no value for this request";

/// Turns the value of `data.sluice.decision` into a verdict. `policy` is the version recorded
/// with it.
pub(crate) fn read_decision(value: &Value, policy: &str) -> Decision {
    let deny = |rule: &str, reason: String| Decision::deny(rule, policy, reason);
    let object = match value {
        Value::Undefined => return deny(UNDEFINED_RULE, UNDEFINED_REASON.to_owned()),
        Value::Object(object) => object,
        other => {
            return deny(
                INVALID_RULE,
                format!(
                    "data.sluice.decision must be an object, not {}",
                    type_name(other)
                ),
            )
        }
    };

    // One pass over the entries: looking keys up by `Value` would allocate each key.
    let (mut allow, mut rule, mut reasons, mut mask, mut approval, mut recording) =
        (None, None, None, None, None, None);
    let mut token = None;
    let mut secrets = None;
    let mut unknown: Option<String> = None;
    for (key, value) in object.iter() {
        match key {
            Value::String(key) => match key.as_ref() {
                "allow" => allow = Some(value),
                "rule" => rule = Some(value),
                "reasons" => reasons = Some(value),
                "mask" => mask = Some(value),
                "approval" => approval = Some(value),
                "recording" => recording = Some(value),
                "token" => token = Some(value),
                "secrets" => secrets = Some(value),
                other => {
                    let other = format!("{other:?}");
                    unknown = Some(unknown.map_or(other.clone(), |seen| seen.min(other)));
                }
            },
            other => {
                let other = other.to_string();
                unknown = Some(unknown.map_or(other.clone(), |seen| seen.min(other)));
            }
        }
    }

    // Named first so that every later complaint can say which policy rule produced it.
    let rule = match rule {
        Some(Value::String(rule)) if !rule.is_empty() => rule.to_string(),
        Some(Value::String(_)) => {
            return deny(INVALID_RULE, "the decision's rule is empty".to_owned())
        }
        Some(other) => {
            return deny(
                INVALID_RULE,
                format!(
                    "the decision's rule must be a string, not {}",
                    type_name(other)
                ),
            )
        }
        None => return deny(INVALID_RULE, "the decision names no rule".to_owned()),
    };
    if let Some(key) = unknown {
        return deny(
            &rule,
            format!(
                "the decision has an unknown key {key} (known: allow, rule, reasons, mask, \
                 approval, recording, token, secrets)"
            ),
        );
    }

    let reasons = match reasons {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            let mut reasons = Vec::with_capacity(items.len());
            for item in items.iter() {
                match item {
                    Value::String(s) => reasons.push(s.to_string()),
                    other => {
                        return deny(
                            &rule,
                            format!(
                                "the decision's reasons must be strings, found {}",
                                type_name(other)
                            ),
                        )
                    }
                }
            }
            reasons
        }
        Some(other) => {
            return deny(
                &rule,
                format!(
                    "the decision's reasons must be an array of strings, not {}",
                    type_name(other)
                ),
            )
        }
    };

    let mask = match mask.map(read_mask).transpose() {
        Ok(mask) => mask.filter(|m| !m.is_empty()).map(Arc::new),
        Err(reason) => return deny(&rule, reason),
    };
    let approval = match approval.map(read_approval).transpose() {
        Ok(approval) => approval.unwrap_or_default(),
        Err(reason) => return deny(&rule, reason),
    };
    let recording_on_cap = match recording.map(read_recording).transpose() {
        Ok(on_cap) => on_cap.flatten(),
        Err(reason) => return deny(&rule, reason),
    };
    let token = match token.map(read_token).transpose() {
        Ok(token) => token.flatten(),
        Err(reason) => return deny(&rule, reason),
    };
    let reveal_secrets = match secrets {
        None => false,
        Some(Value::String(s)) if s.as_ref() == "reveal" => true,
        Some(Value::String(s)) if s.as_ref() == "redact" => false,
        Some(other) => {
            return deny(
                &rule,
                format!("the decision's secrets must be \"reveal\" or \"redact\", not {other}"),
            )
        }
    };
    match allow {
        Some(Value::Bool(true)) if approval.is_empty() => Decision {
            mask,
            recording_on_cap,
            token,
            reveal_secrets,
            ..Decision::allow(rule, policy)
        },
        Some(Value::Bool(true)) => {
            let fallback = if reasons.is_empty() {
                format!("approval required by rule {rule}")
            } else {
                reasons.join("; ")
            };
            let approval = approval
                .into_iter()
                .map(|mut r| {
                    if r.reason.is_empty() {
                        r.reason.clone_from(&fallback);
                    }
                    r
                })
                .collect();
            Decision {
                verdict: Verdict::Hold { approval },
                mask,
                recording_on_cap,
                reveal_secrets,
                ..Decision::allow(rule, policy)
            }
        }
        Some(Value::Bool(false)) => {
            let reason = if reasons.is_empty() {
                format!("denied by rule {rule}")
            } else {
                reasons.join("; ")
            };
            deny(&rule, reason)
        }
        Some(other) => deny(
            &rule,
            format!(
                "the decision's allow must be a boolean, not {}",
                type_name(other)
            ),
        ),
        None => deny(&rule, "the decision has no allow".to_owned()),
    }
}

/// `mask` as [`MaskRules`]; `null` means none. Rego sets arrive as arrays.
fn read_mask(value: &Value) -> Result<MaskRules, String> {
    if *value == Value::Null {
        return Ok(MaskRules::default());
    }
    let json = serde_json::to_value(value)
        .map_err(|e| format!("the decision's mask cannot be read: {e}"))?;
    serde_json::from_value(json).map_err(|e| format!("the decision's mask is invalid: {e}"))
}

/// `approval` as requirements: one object, a list of them (all must be met), or `null` for
/// none. A requirement that could never be met, or that anyone could meet, is refused.
fn read_approval(value: &Value) -> Result<Vec<ApprovalRequirement>, String> {
    if *value == Value::Null {
        return Ok(Vec::new());
    }
    let json = serde_json::to_value(value)
        .map_err(|e| format!("the decision's approval cannot be read: {e}"))?;
    let requirements = if json.is_array() {
        serde_json::from_value::<Vec<ApprovalRequirement>>(json)
    } else {
        serde_json::from_value::<ApprovalRequirement>(json).map(|r| vec![r])
    }
    .map_err(|e| format!("the decision's approval is invalid: {e}"))?;
    for r in &requirements {
        r.validate()?;
    }
    Ok(requirements)
}

/// `recording` as `{"on_cap": "truncate" | "end_session"}`; `null` means as configured.
fn read_recording(value: &Value) -> Result<Option<CapAction>, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Recording {
        on_cap: Option<CapAction>,
    }
    if *value == Value::Null {
        return Ok(None);
    }
    let json = serde_json::to_value(value)
        .map_err(|e| format!("the decision's recording cannot be read: {e}"))?;
    serde_json::from_value::<Recording>(json)
        .map(|r| r.on_cap)
        .map_err(|e| format!("the decision's recording is invalid: {e}"))
}

/// `token` as `{"targets": [...], "ttl_seconds": N}`; `null` means the request stands as asked.
fn read_token(value: &Value) -> Result<Option<TokenScope>, String> {
    if *value == Value::Null {
        return Ok(None);
    }
    let json = serde_json::to_value(value)
        .map_err(|e| format!("the decision's token cannot be read: {e}"))?;
    serde_json::from_value::<TokenScope>(json)
        .map(Some)
        .map_err(|e| format!("the decision's token is invalid: {e}"))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Set(_) => "a set",
        Value::Object(_) => "an object",
        Value::Undefined => "undefined",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Decision {
        read_decision(&Value::from_json_str(json).unwrap(), "v1")
    }

    #[test]
    fn allow_only_when_exactly_true() {
        let d = read(r#"{"allow": true, "rule": "r"}"#);
        assert!(d.is_allowed());
        assert_eq!(d.rule, "r");
        assert_eq!(d.policy, "v1");
        let d = read(r#"{"allow": "true", "rule": "r"}"#);
        assert!(!d.is_allowed());
        assert!(d.deny_reason().unwrap().contains("must be a boolean"));
        let d = read(r#"{"allow": 1, "rule": "r"}"#);
        assert!(!d.is_allowed());
    }

    #[test]
    fn deny_joins_reasons_or_names_the_rule() {
        let d = read(r#"{"allow": false, "rule": "r", "reasons": ["a", "b"]}"#);
        assert_eq!(d.deny_reason(), Some("a; b"));
        assert_eq!(d.rule, "r");
        let d = read(r#"{"allow": false, "rule": "r", "reasons": []}"#);
        assert_eq!(d.deny_reason(), Some("denied by rule r"));
        let d = read(r#"{"allow": false, "rule": "r"}"#);
        assert_eq!(d.deny_reason(), Some("denied by rule r"));
    }

    #[test]
    fn mask_is_read_strictly() {
        let d = read(
            r#"{"allow": true, "rule": "r", "mask": {"columns": [{"column": "*ssn*", "strategy": "redact"}]}}"#,
        );
        assert!(d.is_allowed());
        assert_eq!(d.mask.as_ref().unwrap().columns.len(), 1);
        let d = read(r#"{"allow": true, "rule": "r", "mask": {"content": []}}"#);
        assert!(d.is_allowed() && d.mask.is_none());
        let d = read(r#"{"allow": true, "rule": "r", "mask": null}"#);
        assert!(d.is_allowed() && d.mask.is_none());
        let d = read(r#"{"allow": true, "rule": "r", "mask": {"colums": []}}"#);
        assert!(!d.is_allowed());
        assert!(
            d.deny_reason().unwrap().contains("mask is invalid"),
            "{d:?}"
        );
        let d = read(
            r#"{"allow": true, "rule": "r", "mask": {"columns": [{"column": "a.b", "strategy": "redact"}]}}"#,
        );
        assert!(!d.is_allowed());
        let d = read(r#"{"allow": true, "rule": "r", "mask": 5}"#);
        assert!(!d.is_allowed());
        // A denial carries no mask, whatever the document says.
        let d = read(
            r#"{"allow": false, "rule": "r", "mask": {"content": [{"detector": "*", "strategy": "redact"}]}}"#,
        );
        assert!(d.mask.is_none());
    }

    #[test]
    fn approval_holds_and_is_read_strictly() {
        let d = read(
            r#"{"allow": true, "rule": "r", "reasons": ["writes production"], "approval": {"groups": ["dba"]}}"#,
        );
        assert!(!d.is_allowed());
        assert!(d.deny_reason().is_none());
        let approval = d.approval().unwrap();
        assert_eq!(approval.len(), 1);
        assert_eq!(approval[0].approvals, 1);
        assert_eq!(approval[0].reason, "writes production");
        assert_eq!(d.verdict_name(), "hold");

        let d = read(
            r#"{"allow": true, "rule": "r", "approval": [{"groups": ["dba"], "approvals": 2, "reason": "x"}, {"groups": ["sec"]}]}"#,
        );
        let approval = d.approval().unwrap();
        assert_eq!(approval[0].approvals, 2);
        assert_eq!(approval[0].reason, "x");
        assert_eq!(approval[1].reason, "approval required by rule r");

        // null and an empty list ask for nothing.
        assert!(read(r#"{"allow": true, "rule": "r", "approval": null}"#).is_allowed());
        assert!(read(r#"{"allow": true, "rule": "r", "approval": []}"#).is_allowed());
        // A denial stays a denial.
        let d = read(r#"{"allow": false, "rule": "r", "approval": {"groups": ["dba"]}}"#);
        assert!(d.deny_reason().is_some());

        for bad in [
            r#"{}"#,
            r#"{"groups": []}"#,
            r#"{"groups": ["dba"], "approvals": 0}"#,
            r#"{"groups": ["dba"], "approvals": 11}"#,
            r#"{"groups": ["dba"], "approval": 1}"#,
            r#"{"groups": "dba"}"#,
            r#"5"#,
        ] {
            let d = read(&format!(
                r#"{{"allow": true, "rule": "r", "approval": {bad}}}"#
            ));
            assert!(d.deny_reason().is_some(), "{bad}: {d:?}");
            assert_eq!(d.rule, "r");
        }
    }

    #[test]
    fn unknown_keys_and_bad_types_deny() {
        let d = read(r#"{"allow": true, "rule": "r", "reason": "x"}"#);
        assert!(!d.is_allowed());
        assert!(d.deny_reason().unwrap().contains("\"reason\""));
        let d = read(r#"{"allow": true}"#);
        assert_eq!(d.rule, INVALID_RULE);
        assert!(d.deny_reason().unwrap().contains("names no rule"));
        let d = read(r#"{"allow": true, "rule": 5}"#);
        assert_eq!(d.rule, INVALID_RULE);
        let d = read(r#"{"allow": true, "rule": ""}"#);
        assert_eq!(d.rule, INVALID_RULE);
        let d = read(r#"{"rule": "r"}"#);
        assert!(!d.is_allowed());
        assert!(d.deny_reason().unwrap().contains("no allow"));
        let d = read(r#"{"allow": false, "rule": "r", "reasons": "nope"}"#);
        assert!(d.deny_reason().unwrap().contains("array of strings"));
        let d = read(r#"{"allow": true, "rule": "r", "reasons": [1]}"#);
        assert!(!d.is_allowed());
        let d = read(r#"[true]"#);
        assert_eq!(d.rule, INVALID_RULE);
        assert!(d.deny_reason().unwrap().contains("must be an object"));
        let d = read(r#"true"#);
        assert!(!d.is_allowed());
    }

    #[test]
    fn secrets_reveal_is_read_strictly() {
        let d = read(r#"{"allow": true, "rule": "r", "secrets": "reveal"}"#);
        assert!(d.is_allowed() && d.reveal_secrets);
        let d = read(r#"{"allow": true, "rule": "r"}"#);
        assert!(d.is_allowed() && !d.reveal_secrets);
        let d = read(r#"{"allow": true, "rule": "r", "secrets": true}"#);
        assert!(d.deny_reason().is_some());
    }

    #[test]
    fn recording_on_cap_is_read_strictly() {
        let d = read(r#"{"allow": true, "rule": "r", "recording": {"on_cap": "end_session"}}"#);
        assert_eq!(d.recording_on_cap, Some(CapAction::EndSession));
        let d = read(r#"{"allow": true, "rule": "r", "recording": {"on_cap": "truncate"}}"#);
        assert_eq!(d.recording_on_cap, Some(CapAction::Truncate));
        let d = read(r#"{"allow": true, "rule": "r", "recording": null}"#);
        assert!(d.is_allowed() && d.recording_on_cap.is_none());
        for bad in [r#"{"on_cap": "stop"}"#, r#"{"oncap": "truncate"}"#, "5"] {
            let d = read(&format!(
                r#"{{"allow": true, "rule": "r", "recording": {bad}}}"#
            ));
            assert!(d.deny_reason().is_some(), "{bad}");
        }
    }

    #[test]
    fn undefined_denies() {
        let d = read_decision(&Value::Undefined, "v1");
        assert_eq!(d.rule, UNDEFINED_RULE);
        assert_eq!(d.deny_reason(), Some(UNDEFINED_REASON));
    }
}
