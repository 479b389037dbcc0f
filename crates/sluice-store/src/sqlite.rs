//! Embedded SQLite backend.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::error::ErrorKind;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row;

use crate::{Store, StoreError, TokenRecord};

/// Schema for this backend, compiled into the binary so a fresh deployment
/// needs no files besides the database itself.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits on another process's write lock before giving up.
/// Writes here are single small statements, so 5 s only runs out if something is
/// badly wrong (e.g. a stuck process holding the lock).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Extra attempts at connecting or migrating after losing a race with another
/// process opening the same fresh file; see [`connect`] and [`migrate`].
const OPEN_RETRIES: u32 = 5;

/// Column list shared by every token query so row decoding stays in one place.
const TOKEN_COLUMNS: &str = "id, identity, stored_key, server_key, iterations, \
     created_at, expires_at, revoked_at, last_used_at";

/// [`Store`] backed by an SQLite database file (or memory, for tests).
///
/// Cheap to clone: clones share the connection pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing, along with its parent directory) the
    /// database at `path` and brings its schema up to date.
    ///
    /// Safe to call from several processes on the same file at once.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| StoreError::CreateDir {
                    path: parent.to_path_buf(),
                    source,
                })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // WAL lets the gateway keep reading while the CLI writes, instead of
            // readers and the writer blocking each other.
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable against application crashes in WAL mode; only a
            // power loss can drop the last commits, which is acceptable for tokens
            // (the CLI would simply report a token that must be recreated).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = connect(options).await?;
        Self::migrated(pool).await
    }

    /// Opens a private, empty in-memory database; for tests and dry runs.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // An in-memory database lives exactly as long as a connection to it, so the
        // pool holds one connection forever: without this, idle reaping would
        // silently drop all data.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> Result<Self, StoreError> {
        migrate(&pool).await?;
        Ok(Self { pool })
    }
}

