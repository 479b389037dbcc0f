//! Embedded SQLite backend.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::error::ErrorKind;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::query::Query;
use sqlx::sqlite::{
    Sqlite, SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::Row;

use crate::{
    DynamicIdentity, GrantFilter, GrantRecord, ReviewFilter, ReviewRecord, ReviewerDecision,
    SshKeyRecord, Store, StoreError, TokenRecord, TokenScope,
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

/// Column list shared by every token query so row decoding stays in one place.
const TOKEN_COLUMNS: &str = "id, identity, stored_key, server_key, iterations, \
     created_at, expires_at, revoked_at, last_used_at, purpose, targets, task, provider, claims, \
     groups";

/// Reviews joined with their decisions, one row per decision (or one row with NULL
/// decision columns for a review without any), so a review and its decisions are read by
/// one statement and therefore from one consistent snapshot. Every column is aliased
/// because SQLite leaves the names of unaliased `table.column` results unspecified.
const REVIEW_SELECT: &str = "SELECT r.id AS id, r.kind AS kind, r.state AS state, \
     r.requester AS requester, r.target AS target, r.detail AS detail, \
     r.created_at_ms AS created_at_ms, r.expires_at_ms AS expires_at_ms, \
     r.decided_at_ms AS decided_at_ms, \
     d.reviewer AS d_reviewer, d.approve AS d_approve, d.comment AS d_comment, \
     d.at_ms AS d_at_ms \
     FROM reviews r LEFT JOIN review_decisions d ON d.review_id = r.id";

/// Order of [`REVIEW_SELECT`] results: reviews by id, each review's decisions by time
/// and then by insertion, which [`reviews_from_rows`] relies on to regroup them.
const REVIEW_ORDER: &str = " ORDER BY r.id, d.at_ms, d.id";

/// Column list shared by every grant query so row decoding stays in one place.
const GRANT_COLUMNS: &str = "id, identity, target, scope, reason, approvers, review_id, \
     created_at_ms, expires_at_ms, revoked_at_ms, revoked_by, expiry_noted_at_ms";

/// Every state a review can be in; mirrors the CHECK constraint of `reviews.state`.
const REVIEW_STATES: [&str; 5] = ["pending", "approved", "denied", "expired", "cancelled"];

/// The states a pending review can be settled into.
const SETTLED_STATES: [&str; 4] = ["approved", "denied", "expired", "cancelled"];

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
        scope: TokenScope {
            purpose: row.try_get("purpose")?,
            targets: json_list(row, "targets", &id)?,
            task: row.try_get("task")?,
            provider: row.try_get("provider")?,
            claims: row.try_get("claims")?,
            groups: json_list(row, "groups", &id)?,
        },
        id,
    })
}

/// A nullable column holding a JSON array of strings.
fn json_list(row: &SqliteRow, column: &str, id: &str) -> Result<Option<Vec<String>>, StoreError> {
    match row.try_get::<Option<String>, _>(column)? {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json).map(Some).map_err(|e| {
            StoreError::Corrupt(format!("token {id:?} has an unreadable {column}: {e}"))
        }),
    }
}

fn dynamic_identity_from_row(row: &SqliteRow) -> Result<DynamicIdentity, StoreError> {
    let name: String = row.try_get("name")?;
    let groups: String = row.try_get("groups")?;
    let groups = serde_json::from_str(&groups).map_err(|e| {
        StoreError::Corrupt(format!("identity {name:?} has unreadable groups: {e}"))
    })?;
    Ok(DynamicIdentity {
        kind: row.try_get("kind")?,
        groups,
        claims: row.try_get("claims")?,
        provider: row.try_get("provider")?,
        subject: row.try_get("subject")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        name,
    })
}

fn tokens_from_rows(rows: &[SqliteRow]) -> Result<Vec<TokenRecord>, StoreError> {
    rows.iter().map(token_from_row).collect()
}

/// A value bound to a listing query's numbered placeholder.
enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

/// The `WHERE` clause of a listing query, built from the fields a filter sets.
///
/// Each condition is only present when its field is, rather than written as
/// `($1 IS NULL OR col = $1)`, for the same reason as in `list_tokens`: PostgreSQL
/// cannot infer the type of a parameter that is only compared with NULL.
#[derive(Default)]
struct Conditions<'a> {
    clauses: Vec<String>,
    binds: Vec<Bind<'a>>,
}

