//! The Rego policy as the gateway uses it: decisions, failures, introspection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{compile, compile_with_timeout, example, statement, Facts};
use sluice_decision::{
    DecisionError, Input, Policy, RegoOptions, RegoPolicy, Request, StatementKind, Verdict,
};

fn decide(policy: &RegoPolicy, facts: &Facts, kind: StatementKind) -> sluice_decision::Decision {
    let stmt = statement("SELECT 1", kind);
    policy.decide(&facts.input(&stmt))
}

const HEAD: &str = "package sluice\nimport rego.v1\n";

#[test]
fn allows_and_denies_by_rule() {
    let policy = example();
    let analyst = Facts::new("alice", "human", &["analysts"]);
    let d = decide(&policy, &analyst, StatementKind::Read);
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(d.rule, "analysts_read");
    assert_eq!(d.policy, policy.version());

    let d = decide(&policy, &analyst, StatementKind::Write);
    assert_eq!(d.rule, "default_deny");
    assert_eq!(d.deny_reason(), Some("no rule allows it"));

    let dba = Facts::new("dora", "human", &["dba"]);
    let d = decide(&policy, &dba, StatementKind::Ddl);
    assert_eq!(d.rule, "deny");
    assert_eq!(
        d.deny_reason(),
        Some("humans may not run DDL on production")
    );

    let mut stmt = statement("UPDATE t SET a = pg_read_file('x')", StatementKind::Write);
    stmt.unbounded_write = true;
    stmt.functions = vec!["pg_catalog.pg_read_file".into()];
    let d = policy.decide(&dba.input(&stmt));
    assert_eq!(
        d.deny_reason(),
        Some("calls pg_catalog.pg_read_file, which is not allowed; unbounded UPDATE or DELETE (no WHERE clause)")
    );

    let connect = Input {
        request: Request::Connect,
        ..analyst.input(&stmt)
    };
    assert_eq!(policy.decide(&connect).rule, "connect");
}

#[test]
fn undefined_decision_denies() {
    let policy = compile(&[(
        "p.rego",
        &format!("{HEAD}decision := {{\"allow\": true, \"rule\": \"x\"}} if input.nope"),
    )]);
    let d = decide(&policy, &Facts::new("a", "human", &[]), StatementKind::Read);
    assert_eq!(d.rule, "sluice.undefined");
    assert_eq!(
        d.deny_reason(),
        Some("policy undefined: data.sluice.decision has no value for this request")
    );
}

#[test]
fn evaluation_errors_deny() {
    let facts = Facts::new("a", "human", &["analysts"]);
    // A conflict and a failing builtin inside a deny rule: either would let an
    // "undefined is false" evaluator allow the request.
    for (name, rules) in [
        (
            "conflict",
            "x := 1 if true\nx := 2 if true\ndeny contains \"d\" if x == 1",
        ),
        (
            "builtin",
            "deny contains \"d\" if regex.match(\"(\", input.identity.name)",
        ),
        (
            "function",
            "f(_) := 1 if true\nf(_) := 2 if true\ndeny contains \"d\" if f(1) == 1",
        ),
        (
            "multiple outputs",
            "x := v if some v in [1, 2]\ndeny contains \"d\" if x == 1",
        ),
    ] {
        let policy = compile(&[(
            "p.rego",
            &format!(
                "{HEAD}default decision := {{\"allow\": false, \"rule\": \"default\"}}\n\
                 decision := {{\"allow\": true, \"rule\": \"ok\"}} if count(deny) == 0\n{rules}\n"
            ),
        )]);
        let d = decide(&policy, &facts, StatementKind::Read);
        assert_eq!(d.rule, "sluice.error", "{name}: {d:?}");
        assert!(
            d.deny_reason()
                .unwrap()
                .starts_with("policy error: p.rego:"),
            "{name}: {d:?}"
        );
        // The engine is usable again afterwards.
        assert_eq!(
            decide(&policy, &facts, StatementKind::Read).rule,
            "sluice.error"
        );
    }
}