/// Connects, retrying while another process holds a lock the busy handler
/// cannot wait for.
///
/// Switching a brand-new file to WAL needs an exclusive lock, and SQLite reports
/// `SQLITE_BUSY` immediately (without consulting the busy timeout) when two
/// connections attempt it at once, so the busy timeout alone does not cover
/// simultaneous first opens.
async fn connect(options: SqliteConnectOptions) -> Result<SqlitePool, StoreError> {
    let mut attempt = 0;
    loop {
        match SqlitePoolOptions::new().connect_with(options.clone()).await {
            Ok(pool) => return Ok(pool),
            Err(err) if attempt < OPEN_RETRIES && is_lock_contention(&err) => {
                attempt += 1;
                backoff(attempt).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// Whether `err` is SQLite's `SQLITE_BUSY` or `SQLITE_LOCKED` (including their
/// extended codes), i.e. worth retrying rather than reporting.
fn is_lock_contention(err: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i32 = 5;
    const SQLITE_LOCKED: i32 = 6;
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    // sqlx reports the extended result code; its low byte is the primary code.
    db.code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED))
}

/// Linear backoff; contention here only happens during simultaneous first opens,
/// so a few short sleeps are plenty.
async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
}

/// Runs pending migrations, retrying when another process got there first.
///
/// sqlx's SQLite migrator takes no lock, so two processes opening a fresh file
/// simultaneously can both try to apply the same migration; the loser fails
/// (table exists / duplicate version / busy snapshot) with its transaction rolled
/// back. Re-running re-reads the applied set and finds nothing left to do.
async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut attempt = 0;
    loop {
        match MIGRATOR.run(pool).await {
            Ok(()) => return Ok(()),
            Err(MigrateError::Execute(_) | MigrateError::ExecuteMigration(..))
                if attempt < OPEN_RETRIES =>
            {
                attempt += 1;
                backoff(attempt).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

fn token_from_row(row: &SqliteRow) -> Result<TokenRecord, StoreError> {
    let id: String = row.try_get("id")?;
    // Stored as a plain INTEGER because PostgreSQL has no unsigned types.
    let iterations: i64 = row.try_get("iterations")?;
    let iterations = u32::try_from(iterations).map_err(|_| {
        StoreError::Corrupt(format!(
            "token {id:?} has out-of-range iteration count {iterations}"
        ))
    })?;
    Ok(TokenRecord {
        identity: row.try_get("identity")?,
        stored_key: row.try_get("stored_key")?,
        server_key: row.try_get("server_key")?,
        iterations,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
        id,
    })
}

fn tokens_from_rows(rows: &[SqliteRow]) -> Result<Vec<TokenRecord>, StoreError> {
    rows.iter().map(token_from_row).collect()
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn identity_salt(&self, identity: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        if identity.is_empty() {
            return Err(StoreError::InvalidArgument("identity must not be empty"));
        }
        if candidate.is_empty() {
            return Err(StoreError::InvalidArgument("salt must not be empty"));
        }
        // Insert-if-absent then read back, rather than read-then-insert: with
        // several processes racing, the conflict clause guarantees that exactly one
        // salt wins and everyone reads that one.
        sqlx::query(
            "INSERT INTO identities (identity, salt) VALUES ($1, $2) \
             ON CONFLICT (identity) DO NOTHING",
        )
        .bind(identity)
        .bind(candidate)
        .execute(&self.pool)
        .await?;
        self.find_identity_salt(identity).await?.ok_or_else(|| {
            // Identities are never deleted, so this means the row we just ensured vanished.
            StoreError::Corrupt(format!(
                "salt of identity {identity:?} missing after insert"
            ))
        })
    }

    async fn find_identity_salt(&self, identity: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let salt = sqlx::query_scalar("SELECT salt FROM identities WHERE identity = $1")
            .bind(identity)
            .fetch_optional(&self.pool)
            .await?;
        Ok(salt)
    }

    async fn insert_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        if token.id.is_empty() {
            return Err(StoreError::InvalidArgument("token id must not be empty"));
        }
        if token.iterations == 0 {
            return Err(StoreError::InvalidArgument("iterations must be at least 1"));
        }
        if token.stored_key.is_empty() || token.server_key.is_empty() {
            return Err(StoreError::InvalidArgument("SCRAM keys must not be empty"));
        }
        let result = sqlx::query(
            "INSERT INTO tokens (id, identity, stored_key, server_key, iterations, \
             created_at, expires_at, revoked_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&token.id)
        .bind(&token.identity)
        .bind(&token.stored_key)
        .bind(&token.server_key)
        .bind(i64::from(token.iterations))
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.revoked_at)
        .bind(token.last_used_at)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            // Translate constraint failures into variants the CLI can explain.
            Err(sqlx::Error::Database(db)) => match db.kind() {
                ErrorKind::UniqueViolation => Err(StoreError::DuplicateToken(token.id.clone())),
                ErrorKind::ForeignKeyViolation => {
                    Err(StoreError::UnknownIdentity(token.identity.clone()))
                }
                _ => Err(StoreError::Database(sqlx::Error::Database(db))),
            },
            Err(err) => Err(err.into()),
        }
    }

    async fn active_tokens(
        &self,
        identity: &str,
        now: i64,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens \
             WHERE identity = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2) \
             ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(identity)
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        tokens_from_rows(&rows)
    }

    async fn list_tokens(&self, identity: Option<&str>) -> Result<Vec<TokenRecord>, StoreError> {
        // Two statements instead of `$1 IS NULL OR identity = $1`: PostgreSQL cannot
        // infer the type of a parameter that is only compared with NULL.
        let rows = match identity {
            Some(identity) => {
                let sql = format!(
                    "SELECT {TOKEN_COLUMNS} FROM tokens WHERE identity = $1 \
                     ORDER BY created_at, id"
                );
                sqlx::query(&sql)
                    .bind(identity)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id");
                sqlx::query(&sql).fetch_all(&self.pool).await?
            }
        };
        tokens_from_rows(&rows)
    }

    async fn revoke_token(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        // The `revoked_at IS NULL` guard makes a repeated or concurrent revocation a
        // no-op that keeps the original timestamp, and tells us which call won.
        let result =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn mark_token_used(&self, id: &str, now: i64) -> Result<(), StoreError> {
        // Keep the later of the stored and new time: processes sharing the file may
        // have slightly different clocks and must not move the value backwards.
        let result = sqlx::query(
            "UPDATE tokens SET last_used_at = CASE \
             WHEN last_used_at IS NULL OR last_used_at < $1 THEN $1 \
             ELSE last_used_at END \
             WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::TokenNotFound(id.to_owned()));
        }
        Ok(())
    }
}