impl<'a> Conditions<'a> {
    /// Adds `{lhs} $n` with `value` bound to the new placeholder `$n`.
    fn compare(&mut self, lhs: &str, value: Bind<'a>) {
        self.binds.push(value);
        self.clauses.push(format!("{lhs} ${}", self.binds.len()));
    }

    /// Adds a condition without parameters.
    fn fixed(&mut self, clause: &str) {
        self.clauses.push(clause.to_owned());
    }

    /// ` WHERE ...`, or nothing when no condition was added.
    fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Binds the values in placeholder order.
    fn bind<'q>(
        &self,
        mut query: Query<'q, Sqlite, SqliteArguments<'q>>,
    ) -> Query<'q, Sqlite, SqliteArguments<'q>>
    where
        'a: 'q,
    {
        for value in &self.binds {
            query = match *value {
                Bind::Text(text) => query.bind(text),
                Bind::Int(int) => query.bind(int),
            };
        }
        query
    }
}

fn review_conditions(filter: &ReviewFilter) -> Conditions<'_> {
    let mut conditions = Conditions::default();
    if let Some(state) = &filter.state {
        conditions.compare("r.state =", Bind::Text(state));
    }
    if let Some(requester) = &filter.requester {
        conditions.compare("r.requester =", Bind::Text(requester));
    }
    if let Some(since) = filter.since_ms {
        conditions.compare("r.created_at_ms >=", Bind::Int(since));
    }
    if let Some(until) = filter.until_ms {
        conditions.compare("r.created_at_ms <", Bind::Int(until));
    }
    conditions
}

fn grant_conditions(filter: &GrantFilter) -> Conditions<'_> {
    let mut conditions = Conditions::default();
    if let Some(identity) = &filter.identity {
        conditions.compare("identity =", Bind::Text(identity));
    }
    if let Some(target) = &filter.target {
        conditions.compare("target =", Bind::Text(target));
    }
    if let Some(at) = filter.live_at_ms {
        conditions.compare("expires_at_ms >", Bind::Int(at));
        conditions.fixed("revoked_at_ms IS NULL");
    }
    if let Some(by) = filter.unnoted_expiry_by_ms {
        conditions.compare("expires_at_ms <=", Bind::Int(by));
        // Spelled exactly like the predicate of `grants_unnoted_expiry_idx` so the
        // planner can use that partial index.
        conditions.fixed("revoked_at_ms IS NULL AND expiry_noted_at_ms IS NULL");
    }
    if let Some(since) = filter.since_ms {
        conditions.compare("created_at_ms >=", Bind::Int(since));
    }
    if let Some(review) = filter.review_id {
        conditions.compare("review_id =", Bind::Int(review));
    }
    conditions
}

/// Regroups [`REVIEW_SELECT`] rows (ordered by [`REVIEW_ORDER`]) into reviews.
fn reviews_from_rows(rows: &[SqliteRow]) -> Result<Vec<ReviewRecord>, StoreError> {
    let mut reviews: Vec<ReviewRecord> = Vec::new();
    for row in rows {
        let id: i64 = row.try_get("id")?;
        if reviews.last().is_none_or(|review| review.id != id) {
            reviews.push(ReviewRecord {
                id,
                kind: row.try_get("kind")?,
                state: row.try_get("state")?,
                requester: row.try_get("requester")?,
                target: row.try_get("target")?,
                detail: row.try_get("detail")?,
                created_at_ms: row.try_get("created_at_ms")?,
                expires_at_ms: row.try_get("expires_at_ms")?,
                decided_at_ms: row.try_get("decided_at_ms")?,
                decisions: Vec::new(),
            });
        }
        // `reviewer` is NOT NULL in its table, so NULL here means the outer join found
        // no decision at all.
        let Some(reviewer) = row.try_get::<Option<String>, _>("d_reviewer")? else {
            continue;
        };
        let decision = ReviewerDecision {
            reviewer,
            approve: row.try_get("d_approve")?,
            comment: row.try_get("d_comment")?,
            at_ms: row.try_get("d_at_ms")?,
        };
        if let Some(review) = reviews.last_mut() {
            review.decisions.push(decision);
        }
    }
    Ok(reviews)
}

