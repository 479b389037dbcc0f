//! PostgreSQL backend, for several gateways sharing one store.
//!
//! Queries are those of the SQLite backend (the schemas are kept alike); what differs is how
//! the store is reached (a pool over the network, bounded waits so an outage surfaces as
//! [`StoreError::Unavailable`] rather than a hang), how migrations are serialised (an
//! advisory lock) and how changes travel: every write that changes a review, grant or token
//! revocation issues `pg_notify` in its own transaction, and one listener connection per store
//! turns the notifications of every process into [`StoreChange`]s.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::error::ErrorKind;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Executor, Row};
use tokio::sync::{broadcast, oneshot};

use crate::common::{
    approvers_json, check_review_state, check_settled_state, decision_groups, decode_change,
    encode_change, gateways_from, grant_conditions, message, open_sessions_from, review_conditions,
    token_lists, token_purpose, CHANNEL_CAPACITY, GATEWAY_HEARTBEAT, GRANT_COLUMNS, NOTIFY_CHANNEL,
    OPEN_SESSIONS, REVIEW_ORDER, REVIEW_SELECT, SESSION_OPENED, TOKEN_COLUMNS,
};
use crate::error::BackendError;
use crate::{
    DynamicIdentity, GatewayRecord, GrantFilter, GrantRecord, OpenSession, ReviewFilter,
    ReviewRecord, ReviewerDecision, SshKeyRecord, Store, StoreChange, StoreError, TokenRecord,
    TokenScope,
};

/// Key of the advisory lock held while migrating. Fixed (and arbitrary: "sluice" in ASCII) so
/// every gateway on the store, whatever its version, contends for the same lock.
const MIGRATION_LOCK_KEY: i64 = 0x736c_7569_6365;

/// Connections per store. Store queries are short; ten cover a busy gateway without letting
/// several gateways exhaust the server's connection slots (100 by default).
const MAX_CONNECTIONS: u32 = 10;

/// How long getting a connection may take, connecting included: a store that is gone yields
/// [`StoreError::Unavailable`] after this instead of stalling every caller. Well inside the
/// default handshake timeout (10 s), so that a client of a gateway that lost its store is
/// told so rather than timed out.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long [`Store::ping`] waits for an answer.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Bounds of the listener's reconnection backoff: quick enough to resume notifications soon
/// after a brief blip, slow enough not to hammer a store that is down.
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// `application_name` of the notification connection, so it can be told apart in
/// `pg_stat_activity` (operators, and the reconnection test).
const LISTENER_APPLICATION: &str = "sluice-listener";

/// [`Store`] backed by a PostgreSQL database that several gateways may share.
///
/// Cheap to clone: clones share the pools and the listener. The listener task ends when the
/// last clone is dropped.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    changes: broadcast::Sender<StoreChange>,
    /// Whether the listener's connection is up (LISTEN issued).
    listening: Arc<AtomicBool>,
    /// The URL without its password, for `Debug`.
    redacted_url: String,
    /// Dropped with the store, which tells the listener task to end.
    _stop_listener: oneshot::Sender<()>,
}

