//! What the gateway records: one enum variant per kind of audit event.
//!
//! Field names are part of the on-disk format that operators grep and that
//! `verify`/`search` parse back, so renaming one is a format change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One auditable thing that happened in the gateway.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuditEvent {
    GatewayStarted {
        version: String,
        config_digest: String,
    },
    GatewayStopped {
        reason: String,
    },
    /// Written at open when a torn tail (crash mid-write) had to be cut off, so
    /// the gap is itself on the record.
    AuditRecovered {
        truncated_bytes: u64,
    },
    /// A policy bundle compiled, passed its tests and is now enforced.
    PolicyLoaded {
        /// The version every later decision names.
        version: String,
        dir: String,
        /// `start`, `sighup`, `file_change`, `api` or `console`.
        trigger: String,
        files: usize,
        tests_passed: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
    },
    /// A changed bundle failed to compile or its tests failed; the previous one stays.
    PolicyRejected {
        dir: String,
        trigger: String,
        /// Digest of the rejected bundle, when it could be read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
        reason: String,
        /// The version still enforced.
        enforced: String,
    },
    SessionStarted {
        session: String,
        identity: String,
        identity_kind: String,
        client_addr: String,
        target: String,
        database: String,
        protocol: String,
        tls: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        application_name: Option<String>,
        /// The server settings the client asked for at connect, as passed to the target.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        settings: std::collections::BTreeMap<String, String>,
        /// The task a per-task credential was issued for, on every record of its sessions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<String>,
        /// The policy rule that allowed the connection (absent in trails written before it
        /// was recorded), so that connect rules count as matched for the drift signal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
    },
    SessionEnded {
        session: String,
        identity: String,
        target: String,
        bytes_from_client: u64,
        bytes_to_client: u64,
        statements: u64,
        reason: String,
        duration_ms: u64,
        /// The session's recording, whose bytes `sluice audit verify` checks against it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recording: Option<RecordingSeal>,
        /// The task a per-task credential was issued for, on every record of its sessions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<String>,
    },
    /// A recording was deleted because it outlived `[recording] retention`.
    RecordingDeleted {
        session: String,
        reason: String,
    },
    /// An SSH target's host key seen for the first time and trusted from now on.
    HostKeyTrusted {
        session: String,
        target: String,
        fingerprint: String,
    },
    /// An agent redeemed its one-time enrollment token and registered its key.
    AgentEnrolled {
        agent: String,
        /// SHA-256 of the certificate it will present from now on.
        key_sha256: String,
        client_addr: String,
    },
    /// An enrolled agent connected (mutual TLS) and now carries streams.
    AgentConnected {
        agent: String,
        client_addr: String,
    },
    /// An agent's connection ended; its streams ended with it.
    AgentDisconnected {
        agent: String,
        client_addr: String,
        reason: String,
        /// Streams it carried over the connection's life.
        streams: u64,
    },
    /// An agent was revoked (`sluice agent revoke`): it cannot connect again, and a
    /// connection it had was closed.
    AgentRevoked {
        agent: String,
    },
    ConnectionRejected {
        client_addr: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        protocol: String,
        reason: String,
    },
    Statement {
        session: String,
        identity: String,
        client_addr: String,
        target: String,
        database: String,
        /// Per-session counter, so a statement and its result can be paired.
        statement: u64,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameters: Option<Vec<Option<String>>>,
        decision: Decision,
        /// The task a per-task credential was issued for, on every record of its sessions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<String>,
    },
    StatementResult {
        session: String,
        identity: String,
        target: String,
        statement: u64,
        outcome: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command_tag: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rows: Option<u64>,
        duration_us: u64,
        /// How many values masking replaced; absent when no masking applied.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        masked: Option<Masked>,
        /// The task a per-task credential was issued for, on every record of its sessions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<String>,
    },
    /// A request was held for human approval: a statement (with the `statement` record that
    /// names the same session and number) or a request for an access grant.
    ReviewRequested {
        review: String,
        kind: String,
        identity: String,
        target: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        statement: Option<u64>,
        /// What reviewers are shown: the statement text masked, or the access asked for.
        summary: String,
        /// Who must approve, e.g. `1 of dba`.
        requirements: Vec<String>,
        reason: String,
        rule: String,
        policy: String,
        expires_at: String,
    },
    /// One reviewer approved or denied a review.
    ReviewerDecided {
        review: String,
        reviewer: String,
        verdict: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// A review left `pending`: approved, denied, expired or cancelled.
    ReviewSettled {
        review: String,
        identity: String,
        target: String,
        state: String,
        /// From the hold to this record.
        latency_ms: u64,
        approvers: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grant: Option<String>,
    },
    /// The gateway issued a credential: a sign-in, a workload's token exchange or a person's
    /// per-task token. Never the secret, only its id.
    CredentialIssued {
        token_id: String,
        identity: String,
        identity_kind: String,
        /// `login`, `exchange` or `task`.
        purpose: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
        /// The identity provider's subject, when one vouched for the caller.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        targets: Option<Vec<String>>,
        /// The identity provider's claims the credential was issued on (the workload's run,
        /// repository, ref...), as the policy saw them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        claims: Option<serde_json::Value>,
        /// Unix seconds.
        expires_at: i64,
        client_addr: String,
        rule: String,
        policy: String,
    },
    /// A credential was refused: an identity provider token that failed verification, or a
    /// request the policy denied. `reason` is a stable code (`expired`, `bad_signature`,
    /// `denied`, ...); `detail` says more.
    CredentialRefused {
        purpose: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
        client_addr: String,
        reason: String,
        detail: String,
    },
    /// A credential was revoked (`sluice logout`, `sluice token revoke`, the admin API).
    CredentialRevoked {
        token_id: String,
        identity: String,
        by: String,
    },
    /// The policy refused a call to the admin API.
    AdminRefused {
        identity: String,
        operation: String,
        rule: String,
        policy: String,
        reason: String,
    },
    /// The policy refused a request for access outright.
    AccessRefused {
        identity: String,
        target: String,
        scope: String,
        duration_seconds: u64,
        rule: String,
        policy: String,
        reason: String,
    },
    GrantIssued {
        grant: String,
        identity: String,
        target: String,
        scope: String,
        reason: String,
        expires_at: String,
        approvers: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        review: Option<String>,
    },
    GrantRevoked {
        grant: String,
        identity: String,
        target: String,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    GrantExpired {
        grant: String,
        identity: String,
        target: String,
    },
    /// An Ed25519 signature over the chain head, written periodically and at stop (see
    /// `checkpoint.rs`). It is a record of the chain itself: `count` is always its own seq - 1
    /// and `head` its own `prev`, so the signature seals every record before it.
    Checkpoint {
        /// Seq of the last record covered.
        count: u64,
        /// Hex SHA-256 of that record's exact line.
        head: String,
        /// RFC 3339 UTC, equal to the record's own `time`. Named `sealed_at`, not `time`,
        /// because the record header already has a `time` field and the event is flattened
        /// into the same JSON object.
        sealed_at: String,
        /// Key id: the first 16 hex digits of the SHA-256 of the 32-byte public key.
        key: String,
        /// Hex Ed25519 signature of `checkpoint::checkpoint_message(count, head, sealed_at)`.
        signature: String,
    },
}

/// What a session's recording was when it closed: enough to tell later whether it was altered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingSeal {
    pub sha256: String,
    pub bytes: u64,
    /// A cap cut it short (the recording says where).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// The masking-effectiveness evidence of one statement: counts only, never values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Masked {
    /// Values replaced whole by a column rule, by source column (`schema.table.column`, or
    /// the result column's name when it has no source).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, u64>,
    /// Spans replaced inside values, errors, notices, notifications and COPY data, by
    /// detector.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub detectors: BTreeMap<String, u64>,
    /// Values replaced by NULL because they could not be read or rewritten safely (a binary
    /// value sluice cannot decode, a masked value its type cannot hold).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nulled: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The policy decision for a statement, flattened to strings so this crate does
/// not depend on the decision engine's types (the caller maps them).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Decision {
    /// `allow`, `hold` (waits for reviewers: see the `review_*` events) or `deny`.
    pub verdict: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub rule: String,
    pub policy: String,
}

