//! Signed checkpoints: writing them into the chain, and `verify_with_key` naming what was
//! altered, removed or forged.

use std::path::Path;

use super::{lines, log_path, open, statement};
use crate::{
    hash_line, verify, verify_with_key, AuditEvent, AuditLog, AuditRecord, CheckpointInvalid,
    CheckpointSigner, CheckpointVerifier, FindingKind, VerifyReport,
};

const SEED: [u8; 32] = [7; 32];
const OTHER_SEED: [u8; 32] = [9; 32];

fn signer() -> CheckpointSigner {
    CheckpointSigner::from_seed(&SEED)
}

fn public() -> [u8; 32] {
    signer().public_key()
}

/// Records 1-5, checkpoint 6 (count 5), records 7-10, checkpoint 11 (count 10), records
/// 12-13: two sealed stretches and an unsealed tail.
async fn sealed_log(path: &Path) {
    let log = open(path);
    let signer = signer();
    for i in 0..5 {
        log.record(&statement("alice", "db1", i)).await.unwrap();
    }
    assert_eq!(log.checkpoint(&signer).await.unwrap().unwrap().seq, 6);
    for i in 5..9 {
        log.record(&statement("alice", "db1", i)).await.unwrap();
    }
    assert_eq!(log.checkpoint(&signer).await.unwrap().unwrap().seq, 11);
    for i in 9..11 {
        log.record(&statement("alice", "db1", i)).await.unwrap();
    }
    drop(log);
    assert_eq!(lines(path).len(), 13);
}

fn rewrite(path: &Path, all: &[String]) {
    std::fs::write(path, all.join("\n") + "\n").unwrap();
}

/// Recomputes every `prev` from line `from` (0-based) on, as someone rewriting the chain
/// would; with `reseal`, also re-signs every checkpoint on the way with that signer, naming
/// the key id given (or the signer's own).
fn rechain(all: &mut [String], from: usize, reseal: Option<(&CheckpointSigner, Option<&str>)>) {
    for i in from.max(1)..all.len() {
        let prev = hex::encode(hash_line(all[i - 1].as_bytes()));
        // In place, so a line whose prev does not change keeps its exact bytes.
        let start = all[i].find("\"prev\":\"").unwrap() + "\"prev\":\"".len();
        all[i].replace_range(start..start + 64, &prev);
        let record = AuditRecord::from_line(all[i].as_bytes()).unwrap();
        if let (
            AuditEvent::Checkpoint {
                count, sealed_at, ..
            },
            Some((signer, id)),
        ) = (&record.event, reseal)
        {
            let forged = serde_json::to_value(signer.sign(*count, &prev, sealed_at)).unwrap();
            all[i] = edit(&all[i], |v| {
                for field in ["head", "key", "signature"] {
                    v[field] = forged[field].clone();
                }
                if let Some(id) = id {
                    v["key"] = id.into();
                }
            });
        }
    }
}

fn edit(line: &str, f: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
    f(&mut value);
    serde_json::to_string(&value).unwrap()
}

fn kinds(report: &VerifyReport) -> Vec<(FindingKind, Option<u64>)> {
    report.problems().map(|f| (f.kind, f.seq)).collect()
}

