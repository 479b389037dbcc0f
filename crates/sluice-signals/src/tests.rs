//! Records and facts for the unit tests, and the report computed over them end to end.

use std::time::Duration;

use sluice_audit::{AuditEvent, AuditRecord, Decision, Outcome, RecordingSeal};

use crate::time::rfc3339_ms;
use crate::*;

/// A record at `at` seconds after a fixed start.
pub(crate) fn record(at: i64, gateway: &str, event: AuditEvent) -> AuditRecord {
    AuditRecord {
        seq: 0,
        time: rfc3339_ms(START + at * 1000),
        prev: String::new(),
        gateway: Some(gateway.to_owned()),
        event,
    }
}

pub(crate) const START: i64 = 1_796_374_800_000;

pub(crate) fn started(session: &str, identity: &str, target: &str) -> AuditEvent {
    AuditEvent::SessionStarted {
        session: session.into(),
        identity: identity.into(),
        identity_kind: "human".into(),
        client_addr: "127.0.0.1:1".into(),
        target: target.into(),
        database: target.into(),
        protocol: "postgres".into(),
        tls: true,
        application_name: None,
        settings: Default::default(),
        task: None,
        rule: Some("connect_allowed".into()),
    }
}

pub(crate) fn statement(
    session: &str,
    n: u64,
    identity: &str,
    target: &str,
    verdict: &str,
    rule: &str,
    text: &str,
) -> AuditEvent {
    AuditEvent::Statement {
        session: session.into(),
        identity: identity.into(),
        client_addr: "127.0.0.1:1".into(),
        target: target.into(),
        database: target.into(),
        statement: n,
        text: text.into(),
        parameters: None,
        decision: Decision {
            verdict: verdict.into(),
            reason: None,
            rule: rule.into(),
            policy: "sha256:v1".into(),
        },
        task: None,
    }
}

pub(crate) fn result(session: &str, n: u64) -> AuditEvent {
    AuditEvent::StatementResult {
        session: session.into(),
        identity: "x".into(),
        target: "x".into(),
        statement: n,
        outcome: Outcome::Ok,
        command_tag: None,
        rows: None,
        duration_us: 1,
        masked: None,
        task: None,
    }
}

pub(crate) fn ended(session: &str, sealed: bool) -> AuditEvent {
    AuditEvent::SessionEnded {
        session: session.into(),
        identity: "x".into(),
        target: "x".into(),
        bytes_from_client: 0,
        bytes_to_client: 0,
        statements: 0,
        reason: "client".into(),
        duration_ms: 1,
        recording: sealed.then(|| RecordingSeal {
            sha256: "00".into(),
            bytes: 1,
            truncated: false,
        }),
        task: None,
    }
}

fn policy_loaded(version: &str) -> AuditEvent {
    AuditEvent::PolicyLoaded {
        version: version.into(),
        dir: "p".into(),
        trigger: "start".into(),
        files: 1,
        tests_passed: 0,
        previous: None,
    }
}

fn gateway_started() -> AuditEvent {
    AuditEvent::GatewayStarted {
        version: "0".into(),
        config_digest: "d".into(),
    }
}

