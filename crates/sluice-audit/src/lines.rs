//! Streaming a log file line by line, keeping each line's exact bytes (the
//! chain hashes bytes, not parsed values).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::AuditError;

pub(crate) struct Line<'a> {
    /// 1-based.
    pub number: u64,
    /// Without the `\n`.
    pub bytes: &'a [u8],
    /// False for a last line with no `\n` (a torn write).
    pub complete: bool,
}

pub(crate) struct Lines {
    reader: BufReader<File>,
    buf: Vec<u8>,
    number: u64,
}

impl Lines {
    pub(crate) fn open(path: &Path) -> Result<Self, AuditError> {
        Ok(Self {
            reader: BufReader::with_capacity(256 * 1024, File::open(path)?),
            buf: Vec::with_capacity(1024),
            number: 0,
        })
    }

    pub(crate) fn next_line(&mut self) -> Result<Option<Line<'_>>, AuditError> {
        self.buf.clear();
        if self.reader.read_until(b'\n', &mut self.buf)? == 0 {
            return Ok(None);
        }
        self.number += 1;
        let complete = self.buf.last() == Some(&b'\n');
        let bytes = if complete {
            &self.buf[..self.buf.len() - 1]
        } else {
            &self.buf[..]
        };
        Ok(Some(Line {
            number: self.number,
            bytes,
            complete,
        }))
    }
}