#[test]
fn sign_and_verify_round_trip() {
    let signer = signer();
    let head = "ab".repeat(32);
    let event = signer.sign(41, &head, "2025-01-02T03:04:05.000006Z");
    let verifier = CheckpointVerifier::new(&signer.public_key()).unwrap();
    assert_eq!(verifier.key_id(), signer.key_id());
    assert_eq!(signer.key_id().len(), 16);
    verifier.verify(&event).unwrap();

    // Any signed field changed: the signature no longer verifies.
    let AuditEvent::Checkpoint {
        count,
        head,
        sealed_at,
        key,
        signature,
    } = event.clone()
    else {
        unreachable!("sign returns a checkpoint")
    };
    let altered = AuditEvent::Checkpoint {
        count: count + 1,
        head: head.clone(),
        sealed_at: sealed_at.clone(),
        key: key.clone(),
        signature: signature.clone(),
    };
    assert_eq!(
        verifier.verify(&altered),
        Err(CheckpointInvalid::BadSignature)
    );
    let garbled = AuditEvent::Checkpoint {
        count,
        head,
        sealed_at,
        key,
        signature: "zz".into(),
    };
    assert_eq!(
        verifier.verify(&garbled),
        Err(CheckpointInvalid::MalformedSignature)
    );

    // Another key's verifier sees another key id.
    let other =
        CheckpointVerifier::new(&CheckpointSigner::from_seed(&OTHER_SEED).public_key()).unwrap();
    assert!(matches!(
        other.verify(&event),
        Err(CheckpointInvalid::OtherKey { .. })
    ));

    // The private key never shows in Debug output.
    let debug = format!("{signer:?}");
    assert!(debug.contains(signer.key_id()), "{debug}");
    assert!(!debug.contains(&hex::encode(SEED)), "{debug}");
    assert!(!debug.contains("[7, 7"), "{debug}");
}

#[tokio::test]
async fn checkpoint_head_is_the_chain_head_and_is_not_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = open(&path);
    let signer = signer();
    // Nothing to seal in an empty log.
    assert_eq!(log.checkpoint(&signer).await.unwrap(), None);
    for i in 0..3 {
        log.record(&statement("alice", "db1", i)).await.unwrap();
    }
    // Appended but not committed: the checkpoint still covers it, and writes it.
    log.append(&statement("alice", "db1", 3)).unwrap();
    let written = log.checkpoint(&signer).await.unwrap().unwrap();
    assert_eq!((written.seq, written.count), (5, 4));
    // Nothing new since: no second checkpoint.
    assert_eq!(log.checkpoint(&signer).await.unwrap(), None);
    assert!(log.metrics().syncs >= 1);

    let all = lines(&path);
    assert_eq!(all.len(), 5);
    let record = AuditRecord::from_line(all[4].as_bytes()).unwrap();
    let AuditEvent::Checkpoint {
        count,
        head,
        sealed_at,
        key,
        ..
    } = &record.event
    else {
        panic!("not a checkpoint: {record:?}")
    };
    let expected_head = hex::encode(hash_line(all[3].as_bytes()));
    assert_eq!(*count, record.seq - 1);
    assert_eq!(*head, expected_head);
    assert_eq!(record.prev, expected_head);
    assert_eq!(*head, written.head);
    assert_eq!(*sealed_at, record.time);
    assert_eq!(key, signer.key_id());
    assert_eq!(record.event.identity(), None);
    assert_eq!(record.event.target(), None);
    assert_eq!(record.event.session(), None);

    // Checkpoints go on after new records.
    log.record(&statement("alice", "db1", 4)).await.unwrap();
    assert_eq!(log.checkpoint(&signer).await.unwrap().unwrap().seq, 7);
    drop(log);

    let report = verify_with_key(&path, Some(&public())).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checkpoints, 2);
    assert_eq!(report.checkpoints_verified, 2);
    assert_eq!(report.key_id.as_deref(), Some(signer.key_id()));
    assert_eq!(report.last_checkpoint, Some(7));
    assert_eq!(report.unsealed, 0);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkpoints_amid_concurrent_appends_seal_exactly_their_predecessor() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = open(&path);
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move {
                for i in 0..500 {
                    log.record(&statement(&format!("user{t}"), "db1", i))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let sealer = {
        let log = log.clone();
        tokio::spawn(async move {
            let signer = signer();
            let mut written = 0;
            for _ in 0..50 {
                if log.checkpoint(&signer).await.unwrap().is_some() {
                    written += 1;
                }
                tokio::task::yield_now().await;
            }
            written
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    let written = sealer.await.unwrap();
    assert!(written > 0);
    log.checkpoint(&signer()).await.unwrap();
    drop(log);

    let report = verify_with_key(&path, Some(&public())).unwrap();
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.checkpoints, report.checkpoints_verified);
    assert_eq!(report.records, 2000 + report.checkpoints);
    assert_eq!(report.unsealed, 0);
}

#[tokio::test]
async fn an_edited_record_is_named_altered_with_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    sealed_log(&path).await;
    assert!(verify_with_key(&path, Some(&public())).unwrap().is_intact());

    let mut all = lines(&path);
    all[2] = all[2].replacen("alice", "mallory", 1);
    rewrite(&path, &all);

    let report = verify_with_key(&path, Some(&public())).unwrap();
    assert_eq!(kinds(&report), [(FindingKind::Altered, Some(3))]);
    let finding = report.problems().next().unwrap();
    assert_eq!(finding.line, Some(3));
    assert!(
        finding
            .message
            .contains("record at seq 3 (line 3) was altered"),
        "{}",
        finding.message
    );
    // The checkpoints themselves still verify; the tail is reported as unsealed.
    assert_eq!(report.checkpoints_verified, 2);
    assert!(report
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::Unsealed && f.message.contains("2 records")));
}

#[tokio::test]
async fn a_deleted_record_is_named_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    sealed_log(&path).await;
    let mut all = lines(&path);
    all.remove(7); // seq 8
    rewrite(&path, &all);

    let report = verify_with_key(&path, Some(&public())).unwrap();
    assert_eq!(kinds(&report), [(FindingKind::Removed, Some(8))]);
    let finding = report.problems().next().unwrap();
    assert!(
        finding.message.contains("record 8 was removed"),
        "{}",
        finding.message
    );
    assert_eq!(finding.line, Some(8));
}