/// Shows where the store is without its password.
impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.inner.redacted_url)
            .field("listening", &self.inner.listening.load(Ordering::Relaxed))
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the store at `url` (`postgres://` or `postgresql://`, with sqlx's query
    /// parameters such as `sslmode`), brings its schema up to date and starts listening for
    /// changes.
    ///
    /// Safe to call from several gateways on one database at once: migrations run under an
    /// advisory lock, so exactly one gateway applies each. Errors never contain the URL's
    /// password.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with_password(url, None).await
    }

    /// As [`PostgresStore::open`], with the password given apart from the URL (read from a
    /// secret file), so that it is written in neither the URL nor the configuration.
    pub async fn open_with_password(url: &str, password: Option<&str>) -> Result<Self, StoreError> {
        let redacted_url = redact_url(url);
        let secrets = Secrets { url, password };
        let scrub = |err: StoreError| scrub_error(err, &secrets);
        let options = PgConnectOptions::from_str(url).map_err(|err| {
            StoreError::InvalidLocation(scrub_text(&format!("{redacted_url}: {err}"), &secrets))
        })?;
        let options = match password {
            Some(password) => options.password(password),
            None => options,
        };
        let options = options.application_name("sluice");
        migrate(&options).await.map_err(scrub)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(|err| scrub(err.into()))?;
        // Its own pool so the notification connection never waits behind queries, nor takes
        // a query's slot. Two connections: a lost one may still be on its way out while the
        // replacement connects.
        let listener_pool = PgPoolOptions::new()
            .max_connections(2)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options.application_name(LISTENER_APPLICATION));
        // Listening before `open` returns, so no change committed after it is missed.
        let listener = listen(&listener_pool).await.map_err(scrub)?;
        let (changes, _) = broadcast::channel(CHANNEL_CAPACITY);
        let listening = Arc::new(AtomicBool::new(true));
        let (stop_listener, stopped) = oneshot::channel();
        tokio::spawn(relay_changes(
            listener,
            listener_pool,
            changes.clone(),
            Arc::clone(&listening),
            stopped,
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                changes,
                listening,
                redacted_url,
                _stop_listener: stop_listener,
            }),
        })
    }

    fn pool(&self) -> &PgPool {
        &self.inner.pool
    }
}

/// Applies pending migrations on a dedicated connection holding the migration lock.
///
/// The first gateway to take the lock migrates; the others wait on it and then find nothing
/// left to do. sqlx's own migration lock is turned off so that one documented mechanism, with
/// a key that does not depend on sqlx's choices, is in charge. The connection is closed
/// afterwards (not returned to a pool), which also releases the lock if unlocking failed.
async fn migrate(options: &PgConnectOptions) -> Result<(), StoreError> {
    let mut conn = tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(options))
        .await
        .map_err(|_| StoreError::Unavailable("connecting to the store timed out".into()))??;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await?;
    // The schema, compiled into the binary like the SQLite one.
    let mut migrator: Migrator = sqlx::migrate!("./migrations/postgres");
    migrator.set_locking(false);
    let migrated = migrator.run_direct(&mut conn).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await;
    // Closing ends the session, releasing the lock whatever happened above.
    let _ = conn.close().await;
    migrated?;
    unlocked?;
    Ok(())
}

/// A listener on the store's channel, connected and listening.
async fn listen(pool: &PgPool) -> Result<PgListener, StoreError> {
    let mut listener = PgListener::connect_with(pool).await?;
    // Report a lost connection at once (`try_recv` → `Ok(None)`) instead of reconnecting
    // inside `try_recv`: the relay reconnects itself, so it knows when listening resumed
    // and can announce `Resync` then.
    listener.eager_reconnect(false);
    listener.listen(NOTIFY_CHANNEL).await?;
    Ok(listener)
}

/// Forwards notifications into the store's channel until `stop` fires (the store is gone).
async fn relay_changes(
    listener: PgListener,
    pool: PgPool,
    changes: broadcast::Sender<StoreChange>,
    listening: Arc<AtomicBool>,
    stop: oneshot::Receiver<()>,
) {
    let relay = async move {
        let mut listener = listener;
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    // No receivers is fine: nobody waits on anything right now.
                    let _ = changes.send(decode_change(notification.payload()));
                }
                // `Ok(None)`: the connection was lost. An error means the same here (the
                // listener cannot go on with its connection); either way, start afresh.
                Ok(None) | Err(_) => {
                    listening.store(false, Ordering::SeqCst);
                    drop(listener);
                    listener = reconnect(&pool).await;
                    listening.store(true, Ordering::SeqCst);
                    // After LISTEN, so whoever re-reads now also hears of later changes.
                    let _ = changes.send(StoreChange::Resync);
                }
            }
        }
    };
    tokio::select! {
        // Fires (with an error) when the store drops the sender.
        _ = stop => {}
        () = relay => {}
    }
}

/// Connects a new listener, retrying with a bounded exponential backoff until it works.
async fn reconnect(pool: &PgPool) -> PgListener {
    let mut delay = RECONNECT_MIN;
    loop {
        tokio::time::sleep(delay).await;
        if let Ok(listener) = listen(pool).await {
            return listener;
        }
        delay = (delay * 2).min(RECONNECT_MAX);
    }
}

