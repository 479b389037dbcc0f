//! `kind = "file"`: the records appended to a file that a log shipper picks up.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::FileSinkConfig;
use super::{ndjson, Batch};
use crate::tail::TailRecord;

pub(super) struct FileDestination {
    pub(super) path: PathBuf,
}

impl FileDestination {
    pub(super) fn new(
        config: &FileSinkConfig,
        audit_path: &Path,
    ) -> Result<FileDestination, String> {
        if same_file(&config.path, audit_path) {
            return Err("path is the audit file itself".into());
        }
        Ok(FileDestination {
            path: config.path.clone(),
        })
    }

    pub(super) async fn deliver(&self, batch: &Batch) -> Result<(), String> {
        let path = self.path.clone();
        let batch = Arc::clone(batch);
        tokio::task::spawn_blocking(move || append(&path, &batch))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// Opened per batch, so a shipper that rotates the file by renaming it gets a new one. Synced
/// before the cursor moves, so the cursor is never ahead of what is on disk; a failed write is
/// cut back so the retry does not leave half a line in the file.
fn append(path: &Path, batch: &[TailRecord]) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let before = file.metadata()?.len();
    let written = file
        .write_all(&ndjson(batch))
        .and_then(|()| file.sync_data());
    if written.is_err() {
        let _ = file.set_len(before);
    }
    written
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