#[tokio::test]
async fn a_chain_rewritten_below_a_checkpoint_is_caught_by_its_signature() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    sealed_log(&path).await;
    let mut all = lines(&path);
    all[7] = all[7].replacen("SELECT", "DELETE", 1); // seq 8
    rechain(&mut all, 8, None);
    rewrite(&path, &all);

    // Every link checks out: the hash chain alone cannot tell. The checkpoint that sealed
    // seq 8 can, and with the key its signature shows its head is the original one.
    let report = verify_with_key(&path, Some(&public())).unwrap();
    assert_eq!(
        kinds(&report),
        [(FindingKind::CheckpointMismatch, Some(11))]
    );
    let finding = report.problems().next().unwrap();
    assert!(
        finding
            .message
            .contains("records up to seq 10 were altered after checkpoint at seq 11"),
        "{}",
        finding.message
    );
    assert!(
        finding.message.contains("from seq 6 to 10"),
        "{}",
        finding.message
    );
}

#[tokio::test]
async fn records_cut_from_before_a_checkpoint_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    sealed_log(&path).await;
    let original = lines(&path);

    // The last sealed records removed, the checkpoint left in place.
    let mut all = original.clone();
    all.drain(8..10); // seq 9 and 10
    rewrite(&path, &all);
    let report = verify_with_key(&path, Some(&public())).unwrap();
    assert_eq!(kinds(&report), [(FindingKind::Removed, Some(9))]);
    let message = &report.problems().next().unwrap().message;
    assert!(
        message.contains("records 9 to 10 were removed (checkpoint at seq 11 covered up to 10)"),
        "{message}"
    );

    // Cut back to seq 8 and the checkpoint renumbered and re-chained onto it, so that seqs and
    // prevs all follow: its signed count still says what was there.
    let mut all = original[..8].to_vec();
    let last = hex::encode(hash_line(all[7].as_bytes()));
    all.push(edit(&original[10], |v| {
        v["seq"] = 9.into();
        v["prev"] = last.clone().into();
    }));
    rewrite(&path, &all);
    let report = verify_with_key(&path, Some(&public())).unwrap();
    assert_eq!(kinds(&report), [(FindingKind::Removed, Some(9))]);
    let message = &report.problems().next().unwrap().message;
    assert!(
        message.contains("records after seq 8 were removed (checkpoint at seq 9 covered up to 10)"),
        "{message}"
    );
}

