//! Stores: the local file store, the object-store archive, and retention.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, SystemTime};

use common::{allow, header, row};
use sluice_record::{
    delete_older_than, parse, FileStore, Limits, RecordError, Recorder, RecordingStore,
};

#[tokio::test]
async fn file_store_append_read_list_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("recordings"));
    assert!(
        store.list().await.unwrap().is_empty(),
        "a missing directory lists empty"
    );
    assert!(matches!(
        store.read("s_1").await,
        Err(RecordError::NotFound(_))
    ));

    let mut rec = Recorder::new(&header("s_1"), Limits::default());
    store.append("s_1", &rec.take()).await.unwrap();
    rec.statement(1, "SELECT 1", &allow());
    row(&mut rec, 1, &[Some("1")]);
    store.append("s_1", &rec.take()).await.unwrap();
    // Readable while it runs: incomplete.
    let partial = parse(&store.read("s_1").await.unwrap()).unwrap();
    assert!(!partial.is_complete());
    assert_eq!(partial.statement(1).unwrap().rows.len(), 1);

    let (tail, digest) = rec.finish("client terminated the session");
    store.append("s_1", &tail).await.unwrap();
    store.finish("s_1").await.unwrap();
    let bytes = store.read("s_1").await.unwrap();
    assert_eq!(bytes.len() as u64, digest.bytes);
    assert!(parse(&bytes).unwrap().is_complete());
    assert!(dir.path().join("recordings/s_1.jsonl").is_file());

    store.append("s-2", b"{}\n").await.unwrap();
    std::fs::write(dir.path().join("recordings/notes.txt"), "not a recording").unwrap();
    std::fs::write(dir.path().join("recordings/bad.id.jsonl"), "x").unwrap();
    let list = store.list().await.unwrap();
    let sessions: Vec<_> = list.iter().map(|i| i.session.as_str()).collect();
    assert_eq!(sessions, ["s-2", "s_1"]);
    assert_eq!(list[1].bytes, digest.bytes);
    assert!(!list[1].archived);

    assert!(store.delete("s_1").await.unwrap());
    assert!(!store.delete("s_1").await.unwrap());
    assert!(matches!(
        store.finish("s_1").await,
        Err(RecordError::NotFound(_))
    ));
}

#[tokio::test]
async fn file_store_refuses_ids_that_could_escape() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    let too_long = "a".repeat(129);
    for bad in [
        "",
        "../x",
        "a/b",
        "..",
        ".",
        "s 1",
        "s\u{e9}",
        "s.jsonl",
        "a\\b",
        "s\0",
        too_long.as_str(),
    ] {
        assert!(
            matches!(
                store.append(bad, b"x\n").await,
                Err(RecordError::InvalidSession(_))
            ),
            "{bad:?}"
        );
        assert!(
            matches!(store.read(bad).await, Err(RecordError::InvalidSession(_))),
            "{bad:?}"
        );
        assert!(
            matches!(store.delete(bad).await, Err(RecordError::InvalidSession(_))),
            "{bad:?}"
        );
        assert!(
            matches!(store.finish(bad).await, Err(RecordError::InvalidSession(_))),
            "{bad:?}"
        );
    }
    for good in ["s_01HZX", "A-b_9", &"a".repeat(128)] {
        store.append(good, b"x\n").await.unwrap();
    }
    assert_eq!(store.list().await.unwrap().len(), 3);
}

#[tokio::test]
async fn retention_deletes_what_is_older_than_the_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    for session in ["old_1", "old_2", "new_1"] {
        store.append(session, b"{}\n").await.unwrap();
    }
    let long_ago = SystemTime::now() - Duration::from_secs(90 * 24 * 3600);
    for session in ["old_1", "old_2"] {
        let file = std::fs::File::options()
            .append(true)
            .open(dir.path().join(format!("{session}.jsonl")))
            .unwrap();
        file.set_modified(long_ago).unwrap();
    }
    let cutoff = SystemTime::now() - Duration::from_secs(30 * 24 * 3600);
    let mut deleted = delete_older_than(&store, cutoff, |_| false).await.unwrap();
    deleted.sort();
    assert_eq!(deleted, ["old_1", "old_2"]);
    let left: Vec<_> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.session)
        .collect();
    assert_eq!(left, ["new_1"]);
    assert!(delete_older_than(&store, cutoff, |_| false)
        .await
        .unwrap()
        .is_empty());
}

#[cfg(feature = "object-store")]
mod archive {
    use super::*;
    use std::sync::Arc;

    use object_store::memory::InMemory;
    use object_store::path::Path;
    use object_store::{ObjectStore, ObjectStoreExt as _};
    use sluice_record::ObjectStoreArchive;

    fn archive(dir: &std::path::Path) -> (ObjectStoreArchive, Arc<InMemory>) {
        let memory = Arc::new(InMemory::new());
        let store: Arc<dyn ObjectStore> = memory.clone();
        (
            ObjectStoreArchive::new(FileStore::new(dir), store, "recordings/"),
            memory,
        )
    }

