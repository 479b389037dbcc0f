//! Reading whole records from the audit file as the gateway appends to it: what every sink
//! reads, and what `sluice audit export` reads a window from.
//!
//! It reads the file as a separate reader, never through the gateway's audit log, so a slow
//! reader can never delay a statement. Records come back as the exact bytes of their lines, so
//! whoever receives them can still check the hash chain.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A batch also stops growing at this many bytes, so one request or write stays bounded
/// however long the statements in it are.
const BATCH_BYTES: usize = 1024 * 1024;

/// One record as it lies in the audit file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailRecord {
    pub seq: u64,
    /// RFC 3339 UTC, as written.
    pub time: String,
    /// The event's `type`, e.g. `statement`.
    pub event_type: String,
    /// The line's exact bytes without its `\n`: what the hash chain covers.
    pub line: Vec<u8>,
}

/// The fields a reader needs. Deserializing into it still checks the whole line is JSON, and it
/// accepts event types newer than this binary.
#[derive(Deserialize)]
struct Head<'a> {
    seq: u64,
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow, rename = "type")]
    event_type: Cow<'a, str>,
}

/// Reads whole records from the audit file, in file order, skipping those at or below a seq.
///
/// It follows the file as it grows. A line without its `\n` yet (being written, or torn by a
/// crash, which the gateway cuts when it reopens the log) is read again from its start next
/// time. When the path comes to name another file, or the file gets shorter than what was
/// read, it starts again from the top of the new content, still skipping what it has returned.
pub struct AuditTail {
    path: PathBuf,
    file: Option<OpenFile>,
    /// The seq of the last record returned (or the cursor it started from).
    after: u64,
    buf: Vec<u8>,
}

struct OpenFile {
    reader: BufReader<File>,
    /// Just after the last whole record read.
    pos: u64,
    /// Device and inode, to notice the path naming another file.
    id: (u64, u64),
}

impl AuditTail {
    /// Reads `path` from its start, returning only records whose seq is above `after`.
    pub fn new(path: impl Into<PathBuf>, after: u64) -> AuditTail {
        AuditTail {
            path: path.into(),
            file: None,
            after,
            buf: Vec::with_capacity(4096),
        }
    }

    /// The next record, or `None` when there is none yet: the end of the file, a line still
    /// being written, or no file. A complete line that is not a record is an error, every time
    /// it is reached: skipping it could skip a real record, so the reader stops there until an
    /// operator looks (`sluice audit verify` names the line).
    pub fn next_record(&mut self) -> io::Result<Option<TailRecord>> {
        // Bounded: a reopened file is read from its top, and it is reopened again only if it
        // changed meanwhile.
        for _ in 0..8 {
            if self.file.is_none() {
                self.file = open(&self.path)?;
            }
            let Some(file) = self.file.as_mut() else {
                return Ok(None);
            };
            loop {
                match read_record(file, &mut self.buf)? {
                    Some(record) if record.seq <= self.after => continue,
                    Some(record) => {
                        self.after = record.seq;
                        return Ok(Some(record));
                    }
                    None => break,
                }
            }
            if !self.replaced()? {
                return Ok(None);
            }
            self.file = None;
        }
        Ok(None)
    }

