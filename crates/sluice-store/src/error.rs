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
    /// Opening or querying the database failed.
    #[error("store database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Bringing the schema up to date failed.
    #[error("store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
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
    /// The caller passed a value the store refuses to persist.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// A stored row holds a value that cannot be represented in the API types.
    #[error("corrupt store row: {0}")]
    Corrupt(String),
}
