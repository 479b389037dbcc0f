use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The seq of the last record a sink's destination accepted, in one small file.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub(super) dir: PathBuf,
    path: PathBuf,
}

impl Cursor {
    /// `<data_dir>/audit-sinks/<sink>.cursor`.
    pub fn new(data_dir: &Path, sink: &str) -> Cursor {
        let dir = data_dir.join("audit-sinks");
        Cursor {
            path: dir.join(format!("{sink}.cursor")),
            dir,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 0 when the sink has never delivered anything: it starts from the first record.
    pub fn load(&self) -> io::Result<u64> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => text.trim().parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} does not hold a seq (write the seq of the last record the destination has, or delete the file to send everything again)",
                        self.path.display()
                    ),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Replaces the file so that a crash at any point leaves the old value or the new one,
    /// never a torn one: the value goes to a temporary file, synced, renamed over the cursor,
    /// and the directory is synced so the rename itself survives a power failure.
    pub fn store(&self, seq: u64) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.path.with_extension("cursor.tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(format!("{seq}\n").as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        File::open(&self.dir)?.sync_all()
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_starts_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let cursor = Cursor::new(dir.path(), "siem");
        assert_eq!(cursor.load().unwrap(), 0);
        cursor.store(41).unwrap();
        cursor.store(42).unwrap();
        assert_eq!(cursor.load().unwrap(), 42);
        assert_eq!(
            cursor.path(),
            dir.path().join("audit-sinks").join("siem.cursor")
        );
        assert_eq!(std::fs::read_to_string(cursor.path()).unwrap(), "42\n");
    }

    /// A crash while writing leaves a torn temporary file beside an intact cursor; the cursor
    /// still reads, and the next store replaces the leftover.
    #[test]
    fn cursor_survives_a_crash_mid_write() {
        let dir = tempfile::tempdir().unwrap();
        let cursor = Cursor::new(dir.path(), "siem");
        cursor.store(7).unwrap();
        let tmp = cursor.path().with_extension("cursor.tmp");
        std::fs::write(&tmp, "12").unwrap();
        assert_eq!(cursor.load().unwrap(), 7);
        cursor.store(9).unwrap();
        assert_eq!(cursor.load().unwrap(), 9);
        assert!(!tmp.exists());
        let names: Vec<_> = std::fs::read_dir(dir.path().join("audit-sinks"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("siem.cursor")]);
    }

    #[test]
    fn cursor_that_holds_no_seq_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let cursor = Cursor::new(dir.path(), "siem");
        std::fs::create_dir_all(cursor.path().parent().unwrap()).unwrap();
        std::fs::write(cursor.path(), "forty-two").unwrap();
        let err = cursor.load().unwrap_err().to_string();
        assert!(err.contains("does not hold a seq"), "{err}");
    }
}
