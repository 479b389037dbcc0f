//! The gateway's own state store.
//!
//! Everything the gateway persists about itself (as opposed to the databases it
//! fronts) goes through the [`Store`] trait, so the embedded SQLite backend used
//! by single-node deployments and the PostgreSQL backend that several gateways
//! share are interchangeable. [`open`] picks the backend from a configured
//! [`StoreLocation`]; the trait names no driver types.
//!
//! The store holds gateway-issued access tokens, reviews (requests for human
//! approval, with each reviewer's decision), the time-bound access grants
//! they lead to, identities from identity providers, SSH keys, and which
//! sessions each gateway has open.
//!
//! A token's secret is never stored: callers derive a SCRAM-SHA-256 verifier
//! (`stored_key`, `server_key`, `iterations`) with the identity's salt and hand
//! over only those bytes. This crate performs no cryptography at all.
//!
//! Reviews and grants are stored as the caller describes them; the store only
//! enforces what must hold across processes sharing it: a review is settled
//! exactly once (and the grant an approval leads to is stored with it, or not
//! at all), a reviewer decides a review at most once, and a grant's expiry
//! is noted once. Their timestamps are unix milliseconds, whereas token
//! timestamps are unix seconds.
//!
//! # Layout
//!
//! - `lib.rs`: the [`Store`] trait, [`open`] and the value types shared by every
//!   backend ([`TokenRecord`], [`StoreChange`], [`OpenSession`], ...).
//! - `approvals.rs`: the review and grant value types ([`ReviewRecord`],
//!   [`ReviewerDecision`], [`GrantRecord`]) and their listing filters
//!   ([`ReviewFilter`], [`GrantFilter`]).
//! - `error.rs`: [`StoreError`], the single error type of the crate.
//! - `common.rs`: what both backends share: the SQL text, row decoding,
//!   argument checks and the notification payload format.
//! - `sqlite.rs`: [`SqliteStore`], the embedded backend built on `sqlx`.
//! - `postgres.rs`: [`PostgresStore`], the shared backend built on `sqlx`.
//! - `migrations/sqlite/`, `migrations/postgres/`: schema migrations, embedded
//!   into the binary at compile time. Each backend gets its own directory
//!   because DDL is not portable between engines; the two schemas have the same
//!   tables, columns and numbering, so every query is written once.
//!   `0001_tokens.sql` holds identities and tokens, `0002_approvals.sql`
//!   reviews, their decisions and grants, `0003_ssh_keys.sql` SSH keys,
//!   `0004_identity.sql` token scopes and dynamic identities,
//!   `0005_sessions.sql` gateways' heartbeats and open sessions.
//! - `build.rs`: makes cargo rebuild when a migration file changes, since the
//!   embedding macro cannot tell it so.
//! - `tests/`: one behavioural suite run against both backends (each test is
//!   instantiated per backend by `backend_tests!` in `tests/common/mod.rs`, which
//!   also starts the scratch PostgreSQL cluster): `tokens.rs` (tokens,
//!   identities, SSH keys), `approvals.rs` (reviews and grants), `changes.rs`
//!   (change delivery, settlement, open sessions, several PostgreSQL stores).
//!
//! # Concurrency
//!
//! Several processes may open the same SQLite file at once (the running gateway
//! and the `sluice token create` CLI). [`SqliteStore::open`] therefore enables
//! WAL journaling and a busy timeout. Every write is a single statement, except
//! [`Store::settle_review_granting`]: settling a review and storing its grant
//! must both happen or neither, so it is one short transaction begun with
//! `BEGIN IMMEDIATE`. Taking the write lock up front means it never has to
//! upgrade a read lock, which is what deadlocks (`SQLITE_BUSY` that no busy
//! timeout resolves) between processes.
//!
//! Several gateways may share one PostgreSQL database. Races are settled by the
//! statements themselves (`WHERE state = 'pending'` and the like, unique
//! constraints, a row lock where a check and a write must not be separated), and
//! migrations run under a PostgreSQL advisory lock so concurrent starts apply
//! each migration once. Every wait is bounded (about 5 s to connect or get a
//! connection), so a store that is gone surfaces as [`StoreError::Unavailable`].
//!
//! # Notifications
//!
//! [`Store::subscribe`] delivers [`StoreChange`]s: every write method that
//! changes a review, a grant or a token's revocation announces it once it is
//! readable, and [`Store::publish`] sends messages of the caller's own.
//!
//! - SQLite: an in-process channel fed after each successful write. Other
//!   processes on the file (the CLI) are not heard; callers poll for those
//!   ([`Store::notifies_across_processes`] is false).
//! - PostgreSQL: each write and its `pg_notify('sluice', payload)` are one
//!   transaction, so the notification goes out on commit and never before the
//!   change is readable. One listener connection per store (`LISTEN sluice`)
//!   feeds every notification, this process's included, into the store's
//!   channel. When that connection is lost, [`Store::listening`] turns false
//!   (callers poll meanwhile) and the listener reconnects with a backoff from
//!   100 ms doubling to 2 s; once it is back it delivers [`StoreChange::Resync`],
//!   since changes may have been missed.
//!
//! Payloads (`NOTIFY` carries text, shorter than 8000 bytes): `r:<review id>`,
//! `g:<grant id>`, `t:<token id>`, `m:<topic>\n<body>` (topics have no line
//! breaks; bodies may), and `*` for "re-read everything" (sent instead of a token
//! id too long for a payload). A payload a process cannot read, e.g. from a newer
//! version, is delivered as [`StoreChange::Resync`].

