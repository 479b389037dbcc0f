//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong in a [`Store`](crate::Store) operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory that should hold the database file could not be created.
    #[error("cannot create store directory {path}: {source}")]
    CreateDir {
        /// Directory that was being created.
        path: PathBuf,
        /// Underlying I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// Querying the database failed.
    #[error("store database error: {0}")]
    Database(#[source] BackendError),
    /// Bringing the schema up to date failed.
    #[error("store migration failed: {0}")]
    Migrate(#[source] BackendError),
    /// The store cannot be reached (connecting failed, every connection is busy or lost, or
    /// the store did not answer in time). The message never contains the store's password.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A token with this id already exists.
    #[error("token {0:?} already exists")]
    DuplicateToken(String),
    /// A token was inserted for an identity that has no salt yet; call
    /// [`Store::identity_salt`](crate::Store::identity_salt) first.
    #[error("identity {0:?} has no SCRAM salt yet")]
    UnknownIdentity(String),
    /// No token with this id exists.
    #[error("token {0:?} not found")]
    TokenNotFound(String),
    /// No review with this id exists.
    #[error("review {0} not found")]
    ReviewNotFound(i64),
    /// The review is no longer pending.
    #[error("review {0} is already settled")]
    ReviewSettled(i64),
    /// This reviewer already decided this review.
    #[error("{reviewer} already decided review {id}")]
    DuplicateDecision { id: i64, reviewer: String },
    /// The configured store location cannot be used (e.g. a malformed URL). The message
    /// never contains the store's password.
    #[error("invalid store location {0}")]
    InvalidLocation(String),
    /// The caller passed a value the store refuses to persist.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// A stored row holds a value that cannot be represented in the API types.
    #[error("corrupt store row: {0}")]
    Corrupt(String),
}

/// A database driver's error, kept opaque so the crate's API names no driver types (callers
/// pick a backend from configuration and never see which library implements it).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct BackendError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl BackendError {
    /// A driver error reduced to its (already vetted) message.
    pub(crate) fn text(message: String) -> Self {
        BackendError(message.into())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            // Failures to reach the store, told apart so callers (readiness, retries) can
            // react to an outage rather than to a bad query. sqlx's messages for these never
            // include the connection URL, so none of them can carry the password.
            sqlx::Error::PoolTimedOut => {
                StoreError::Unavailable("no store connection became available in time".into())
            }
            sqlx::Error::PoolClosed => StoreError::Unavailable("the store was closed".into()),
            sqlx::Error::Io(io) => StoreError::Unavailable(format!("connection failed: {io}")),
            sqlx::Error::Tls(tls) => StoreError::Unavailable(format!("TLS failed: {tls}")),
            other => StoreError::Database(BackendError(Box::new(other))),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(BackendError(Box::new(err)))
    }
}
