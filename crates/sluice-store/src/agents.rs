//! Network-resident agents and their one-time enrollments. The SQL is written once here and
//! expanded into each backend's `Store` implementation by [`agent_methods`], since the two
//! schemas are alike.

/// An enrollment token as stored: only a SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentRecord {
    pub id: String,
    /// The name the agent that redeems it gets.
    pub agent: String,
    /// Hex SHA-256 of the token's secret.
    pub secret_sha256: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// An enrolled agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    pub name: String,
    /// Hex SHA-256 of the certificate (DER) the agent presents in mutual TLS.
    pub key_sha256: String,
    pub enrolled_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    /// When a gateway last saw it connected, and which one.
    pub last_seen_ms: Option<i64>,
    pub gateway: Option<String>,
}

pub(crate) const AGENT_COLUMNS: &str =
    "name, key_sha256, enrolled_at_ms, revoked_at_ms, last_seen_ms, gateway";

pub(crate) type AgentRow = (
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

pub(crate) fn agent_from(row: AgentRow) -> AgentRecord {
    let (name, key_sha256, enrolled_at_ms, revoked_at_ms, last_seen_ms, gateway) = row;
    AgentRecord {
        name,
        key_sha256,
        enrolled_at_ms,
        revoked_at_ms,
        last_seen_ms,
        gateway,
    }
}

/// Redeeming is one guarded update: a token is taken once, before it expires, and only with
/// its secret; a second redemption (a stolen copy) finds no row.
pub(crate) const REDEEM: &str = "UPDATE agent_enrollments SET used_at_ms = $1 \
     WHERE id = $2 AND secret_sha256 = $3 AND used_at_ms IS NULL AND expires_at_ms > $1 \
     RETURNING agent";

pub(crate) const REGISTER: &str = "INSERT INTO agents (name, key_sha256, enrolled_at_ms) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET key_sha256 = excluded.key_sha256, \
     enrolled_at_ms = excluded.enrolled_at_ms, revoked_at_ms = NULL, \
     revocation_noted_ms = NULL, last_seen_ms = NULL, gateway = NULL";

/// What the store keeps of agents; every [`crate::Store`] is one.
#[async_trait::async_trait]
pub trait AgentStore {
    /// Keeps a new agent enrollment token (its secret's hash only).
    async fn insert_enrollment(
        &self,
        enrollment: &EnrollmentRecord,
    ) -> Result<(), crate::StoreError>;

    /// Takes enrollment `id` if its secret matches, it is unused and unexpired, and registers
    /// its agent with the key `key_sha256`, in one transaction. `None`: nothing was taken.
    async fn redeem_enrollment(
        &self,
        id: &str,
        secret_sha256: &str,
        key_sha256: &str,
        now_ms: i64,
    ) -> Result<Option<String>, crate::StoreError>;

    /// Every enrolled agent, revoked ones included, by name.
    async fn agents(&self) -> Result<Vec<AgentRecord>, crate::StoreError>;

    /// The agent whose certificate has this SHA-256, revoked or not.
    async fn agent_with_key(
        &self,
        key_sha256: &str,
    ) -> Result<Option<AgentRecord>, crate::StoreError>;

    /// Revokes an agent; false if it is unknown or already revoked.
    async fn revoke_agent(&self, name: &str, now_ms: i64) -> Result<bool, crate::StoreError>;

    /// Claims the audit of an agent's revocation: true for exactly one caller per revocation,
    /// however many gateways share the store.
    async fn note_agent_revocation(
        &self,
        name: &str,
        now_ms: i64,
    ) -> Result<bool, crate::StoreError>;

    /// Notes that `gateway` has the agent connected now.
    async fn agent_seen(
        &self,
        name: &str,
        gateway: &str,
        now_ms: i64,
    ) -> Result<(), crate::StoreError>;
}

/// [`AgentStore`] for a backend whose pool is `self.pool`.
macro_rules! agent_store {
    ($backend:ty) => {
        #[async_trait::async_trait]
        impl $crate::agents::AgentStore for $backend {
        async fn insert_enrollment(
            &self,
            e: &$crate::agents::EnrollmentRecord,
        ) -> Result<(), $crate::StoreError> {
            sqlx::query(
                "INSERT INTO agent_enrollments \
                 (id, agent, secret_sha256, created_at_ms, expires_at_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&e.id)
            .bind(&e.agent)
            .bind(&e.secret_sha256)
            .bind(e.created_at_ms)
            .bind(e.expires_at_ms)
            .execute(self.pool())
            .await?;
            Ok(())
        }

        async fn redeem_enrollment(
            &self,
            id: &str,
            secret_sha256: &str,
            key_sha256: &str,
            now_ms: i64,
        ) -> Result<Option<String>, $crate::StoreError> {
            let mut tx = self.pool().begin().await?;
            let agent: Option<String> = sqlx::query_scalar($crate::agents::REDEEM)
                .bind(now_ms)
                .bind(id)
                .bind(secret_sha256)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(agent) = agent else {
                return Ok(None);
            };
            sqlx::query($crate::agents::REGISTER)
                .bind(&agent)
                .bind(key_sha256)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(agent))
        }

        async fn agents(&self) -> Result<Vec<$crate::agents::AgentRecord>, $crate::StoreError> {
            let sql = format!(
                "SELECT {} FROM agents ORDER BY name",
                $crate::agents::AGENT_COLUMNS
            );
            let rows: Vec<$crate::agents::AgentRow> =
                sqlx::query_as(&sql).fetch_all(self.pool()).await?;
            Ok(rows.into_iter().map($crate::agents::agent_from).collect())
        }

        async fn agent_with_key(
            &self,
            key_sha256: &str,
        ) -> Result<Option<$crate::agents::AgentRecord>, $crate::StoreError> {
            let sql = format!(
                "SELECT {} FROM agents WHERE key_sha256 = $1",
                $crate::agents::AGENT_COLUMNS
            );
            let row: Option<$crate::agents::AgentRow> = sqlx::query_as(&sql)
                .bind(key_sha256)
                .fetch_optional(self.pool())
                .await?;
            Ok(row.map($crate::agents::agent_from))
        }

        async fn revoke_agent(&self, name: &str, now_ms: i64) -> Result<bool, $crate::StoreError> {
            let result = sqlx::query(
                "UPDATE agents SET revoked_at_ms = $1 WHERE name = $2 AND revoked_at_ms IS NULL",
            )
            .bind(now_ms)
            .bind(name)
            .execute(self.pool())
            .await?;
            Ok(result.rows_affected() > 0)
        }

        async fn note_agent_revocation(&self, name: &str, now_ms: i64) -> Result<bool, $crate::StoreError> {
            let result = sqlx::query(
                "UPDATE agents SET revocation_noted_ms = $1 \
                 WHERE name = $2 AND revoked_at_ms IS NOT NULL AND revocation_noted_ms IS NULL",
            )
            .bind(now_ms)
            .bind(name)
            .execute(self.pool())
            .await?;
            Ok(result.rows_affected() > 0)
        }

        async fn agent_seen(&self, name: &str, gateway: &str, now_ms: i64) -> Result<(), $crate::StoreError> {
            sqlx::query("UPDATE agents SET last_seen_ms = $1, gateway = $2 WHERE name = $3")
                .bind(now_ms)
                .bind(gateway)
                .bind(name)
                .execute(self.pool())
                .await?;
            Ok(())
        }
        }
    };
}

pub(crate) use agent_store;