#[tokio::test]
async fn a_truncated_tail_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    sealed_log(&path).await;
    let original = std::fs::read(&path).unwrap();

    // Cut mid-record.
    std::fs::write(&path, &original[..original.len() - 10]).unwrap();
    let report = verify_with_key(&path, Some(&public())).unwrap();
    assert_eq!(kinds(&report), [(FindingKind::Torn, None)]);

    // Cut at a line boundary after the last checkpoint: the file alone cannot prove records
    // are missing, but it says how much of it no checkpoint vouches for.
    let all = lines_of(&original);
    rewrite(&path, &all[..12]);
    let report = verify_with_key(&path, Some(&public())).unwrap();
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.last_checkpoint, Some(11));
    assert_eq!(report.unsealed, 1);
    assert_eq!(report.last_seq, Some(12));
}

fn lines_of(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn forged_checkpoints_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    sealed_log(&path).await;
    let original = lines(&path);

    // Without the key only the chain is checked, and the report says the signatures were not.
    let unchecked = verify(&path).unwrap();
    assert!(unchecked.is_intact(), "{:?}", unchecked.findings);
    assert!(unchecked
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::Unverified && f.message.starts_with("2 checkpoint")));

    // One hex digit of the signature changed (and, being an edit, the link after it breaks).
    let mut all = original.clone();
    all[5] = edit(&all[5], |v| {
        let sig = v["signature"].as_str().unwrap().to_owned();
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        v["signature"] = format!("{flipped}{}", &sig[1..]).into();
    });
    rewrite(&path, &all);
    let report = verify_with_key(&path, Some(&public())).unwrap();
    assert_eq!(
        kinds(&report),
        [
            (FindingKind::ForgedCheckpoint, Some(6)),
            (FindingKind::Altered, Some(6))
        ]
    );
    assert!(report
        .problems()
        .next()
        .unwrap()
        .message
        .contains("forged checkpoint at seq 6 (line 6)"));

    // Record 2 altered, the chain rewritten and every checkpoint re-signed with another key.
    let other = CheckpointSigner::from_seed(&OTHER_SEED);
    let forge = |key_id: Option<&str>| {
        let mut all = original.clone();
        all[1] = all[1].replacen("SELECT 1", "SELECT 2", 1);
        rechain(&mut all, 2, Some((&other, key_id)));
        rewrite(&path, &all);
        verify_with_key(&path, Some(&public())).unwrap()
    };
    // ... under the trusted key's id: the signatures do not verify.
    let report = forge(Some(signer().key_id()));
    assert_eq!(
        kinds(&report),
        [
            (FindingKind::ForgedCheckpoint, Some(6)),
            (FindingKind::ForgedCheckpoint, Some(11))
        ]
    );
    // ... or under its own id: not the trusted key.
    let report = forge(None);
    assert_eq!(
        kinds(&report),
        [
            (FindingKind::UnknownKey, Some(6)),
            (FindingKind::UnknownKey, Some(11))
        ]
    );
    assert!(report
        .problems()
        .next()
        .unwrap()
        .message
        .contains(other.key_id()));
}

#[tokio::test]
async fn checkpoint_is_refused_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = AuditLog::open(&path, crate::Durability::Strict).unwrap();
    log.record(&statement("alice", "db1", 0)).await.unwrap();
    assert!(log.checkpoint(&signer()).await.unwrap().is_some());
    log.close().await.unwrap();
    assert!(matches!(
        log.checkpoint(&signer()).await,
        Err(crate::AuditError::Closed)
    ));
}
