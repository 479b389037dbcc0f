//! Offline check of the hash chain: the tamper-evidence half of the design.

use std::path::Path;

use crate::error::AuditError;
use crate::lines::Lines;
use crate::record::{hash_line, AuditRecord, GENESIS_PREV};

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records that checked out, up to the first broken link.
    pub records: u64,
    pub last_seq: Option<u64>,
    /// Hex hash of the last good line; an operator can pin it to detect a
    /// later truncation of the file.
    pub last_hash: Option<String>,
    /// The first broken link; `None` means the whole file is intact.
    pub broken: Option<BrokenLink>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Where and why the chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// The seq of the offending record, when its line parsed.
    pub seq: Option<u64>,
    /// 1-based line number in the file.
    pub line: u64,
    pub reason: String,
}

/// Streams the log at `path` and checks every line parses, seqs are
/// consecutive and each `prev` is the SHA-256 of the line before.
///
/// The first record may have any seq (a rotated file starts mid-chain), but a
/// record with seq 1 must carry the genesis `prev`. I/O errors are returned as
/// errors; chain problems are reported in [`VerifyReport::broken`].
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    let mut lines = Lines::open(path)?;
    let mut report = VerifyReport {
        records: 0,
        last_seq: None,
        last_hash: None,
        broken: None,
    };
    while let Some(line) = lines.next_line()? {
        let broken = |seq, reason: String| BrokenLink {
            seq,
            line: line.number,
            reason,
        };
        if !line.complete {
            report.broken = Some(broken(None, "torn last line (no trailing newline)".into()));
            break;
        }
        let record = match AuditRecord::from_line(line.bytes) {
            Ok(record) => record,
            Err(err) => {
                report.broken = Some(broken(None, format!("unparsable record: {err}")));
                break;
            }
        };
        let seq = Some(record.seq);
        if let Some(last) = report.last_seq {
            if record.seq != last.wrapping_add(1) {
                let reason = format!(
                    "expected seq {}, found {}",
                    last.wrapping_add(1),
                    record.seq
                );
                report.broken = Some(broken(seq, reason));
                break;
            }
        }
        let expected_prev = match &report.last_hash {
            Some(hash) => Some(hash.as_str()),
            None if record.seq == 1 => Some(GENESIS_PREV),
            None => None,
        };
        if let Some(expected) = expected_prev {
            if record.prev != expected {
                let reason = format!(
                    "prev hash {} does not match the previous line's hash {expected}",
                    record.prev
                );
                report.broken = Some(broken(seq, reason));
                break;
            }
        }
        report.records += 1;
        report.last_seq = seq;
        report.last_hash = Some(hex::encode(hash_line(line.bytes)));
    }
    Ok(report)
}
