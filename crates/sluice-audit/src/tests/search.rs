use super::{log_path, open, statement};
use crate::{search, AuditEvent, SearchFilter};

#[tokio::test]
async fn filters_by_identity_target_session_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = open(&path);
    log.record(&AuditEvent::GatewayStarted {
        version: "0.1.0".into(),
        config_digest: "abc".into(),
    })
    .await
    .unwrap();
    for (identity, target) in [("alice", "db1"), ("bob", "db2"), ("alice", "db2")] {
        log.record(&statement(identity, target, 1)).await.unwrap();
        // Distinct microsecond timestamps for the time filter below.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    log.record(&AuditEvent::ConnectionRejected {
        client_addr: "10.0.0.1:1".into(),
        identity: None,
        target: Some("db1".into()),
        protocol: "postgres".into(),
        reason: "no such user".into(),
    })
    .await
    .unwrap();
    drop(log);

    let seqs = |filter: SearchFilter| -> Vec<u64> {
        search(&path, &filter)
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect()
    };
    assert_eq!(seqs(SearchFilter::default()), vec![1, 2, 3, 4, 5]);
    assert_eq!(
        seqs(SearchFilter {
            identity: Some("alice".into()),
            ..Default::default()
        }),
        vec![2, 4]
    );
    assert_eq!(
        seqs(SearchFilter {
            target: Some("db1".into()),
            ..Default::default()
        }),
        vec![2, 5]
    );
    assert_eq!(
        seqs(SearchFilter {
            identity: Some("alice".into()),
            target: Some("db2".into()),
            ..Default::default()
        }),
        vec![4]
    );
    assert_eq!(
        seqs(SearchFilter {
            session: Some("s-bob".into()),
            ..Default::default()
        }),
        vec![3]
    );

    let all = search(&path, &SearchFilter::default()).unwrap();
    let t3 = all[2].timestamp().unwrap();
    let t4 = all[3].timestamp().unwrap();
    assert!(t3 < t4);
    assert_eq!(
        seqs(SearchFilter {
            since: Some(t3),
            until: Some(t4),
            ..Default::default()
        }),
        vec![3]
    );
    assert_eq!(
        seqs(SearchFilter {
            since: Some(t4),
            ..Default::default()
        }),
        vec![4, 5]
    );
}

#[test]
fn event_fields_skip_absent_options() {
    let json = serde_json::to_string(&AuditEvent::ConnectionRejected {
        client_addr: "a".into(),
        identity: None,
        target: None,
        protocol: "postgres".into(),
        reason: "r".into(),
    })
    .unwrap();
    assert_eq!(
        json,
        r#"{"type":"connection_rejected","client_addr":"a","protocol":"postgres","reason":"r"}"#
    );
    let outcome = serde_json::to_string(&crate::Outcome::Error {
        sqlstate: "42P01".into(),
        message: "m".into(),
    })
    .unwrap();
    assert_eq!(
        outcome,
        r#"{"status":"error","sqlstate":"42P01","message":"m"}"#
    );
}

#[test]
fn kind_and_outcome_are_what_the_record_says() {
    let events = [
        AuditEvent::ConnectionRejected {
            client_addr: "a".into(),
            identity: None,
            target: None,
            protocol: "postgres".into(),
            reason: "r".into(),
        },
        AuditEvent::GatewayStopped { reason: "r".into() },
        AuditEvent::StatementResult {
            session: "s".into(),
            identity: "i".into(),
            target: "t".into(),
            statement: 1,
            outcome: crate::Outcome::NotExecuted { reason: "r".into() },
            command_tag: None,
            rows: None,
            duration_us: 1,
            masked: None,
            task: None,
        },
    ];
    for event in &events {
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(json["type"], event.kind());
    }
    assert_eq!(events[0].outcome(), Some("deny"));
    assert_eq!(events[1].outcome(), None);
    // The same name the result's JSON carries.
    assert_eq!(events[2].outcome(), Some("not_executed"));
}