/// How a statement ended.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Error {
        sqlstate: String,
        message: String,
    },
    Denied {
        reason: String,
    },
    NotExecuted {
        reason: String,
    },
    /// Forwarded, but its result never came back (the session ended first): it may or may
    /// not have run.
    Interrupted {
        reason: String,
    },
}

impl AuditEvent {
    /// The event's `type`, as written in the record.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::GatewayStarted { .. } => "gateway_started",
            Self::GatewayStopped { .. } => "gateway_stopped",
            Self::AuditRecovered { .. } => "audit_recovered",
            Self::PolicyLoaded { .. } => "policy_loaded",
            Self::PolicyRejected { .. } => "policy_rejected",
            Self::SessionStarted { .. } => "session_started",
            Self::SessionEnded { .. } => "session_ended",
            Self::RecordingDeleted { .. } => "recording_deleted",
            Self::HostKeyTrusted { .. } => "host_key_trusted",
            Self::ConnectionRejected { .. } => "connection_rejected",
            Self::Statement { .. } => "statement",
            Self::StatementResult { .. } => "statement_result",
            Self::ReviewRequested { .. } => "review_requested",
            Self::ReviewerDecided { .. } => "reviewer_decided",
            Self::ReviewSettled { .. } => "review_settled",
            Self::CredentialIssued { .. } => "credential_issued",
            Self::CredentialRefused { .. } => "credential_refused",
            Self::CredentialRevoked { .. } => "credential_revoked",
            Self::AdminRefused { .. } => "admin_refused",
            Self::AccessRefused { .. } => "access_refused",
            Self::GrantIssued { .. } => "grant_issued",
            Self::GrantRevoked { .. } => "grant_revoked",
            Self::GrantExpired { .. } => "grant_expired",
            Self::Checkpoint { .. } => "checkpoint",
            Self::AgentEnrolled { .. } => "agent_enrolled",
            Self::AgentConnected { .. } => "agent_connected",
            Self::AgentDisconnected { .. } => "agent_disconnected",
            Self::AgentRevoked { .. } => "agent_revoked",
        }
    }

    /// How the event came out, for events that decide or end something: a statement's
    /// verdict (`allow`, `hold`, `deny`), a result's status (`ok`, `error`, `denied`,
    /// `not_executed`, `interrupted`), a review's state or a reviewer's verdict, and `deny`
    /// for every refusal and rejection.
    pub fn outcome(&self) -> Option<&str> {
        match self {
            Self::Statement { decision, .. } => Some(&decision.verdict),
            Self::StatementResult { outcome, .. } => Some(match outcome {
                Outcome::Ok => "ok",
                Outcome::Error { .. } => "error",
                Outcome::Denied { .. } => "denied",
                Outcome::NotExecuted { .. } => "not_executed",
                Outcome::Interrupted { .. } => "interrupted",
            }),
            Self::ReviewSettled { state, .. } => Some(state),
            Self::ReviewerDecided { verdict, .. } => Some(verdict),
            Self::ConnectionRejected { .. }
            | Self::CredentialRefused { .. }
            | Self::AdminRefused { .. }
            | Self::AccessRefused { .. }
            | Self::PolicyRejected { .. } => Some("deny"),
            Self::GatewayStarted { .. }
            | Self::GatewayStopped { .. }
            | Self::AuditRecovered { .. }
            | Self::PolicyLoaded { .. }
            | Self::SessionStarted { .. }
            | Self::SessionEnded { .. }
            | Self::RecordingDeleted { .. }
            | Self::HostKeyTrusted { .. }
            | Self::ReviewRequested { .. }
            | Self::CredentialIssued { .. }
            | Self::CredentialRevoked { .. }
            | Self::GrantIssued { .. }
            | Self::GrantRevoked { .. }
            | Self::GrantExpired { .. }
            | Self::AgentEnrolled { .. }
            | Self::AgentConnected { .. }
            | Self::AgentDisconnected { .. }
            | Self::AgentRevoked { .. }
            | Self::Checkpoint { .. } => None,
        }
    }

    /// The identity the event is about, if it carries one.
    pub fn identity(&self) -> Option<&str> {
        match self {
            Self::SessionStarted { identity, .. }
            | Self::SessionEnded { identity, .. }
            | Self::Statement { identity, .. }
            | Self::StatementResult { identity, .. }
            | Self::ReviewRequested { identity, .. }
            | Self::ReviewSettled { identity, .. }
            | Self::GrantIssued { identity, .. }
            | Self::GrantRevoked { identity, .. }
            | Self::GrantExpired { identity, .. }
            | Self::AccessRefused { identity, .. }
            | Self::CredentialIssued { identity, .. }
            | Self::CredentialRevoked { identity, .. }
            | Self::AdminRefused { identity, .. } => Some(identity),
            Self::CredentialRefused { identity, .. } => identity.as_deref(),
            Self::ReviewerDecided { reviewer, .. } => Some(reviewer),
            Self::ConnectionRejected { identity, .. } => identity.as_deref(),
            Self::RecordingDeleted { .. }
            | Self::HostKeyTrusted { .. }
            | Self::GatewayStarted { .. }
            | Self::GatewayStopped { .. }
            | Self::AuditRecovered { .. }
            | Self::Checkpoint { .. }
            | Self::PolicyLoaded { .. }
            | Self::AgentEnrolled { .. }
            | Self::AgentConnected { .. }
            | Self::AgentDisconnected { .. }
            | Self::AgentRevoked { .. }
            | Self::PolicyRejected { .. } => None,
        }
    }

    /// The target database server the event is about, if it carries one.
    pub fn target(&self) -> Option<&str> {
        match self {
            Self::SessionStarted { target, .. }
            | Self::SessionEnded { target, .. }
            | Self::Statement { target, .. }
            | Self::StatementResult { target, .. }
            | Self::ReviewRequested { target, .. }
            | Self::ReviewSettled { target, .. }
            | Self::GrantIssued { target, .. }
            | Self::GrantRevoked { target, .. }
            | Self::GrantExpired { target, .. }
            | Self::AccessRefused { target, .. } => Some(target),
            Self::ConnectionRejected { target, .. } => target.as_deref(),
            Self::HostKeyTrusted { target, .. } => Some(target),
            Self::ReviewerDecided { .. }
            | Self::RecordingDeleted { .. }
            | Self::GatewayStarted { .. }
            | Self::GatewayStopped { .. }
            | Self::AuditRecovered { .. }
            | Self::Checkpoint { .. }
            | Self::PolicyLoaded { .. }
            | Self::PolicyRejected { .. }
            | Self::CredentialIssued { .. }
            | Self::CredentialRefused { .. }
            | Self::CredentialRevoked { .. }
            | Self::AgentEnrolled { .. }
            | Self::AgentConnected { .. }
            | Self::AgentDisconnected { .. }
            | Self::AgentRevoked { .. }
            | Self::AdminRefused { .. } => None,
        }
    }

    /// The session the event belongs to, if any.
    pub fn session(&self) -> Option<&str> {
        match self {
            Self::SessionStarted { session, .. }
            | Self::SessionEnded { session, .. }
            | Self::Statement { session, .. }
            | Self::StatementResult { session, .. } => Some(session),
            Self::ReviewRequested { session, .. } => session.as_deref(),
            Self::RecordingDeleted { session, .. } | Self::HostKeyTrusted { session, .. } => {
                Some(session)
            }
            Self::ReviewerDecided { .. }
            | Self::ReviewSettled { .. }
            | Self::GrantIssued { .. }
            | Self::GrantRevoked { .. }
            | Self::GrantExpired { .. }
            | Self::AccessRefused { .. }
            | Self::ConnectionRejected { .. }
            | Self::GatewayStarted { .. }
            | Self::GatewayStopped { .. }
            | Self::AuditRecovered { .. }
            | Self::Checkpoint { .. }
            | Self::PolicyLoaded { .. }
            | Self::PolicyRejected { .. }
            | Self::CredentialIssued { .. }
            | Self::CredentialRefused { .. }
            | Self::CredentialRevoked { .. }
            | Self::AgentEnrolled { .. }
            | Self::AgentConnected { .. }
            | Self::AgentDisconnected { .. }
            | Self::AgentRevoked { .. }
            | Self::AdminRefused { .. } => None,
        }
    }
}
