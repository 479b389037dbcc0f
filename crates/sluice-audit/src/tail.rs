//! Finding where the chain left off when an existing log is reopened, and
//! cutting a tail torn by a crash mid-write.
//!
//! Only the end of the file is read (64 KiB windows, going further back only
//! while no line boundary has been found) so opening a multi-GB log stays cheap.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use serde::Deserialize;

use crate::error::AuditError;
use crate::record::hash_line;

const WINDOW: u64 = 64 * 1024;

/// Where appending resumes.
#[derive(Debug)]
pub(crate) struct Tail {
    /// File length after any truncation; every byte before it is a whole line.
    pub len: u64,
    /// Seq of the last intact record, 0 for an empty log.
    pub last_seq: u64,
    /// Hash of the last intact line, zeros for an empty log.
    pub last_hash: [u8; 32],
    /// Bytes cut off because they did not form a valid last line.
    pub truncated: u64,
    /// The gateway the last intact record names, if any: the chain's owner.
    pub gateway: Option<String>,
}

/// Only `seq` and `gateway` are needed here; deserializing into it still validates the whole
/// line as JSON, and it tolerates event types newer than this binary.
#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
    #[serde(default)]
    gateway: Option<String>,
}

pub(crate) fn recover(file: &File) -> Result<Tail, AuditError> {
    let mut len = file.metadata()?.len();
    let mut truncated = 0;

    // Bytes after the last '\n' are a write the process did not finish.
    let whole = rfind_newline(file, len)?.map_or(0, |p| p + 1);
    if whole < len {
        truncated += len - whole;
        file.set_len(whole)?;
        len = whole;
    }

    // A complete but unparsable last line is also a torn write (e.g. a block
    // that reached disk with garbage); cut exactly one such line. Two in a row
    // is real corruption that an operator must look at, so refuse to open.
    for attempt in 0..2 {
        if len == 0 {
            break;
        }
        let line = read_last_line(file, len)?;
        match serde_json::from_slice::<SeqOnly>(&line[..line.len() - 1]) {
            Ok(rec) => {
                return Ok(Tail {
                    len,
                    last_seq: rec.seq,
                    last_hash: hash_line(&line),
                    truncated,
                    gateway: rec.gateway,
                });
            }
            Err(err) if attempt == 0 => {
                tracing::warn!(error = %err, "audit log ends in an unparsable line; cutting it");
                let cut = line.len() as u64;
                truncated += cut;
                len -= cut;
                file.set_len(len)?;
            }
            Err(err) => {
                return Err(AuditError::Corrupt {
                    // Counting lines would mean reading the whole file.
                    line: 0,
                    reason: format!("last two lines are both unparsable: {err}"),
                });
            }
        }
    }
    Ok(Tail {
        len: 0,
        last_seq: 0,
        last_hash: [0; 32],
        truncated,
        gateway: None,
    })
}

/// Reads the line that ends at `len` (the byte at `len - 1` is its `\n`).
fn read_last_line(file: &File, len: u64) -> Result<Vec<u8>, AuditError> {
    let start = rfind_newline(file, len - 1)?.map_or(0, |p| p + 1);
    let mut line = vec![0; usize::try_from(len - start).map_err(std::io::Error::other)?];
    let mut reader = file;
    reader.seek(SeekFrom::Start(start))?;
    reader.read_exact(&mut line)?;
    Ok(line)
}

/// Offset of the last `\n` strictly before `before`, scanning backwards.
fn rfind_newline(file: &File, before: u64) -> Result<Option<u64>, AuditError> {
    let mut end = before;
    let mut buf = Vec::new();
    let mut reader = file;
    while end > 0 {
        let start = end.saturating_sub(WINDOW);
        buf.resize((end - start) as usize, 0);
        reader.seek(SeekFrom::Start(start))?;
        reader.read_exact(&mut buf)?;
        if let Some(pos) = buf.iter().rposition(|b| *b == b'\n') {
            return Ok(Some(start + pos as u64));
        }
        end = start;
    }
    Ok(None)
}
