#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The audit trail on a real, tiny filesystem that fills up: statements are refused with a
//! clear error and never reach the database; when space returns, service and the chain
//! resume. Needs root to mount a tmpfs (CI runs as root); elsewhere it says so and skips.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

struct TinyFs(PathBuf);

impl TinyFs {
    fn mount(size: &str) -> Option<TinyFs> {
        let dir = std::env::temp_dir().join(format!("sluice-tinyfs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(TinyFs(dir))
    }

    /// Writes zeros until the filesystem refuses more.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = [0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.flush();
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_audit_disk_refuses_statements_and_recovers() {
    let Some(fs) = TinyFs::mount("256k") else {
        eprintln!("SKIPPED a_full_audit_disk_refuses_statements_and_recovers: cannot mount a tmpfs (needs root)");
        return;
    };
    let audit_path = fs.path().join("audit.jsonl");
    let h = Harness::start_with_config(|text| {
        format!("{text}\n[audit]\npath = \"{}\"\n", audit_path.display())
    })
    .await;
    let table = format!("full_disk_{}", std::process::id());
    pg().psql(
        DATABASE,
        &format!("CREATE TABLE {table} (v int); GRANT ALL ON {table} TO sluice_scram"),
    )
    .unwrap();

    let (client, conn) =
        tokio_postgres::connect(&h.conninfo("alice", "app"), tokio_postgres::NoTls)
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    client
        .execute(&format!("INSERT INTO {table} VALUES (1)"), &[])
        .await
        .unwrap();

    let filler = fs.fill();
    // Records still fit in the audit file's last, partly used page; those statements are
    // audited and run. Keep going until the write fails (bounded).
    let mut accepted = vec![1];
    let mut refused = None;
    for v in 2..200 {
        match client
            .execute(&format!("INSERT INTO {table} VALUES ({v})"), &[])
            .await
        {
            Ok(_) => accepted.push(v),
            Err(err) => {
                let db_error = err.as_db_error().expect("a clear error from the gateway");
                assert_eq!(db_error.code().code(), "58000", "{db_error:?}");
                assert!(
                    db_error.message().contains("audit trail is unavailable"),
                    "{db_error:?}"
                );
                refused = Some(v);
                break;
            }
        }
    }
    let refused = refused.expect("the audit trail never filled up");
    let _ = conn.await;

    // What was accepted ran; the refused statement never reached the database.
    let in_db = pg()
        .psql(
            DATABASE,
            &format!("SELECT string_agg(v::text, ',' ORDER BY v) FROM {table}"),
        )
        .unwrap();
    let expected: Vec<String> = accepted.iter().map(|v| v.to_string()).collect();
    assert_eq!(in_db.trim(), expected.join(","), "refused value {refused}");

    // Space comes back: new sessions work, and the chain is intact.
    std::fs::remove_file(filler).unwrap();
    let out = h.psql(
        "alice",
        "app",
        &["-c", &format!("INSERT INTO {table} VALUES (1000)")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let in_db = pg()
        .psql(
            DATABASE,
            &format!("SELECT count(*) FROM {table} WHERE v = 1000"),
        )
        .unwrap();
    assert_eq!(in_db.trim(), "1");
    h.gateway.gateway.audit().flush().await.unwrap();
    let report = sluice_audit::verify(&audit_path).unwrap();
    assert!(report.broken.is_none(), "{report:?}");
    // Every statement that ran is in the trail; the refused one is not.
    let texts = h.audited_statements().await;
    for v in accepted.iter().chain([&1000]) {
        let expected = format!("VALUES ({v})");
        assert!(
            texts.iter().any(|t| t.ends_with(&expected)),
            "{v} not audited: {texts:?}"
        );
    }
    let refused_text = format!("VALUES ({refused})");
    assert!(
        !texts.iter().any(|t| t.ends_with(&refused_text)),
        "{texts:?}"
    );
    h.stop().await;
    pg().psql(DATABASE, &format!("DROP TABLE {table}")).unwrap();
}