fn grant_from_row(row: &SqliteRow) -> Result<GrantRecord, StoreError> {
    let id: i64 = row.try_get("id")?;
    let approvers: String = row.try_get("approvers")?;
    let approvers = serde_json::from_str(&approvers)
        .map_err(|err| StoreError::Corrupt(format!("grant {id} has malformed approvers: {err}")))?;
    Ok(GrantRecord {
        id,
        identity: row.try_get("identity")?,
        target: row.try_get("target")?,
        scope: row.try_get("scope")?,
        reason: row.try_get("reason")?,
        approvers,
        review_id: row.try_get("review_id")?,
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms")?,
        revoked_by: row.try_get("revoked_by")?,
        expiry_noted_at_ms: row.try_get("expiry_noted_at_ms")?,
    })
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
        if token.id.is_empty() {
            return Err(StoreError::InvalidArgument("token id must not be empty"));
        }
        if token.iterations == 0 {
            return Err(StoreError::InvalidArgument("iterations must be at least 1"));
        }
        if token.stored_key.is_empty() || token.server_key.is_empty() {
            return Err(StoreError::InvalidArgument("SCRAM keys must not be empty"));
        }
        let list = |l: &Option<Vec<String>>| match l {
            None => Ok(None),
            Some(l) => serde_json::to_string(l)
                .map(Some)
                .map_err(|_| StoreError::InvalidArgument("token lists must be text")),
        };
        let targets = list(&token.scope.targets)?;
        let groups = list(&token.scope.groups)?;
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
        .bind(if token.scope.purpose.is_empty() {
            "operator"
        } else {
            token.scope.purpose.as_str()
        })
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

    async fn insert_review(&self, review: &ReviewRecord) -> Result<i64, StoreError> {
        // Checked here too (the table has a CHECK) to report a clear error instead of
        // a constraint failure.
        if !REVIEW_STATES.contains(&review.state.as_str()) {
            return Err(StoreError::InvalidArgument(
                "review state must be pending, approved, denied, expired or cancelled",
            ));
        }
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
            "INSERT INTO review_decisions (review_id, reviewer, approve, comment, at_ms) \
             SELECT $1, $2, $3, $4, $5 \
             WHERE EXISTS (SELECT 1 FROM reviews WHERE id = $1 AND state = 'pending')",
        )
        .bind(id)
        .bind(&decision.reviewer)
        .bind(decision.approve)
        .bind(&decision.comment)
        .bind(decision.at_ms)
        .execute(&self.pool)
        .await;
        match result {
            Ok(done) if done.rows_affected() > 0 => return Ok(()),
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

    async fn settle_review(&self, id: i64, state: &str, at_ms: i64) -> Result<bool, StoreError> {
        if !SETTLED_STATES.contains(&state) {
            return Err(StoreError::InvalidArgument(
                "a review can only be settled as approved, denied, expired or cancelled",
            ));
        }
        // The `state = 'pending'` guard makes concurrent settlements race on one row
        // update: exactly one changes the row, every other caller sees `false`.
        let result = sqlx::query(
            "UPDATE reviews SET state = $1, decided_at_ms = $2 \
             WHERE id = $3 AND state = 'pending'",
        )
        .bind(state)
        .bind(at_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn insert_grant(&self, grant: &GrantRecord) -> Result<i64, StoreError> {
        let approvers = serde_json::to_string(&grant.approvers)
            .map_err(|_| StoreError::InvalidArgument("approvers cannot be encoded as JSON"))?;
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
        .bind(grant.review_id)
        .bind(grant.created_at_ms)
        .bind(grant.expires_at_ms)
        .bind(grant.revoked_at_ms)
        .bind(&grant.revoked_by)
        .bind(grant.expiry_noted_at_ms)
        .fetch_one(&self.pool)
        .await;
        match (result, grant.review_id) {
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
        Ok(result.rows_affected() > 0)
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
        Ok(result.rows_affected() > 0)
    }
}