mod agents;
mod approvals;
mod common;
mod error;
mod postgres;
mod sqlite;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use agents::{AgentRecord, AgentStore, EnrollmentRecord};
pub use approvals::{GrantFilter, GrantRecord, ReviewFilter, ReviewRecord, ReviewerDecision};
pub use error::{BackendError, StoreError};
pub use postgres::{redact_url, PostgresStore};
pub use sqlite::SqliteStore;

/// Persistent gateway state, implemented once per database backend.
///
/// All timestamps are supplied by the caller (unix seconds for tokens, unix
/// milliseconds for reviews and grants), so behaviour is
/// deterministic in tests and every process sharing a store agrees on what
/// "now" means only as far as their clocks do.
#[async_trait::async_trait]
pub trait Store: AgentStore + Send + Sync + 'static {
    /// Returns the identity's SCRAM salt, inserting `candidate` first if the
    /// identity has none yet.
    ///
    /// All tokens of one identity share the salt because the SCRAM server-first
    /// message is sent before the gateway knows which token the client holds.
    /// When two callers race, both get the salt that was stored first, so the
    /// returned value (not `candidate`) is what must be used for derivation.
    async fn identity_salt(&self, identity: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// Looks up the salt without creating it.
    async fn find_identity_salt(&self, identity: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores a new token.
    ///
    /// Fails with [`StoreError::UnknownIdentity`] if the identity has no salt
    /// yet and with [`StoreError::DuplicateToken`] if the id is taken.
    async fn insert_token(&self, token: &TokenRecord) -> Result<(), StoreError>;

    /// Tokens of `identity` that are not revoked and not expired at `now`
    /// (unix seconds), ordered by creation time then id.
    ///
    /// A token whose `expires_at` equals `now` counts as expired.
    async fn active_tokens(&self, identity: &str, now: i64)
        -> Result<Vec<TokenRecord>, StoreError>;

    /// All tokens, or only those of `identity`, including revoked and expired
    /// ones, ordered by `created_at` then `id`.
    async fn list_tokens(&self, identity: Option<&str>) -> Result<Vec<TokenRecord>, StoreError>;

    /// Marks the token revoked; `Ok(false)` if no such token or already revoked. Publishes
    /// [`StoreChange::TokenRevoked`] when it revoked.
    ///
    /// Repeating a revocation never moves `revoked_at`, so the first
    /// revocation time is the one that is kept.
    async fn revoke_token(&self, id: &str, now: i64) -> Result<bool, StoreError>;

    /// Records a successful authentication with the token.
    ///
    /// `last_used_at` only ever moves forward, so a process with a lagging
    /// clock cannot make a token look unused. Fails with
    /// [`StoreError::TokenNotFound`] if the token does not exist.
    async fn mark_token_used(&self, id: &str, now: i64) -> Result<(), StoreError>;

    /// One token by id, whatever its state.
    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// Ids of tokens revoked at or after `since` (unix seconds), for ending their sessions.
    async fn revoked_since(&self, since: i64) -> Result<Vec<String>, StoreError>;

    /// Creates or refreshes an identity made from an identity provider's claims. Refused with
    /// [`StoreError::InvalidArgument`] when the name belongs to another provider's subject,
    /// so one provider cannot take over another's identities.
    async fn upsert_dynamic_identity(&self, identity: &DynamicIdentity) -> Result<(), StoreError>;

    /// A dynamic identity by name.
    async fn dynamic_identity(&self, name: &str) -> Result<Option<DynamicIdentity>, StoreError>;

    /// Registers an SSH public key to an identity; `Ok(false)` when it already was.
    async fn add_ssh_key(&self, key: &SshKeyRecord) -> Result<bool, StoreError>;

    /// The SSH keys registered to `identity`, or to everyone, by identity then time added.
    async fn ssh_keys(&self, identity: Option<&str>) -> Result<Vec<SshKeyRecord>, StoreError>;

    /// Removes a registered key; `Ok(false)` when there was none.
    async fn remove_ssh_key(&self, identity: &str, fingerprint: &str) -> Result<bool, StoreError>;

    /// Trusts `public_key` as `target`'s host key unless one is already trusted, and returns
    /// the trusted key with whether this call stored it. Two gateways meeting a target for
    /// the first time at once agree on the key stored first.
    async fn trust_ssh_host_key(
        &self,
        target: &str,
        public_key: &str,
        now: i64,
    ) -> Result<(String, bool), StoreError>;

    /// Stores a new review (its `id` and `decisions` are ignored) and returns its id, which
    /// increases with every insert. Publishes [`StoreChange::Review`].
    async fn insert_review(&self, review: &ReviewRecord) -> Result<i64, StoreError>;

    /// One review with its decisions.
    async fn review(&self, id: i64) -> Result<Option<ReviewRecord>, StoreError>;

    /// Reviews matching `filter`, with their decisions, ordered by id.
    async fn list_reviews(&self, filter: &ReviewFilter) -> Result<Vec<ReviewRecord>, StoreError>;

    /// Records a reviewer's decision on a pending review. Fails with
    /// [`StoreError::ReviewNotFound`], [`StoreError::ReviewSettled`] when it is no longer
    /// pending, and [`StoreError::DuplicateDecision`] when this reviewer already decided it.
    /// Publishes [`StoreChange::Review`].
    async fn add_review_decision(
        &self,
        id: i64,
        decision: &ReviewerDecision,
    ) -> Result<(), StoreError>;

    /// Moves a pending review to `state` (`approved`, `denied`, `expired` or `cancelled`) at
    /// `at_ms` and, when `grant` is given, stores that grant with its `review_id` set to `id`
    /// (its `id` and `review_id` are ignored), both in one transaction.
    ///
    /// Returns `Ok(None)` when the review was not pending (someone else settled it first, or
    /// it does not exist): nothing is written and no grant is stored, so exactly one caller
    /// settles each review and at most one grant follows from it. Otherwise
    /// `Ok(Some(grant_id))`, `grant_id` being `None` when no grant was given. Publishes
    /// [`StoreChange::Review`], and [`StoreChange::Grant`] for the grant.
    async fn settle_review_granting(
        &self,
        id: i64,
        state: &str,
        at_ms: i64,
        grant: Option<&GrantRecord>,
    ) -> Result<Option<Option<i64>>, StoreError>;

    /// Stores a new grant (its `id` is ignored) and returns its id. Publishes
    /// [`StoreChange::Grant`].
    async fn insert_grant(&self, grant: &GrantRecord) -> Result<i64, StoreError>;

    async fn grant(&self, id: i64) -> Result<Option<GrantRecord>, StoreError>;

    /// Grants matching `filter`, ordered by id.
    async fn list_grants(&self, filter: &GrantFilter) -> Result<Vec<GrantRecord>, StoreError>;

    /// Revokes a grant that is neither revoked nor expired at `at_ms`; `Ok(false)` otherwise.
    /// Publishes [`StoreChange::Grant`] when it revoked.
    async fn revoke_grant(&self, id: i64, at_ms: i64, by: &str) -> Result<bool, StoreError>;

    /// Notes that the grant's expiry was announced; `Ok(false)` when it already was, so the
    /// announcement happens once even with several gateways. Publishes [`StoreChange::Grant`]
    /// when it noted.
    async fn note_grant_expired(&self, id: i64, at_ms: i64) -> Result<bool, StoreError>;

    /// Records that a session opened on `session.gateway`, so every gateway on the store
    /// (e.g. for recording retention) knows it is still open. Recording it again replaces it.
    async fn session_opened(&self, session: &OpenSession) -> Result<(), StoreError>;

    /// Forgets an open session; closing one that is not recorded is not an error.
    async fn session_closed(&self, id: &str) -> Result<(), StoreError>;

    /// Sessions still open on gateways seen (heartbeat) at or after `alive_since_ms`, by id.
    /// A gateway that stopped heartbeating is presumed gone along with its sessions.
    async fn open_sessions(&self, alive_since_ms: i64) -> Result<Vec<OpenSession>, StoreError>;

    /// Notes that `gateway` is alive at `now_ms` (unix milliseconds) and enforces policy
    /// version `policy`. The time never moves backwards, so a gateway with a lagging clock
    /// cannot make another look dead.
    async fn gateway_heartbeat(
        &self,
        gateway: &str,
        now_ms: i64,
        policy: &str,
    ) -> Result<(), StoreError>;

    /// Gateways with their last heartbeat, by name.
    async fn gateways(&self) -> Result<Vec<GatewayRecord>, StoreError>;

    /// Forgets the open sessions of `gateway` (at its start: whatever it had open before a
    /// crash is over) and returns how many there were.
    async fn sessions_of_gateway_ended(&self, gateway: &str) -> Result<u64, StoreError>;

    /// A receiver of the store's changes from now on: every review, grant and token
    /// revocation written through any [`Store`] method of this process (and, where
    /// [`notifies_across_processes`](Store::notifies_across_processes), of every process on
    /// the store), and every [`publish`](Store::publish)ed message.
    ///
    /// Delivery is a hint, never the data: a change is delivered only after it is readable,
    /// but changes can be missed (a lagging receiver gets `Lagged`, a lost notification
    /// connection yields [`StoreChange::Resync`] once it is back). Whoever waits on something
    /// therefore re-reads it on every related change, on `Lagged` and on `Resync`, and polls
    /// while [`listening`](Store::listening) is false.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<StoreChange>;

    /// Delivers [`StoreChange::Message`] to every subscriber of every process that gets this
    /// store's changes (see [`notifies_across_processes`](Store::notifies_across_processes)),
    /// this one included. Refused with [`StoreError::InvalidArgument`] when the topic is
    /// empty or spans lines, or topic and body together reach 8000 bytes (PostgreSQL's
    /// notification limit, applied to every backend alike).
    async fn publish(&self, topic: &str, body: &str) -> Result<(), StoreError>;

    /// Whether changes written by other processes on the store are delivered. When false
    /// (SQLite: another process on the same file, e.g. the CLI, is not seen), callers keep
    /// polling for what other processes may change.
    fn notifies_across_processes(&self) -> bool;

    /// Whether change delivery is live right now. False while a PostgreSQL store's
    /// notification connection is lost; callers poll as a fallback meanwhile.
    fn listening(&self) -> bool;

    /// Checks that the store answers (a trivial query, bounded to about 2 s), for readiness.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The backend's name: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
}

/// A change to the store, as delivered by [`Store::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChange {
    /// A review was inserted, decided or settled.
    Review(i64),
    /// A grant was inserted, revoked or its expiry noted.
    Grant(i64),
    /// A token was revoked.
    TokenRevoked(String),
    /// A message published with `publish` (by any process sharing the store, this one included).
    Message { topic: String, body: String },
    /// Changes may have been missed (the notification connection was lost and is back):
    /// whoever waits on something re-reads it.
    Resync,
}

