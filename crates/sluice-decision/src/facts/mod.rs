//! What is known about a request: the policy input document. The caller builds these; the
//! decision crate never fetches anything. Field names are the input document's (docs/policy.md),
//! so serialising an [`Input`] gives exactly what a Rego policy sees as `input`.
//!
//! The parts every request has live here; the session in [`session`], the request and its
//! kinds in [`request`] and one file per protocol family ([`sql`], [`ssh`], [`http`],
//! [`kube`]).

mod gateway;
mod http;
mod kube;
mod request;
mod session;
mod sql;
mod ssh;

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

pub use gateway::{AdminRequest, Claims, TokenRequest};
pub use http::HttpRequest;
pub use kube::{KubeRequest, KubeVerb};
pub use request::{Request, RequestKind};
pub use session::{PostgresSession, SessionFacts, SessionSection};
pub use sql::{MaskedPredicate, SessionChange, SqlDialect, SqlStatement, StatementKind};
pub use ssh::{
    ChannelOpen, ChannelType, FileAccess, FileOperation, FileVia, ShellCommand, SimpleCommand,
};

/// The version of the input document's layout, announced as `input.schema_version`. Raised
/// when a field's meaning changes or a field goes; additions that old policies cannot
/// misread keep it. docs/policy.md lists what changed from one version to the next.
pub const SCHEMA_VERSION: u32 = 2;

/// Who is asking. Fixed for a session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct IdentityFacts {
    pub name: String,
    /// `human` or `service`.
    pub kind: String,
    pub groups: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    /// What the identity provider said about the caller at sign-in or token exchange; empty
    /// for identities that only the configuration knows.
    pub claims: Claims,
    /// The identity provider that vouched for the caller (its configured name).
    pub provider: Option<String>,
    /// For a per-task credential, the task it was issued for (`sluice token create --task`,
    /// or the workload's run that exchanged its token).
    pub task: Option<String>,
}

/// Where the request goes. Fixed for a session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TargetFacts {
    pub name: String,
    /// `postgres`, later `mysql`, `ssh`, `kubernetes`.
    pub kind: String,
    pub tags: BTreeMap<String, String>,
    /// The database the session uses on the target.
    pub database: String,
}

/// When the request is decided, in the configured time zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TimeFacts {
    /// RFC 3339 with the zone's offset.
    pub now: String,
    /// IANA name, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// `monday` ... `sunday`.
    pub weekday: String,
    /// 0-23.
    pub hour: u8,
}

/// A live time-bound access grant of the identity on the target; expired and revoked ones are
/// never shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct GrantFacts {
    pub id: String,
    pub target: String,
    pub scope: String,
    pub reason: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
    pub approvers: Vec<String>,
}

/// The whole input document.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub identity: &'a IdentityFacts,
    pub target: &'a TargetFacts,
    pub session: &'a SessionFacts,
    pub request: Request<'a>,
    pub time: &'a TimeFacts,
    pub grants: &'a [GrantFacts],
}

// By hand rather than derived so that the schema version, which no caller should have to
// supply, is part of every serialised document.
impl Serialize for Input<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(7))?;
        map.serialize_entry("schema_version", &SCHEMA_VERSION)?;
        map.serialize_entry("identity", self.identity)?;
        map.serialize_entry("target", self.target)?;
        map.serialize_entry("session", self.session)?;
        map.serialize_entry("request", &self.request)?;
        map.serialize_entry("time", self.time)?;
        map.serialize_entry("grants", self.grants)?;
        map.end()
    }
}
