//! What both backends share: the SQL text (the schemas are kept alike so every query is
//! written once), row decoding, argument checks and the notification payload format.

use sqlx::query::Query;
use sqlx::{Database, Encode, Type};

use crate::{
    GatewayRecord, GrantFilter, OpenSession, ReviewFilter, StoreChange, StoreError, TokenRecord,
};

/// Column list shared by every token query so row decoding stays in one place.
pub(crate) const TOKEN_COLUMNS: &str = "id, identity, stored_key, server_key, iterations, \
     created_at, expires_at, revoked_at, last_used_at, purpose, targets, task, provider, claims, \
     groups";

/// Reviews joined with their decisions, one row per decision (or one row with NULL
/// decision columns for a review without any), so a review and its decisions are read by
/// one statement and therefore from one consistent snapshot. Every column is aliased
/// because SQLite leaves the names of unaliased `table.column` results unspecified.
pub(crate) const REVIEW_SELECT: &str = "SELECT r.id AS id, r.kind AS kind, r.state AS state, \
     r.requester AS requester, r.target AS target, r.detail AS detail, \
     r.created_at_ms AS created_at_ms, r.expires_at_ms AS expires_at_ms, \
     r.decided_at_ms AS decided_at_ms, \
     d.reviewer AS d_reviewer, d.approve AS d_approve, d.comment AS d_comment, \
     d.at_ms AS d_at_ms, d.reviewer_groups AS d_groups \
     FROM reviews r LEFT JOIN review_decisions d ON d.review_id = r.id";

/// Order of [`REVIEW_SELECT`] results: reviews by id, each review's decisions by time
/// and then by insertion, which `reviews_from_rows` relies on to regroup them.
pub(crate) const REVIEW_ORDER: &str = " ORDER BY r.id, d.at_ms, d.id";

/// Column list shared by every grant query so row decoding stays in one place.
pub(crate) const GRANT_COLUMNS: &str =
    "id, identity, target, scope, reason, approvers, review_id, \
     created_at_ms, expires_at_ms, revoked_at_ms, revoked_by, expiry_noted_at_ms";

/// Every state a review can be in; mirrors the CHECK constraint of `reviews.state`.
pub(crate) const REVIEW_STATES: [&str; 5] =
    ["pending", "approved", "denied", "expired", "cancelled"];

/// The states a pending review can be settled into.
pub(crate) const SETTLED_STATES: [&str; 4] = ["approved", "denied", "expired", "cancelled"];

/// Records an open session; recording one again (a retried call) replaces it.
pub(crate) const SESSION_OPENED: &str = "INSERT INTO open_sessions (id, gateway, started_at_ms) \
     VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE \
     SET gateway = excluded.gateway, started_at_ms = excluded.started_at_ms";

/// Open sessions of gateways alive since `$1`. A gateway that stopped heartbeating crashed or
/// was cut off; its sessions are over, whatever rows it left behind.
pub(crate) const OPEN_SESSIONS: &str = "SELECT s.id, s.gateway, s.started_at_ms \
     FROM open_sessions s JOIN gateways g ON g.name = s.gateway \
     WHERE g.last_seen_ms >= $1 ORDER BY s.id";

/// The `WHERE` keeps the latest time, so a gateway with a lagging clock (or a delayed
/// heartbeat) never moves it back.
pub(crate) const GATEWAY_HEARTBEAT: &str = "INSERT INTO gateways (name, last_seen_ms, policy) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET last_seen_ms = excluded.last_seen_ms, \
     policy = excluded.policy WHERE gateways.last_seen_ms < excluded.last_seen_ms";

/// A decision's groups as stored (JSON), `None` when not known.
pub(crate) fn decision_groups(
    decision: &crate::ReviewerDecision,
) -> Result<Option<String>, StoreError> {
    decision
        .groups
        .as_ref()
        .map(|g| {
            serde_json::to_string(g)
                .map_err(|e| StoreError::Corrupt(format!("groups not encodable: {e}")))
        })
        .transpose()
}

pub(crate) fn gateways_from(rows: Vec<(String, i64, Option<String>)>) -> Vec<GatewayRecord> {
    rows.into_iter()
        .map(|(name, last_seen_ms, policy)| GatewayRecord {
            name,
            last_seen_ms,
            policy,
        })
        .collect()
}

pub(crate) fn open_sessions_from(rows: Vec<(String, String, i64)>) -> Vec<OpenSession> {
    rows.into_iter()
        .map(|(id, gateway, started_at_ms)| OpenSession {
            id,
            gateway,
            started_at_ms,
        })
        .collect()
}

/// The PostgreSQL notification channel every gateway on a store listens on.
pub(crate) const NOTIFY_CHANNEL: &str = "sluice";

