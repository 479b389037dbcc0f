//! [`RecordError`], the crate's one error type.

/// Everything that can go wrong recording, storing or reading a recording.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A session id outside `[A-Za-z0-9_-]{1,128}`: refused so that an id
    /// can never name a path outside the store.
    #[error("invalid session id {0:?}: a session id is 1 to 128 characters of A-Z, a-z, 0-9, '_' and '-'")]
    InvalidSession(String),
    /// The store has no recording for this session.
    #[error("no recording for session {0}")]
    NotFound(String),
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The object store failed.
    #[error("object store: {0}")]
    ObjectStore(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The bytes are not a sluice recording.
    #[error("not a sluice recording: {0}")]
    NotARecording(String),
    /// The recording was written in a newer format version than this build
    /// reads.
    #[error(
        "the recording is in format version {found}, newer than this build of sluice reads (up to version {supported}); read it with a newer sluice"
    )]
    UnsupportedVersion { found: u64, supported: u32 },
    /// Asked for what only a terminal recording has (an asciicast export)
    /// of a recording of another kind.
    #[error("the recording is of kind {0:?}, not a terminal recording")]
    NotATerminal(String),
    /// A line (1-based) does not read as its type says.
    #[error("line {line} of the recording: {reason}")]
    Malformed { line: usize, reason: String },
}

impl RecordError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> RecordError {
        RecordError::Io {
            context: context.into(),
            source,
        }
    }
}
