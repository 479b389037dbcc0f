//! Audit lines as the gateway writes them, for the tests of the reader and the sinks.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::sinks::{deserialize_sinks, AuditSinkConfig, AuditSinks};
use crate::tail::TailRecord;
use crate::OutboundError;

pub(crate) fn line(seq: u64, kind: &str) -> String {
    format!(
        r#"{{"seq":{seq},"time":"2025-01-02T03:04:05.00000{}Z","prev":"00","type":"{kind}","n":"x"}}"#,
        seq % 10
    )
}

pub(crate) fn write_lines(path: &Path, seqs: std::ops::RangeInclusive<u64>) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for seq in seqs {
        writeln!(f, "{}", line(seq, "statement")).unwrap();
    }
}

/// A fresh directory and the path of an `audit.jsonl` not yet written in it.
pub(crate) fn audit_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    (dir, path)
}

/// A fresh directory holding `audit.jsonl` with the records `seqs`, and the file's path.
pub(crate) fn audit_file(seqs: std::ops::RangeInclusive<u64>) -> (tempfile::TempDir, PathBuf) {
    let (dir, path) = audit_path();
    write_lines(&path, seqs);
    (dir, path)
}

pub(crate) fn seqs(records: &[TailRecord]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

pub(crate) fn record(seq: u64, kind: &str) -> TailRecord {
    let line = line(seq, kind);
    TailRecord {
        seq,
        time: format!("2025-01-02T03:04:05.00000{}Z", seq % 10),
        event_type: kind.into(),
        line: line.into_bytes(),
    }
}

/// The sinks of `sinks` (`[[audit_sinks]]` tables) of a gateway whose data directory is
/// `data_dir`, reading `<data_dir>/audit.jsonl`.
pub(crate) fn prepare_sinks(data_dir: &Path, sinks: &str) -> Result<AuditSinks, OutboundError> {
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(deserialize_with = "deserialize_sinks")]
        audit_sinks: Vec<AuditSinkConfig>,
    }
    let doc: Doc = toml::from_str(sinks).unwrap();
    AuditSinks::prepare(&doc.audit_sinks, &data_dir.join("audit.jsonl"), data_dir)
}