/// A gateway sharing the store, as its last heartbeat ([`Store::gateway_heartbeat`]) left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRecord {
    pub name: String,
    /// Unix milliseconds.
    pub last_seen_ms: i64,
    /// The policy version it enforced at that heartbeat; `None` before it wrote one.
    pub policy: Option<String>,
}

/// A session open on some gateway, as recorded with [`Store::session_opened`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSession {
    pub id: String,
    /// The name of the gateway it is open on.
    pub gateway: String,
    /// Unix milliseconds.
    pub started_at_ms: i64,
}

/// Where the store lives, as configured.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An SQLite database file (created with its directory if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://` or `postgresql://`), which may carry a password.
    Postgres(String),
}

impl StoreLocation {
    /// Reads a configured location: a `postgres://` or `postgresql://` URL is a PostgreSQL
    /// store, anything else the path of an SQLite file.
    pub fn parse(location: &str) -> Self {
        let lower = location.get(..13).unwrap_or(location).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            StoreLocation::Postgres(location.to_owned())
        } else {
            StoreLocation::Sqlite(PathBuf::from(location))
        }
    }
}

/// Shows the URL without its password, so a location can be logged.
impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            StoreLocation::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&postgres::redact_url(url))
                .finish(),
        }
    }
}

/// Shows the path, or the URL without its password.
impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&postgres::redact_url(url)),
        }
    }
}