#[test]
fn every_signal_fires_on_its_own_evidence_and_only_then() {
    let config = SignalsConfig {
        window: Duration::from_secs(3600),
        sample_fraction: 1.0,
        ..SignalsConfig::default()
    };
    let mut o = Observer::new(1.0);
    for g in ["gw-a", "gw-b"] {
        o.observe(&record(0, g, gateway_started()));
    }
    o.observe(&record(1, "gw-a", policy_loaded("sha256:new")));
    o.observe(&record(1, "gw-b", policy_loaded("sha256:old")));
    o.observe(&record(2, "gw-a", started("s1", "alice", "shop")));
    o.observe(&record(
        3,
        "gw-a",
        statement("s1", 1, "alice", "shop", "allow", "reads", "SELECT 1"),
    ));
    o.observe(&record(3, "gw-a", result("s1", 1)));
    o.observe(&record(
        4,
        "gw-a",
        statement("s1", 2, "alice", "shop", "deny", "default_deny", "VACUUM"),
    ));
    o.observe(&record(5, "gw-a", ended("s1", true)));
    let checks = o.take_recordings_to_check();
    assert_eq!(checks.len(), 1);
    o.recording_checked(&checks[0], RecordingCheck::Altered, Vec::new());

    let now = START + 600_000;
    let mut facts = Facts {
        now_ms: now,
        repository: Some(RepositoryFacts {
            commit: "c".into(),
            branch: Some("main".into()),
            head_digest: Some("sha256:new".into()),
            worktree_digest: "sha256:new".into(),
        }),
        declared_rules: vec!["reads".into(), "writes".into(), "connect_allowed".into()],
        recording_enabled: true,
        checkpoint_interval_ms: Some(60_000),
        ..Facts::default()
    };
    // A grant that expired unused, one used; a review pending for two hours.
    facts.grants = vec![
        GrantFact {
            id: "g-1".into(),
            identity: "bob".into(),
            target: "shop".into(),
            created_ms: START,
            expires_ms: START + 60_000,
            revoked_ms: None,
        },
        GrantFact {
            id: "g-2".into(),
            identity: "alice".into(),
            target: "shop".into(),
            created_ms: START,
            expires_ms: START + 60_000,
            revoked_ms: None,
        },
    ];
    facts.reviews = vec![ReviewFact {
        id: "r-1".into(),
        kind: "statement".into(),
        requester: "alice".into(),
        target: "shop".into(),
        groups: vec!["dba".into()],
        scope: None,
        created_ms: now - 7_200_000,
        decided_ms: None,
        state: "pending".into(),
        decisions: Vec::new(),
    }];
    let r = compute(&o, &facts, &config);

    assert_eq!(r.policy_drift.drifted_gateways, 1);
    assert_eq!(r.policy_drift.gateways[1].state, "other");
    assert!(r.policy_drift.health.firing());
    assert_eq!(r.policy_drift.dead_rules, ["writes"]);
    assert_eq!(r.policy_drift.default_denied_total, 1);

    assert_eq!(r.approval_latency.overdue.len(), 1);
    assert!(r.approval_latency.health.firing());

    assert!(!r.masking_effectiveness.health.firing());

    assert_eq!(r.audit_completeness.recordings.len(), 1);
    assert_eq!(r.audit_completeness.statements_without_result, 1);
    // No checkpoint in ten minutes at a one-minute interval.
    assert!(r.audit_completeness.checkpoints.iter().all(|c| c.overdue));
    assert!(r.audit_completeness.health.firing());

    assert_eq!(r.access_churn.grants_unused, 1);
    assert_eq!(r.access_churn.grants_used, 1);
    assert_eq!(r.access_churn.unused_grants[0].grant, "g-1");
    // Two ended grants are below min_grants: listed, not firing.
    assert!(!r.access_churn.health.firing());

    let keys: Vec<String> = serde_json::to_value(&r)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for s in Signal::ALL {
        assert!(keys.contains(&s.key().to_owned()), "{keys:?}");
    }
    let mut metrics = String::new();
    r.render_prometheus(&mut metrics);
    assert!(metrics.contains("sluice_signal_firing{signal=\"policy_drift\"} 1"));
    assert!(metrics.contains("sluice_signal_firing{signal=\"masking_effectiveness\"} 0"));
    assert!(metrics.contains("sluice_signal_grants{state=\"unused\"} 1"));

    let first = r.transitions(None);
    assert_eq!(first.len(), 3);
    assert!(r.transitions(Some(&r)).is_empty());

    // The history keeps each round's headline figures and firing state, the oldest dropped.
    let mut history = crate::History::new(2);
    for at in [1, 2, 3] {
        history.record(at, &r);
    }
    let points: Vec<_> = history.points().collect();
    assert_eq!(points.iter().map(|p| p.at_ms).collect::<Vec<_>>(), [2, 3]);
    let drift = &points[1].signals[0];
    assert!(drift.firing);
    assert_eq!(drift.figures, [Some(1.0), Some(1.0)]);
    assert!(!points[1].signals[2].firing);
    for (signal, point) in Signal::ALL.into_iter().zip(&points[1].signals) {
        assert_eq!(point.figures.len(), crate::figure_names(signal).len());
    }
}