/// Longest notification payload in bytes: PostgreSQL refuses payloads of 8000 bytes or more.
/// SQLite applies the same limit so a caller's messages behave alike on both backends.
pub(crate) const MAX_PAYLOAD: usize = 7999;

/// Capacity of each store's change channel. A subscriber that falls further behind gets
/// `RecvError::Lagged` and re-reads what it waits on, so this only bounds memory.
pub(crate) const CHANNEL_CAPACITY: usize = 1024;

/// Encodes a change as a notification payload (see the crate documentation's
/// "Notifications" section for the format).
pub(crate) fn encode_change(change: &StoreChange) -> String {
    let payload = match change {
        StoreChange::Review(id) => format!("r:{id}"),
        StoreChange::Grant(id) => format!("g:{id}"),
        StoreChange::TokenRevoked(id) => format!("t:{id}"),
        StoreChange::Message { topic, body } => format!("m:{topic}\n{body}"),
        StoreChange::Resync => "*".to_owned(),
    };
    // Only a token id absurdly long for an id can get here (messages are checked before
    // writing); telling listeners to re-read everything still lets them see the revocation,
    // whereas an oversized payload would fail the revocation itself.
    if payload.len() > MAX_PAYLOAD {
        "*".to_owned()
    } else {
        payload
    }
}

/// Decodes a payload written by [`encode_change`]. Anything unreadable (e.g. from a newer
/// gateway version) decodes as [`StoreChange::Resync`]: something changed that this process
/// cannot name, so whoever waits re-reads.
pub(crate) fn decode_change(payload: &str) -> StoreChange {
    let decoded = match payload.split_once(':') {
        Some(("r", id)) => id.parse().ok().map(StoreChange::Review),
        Some(("g", id)) => id.parse().ok().map(StoreChange::Grant),
        Some(("t", id)) => Some(StoreChange::TokenRevoked(id.to_owned())),
        Some(("m", rest)) => rest
            .split_once('\n')
            .map(|(topic, body)| StoreChange::Message {
                topic: topic.to_owned(),
                body: body.to_owned(),
            }),
        _ => None,
    };
    decoded.unwrap_or(StoreChange::Resync)
}

/// Checks a message for [`Store::publish`](crate::Store::publish) and returns its change.
pub(crate) fn message(topic: &str, body: &str) -> Result<StoreChange, StoreError> {
    if topic.is_empty() || topic.contains('\n') {
        return Err(StoreError::InvalidArgument(
            "a topic must be non-empty and on one line",
        ));
    }
    // "m:" + topic + "\n" + body.
    if 3 + topic.len() + body.len() > MAX_PAYLOAD {
        return Err(StoreError::InvalidArgument(
            "a message must be shorter than 8000 bytes with its topic",
        ));
    }
    Ok(StoreChange::Message {
        topic: topic.to_owned(),
        body: body.to_owned(),
    })
}

/// Checks a token before insertion and returns its `targets` and `groups` as stored (JSON).
pub(crate) fn token_lists(
    token: &TokenRecord,
) -> Result<(Option<String>, Option<String>), StoreError> {
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
    Ok((list(&token.scope.targets)?, list(&token.scope.groups)?))
}

/// The purpose stored for a token: empty reads as `operator`.
pub(crate) fn token_purpose(token: &TokenRecord) -> &str {
    if token.scope.purpose.is_empty() {
        "operator"
    } else {
        token.scope.purpose.as_str()
    }
}

/// Checked here too (the table has a CHECK) to report a clear error instead of a constraint
/// failure.
pub(crate) fn check_review_state(state: &str) -> Result<(), StoreError> {
    if REVIEW_STATES.contains(&state) {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument(
            "review state must be pending, approved, denied, expired or cancelled",
        ))
    }
}

pub(crate) fn check_settled_state(state: &str) -> Result<(), StoreError> {
    if SETTLED_STATES.contains(&state) {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument(
            "a review can only be settled as approved, denied, expired or cancelled",
        ))
    }
}

/// A grant's approvers as stored (a JSON array).
pub(crate) fn approvers_json(approvers: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(approvers)
        .map_err(|_| StoreError::InvalidArgument("approvers cannot be encoded as JSON"))
}

/// A value bound to a listing query's numbered placeholder.
pub(crate) enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

/// The `WHERE` clause of a listing query, built from the fields a filter sets.
///
/// Each condition is only present when its field is, rather than written as
/// `($1 IS NULL OR col = $1)`, for the same reason as in `list_tokens`: PostgreSQL
/// cannot infer the type of a parameter that is only compared with NULL.
#[derive(Default)]
pub(crate) struct Conditions<'a> {
    clauses: Vec<String>,
    binds: Vec<Bind<'a>>,
}

impl<'a> Conditions<'a> {
    /// Adds `{lhs} $n` with `value` bound to the new placeholder `$n`.
    pub(crate) fn compare(&mut self, lhs: &str, value: Bind<'a>) {
        self.binds.push(value);
        self.clauses.push(format!("{lhs} ${}", self.binds.len()));
    }

