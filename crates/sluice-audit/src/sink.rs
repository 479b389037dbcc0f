//! The three file operations the log needs, behind a trait so tests can inject
//! write failures (disk full, EIO) without a real full disk.

use std::fs::File;
use std::io::{self, Write};

pub(crate) trait LogFile: Send + Sync + 'static {
    /// Appends the whole buffer; the file is opened `O_APPEND`, so after a
    /// failed write and a truncate the next append lands at the new end.
    fn append(&self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// Cuts the file back to `len` bytes.
    fn truncate(&self, len: u64) -> io::Result<()>;
}

impl LogFile for File {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        (&*self).write_all(buf)
    }

    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}
