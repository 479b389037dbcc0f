//! Several gateways' chains: checked as a set and merged in time order.

use std::path::PathBuf;

use super::gateway::hand_chain;
use super::{buffered, statement};
use crate::{verify_trails, AuditError, AuditLog, CheckpointSigner, FindingKind, MergedTrails};

fn t(s: u32) -> String {
    format!("2024-01-01T00:00:{s:02}.000000Z")
}

fn merged(paths: &[PathBuf]) -> Vec<(Option<String>, u64, String)> {
    MergedTrails::open(paths)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.gateway.clone(), r.seq, r.record().unwrap().time)
        })
        .collect()
}

#[test]
fn merge_orders_by_time_then_gateway_then_seq_and_keeps_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    let c = dir.path().join("c.jsonl");
    let (ta, tb, tc) = (t(1), t(2), t(3));
    let la = hand_chain(
        &a,
        &[
            (Some("gw-b"), &ta),
            (Some("gw-b"), &tc),
            (Some("gw-b"), &tc),
        ],
    );
    let lb = hand_chain(&b, &[(Some("gw-a"), &tb), (Some("gw-a"), &tc)]);
    // An empty trail merges as nothing.
    let lc = hand_chain(&c, &[]);
    assert!(lc.is_empty());

    let paths = vec![a, b, c];
    let got = merged(&paths);
    let want = vec![
        (Some("gw-b".to_owned()), 1, ta.clone()),
        (Some("gw-a".to_owned()), 1, tb.clone()),
        // Same time: gateway name first, then seq.
        (Some("gw-a".to_owned()), 2, tc.clone()),
        (Some("gw-b".to_owned()), 2, tc.clone()),
        (Some("gw-b".to_owned()), 3, tc.clone()),
    ];
    assert_eq!(got, want);

    let lines: Vec<Vec<u8>> = MergedTrails::open(&paths)
        .unwrap()
        .map(|r| r.unwrap().line)
        .collect();
    assert_eq!(lines[0], la[0].as_bytes());
    assert_eq!(lines[1], lb[0].as_bytes());
    assert_eq!(lines[4], la[2].as_bytes());
}

#[test]
fn merge_of_one_trail_is_its_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    // A clock that stepped back: the file's order stands.
    hand_chain(&a, &[(None, &t(5)), (None, &t(2)), (None, &t(7))]);
    let seqs: Vec<u64> = merged(&[a]).into_iter().map(|(_, s, _)| s).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

#[test]
fn merge_stops_at_a_torn_line_and_names_the_file_of_a_corrupt_one() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    hand_chain(&a, &[(Some("gw-a"), &t(1)), (Some("gw-a"), &t(3))]);
    let lb = hand_chain(&b, &[(Some("gw-b"), &t(2))]);
    let mut text = std::fs::read_to_string(&a).unwrap();
    text.push_str(r#"{"seq":3,"time":"#);
    std::fs::write(&a, text).unwrap();
    assert_eq!(merged(&[a.clone(), b.clone()]).len(), 3);

    std::fs::write(&b, format!("{}\nnot json\n", lb[0])).unwrap();
    let err = MergedTrails::open(&[a, b.clone()])
        .unwrap()
        .find_map(Result::err)
        .unwrap();
    assert!(
        matches!(err, AuditError::Corrupt { line: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&b.display().to_string()), "{err}");
}

#[test]
fn a_missing_trail_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.jsonl");
    let Err(err) = MergedTrails::open(std::slice::from_ref(&missing)) else {
        panic!("opened a missing trail");
    };
    assert!(err.to_string().contains("nope.jsonl"), "{err}");
    assert!(verify_trails(&[missing], &[]).is_err());
}

#[test]
fn a_set_reports_per_trail_and_flags_two_files_claiming_one_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    let c = dir.path().join("c.jsonl");
    hand_chain(&a, &[(Some("gw-a"), &t(1)), (Some("gw-a"), &t(2))]);
    hand_chain(&b, &[(Some("gw-b"), &t(1))]);
    hand_chain(&c, &[(None, &t(1))]);

    let set = verify_trails(&[a.clone(), b.clone(), c.clone()], &[]).unwrap();
    assert_eq!(set.len(), 3);
    assert!(set.iter().all(|t| t.is_intact()), "{set:?}");
    assert_eq!(set[0].gateway.as_deref(), Some("gw-a"));
    assert_eq!(set[0].report.records, 2);
    assert_eq!(set[1].gateway.as_deref(), Some("gw-b"));
    assert_eq!(set[2].gateway, None);
    assert_eq!(set[2].path, c);

    // A copy of gw-a's trail: both files claim it.
    let copy = dir.path().join("copy.jsonl");
    std::fs::copy(&a, &copy).unwrap();
    let set = verify_trails(&[a.clone(), b.clone(), copy.clone()], &[]).unwrap();
    assert!(set[1].is_intact());
    for i in [0, 2] {
        assert!(!set[i].is_intact(), "{:?}", set[i]);
        let problems: Vec<_> = set[i].report.problems().collect();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, FindingKind::DuplicateGateway);
        assert!(problems[0].message.contains("gw-a"));
        assert!(set[i].report.broken.is_some());
    }
}

#[tokio::test]
async fn gateways_with_their_own_keys_verify_with_both_keys_given() {
    let dir = tempfile::tempdir().unwrap();
    let signers = [
        CheckpointSigner::from_seed(&[1; 32]),
        CheckpointSigner::from_seed(&[2; 32]),
    ];
    let mut paths = Vec::new();
    for (i, signer) in signers.iter().enumerate() {
        let path = dir.path().join(format!("gw{i}")).join("audit.jsonl");
        let log = AuditLog::open_named(&path, buffered(), Some(&format!("gw-{i}"))).unwrap();
        log.record(&statement("alice", "db1", 1)).await.unwrap();
        log.checkpoint(signer).await.unwrap().unwrap();
        drop(log);
        paths.push(path);
    }
    let keys: Vec<[u8; 32]> = signers.iter().map(CheckpointSigner::public_key).collect();
    let set = verify_trails(&paths, &keys).unwrap();
    for (i, trail) in set.iter().enumerate() {
        assert!(trail.is_intact(), "{trail:?}");
        assert_eq!(trail.report.checkpoints_verified, 1);
        assert_eq!(trail.report.key_id.as_deref(), Some(signers[i].key_id()));
    }

    // Only gw-0's key: gw-1's checkpoint names an untrusted key.
    let set = verify_trails(&paths, &keys[..1]).unwrap();
    assert!(set[0].is_intact());
    assert!(set[1]
        .report
        .problems()
        .any(|f| f.kind == FindingKind::UnknownKey));

    // Merged, records keep their gateway.
    let names: Vec<_> = MergedTrails::open(&paths)
        .unwrap()
        .map(|r| r.unwrap().record().unwrap().gateway)
        .collect();
    assert_eq!(names.len(), 4);
    assert!(names.iter().all(Option::is_some));
}
