//! Where recordings live: the [`RecordingStore`] trait, the local
//! [`FileStore`], and retention ([`delete_older_than`]).

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::RecordError;

/// Longest session id accepted.
pub const MAX_SESSION_ID: usize = 128;

/// A stored recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    pub session: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Last modified (the last append, or the upload of an archived one).
    pub modified: SystemTime,
    /// Whether it is in the archive (object store) rather than on local disk.
    pub archived: bool,
}

/// Stores recordings, one per session, appended while the session runs.
#[async_trait::async_trait]
pub trait RecordingStore: Send + Sync + 'static {
    /// Appends bytes to the session's recording, creating it on the first
    /// call.
    async fn append(&self, session: &str, bytes: &[u8]) -> Result<(), RecordError>;
    /// The session's recording is closed: nothing more will be appended. An
    /// archive may upload it now.
    async fn finish(&self, session: &str) -> Result<(), RecordError>;
    /// The whole recording, for replay, verification and search.
    async fn read(&self, session: &str) -> Result<Vec<u8>, RecordError>;
    /// Every stored recording.
    async fn list(&self) -> Result<Vec<RecordingInfo>, RecordError>;
    /// Deletes the session's recording; `false` if there was none.
    async fn delete(&self, session: &str) -> Result<bool, RecordError>;
}

/// Checks a session id: 1 to [`MAX_SESSION_ID`] characters of
/// `[A-Za-z0-9_-]`, so an id cannot name anything outside the store (no `/`,
/// `.` or `..`).
pub fn validate_session(session: &str) -> Result<(), RecordError> {
    let valid = !session.is_empty()
        && session.len() <= MAX_SESSION_ID
        && session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(RecordError::InvalidSession(session.to_owned()))
    }
}

/// Recordings as files: `<dir>/<session>.jsonl`, one per session.
///
/// Each [`RecordingStore::append`] is one `write(2)` to the file opened with
/// `O_APPEND`, so a crash leaves at most a torn last line, which the reader
/// tolerates; a failed write is cut back to the file's previous length, so a
/// recording never has a torn line in its middle. Appends are not fsynced:
/// the audit trail is the durable record of what happened, and a recording's
/// completeness is checked against the SHA-256 and size in the session-end
/// audit record, so syncing every append would cost the relay latency for
/// nothing the audit trail does not already give. [`RecordingStore::finish`]
/// syncs the file once.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// A store in `dir`, created on the first append.
    pub fn new(dir: impl Into<PathBuf>) -> FileStore {
        FileStore { dir: dir.into() }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a session's recording is in.
    pub fn path(&self, session: &str) -> Result<PathBuf, RecordError> {
        validate_session(session)?;
        Ok(self.dir.join(format!("{session}.jsonl")))
    }

    /// Whether the session's recording is here.
    pub async fn contains(&self, session: &str) -> Result<bool, RecordError> {
        let path = self.path(session)?;
        match tokio::fs::metadata(&path).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(RecordError::io(format!("reading {}", path.display()), e)),
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RecordError> + Send + 'static,
) -> Result<T, RecordError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RecordError::io("file task", std::io::Error::other(e)))?
}

#[async_trait::async_trait]
impl RecordingStore for FileStore {
    async fn append(&self, session: &str, bytes: &[u8]) -> Result<(), RecordError> {
        let path = self.path(session)?;
        if bytes.is_empty() {
            return Ok(());
        }
        let dir = self.dir.clone();
        let bytes = bytes.to_vec();
        blocking(move || {
            let open = || OpenOptions::new().append(true).create(true).open(&path);
            let mut file = match open() {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| RecordError::io(format!("creating {}", dir.display()), e))?;
                    open().map_err(|e| RecordError::io(format!("opening {}", path.display()), e))?
                }
                Err(e) => return Err(RecordError::io(format!("opening {}", path.display()), e)),
            };
            let before = file
                .metadata()
                .map_err(|e| RecordError::io(format!("reading {}", path.display()), e))?
                .len();
            if let Err(e) = file.write_all(&bytes) {
                // Cut a partial write back so the next append starts on a line.
                let _ = file.set_len(before);
                return Err(RecordError::io(format!("writing {}", path.display()), e));
            }
            Ok(())
        })
        .await
    }

    async fn finish(&self, session: &str) -> Result<(), RecordError> {
        let path = self.path(session)?;
        let session = session.to_owned();
        blocking(move || match OpenOptions::new().append(true).open(&path) {
            Ok(file) => file
                .sync_all()
                .map_err(|e| RecordError::io(format!("syncing {}", path.display()), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(RecordError::NotFound(session))
            }
            Err(e) => Err(RecordError::io(format!("opening {}", path.display()), e)),
        })
        .await
    }

    async fn read(&self, session: &str) -> Result<Vec<u8>, RecordError> {
        let path = self.path(session)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(RecordError::NotFound(session.to_owned()))
            }
            Err(e) => Err(RecordError::io(format!("reading {}", path.display()), e)),
        }
    }

    async fn list(&self) -> Result<Vec<RecordingInfo>, RecordError> {
        let mut entries = match tokio::fs::read_dir(&self.dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(RecordError::io(
                    format!("listing {}", self.dir.display()),
                    e,
                ))
            }
        };
        let context = || format!("listing {}", self.dir.display());
        let mut out = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| RecordError::io(context(), e))?
        {
            let name = entry.file_name();
            let Some(session) = name.to_str().and_then(|n| n.strip_suffix(".jsonl")) else {
                continue;
            };
            if validate_session(session).is_err() {
                continue;
            }
            let meta = match entry.metadata().await {
                Ok(meta) if meta.is_file() => meta,
                Ok(_) => continue,
                // Deleted between the listing and now.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(RecordError::io(context(), e)),
            };
            out.push(RecordingInfo {
                session: session.to_owned(),
                bytes: meta.len(),
                modified: meta.modified().map_err(|e| RecordError::io(context(), e))?,
                archived: false,
            });
        }
        out.sort_by(|a, b| a.session.cmp(&b.session));
        Ok(out)
    }

    async fn delete(&self, session: &str) -> Result<bool, RecordError> {
        let path = self.path(session)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(RecordError::io(format!("deleting {}", path.display()), e)),
        }
    }
}

/// Retention: deletes every recording last modified before `cutoff` that is
/// not `in_use`, and returns the deleted session ids, for the caller to audit
/// each deletion. A recording being written is modified at each append, but a
/// session idle since before the cutoff is old by its file's time: the caller
/// names the sessions it still records in `in_use`.
pub async fn delete_older_than(
    store: &dyn RecordingStore,
    cutoff: SystemTime,
    in_use: impl Fn(&str) -> bool,
) -> Result<Vec<String>, RecordError> {
    let mut deleted = Vec::new();
    for info in store.list().await? {
        if info.modified < cutoff && !in_use(&info.session) && store.delete(&info.session).await? {
            deleted.push(info.session);
        }
    }
    Ok(deleted)
}