/// Starts a transaction's notification: delivered to every listener when the transaction
/// commits, so nobody hears of a change before it can read it.
async fn notify(conn: &mut PgConnection, change: &StoreChange) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(NOTIFY_CHANNEL)
        .bind(encode_change(change))
        .execute(conn)
        .await?;
    Ok(())
}

/// `url` with its password (in the user info or a `password` query parameter) replaced by
/// `***`, for logs, errors and `Debug`.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = url.find("://") {
        let rest_start = scheme_end + 3;
        let rest = &url[rest_start..];
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        // The last '@' ends the user info: a password may itself contain '@' when the URL was
        // written without percent-encoding it.
        if let Some(at) = authority.rfind('@') {
            if let Some(colon) = authority[..at].find(':') {
                out = format!(
                    "{}***{}",
                    &url[..rest_start + colon + 1],
                    &url[rest_start + at..]
                );
            }
        }
    }
    redact_query_password(&out)
}

/// Replaces the value of every `password=` query parameter by `***`.
fn redact_query_password(url: &str) -> String {
    let Some(query_start) = url.find('?') else {
        return url.to_owned();
    };
    let (head, query) = url.split_at(query_start + 1);
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => param.to_owned(),
        })
        .collect();
    format!("{head}{}", params.join("&"))
}

/// The password `url` carries, as written in it, if any.
fn url_password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let user_info = &authority[..authority.rfind('@')?];
    user_info.split_once(':').map(|(_, password)| password)
}

/// `text` with the URL's password blanked out, should a driver message ever quote it.
/// The passwords an error text must never show: the URL's own and one given apart.
struct Secrets<'a> {
    url: &'a str,
    password: Option<&'a str>,
}

fn scrub_text(text: &str, secrets: &Secrets<'_>) -> String {
    [url_password(secrets.url), secrets.password]
        .into_iter()
        .flatten()
        .filter(|p| !p.is_empty())
        .fold(text.to_owned(), |text, password| {
            text.replace(password, "***")
        })
}

/// An error from opening the store, made safe to log: driver errors become text scrubbed of
/// the password (the opaque error they wrap could otherwise be printed with its source).
fn scrub_error(err: StoreError, url: &Secrets<'_>) -> StoreError {
    match err {
        StoreError::Database(e) => {
            StoreError::Database(BackendError::text(scrub_text(&e.to_string(), url)))
        }
        StoreError::Migrate(e) => {
            StoreError::Migrate(BackendError::text(scrub_text(&e.to_string(), url)))
        }
        StoreError::Unavailable(text) => StoreError::Unavailable(scrub_text(&text, url)),
        other => other,
    }
}

crate::common::row_decoders!(PgRow);