    #[tokio::test]
    async fn finish_uploads_and_clears_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let (archive, memory) = archive(dir.path());

        let mut rec = Recorder::new(&header("s_up"), Limits::default());
        archive.append("s_up", &rec.take()).await.unwrap();
        rec.statement(1, "SELECT 1", &allow());
        archive.append("s_up", &rec.take()).await.unwrap();
        // While it runs it is in the spool, readable, and listed.
        assert!(dir.path().join("s_up.jsonl").is_file());
        assert!(!parse(&archive.read("s_up").await.unwrap())
            .unwrap()
            .is_complete());
        let listed = archive.list().await.unwrap();
        assert_eq!((listed.len(), listed[0].archived), (1, false));

        let (tail, digest) = rec.finish("client terminated the session");
        archive.append("s_up", &tail).await.unwrap();
        archive.finish("s_up").await.unwrap();

        assert!(
            !dir.path().join("s_up.jsonl").exists(),
            "the spool copy is gone"
        );
        let uploaded = memory
            .get(&Path::from("recordings/s_up.jsonl"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(uploaded.len() as u64, digest.bytes);
        let read = archive.read("s_up").await.unwrap();
        assert_eq!(read, uploaded.to_vec());
        assert!(parse(&read).unwrap().is_complete());
        // A retried finish is fine.
        archive.finish("s_up").await.unwrap();
        assert!(matches!(
            archive.finish("s_never").await,
            Err(RecordError::NotFound(_))
        ));

        // Listed from both places.
        archive.append("s_live", b"{}\n").await.unwrap();
        let listed = archive.list().await.unwrap();
        let summary: Vec<_> = listed
            .iter()
            .map(|i| (i.session.as_str(), i.archived, i.bytes))
            .collect();
        assert_eq!(
            summary,
            [("s_live", false, 3), ("s_up", true, digest.bytes)]
        );

        assert!(archive.delete("s_up").await.unwrap());
        assert!(!archive.delete("s_up").await.unwrap());
        assert!(matches!(
            archive.read("s_up").await,
            Err(RecordError::NotFound(_))
        ));
        assert!(archive.delete("s_live").await.unwrap());
        assert!(archive.list().await.unwrap().is_empty());
        assert!(matches!(
            archive.read("../etc").await,
            Err(RecordError::InvalidSession(_))
        ));
    }

    #[tokio::test]
    async fn large_recordings_upload_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let (archive, memory) = archive(dir.path());
        let mut rec = Recorder::new(&header("s_large"), Limits::default());
        rec.statement(1, "SELECT payload FROM big", &allow());
        let value = "v".repeat(50_000);
        let mut expected = Vec::new();
        for _ in 0..400 {
            row(&mut rec, 1, &[Some(&value)]);
            let bytes = rec.take();
            expected.extend_from_slice(&bytes);
            archive.append("s_large", &bytes).await.unwrap();
        }
        let (tail, digest) = rec.finish("done");
        expected.extend_from_slice(&tail);
        archive.append("s_large", &tail).await.unwrap();
        assert!(digest.bytes > 16 * 1024 * 1024);
        archive.finish("s_large").await.unwrap();
        let uploaded = memory
            .get(&Path::from("recordings/s_large.jsonl"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(uploaded.to_vec(), expected);
    }

    #[tokio::test]
    async fn retention_reaches_archived_recordings() {
        let dir = tempfile::tempdir().unwrap();
        let (archive, _memory) = archive(dir.path());
        archive.append("s_a", b"{}\n").await.unwrap();
        archive.finish("s_a").await.unwrap();
        archive.append("s_b", b"{}\n").await.unwrap();
        let future = SystemTime::now() + Duration::from_secs(3600);
        let mut deleted = delete_older_than(&archive, future, |_| false)
            .await
            .unwrap();
        deleted.sort();
        assert_eq!(deleted, ["s_a", "s_b"]);
        assert!(archive.list().await.unwrap().is_empty());
    }

    #[test]
    fn s3_config_debug_hides_secrets() {
        let config = sluice_record::S3Config {
            bucket: "b".to_owned(),
            secret_access_key: Some("very-secret".to_owned()),
            session_token: Some("token-secret".to_owned()),
            ..Default::default()
        };
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("very-secret") && !debug.contains("token-secret"),
            "{debug}"
        );
    }

    #[tokio::test]
    async fn s3_archive_builds_from_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = sluice_record::S3Config {
            bucket: "recordings".to_owned(),
            prefix: "sluice".to_owned(),
            region: Some("us-east-1".to_owned()),
            endpoint: Some("http://127.0.0.1:9".to_owned()),
            access_key_id: Some("key".to_owned()),
            secret_access_key: Some("secret".to_owned()),
            allow_http: true,
            ..Default::default()
        };
        let archive = ObjectStoreArchive::s3(FileStore::new(dir.path()), &config).unwrap();
        // Appends stay local; nothing touches the network until finish.
        archive.append("s_1", b"{}\n").await.unwrap();
        assert_eq!(archive.spool().list().await.unwrap().len(), 1);
    }
}