    /// Up to `max` records, fewer once they reach [`BATCH_BYTES`]; empty when nothing is new.
    /// An error after some records is left for the next call (it recurs there), so the records
    /// already read go out first.
    pub fn read_batch(&mut self, max: usize) -> io::Result<Vec<TailRecord>> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while batch.len() < max && bytes < BATCH_BYTES {
            match self.next_record() {
                Ok(Some(record)) => {
                    bytes += record.line.len();
                    batch.push(record);
                }
                Ok(None) => break,
                Err(e) if batch.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(batch)
    }

    /// The seq of the last record returned, or the one it started after.
    pub(crate) fn after(&self) -> u64 {
        self.after
    }

    /// Whether the path now names another file, or a file shorter than what was read.
    fn replaced(&self) -> io::Result<bool> {
        let Some(file) = &self.file else {
            return Ok(false);
        };
        match std::fs::metadata(&self.path) {
            Ok(meta) => Ok(file_id(&meta) != file.id || meta.len() < file.pos),
            // Moved away and not recreated yet: the old file is still the trail's newest part.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// `None` when there is no file yet: a sink may start before the gateway's first record.
fn open(path: &Path) -> io::Result<Option<OpenFile>> {
    match File::open(path) {
        Ok(file) => Ok(Some(OpenFile {
            id: file_id(&file.metadata()?),
            reader: BufReader::with_capacity(256 * 1024, file),
            pos: 0,
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_record(file: &mut OpenFile, buf: &mut Vec<u8>) -> io::Result<Option<TailRecord>> {
    buf.clear();
    let n = file.reader.read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    let Some(line) = buf.strip_suffix(b"\n") else {
        // Not whole yet: read it again from its start next time.
        file.reader.seek(SeekFrom::Start(file.pos))?;
        return Ok(None);
    };
    match serde_json::from_slice::<Head>(line) {
        Ok(head) => {
            let record = TailRecord {
                seq: head.seq,
                time: head.time.into_owned(),
                event_type: head.event_type.into_owned(),
                line: line.to_vec(),
            };
            file.pos += n as u64;
            Ok(Some(record))
        }
        Err(e) => {
            let at = file.pos;
            file.reader.seek(SeekFrom::Start(at))?;
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the line at byte {at} is not an audit record ({e})"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write;

    use super::*;
    use crate::test_support::{audit_file, audit_path, line, seqs, write_lines};

    #[test]
    fn tail_resumes_after_the_cursor_and_follows_growth() {
        let (_dir, path) = audit_path();
        let mut tail = AuditTail::new(&path, 3);
        assert!(tail.read_batch(10).unwrap().is_empty(), "no file yet");

        write_lines(&path, 1..=5);
        let batch = tail.read_batch(10).unwrap();
        assert_eq!(seqs(&batch), vec![4, 5]);
        assert_eq!(batch[0].line, line(4, "statement").into_bytes());
        assert_eq!(batch[0].event_type, "statement");
        assert_eq!(batch[0].time, "2025-01-02T03:04:05.000004Z");

        // A line still being written is left for later, then read whole.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        let six = line(6, "statement");
        f.write_all(&six.as_bytes()[..10]).unwrap();
        assert!(tail.read_batch(10).unwrap().is_empty());
        writeln!(f, "{}", &six[10..]).unwrap();
        write_lines(&path, 7..=9);
        assert_eq!(seqs(&tail.read_batch(2).unwrap()), vec![6, 7]);
        assert_eq!(seqs(&tail.read_batch(10).unwrap()), vec![8, 9]);
    }

    #[test]
    fn tail_rereads_a_replaced_file_without_repeating() {
        let (dir, path) = audit_file(1..=4);
        let mut tail = AuditTail::new(&path, 0);
        assert_eq!(seqs(&tail.read_batch(10).unwrap()), vec![1, 2, 3, 4]);
        // Rotated: the old file moves away, a new one continues the chain.
        std::fs::rename(&path, dir.path().join("audit.1.jsonl")).unwrap();
        assert!(tail.read_batch(10).unwrap().is_empty());
        write_lines(&path, 3..=6);
        assert_eq!(seqs(&tail.read_batch(10).unwrap()), vec![5, 6]);
    }

    #[test]
    fn tail_stops_at_a_line_that_is_not_a_record() {
        let (_dir, path) = audit_file(1..=2);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"garbage\n")
            .unwrap();
        write_lines(&path, 3..=3);
        let mut tail = AuditTail::new(&path, 0);
        assert_eq!(seqs(&tail.read_batch(10).unwrap()), vec![1, 2]);
        for _ in 0..2 {
            let err = tail.read_batch(10).unwrap_err().to_string();
            assert!(err.contains("not an audit record"), "{err}");
        }
    }
}