/// Stores a grant as coming from `review_id`, on the pool or inside a transaction.
async fn insert_grant<'e, E>(
    executor: E,
    grant: &GrantRecord,
    review_id: Option<i64>,
) -> Result<i64, StoreError>
where
    E: Executor<'e, Database = sqlx::Postgres>,
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
impl Store for PostgresStore {
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
        .execute(self.pool())
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
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn revoked_since(&self, since: i64) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM tokens WHERE revoked_at >= $1 ORDER BY id")
                .bind(since)
                .fetch_all(self.pool())
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
        .execute(self.pool())
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
        .fetch_optional(self.pool())
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
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn ssh_keys(&self, identity: Option<&str>) -> Result<Vec<SshKeyRecord>, StoreError> {
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT identity, fingerprint, public_key, comment, added_at FROM ssh_keys \
             WHERE $1 IS NULL OR identity = $1 ORDER BY identity, added_at, fingerprint",
        )
        .bind(identity)
        .fetch_all(self.pool())
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
            .execute(self.pool())
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
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1;
        let trusted: String =
            sqlx::query_scalar("SELECT public_key FROM ssh_host_keys WHERE target = $1")
                .bind(target)
                .fetch_one(self.pool())
                .await?;
        Ok((trusted, inserted))
    }

    async fn find_identity_salt(&self, identity: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let salt = sqlx::query_scalar("SELECT salt FROM identities WHERE identity = $1")
            .bind(identity)
            .fetch_optional(self.pool())
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
        .execute(self.pool())
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
            .fetch_all(self.pool())
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
                    .fetch_all(self.pool())
                    .await?
            }
            None => {
                let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id");
                sqlx::query(&sql).fetch_all(self.pool()).await?
            }
        };
        tokens_from_rows(&rows)
    }

    async fn revoke_token(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        // The `revoked_at IS NULL` guard makes a repeated or concurrent revocation a
        // no-op that keeps the original timestamp, and tells us which call won.
        let mut tx = self.pool().begin().await?;
        let revoked = tx
            .execute(
                sqlx::query(
                    "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(id),
            )
            .await?
            .rows_affected()
            > 0;
        if revoked {
            notify(&mut tx, &StoreChange::TokenRevoked(id.to_owned())).await?;
        }
        tx.commit().await?;
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
        .execute(self.pool())
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::TokenNotFound(id.to_owned()));
        }
        Ok(())
    }

    async fn insert_review(&self, review: &ReviewRecord) -> Result<i64, StoreError> {
        check_review_state(&review.state)?;
        let mut tx = self.pool().begin().await?;
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
        .fetch_one(&mut *tx)
        .await?;
        notify(&mut tx, &StoreChange::Review(id)).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn review(&self, id: i64) -> Result<Option<ReviewRecord>, StoreError> {
        let sql = format!("{REVIEW_SELECT} WHERE r.id = $1{REVIEW_ORDER}");
        let rows = sqlx::query(&sql).bind(id).fetch_all(self.pool()).await?;
        Ok(reviews_from_rows(&rows)?.into_iter().next())
    }

    async fn list_reviews(&self, filter: &ReviewFilter) -> Result<Vec<ReviewRecord>, StoreError> {
        let conditions = review_conditions(filter);
        let sql = format!("{REVIEW_SELECT}{}{REVIEW_ORDER}", conditions.where_sql());
        let rows = conditions
            .bind(sqlx::query(&sql))
            .fetch_all(self.pool())
            .await?;
        reviews_from_rows(&rows)
    }

    async fn add_review_decision(
        &self,
        id: i64,
        decision: &ReviewerDecision,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        // `FOR SHARE` makes the pending check hold until commit: a concurrent settlement
        // either waits for this decision or, having settled first, makes the check fail
        // (PostgreSQL re-checks the updated row). Without it the check could see a review
        // another gateway is settling at that very moment.
        let result = tx
            .execute(
                sqlx::query(
                    "INSERT INTO review_decisions (review_id, reviewer, approve, comment, at_ms, reviewer_groups) \
                     SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS \
                     (SELECT 1 FROM reviews WHERE id = $1 AND state = 'pending' FOR SHARE)",
                )
                .bind(id)
                .bind(&decision.reviewer)
                .bind(decision.approve)
                .bind(&decision.comment)
                .bind(decision.at_ms)
                .bind(decision_groups(decision)?),
            )
            .await;
        match result {
            Ok(done) if done.rows_affected() > 0 => {
                notify(&mut tx, &StoreChange::Review(id)).await?;
                tx.commit().await?;
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
        drop(tx);
        // Nothing was inserted, so the review was missing or not pending; find out
        // which. A review never returns to pending, so reading it afterwards is safe.
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM reviews WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
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
        let mut tx = self.pool().begin().await?;
        // The `state = 'pending'` guard makes concurrent settlements race on one row: the
        // first takes its lock, the others wait and then find it no longer pending.
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
        notify(&mut tx, &StoreChange::Review(id)).await?;
        if let Some(grant_id) = grant_id {
            notify(&mut tx, &StoreChange::Grant(grant_id)).await?;
        }
        tx.commit().await?;
        Ok(Some(grant_id))
    }

    async fn insert_grant(&self, grant: &GrantRecord) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let id = insert_grant(&mut *tx, grant, grant.review_id).await?;
        notify(&mut tx, &StoreChange::Grant(id)).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn grant(&self, id: i64) -> Result<Option<GrantRecord>, StoreError> {
        let sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
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
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(grant_from_row).collect()
    }

    async fn revoke_grant(&self, id: i64, at_ms: i64, by: &str) -> Result<bool, StoreError> {
        // Only a live grant changes; see the SQLite backend for why.
        let mut tx = self.pool().begin().await?;
        let revoked = tx
            .execute(
                sqlx::query(
                    "UPDATE grants SET revoked_at_ms = $1, revoked_by = $2 \
                     WHERE id = $3 AND revoked_at_ms IS NULL AND expires_at_ms > $1",
                )
                .bind(at_ms)
                .bind(by)
                .bind(id),
            )
            .await?
            .rows_affected()
            > 0;
        if revoked {
            notify(&mut tx, &StoreChange::Grant(id)).await?;
        }
        tx.commit().await?;
        Ok(revoked)
    }

    async fn note_grant_expired(&self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        // Several gateways sweep for expired grants; the guard lets exactly one of
        // them win the row and announce the expiry.
        let mut tx = self.pool().begin().await?;
        let noted = tx
            .execute(
                sqlx::query(
                    "UPDATE grants SET expiry_noted_at_ms = $1 \
                     WHERE id = $2 AND expiry_noted_at_ms IS NULL",
                )
                .bind(at_ms)
                .bind(id),
            )
            .await?
            .rows_affected()
            > 0;
        if noted {
            notify(&mut tx, &StoreChange::Grant(id)).await?;
        }
        tx.commit().await?;
        Ok(noted)
    }

    async fn session_opened(&self, session: &OpenSession) -> Result<(), StoreError> {
        sqlx::query(SESSION_OPENED)
            .bind(&session.id)
            .bind(&session.gateway)
            .bind(session.started_at_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn session_closed(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM open_sessions WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn open_sessions(&self, alive_since_ms: i64) -> Result<Vec<OpenSession>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(OPEN_SESSIONS)
            .bind(alive_since_ms)
            .fetch_all(self.pool())
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
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn gateways(&self) -> Result<Vec<GatewayRecord>, StoreError> {
        let rows: Vec<(String, i64, Option<String>)> =
            sqlx::query_as("SELECT name, last_seen_ms, policy FROM gateways ORDER BY name")
                .fetch_all(self.pool())
                .await?;
        Ok(gateways_from(rows))
    }

    async fn sessions_of_gateway_ended(&self, gateway: &str) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM open_sessions WHERE gateway = $1")
            .bind(gateway)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected())
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreChange> {
        self.inner.changes.subscribe()
    }

    async fn publish(&self, topic: &str, body: &str) -> Result<(), StoreError> {
        let change = message(topic, body)?;
        let mut conn = self.pool().acquire().await?;
        notify(&mut conn, &change).await
    }

    fn notifies_across_processes(&self) -> bool {
        true
    }

    fn listening(&self) -> bool {
        self.inner.listening.load(Ordering::SeqCst)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        match tokio::time::timeout(PING_TIMEOUT, sqlx::query("SELECT 1").execute(self.pool())).await
        {
            Ok(result) => result.map(|_| ()).map_err(Into::into),
            Err(_) => Err(StoreError::Unavailable(
                "the store did not answer within 2 s".into(),
            )),
        }
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        let cases = [
            (
                "postgres://u:secret@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            (
                "postgresql://u:se@cret@h/db?x=1",
                "postgresql://u:***@h/db?x=1",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("postgres://h/db", "postgres://h/db"),
            (
                "postgres://h/db?user=u&password=secret&sslmode=require",
                "postgres://h/db?user=u&password=***&sslmode=require",
            ),
            ("postgres://u:secret@h", "postgres://u:***@h"),
        ];
        for (url, redacted) in cases {
            assert_eq!(redact_url(url), redacted);
        }
    }

    #[test]
    fn messages_are_scrubbed_of_the_password() {
        let url = "postgres://u:s3cr3t@h/db";
        assert_eq!(url_password(url), Some("s3cr3t"));
        let secrets = Secrets {
            url,
            password: Some("other"),
        };
        assert_eq!(
            scrub_text("bad s3cr3t here, other there", &secrets),
            "bad *** here, *** there"
        );
        assert_eq!(url_password("postgres://u@h/db"), None);
    }
}

crate::agents::agent_store!(PostgresStore);