/// Opens the store at `location` with the backend it names, so the binary picks a backend
/// from configuration without naming backend types.
/// `password` is the PostgreSQL store's, given apart from its URL; SQLite has none.
pub async fn open(
    location: &StoreLocation,
    password: Option<&str>,
) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match location {
        StoreLocation::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        StoreLocation::Postgres(url) => {
            Arc::new(PostgresStore::open_with_password(url, password).await?)
        }
    })
}

/// An SSH public key registered to an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKeyRecord {
    pub identity: String,
    /// `SHA256:...` as OpenSSH prints it.
    pub fingerprint: String,
    /// `ALGORITHM BASE64`, without comment.
    pub public_key: String,
    pub comment: String,
    /// Unix seconds.
    pub added_at: i64,
}

/// One gateway-issued access token, as persisted.
///
/// Holds a SCRAM-SHA-256 verifier, never the token secret. `Debug` redacts the
/// verifier keys anyway: they are enough to impersonate the gateway towards a
/// client, so they must not end up in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Unique token id, chosen by the caller.
    pub id: String,
    /// Identity (user name) the token authenticates as.
    pub identity: String,
    /// SCRAM `StoredKey`.
    pub stored_key: Vec<u8>,
    /// SCRAM `ServerKey`.
    pub server_key: Vec<u8>,
    /// PBKDF2 iteration count used to derive the keys; must be at least 1.
    pub iterations: u32,
    /// Creation time, unix seconds.
    pub created_at: i64,
    /// Expiry time, unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// Revocation time, unix seconds; `None` while the token is valid.
    pub revoked_at: Option<i64>,
    /// Last successful authentication, unix seconds.
    pub last_used_at: Option<i64>,
    /// What the token is for and what it is limited to.
    pub scope: TokenScope,
}

