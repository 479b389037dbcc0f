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
use sqlx::{Executor, Row};
use tokio::sync::broadcast;

use crate::common::{
    approvers_json, check_review_state, check_settled_state, decision_groups, gateways_from,
    grant_conditions, message, open_sessions_from, review_conditions, token_lists, token_purpose,
    CHANNEL_CAPACITY, GATEWAY_HEARTBEAT, GRANT_COLUMNS, OPEN_SESSIONS, REVIEW_ORDER, REVIEW_SELECT,
    SESSION_OPENED, TOKEN_COLUMNS,
};
use crate::{
    DynamicIdentity, GatewayRecord, GrantFilter, GrantRecord, OpenSession, ReviewFilter,
    ReviewRecord, ReviewerDecision, SshKeyRecord, Store, StoreChange, StoreError, TokenRecord,
    TokenScope,
};

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

/// How long [`Store::ping`] waits for an answer.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// [`Store`] backed by an SQLite database file (or memory, for tests).
///
/// Cheap to clone: clones share the connection pool and the change channel.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Changes written through this store (and its clones). Nothing crosses processes here:
    /// SQLite has no notification mechanism, so other processes on the file are not seen.
    changes: broadcast::Sender<StoreChange>,
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
        let (changes, _) = broadcast::channel(CHANNEL_CAPACITY);
        Ok(Self { pool, changes })
    }

    /// Announces a write that succeeded to this process's subscribers.
    fn changed(&self, change: StoreChange) {
        // Sending only fails when nobody subscribes, which is nobody's loss.
        let _ = self.changes.send(change);
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

crate::common::row_decoders!(SqliteRow);

/// Stores a grant as coming from `review_id`, on the pool or inside a transaction.
async fn insert_grant<'e, E>(
    executor: E,
    grant: &GrantRecord,
    review_id: Option<i64>,
) -> Result<i64, StoreError>
where
    E: Executor<'e, Database = sqlx::Sqlite>,
{
    let approvers = approvers_json(&grant.approvers)?;
    let result = sqlx::query_scalar(
        "INSERT INTO grants (identity, target, scope, reason, approvers, review_id, \
         created_at_ms, expires_at_ms, revoked_at_ms, revoked_by, expiry_noted_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(&grant.identity)
    .bind(&grant.target)
    .bind(&grant.scope)
    .bind(&grant.reason)
    .bind(approvers)
    .bind(review_id)
    .bind(grant.created_at_ms)
    .bind(grant.expires_at_ms)
    .bind(grant.revoked_at_ms)
    .bind(&grant.revoked_by)
    .bind(grant.expiry_noted_at_ms)
    .fetch_one(executor)
    .await;
    match (result, review_id) {
        (Ok(id), _) => Ok(id),
        // The only foreign key is `review_id`.
        (Err(sqlx::Error::Database(db)), Some(review_id))
            if db.kind() == ErrorKind::ForeignKeyViolation =>
        {
            Err(StoreError::ReviewNotFound(review_id))
        }
        (Err(err), _) => Err(err.into()),
    }
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

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn revoked_since(&self, since: i64) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM tokens WHERE revoked_at >= $1 ORDER BY id")
                .bind(since)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn upsert_dynamic_identity(&self, identity: &DynamicIdentity) -> Result<(), StoreError> {
        let groups = serde_json::to_string(&identity.groups)
            .map_err(|_| StoreError::InvalidArgument("groups must be text"))?;
        // The WHERE on the update keeps a name bound to the provider and subject that first
        // claimed it: another subject arriving with the same name changes nothing.
        let result = sqlx::query(
            "INSERT INTO dynamic_identities \
             (name, kind, groups, claims, provider, subject, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, groups = excluded.groups, \
             claims = excluded.claims, last_seen_at = excluded.last_seen_at \
             WHERE dynamic_identities.provider = excluded.provider \
             AND dynamic_identities.subject = excluded.subject",
        )
        .bind(&identity.name)
        .bind(&identity.kind)
        .bind(groups)
        .bind(&identity.claims)
        .bind(&identity.provider)
        .bind(&identity.subject)
        .bind(identity.last_seen_at)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::InvalidArgument(
                "the identity name belongs to another identity provider subject",
            ));
        }
        Ok(())
    }

    async fn dynamic_identity(&self, name: &str) -> Result<Option<DynamicIdentity>, StoreError> {
        let row = sqlx::query(
            "SELECT name, kind, groups, claims, provider, subject, created_at, last_seen_at \
             FROM dynamic_identities WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(dynamic_identity_from_row).transpose()
    }

    async fn add_ssh_key(&self, key: &SshKeyRecord) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO ssh_keys (identity, fingerprint, public_key, comment, added_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (identity, fingerprint) DO NOTHING",
        )
        .bind(&key.identity)
        .bind(&key.fingerprint)
        .bind(&key.public_key)
        .bind(&key.comment)
        .bind(key.added_at)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn ssh_keys(&self, identity: Option<&str>) -> Result<Vec<SshKeyRecord>, StoreError> {
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT identity, fingerprint, public_key, comment, added_at FROM ssh_keys \
             WHERE $1 IS NULL OR identity = $1 ORDER BY identity, added_at, fingerprint",
        )
        .bind(identity)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(identity, fingerprint, public_key, comment, added_at)| SshKeyRecord {
                    identity,
                    fingerprint,
                    public_key,
                    comment,
                    added_at,
                },
            )
            .collect())
    }

    async fn remove_ssh_key(&self, identity: &str, fingerprint: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM ssh_keys WHERE identity = $1 AND fingerprint = $2")
            .bind(identity)
            .bind(fingerprint)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn trust_ssh_host_key(
        &self,
        target: &str,
        public_key: &str,
        now: i64,
    ) -> Result<(String, bool), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO ssh_host_keys (target, public_key, first_seen) VALUES ($1, $2, $3) \
             ON CONFLICT (target) DO NOTHING",
        )
        .bind(target)
        .bind(public_key)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        let trusted: String =
            sqlx::query_scalar("SELECT public_key FROM ssh_host_keys WHERE target = $1")
                .bind(target)
                .fetch_one(&self.pool)
                .await?;
        Ok((trusted, inserted))
    }

    async fn find_identity_salt(&self, identity: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let salt = sqlx::query_scalar("SELECT salt FROM identities WHERE identity = $1")
            .bind(identity)
            .fetch_optional(&self.pool)
            .await?;
        Ok(salt)
    }

    async fn insert_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        let (targets, groups) = token_lists(token)?;
        let result = sqlx::query(
            "INSERT INTO tokens (id, identity, stored_key, server_key, iterations, \
             created_at, expires_at, revoked_at, last_used_at, purpose, targets, task, \
             provider, claims, groups) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
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
        .bind(token_purpose(token))
        .bind(targets)
        .bind(&token.scope.task)
        .bind(&token.scope.provider)
        .bind(&token.scope.claims)
        .bind(groups)
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
                _ => Err(sqlx::Error::Database(db).into()),
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
        let revoked = result.rows_affected() > 0;
        if revoked {
            self.changed(StoreChange::TokenRevoked(id.to_owned()));
        }
        Ok(revoked)
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

    async fn insert_review(&self, review: &ReviewRecord) -> Result<i64, StoreError> {
        check_review_state(&review.state)?;
        // RETURNING rather than `last_insert_rowid`: the same statement works on
        // PostgreSQL.
        let id = sqlx::query_scalar(
            "INSERT INTO reviews (kind, state, requester, target, detail, \
             created_at_ms, expires_at_ms, decided_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&review.kind)
        .bind(&review.state)
        .bind(&review.requester)
        .bind(&review.target)
        .bind(&review.detail)
        .bind(review.created_at_ms)
        .bind(review.expires_at_ms)
        .bind(review.decided_at_ms)
        .fetch_one(&self.pool)
        .await?;
        self.changed(StoreChange::Review(id));
        Ok(id)
    }

    async fn review(&self, id: i64) -> Result<Option<ReviewRecord>, StoreError> {
        let sql = format!("{REVIEW_SELECT} WHERE r.id = $1{REVIEW_ORDER}");
        let rows = sqlx::query(&sql).bind(id).fetch_all(&self.pool).await?;
        Ok(reviews_from_rows(&rows)?.into_iter().next())
    }

    async fn list_reviews(&self, filter: &ReviewFilter) -> Result<Vec<ReviewRecord>, StoreError> {
        let conditions = review_conditions(filter);
        let sql = format!("{REVIEW_SELECT}{}{REVIEW_ORDER}", conditions.where_sql());
        let rows = conditions
            .bind(sqlx::query(&sql))
            .fetch_all(&self.pool)
            .await?;
        reviews_from_rows(&rows)
    }

    async fn add_review_decision(
        &self,
        id: i64,
        decision: &ReviewerDecision,
    ) -> Result<(), StoreError> {
        // The pending check and the insert are one statement, so a decision can never
        // land on a review that another process settled in between.
        let result = sqlx::query(
            "INSERT INTO review_decisions (review_id, reviewer, approve, comment, at_ms, reviewer_groups) \
             SELECT $1, $2, $3, $4, $5, $6 \
             WHERE EXISTS (SELECT 1 FROM reviews WHERE id = $1 AND state = 'pending')",
        )
        .bind(id)
        .bind(&decision.reviewer)
        .bind(decision.approve)
        .bind(&decision.comment)
        .bind(decision.at_ms)
        .bind(decision_groups(decision)?)
        .execute(&self.pool)
        .await;
        match result {
            Ok(done) if done.rows_affected() > 0 => {
                self.changed(StoreChange::Review(id));
                return Ok(());
            }
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.kind() == ErrorKind::UniqueViolation => {
                return Err(StoreError::DuplicateDecision {
                    id,
                    reviewer: decision.reviewer.clone(),
                });
            }
            Err(err) => return Err(err.into()),
        }
        // Nothing was inserted, so the review was missing or not pending; find out
        // which. A review never returns to pending, so reading it afterwards is safe.
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM reviews WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match state {
            Some(state) if state != "pending" => Err(StoreError::ReviewSettled(id)),
            // Pending now means it was inserted after our statement ran: at that time it
            // did not exist yet.
            _ => Err(StoreError::ReviewNotFound(id)),
        }
    }

    async fn settle_review_granting(
        &self,
        id: i64,
        state: &str,
        at_ms: i64,
        grant: Option<&GrantRecord>,
    ) -> Result<Option<Option<i64>>, StoreError> {
        check_settled_state(state)?;
        // Immediate: the transaction writes first thing, so taking the write lock at BEGIN
        // rather than upgrading a read lock later avoids SQLITE_BUSY failures that the busy
        // timeout cannot wait out (a deferred transaction cannot upgrade while another
        // process writes).
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // The `state = 'pending'` guard makes concurrent settlements race on one row
        // update: exactly one changes the row, every other caller sees nothing to do.
        let settled = tx
            .execute(
                sqlx::query(
                    "UPDATE reviews SET state = $1, decided_at_ms = $2 \
                     WHERE id = $3 AND state = 'pending'",
                )
                .bind(state)
                .bind(at_ms)
                .bind(id),
            )
            .await?
            .rows_affected()
            > 0;
        if !settled {
            // Dropping the transaction rolls it back; nothing was written anyway.
            return Ok(None);
        }
        let grant_id = match grant {
            Some(grant) => Some(insert_grant(&mut *tx, grant, Some(id)).await?),
            None => None,
        };
        tx.commit().await?;
        self.changed(StoreChange::Review(id));
        if let Some(grant_id) = grant_id {
            self.changed(StoreChange::Grant(grant_id));
        }
        Ok(Some(grant_id))
    }

    async fn insert_grant(&self, grant: &GrantRecord) -> Result<i64, StoreError> {
        let id = insert_grant(&self.pool, grant, grant.review_id).await?;
        self.changed(StoreChange::Grant(id));
        Ok(id)
    }

    async fn grant(&self, id: i64) -> Result<Option<GrantRecord>, StoreError> {
        let sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(grant_from_row).transpose()
    }

    async fn list_grants(&self, filter: &GrantFilter) -> Result<Vec<GrantRecord>, StoreError> {
        let conditions = grant_conditions(filter);
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM grants{} ORDER BY id",
            conditions.where_sql()
        );
        let rows = conditions
            .bind(sqlx::query(&sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(grant_from_row).collect()
    }

    async fn revoke_grant(&self, id: i64, at_ms: i64, by: &str) -> Result<bool, StoreError> {
        // Revoking an expired grant would claim someone cut access that had already
        // ended, so only a live grant changes; the guard also keeps the first
        // revocation's time and author.
        let result = sqlx::query(
            "UPDATE grants SET revoked_at_ms = $1, revoked_by = $2 \
             WHERE id = $3 AND revoked_at_ms IS NULL AND expires_at_ms > $1",
        )
        .bind(at_ms)
        .bind(by)
        .bind(id)
        .execute(&self.pool)
        .await?;
        let revoked = result.rows_affected() > 0;
        if revoked {
            self.changed(StoreChange::Grant(id));
        }
        Ok(revoked)
    }

    async fn note_grant_expired(&self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        // Several gateways sweep for expired grants; the guard lets exactly one of
        // them win the row and announce the expiry.
        let result = sqlx::query(
            "UPDATE grants SET expiry_noted_at_ms = $1 \
             WHERE id = $2 AND expiry_noted_at_ms IS NULL",
        )
        .bind(at_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        let noted = result.rows_affected() > 0;
        if noted {
            self.changed(StoreChange::Grant(id));
        }
        Ok(noted)
    }

    async fn session_opened(&self, session: &OpenSession) -> Result<(), StoreError> {
        sqlx::query(SESSION_OPENED)
            .bind(&session.id)
            .bind(&session.gateway)
            .bind(session.started_at_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn session_closed(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM open_sessions WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn open_sessions(&self, alive_since_ms: i64) -> Result<Vec<OpenSession>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(OPEN_SESSIONS)
            .bind(alive_since_ms)
            .fetch_all(&self.pool)
            .await?;
        Ok(open_sessions_from(rows))
    }

    async fn gateway_heartbeat(
        &self,
        gateway: &str,
        now_ms: i64,
        policy: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(GATEWAY_HEARTBEAT)
            .bind(gateway)
            .bind(now_ms)
            .bind(policy)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn gateways(&self) -> Result<Vec<GatewayRecord>, StoreError> {
        let rows: Vec<(String, i64, Option<String>)> =
            sqlx::query_as("SELECT name, last_seen_ms, policy FROM gateways ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        Ok(gateways_from(rows))
    }

    async fn sessions_of_gateway_ended(&self, gateway: &str) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM open_sessions WHERE gateway = $1")
            .bind(gateway)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreChange> {
        self.changes.subscribe()
    }

    async fn publish(&self, topic: &str, body: &str) -> Result<(), StoreError> {
        self.changed(message(topic, body)?);
        Ok(())
    }

    fn notifies_across_processes(&self) -> bool {
        false
    }

    fn listening(&self) -> bool {
        // The channel is in-process and cannot be lost.
        true
    }

    async fn ping(&self) -> Result<(), StoreError> {
        ping(&self.pool, PING_TIMEOUT).await
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

/// `SELECT 1` bounded by `timeout`, so readiness reports a stuck store instead of hanging.
async fn ping(pool: &SqlitePool, timeout: Duration) -> Result<(), StoreError> {
    match tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(pool)).await {
        Ok(result) => result.map(|_| ()).map_err(Into::into),
        Err(_) => Err(StoreError::Unavailable(
            "the store did not answer within 2 s".into(),
        )),
    }
}

crate::agents::agent_store!(SqliteStore);

impl SqliteStore {
    /// The pool, as [`crate::agents::agent_store`] reaches either backend's.
    fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}