    /// Adds a condition without parameters.
    pub(crate) fn fixed(&mut self, clause: &str) {
        self.clauses.push(clause.to_owned());
    }

    /// ` WHERE ...`, or nothing when no condition was added.
    pub(crate) fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Binds the values in placeholder order.
    pub(crate) fn bind<'q, DB>(
        &self,
        mut query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    ) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
    where
        'a: 'q,
        DB: Database,
        &'q str: Encode<'q, DB> + Type<DB>,
        i64: Encode<'q, DB> + Type<DB>,
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

pub(crate) fn review_conditions(filter: &ReviewFilter) -> Conditions<'_> {
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

pub(crate) fn grant_conditions(filter: &GrantFilter) -> Conditions<'_> {
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

/// Defines the row decoders for one backend's row type. A macro rather than generic functions:
/// the decoders are identical, but spelling sqlx's per-column decode bounds generically would
/// bury them under trait bounds.
macro_rules! row_decoders {
    ($row:ty) => {
        fn token_from_row(row: &$row) -> Result<TokenRecord, StoreError> {
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
        fn json_list(
            row: &$row,
            column: &str,
            id: &str,
        ) -> Result<Option<Vec<String>>, StoreError> {
            match row.try_get::<Option<String>, _>(column)? {
                None => Ok(None),
                Some(json) => serde_json::from_str(&json).map(Some).map_err(|e| {
                    StoreError::Corrupt(format!("token {id:?} has an unreadable {column}: {e}"))
                }),
            }
        }

        fn dynamic_identity_from_row(row: &$row) -> Result<DynamicIdentity, StoreError> {
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

        fn tokens_from_rows(rows: &[$row]) -> Result<Vec<TokenRecord>, StoreError> {
            rows.iter().map(token_from_row).collect()
        }

        /// Regroups [`REVIEW_SELECT`](crate::common::REVIEW_SELECT) rows (ordered by [`REVIEW_ORDER`](crate::common::REVIEW_ORDER)) into reviews.
        fn reviews_from_rows(rows: &[$row]) -> Result<Vec<ReviewRecord>, StoreError> {
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
                let groups = match row.try_get::<Option<String>, _>("d_groups")? {
                    Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
                        StoreError::Corrupt(format!(
                            "{reviewer}'s decision has unreadable groups: {e}"
                        ))
                    })?),
                    None => None,
                };
                let decision = ReviewerDecision {
                    reviewer,
                    approve: row.try_get("d_approve")?,
                    comment: row.try_get("d_comment")?,
                    at_ms: row.try_get("d_at_ms")?,
                    groups,
                };
                if let Some(review) = reviews.last_mut() {
                    review.decisions.push(decision);
                }
            }
            Ok(reviews)
        }

        fn grant_from_row(row: &$row) -> Result<GrantRecord, StoreError> {
            let id: i64 = row.try_get("id")?;
            let approvers: String = row.try_get("approvers")?;
            let approvers = serde_json::from_str(&approvers).map_err(|err| {
                StoreError::Corrupt(format!("grant {id} has malformed approvers: {err}"))
            })?;
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
    };
}
pub(crate) use row_decoders;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let changes = [
            StoreChange::Review(42),
            StoreChange::Grant(-1),
            StoreChange::TokenRevoked("tok:with:colons".to_owned()),
            StoreChange::Message {
                topic: "a:b".to_owned(),
                body: "line\nline\n".to_owned(),
            },
            StoreChange::Message {
                topic: "empty".to_owned(),
                body: String::new(),
            },
            StoreChange::Resync,
        ];
        for change in changes {
            assert_eq!(decode_change(&encode_change(&change)), change);
        }
        assert_eq!(encode_change(&StoreChange::Review(7)), "r:7");
    }

    #[test]
    fn unreadable_payloads_ask_for_a_resync() {
        for payload in ["", "r:", "r:x", "g:1.5", "m:no-newline", "z:1", "hello"] {
            assert_eq!(decode_change(payload), StoreChange::Resync, "{payload:?}");
        }
    }

    #[test]
    fn oversized_token_ids_become_a_resync() {
        let long = StoreChange::TokenRevoked("x".repeat(MAX_PAYLOAD));
        assert_eq!(encode_change(&long), "*");
    }

    #[test]
    fn messages_fit_a_notification() {
        // "m:" + topic + "\n" + body must stay under 8000 bytes.
        assert!(message("t", &"x".repeat(MAX_PAYLOAD - 4)).is_ok());
        assert!(message("t", &"x".repeat(MAX_PAYLOAD - 3)).is_err());
        assert!(message("", "x").is_err());
        assert!(message("a\nb", "x").is_err());
    }
}