/// How a token was issued and what it is limited to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenScope {
    /// `operator`, `login`, `exchange` or `task`; empty reads as `operator`.
    pub purpose: String,
    /// The only targets the token reaches; `None`: any the policy allows.
    pub targets: Option<Vec<String>>,
    /// The task reference audit records of its sessions carry.
    pub task: Option<String>,
    /// The identity provider that vouched for the holder.
    pub provider: Option<String>,
    /// The identity provider's claims (a JSON object as text) the policy sees.
    pub claims: Option<String>,
    /// The groups those claims map to, joined to the identity's declared groups.
    pub groups: Option<Vec<String>>,
}

/// An identity created from an identity provider's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicIdentity {
    pub name: String,
    /// `human`, `service` or `agent`.
    pub kind: String,
    pub groups: Vec<String>,
    /// A JSON object as text.
    pub claims: String,
    pub provider: String,
    pub subject: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `format_args!` so the placeholder prints bare rather than as a quoted string.
        let redacted = format_args!("<redacted>");
        f.debug_struct("TokenRecord")
            .field("id", &self.id)
            .field("identity", &self.identity)
            .field("stored_key", &redacted)
            .field("server_key", &redacted)
            .field("iterations", &self.iterations)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("last_used_at", &self.last_used_at)
            .field("scope", &self.scope)
            .finish()
    }
}