#[test]
fn slow_evaluation_times_out() {
    let policy = compile_with_timeout(
        &[(
            "p.rego",
            &format!(
                "{HEAD}decision := {{\"allow\": true, \"rule\": sprintf(\"%d\", [n])}}\n\
                 n := count([1 | some a in numbers.range(1, 2000); some b in numbers.range(1, 2000); some c in numbers.range(1, 2000)])\n"
            ),
        )],
        Duration::from_millis(10),
    );
    let started = Instant::now();
    let d = decide(&policy, &Facts::new("a", "human", &[]), StatementKind::Read);
    assert_eq!(d.rule, "sluice.timeout", "{d:?}");
    assert!(!d.is_allowed());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn malformed_and_unknown_keys_deny() {
    let facts = Facts::new("a", "human", &[]);
    for (doc, reason) in [
        (
            r#"{"allow": true, "rule": "r", "mask": {"email": "hash"}}"#,
            "the decision's mask is invalid: unknown field `email`, expected `columns` or `content`",
        ),
        (
            r#"{"allow": true, "rule": "r", "approval": {"by": "dba"}}"#,
            "the decision's approval is invalid: unknown field `by`, expected one of `groups`, `approvals`, `reason`",
        ),
        (
            r#"{"allow": true, "rule": "r", "reason": "typo"}"#,
            r#"the decision has an unknown key "reason" (known: allow, rule, reasons, mask, approval, recording, token, secrets)"#,
        ),
        (
            r#"{"allow": "yes", "rule": "r"}"#,
            "the decision's allow must be a boolean, not a string",
        ),
    ] {
        let policy = compile(&[("p.rego", &format!("{HEAD}decision := {doc}"))]);
        let d = decide(&policy, &facts, StatementKind::Read);
        assert_eq!(d.deny_reason(), Some(reason));
        assert_eq!(d.rule, "r");
    }
}

#[test]
fn approval_from_rego_holds() {
    let facts = Facts::new("a", "human", &[]);
    let policy = compile(&[(
        "p.rego",
        &format!(
            "{HEAD}decision := {{\"allow\": true, \"rule\": \"r\", \"reasons\": [\"prod write\"], \"approval\": {{\"groups\": {{\"dba\"}}, \"approvals\": 2}}}}\n"
        ),
    )]);
    let d = decide(&policy, &facts, StatementKind::Write);
    let approval = d.approval().unwrap_or_else(|| panic!("not held: {d:?}"));
    assert_eq!(approval[0].groups, ["dba"]);
    assert_eq!(approval[0].approvals, 2);
    assert_eq!(approval[0].reason, "prod write");
}

#[test]
fn mask_from_rego_sets_is_read() {
    let facts = Facts::new("a", "human", &[]);
    let policy = compile(&[(
        "p.rego",
        &format!(
            "{HEAD}columns contains {{\"column\": \"*ssn*\", \"strategy\": {{\"keep_last\": 2}}}}\n\
             decision := {{\"allow\": true, \"rule\": \"r\", \"mask\": {{\"columns\": columns, \"content\": [{{\"detector\": \"*\", \"strategy\": \"redact\"}}]}}}}\n"
        ),
    )]);
    let d = decide(&policy, &facts, StatementKind::Read);
    assert!(d.is_allowed(), "{d:?}");
    let mask = d.mask.unwrap();
    assert_eq!(mask.columns.len(), 1);
    assert_eq!(mask.columns[0].strategy, sluice_mask::Strategy::KeepLast(2));
    assert_eq!(mask.content.len(), 1);
}

#[test]
fn compile_errors_name_file_and_line() {
    let bundle = common::bundle(&[(
        "policies/sql.rego",
        "package sluice\n\ndecision := {\"allow\": true,\n",
    )]);
    let err = RegoPolicy::compile(&bundle, RegoOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("policies/sql.rego:4:1: "), "{text}");

    let bundle = common::bundle(&[(
        "policies/sql.rego",
        &format!("{HEAD}decision := {{\"allow\": true, \"rule\": \"r\"}} if y > 1\n"),
    )]);
    let err = RegoPolicy::compile(&bundle, RegoOptions::default()).unwrap_err();
    assert!(err.to_string().starts_with("policies/sql.rego:3:"), "{err}");
}

#[test]
fn a_bundle_must_define_the_decision() {
    for text in [
        "package other\ndecision := {}\n",
        "package sluice\nimport rego.v1\nallow := true\n",
    ] {
        let bundle = common::bundle(&[("p.rego", text)]);
        let err = RegoPolicy::compile(&bundle, RegoOptions::default()).unwrap_err();
        assert!(matches!(err, DecisionError::NoDecisionRule), "{err}");
        assert_eq!(
            err.to_string(),
            "the bundle defines no data.sluice.decision rule"
        );
    }
    let bundle = common::bundle(&[(
        "p.rego",
        "package sluice\nimport rego.v1\ndecision.allow := true\ndecision.rule := \"r\"\n",
    )]);
    let err = RegoPolicy::compile(&bundle, RegoOptions::default()).unwrap_err();
    assert!(err.to_string().contains("must be one rule"), "{err}");
}

#[test]
fn version_is_digest_and_commit() {
    let bundle = common::bundle(&[("p.rego", common::POLICY)]);
    let plain = RegoPolicy::compile(&bundle, RegoOptions::default()).unwrap();
    assert_eq!(plain.version(), bundle.digest());
    assert_eq!(plain.digest(), bundle.digest());
    let with_git = RegoPolicy::compile(
        &bundle,
        RegoOptions {
            git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            ..RegoOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        with_git.version(),
        format!("{} git:0123456789ab", bundle.digest())
    );
    let d = decide(
        &with_git,
        &Facts::new("a", "human", &[]),
        StatementKind::Read,
    );
    assert_eq!(d.policy, with_git.version());
}

#[test]
fn introspection() {
    let policy = example();
    assert!(!policy.uses_parameters());
    assert!(policy.cacheable());
    let as_trait: &dyn Policy = &policy;
    assert!(as_trait.cacheable());

    let policy = compile(&[(
        "p.rego",
        &format!(
            "{HEAD}decision := {{\"allow\": count(input.request.parameters) == 0, \"rule\": \"p\"}}"
        ),
    )]);
    assert!(policy.uses_parameters());
    let policy = compile(&[(
        "p.rego",
        &format!("{HEAD}decision := {{\"allow\": time.now_ns() > 0, \"rule\": \"t\"}}"),
    )]);
    assert!(!policy.cacheable());
}

#[test]
fn explains_json_input() {
    let policy = compile(&[(
        "p.rego",
        &format!(
            "{HEAD}decision := {{\"allow\": input.x == 1, \"rule\": \"x\", \"reasons\": [\"x is not 1\"]}} if {{\n\
             print(\"x is\", input.x)\n}}"
        ),
    )]);
    let explained = policy.evaluate_json(r#"{"x": 2}"#).unwrap();
    assert_eq!(explained.decision.deny_reason(), Some("x is not 1"));
    assert_eq!(
        explained.document,
        Some(serde_json::json!({"allow": false, "rule": "x", "reasons": ["x is not 1"]}))
    );
    assert_eq!(explained.prints, vec!["p.rego:4: x is 2".to_string()]);
    assert!(policy
        .evaluate_json(r#"{"x": 1}"#)
        .unwrap()
        .decision
        .is_allowed());
    assert!(matches!(
        policy.evaluate_json("{"),
        Err(DecisionError::InvalidInput(_))
    ));
    let undefined = policy.evaluate_json("{}").unwrap();
    assert_eq!(undefined.document, None);
    assert_eq!(undefined.decision.rule, "sluice.undefined");
}

#[test]
fn decides_from_several_threads() {
    let policy = Arc::new(example());
    let expected = decide(
        &policy,
        &Facts::new("alice", "human", &["analysts"]),
        StatementKind::Read,
    );
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let policy = Arc::clone(&policy);
            std::thread::spawn(move || {
                let analyst = Facts::new("alice", "human", &["analysts"]);
                let other = Facts::new(&format!("svc{i}"), "service", &[]);
                let mut decisions = Vec::new();
                for _ in 0..200 {
                    decisions.push(decide(&policy, &analyst, StatementKind::Read));
                    let d = decide(&policy, &other, StatementKind::Ddl);
                    assert_eq!(d.rule, "default_deny");
                }
                decisions
            })
        })
        .collect();
    for t in threads {
        for d in t.join().unwrap() {
            assert_eq!(d, expected);
        }
    }
}

#[test]
fn policies_on_one_thread_keep_their_own_engines() {
    let facts = Facts::new("a", "human", &[]);
    let a = compile(&[(
        "p.rego",
        &format!("{HEAD}decision := {{\"allow\": true, \"rule\": \"a\"}}"),
    )]);
    let b = compile(&[(
        "p.rego",
        &format!("{HEAD}decision := {{\"allow\": true, \"rule\": \"b\"}}"),
    )]);
    for _ in 0..3 {
        assert_eq!(decide(&a, &facts, StatementKind::Read).rule, "a");
        assert_eq!(decide(&b, &facts, StatementKind::Read).rule, "b");
    }
    drop(a);
    // A new policy after the old one is gone: the old engine is dropped, the new one used.
    let c = compile(&[(
        "p.rego",
        &format!("{HEAD}decision := {{\"allow\": true, \"rule\": \"c\"}}"),
    )]);
    assert_eq!(decide(&c, &facts, StatementKind::Read).rule, "c");
    assert_eq!(decide(&b, &facts, StatementKind::Read).rule, "b");
}
