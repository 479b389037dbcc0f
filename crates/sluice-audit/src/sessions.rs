//! Sessions as the audit trail tells them (who, when, how each ended, its recording's seal),
//! and whether a stored recording still matches its seal. `sluice sessions`, `sluice audit
//! verify` and the console's session pages all read sessions and check seals through here, so
//! they can never disagree about either.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::Digest;

use crate::{AuditEvent, AuditRecord, RecordingSeal};

/// One session from its `session_started` and `session_ended` records.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionSummary {
    pub session: String,
    pub identity: String,
    pub target: String,
    pub database: String,
    pub client_addr: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub statements: Option<u64>,
    pub end_reason: Option<String>,
    pub recording: Option<RecordingSeal>,
    /// The task a per-task credential was issued for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Retention deleted the recording (audited), so its absence is no tampering.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub recording_deleted: bool,
}

/// The sessions that started in `records`, in the order they started. An end or deletion
/// without its start (a trail that begins mid-session) is left out.
pub fn sessions(records: impl IntoIterator<Item = AuditRecord>) -> Vec<SessionSummary> {
    let mut by_id: BTreeMap<String, SessionSummary> = BTreeMap::new();
    let mut order = Vec::new();
    for r in records {
        match r.event {
            AuditEvent::SessionStarted {
                session,
                identity,
                client_addr,
                target,
                database,
                task,
                ..
            } => {
                order.push(session.clone());
                by_id.insert(
                    session.clone(),
                    SessionSummary {
                        session,
                        identity,
                        target,
                        database,
                        client_addr,
                        started_at: r.time,
                        task,
                        ..SessionSummary::default()
                    },
                );
            }
            AuditEvent::SessionEnded {
                session,
                statements,
                reason,
                duration_ms,
                recording,
                ..
            } => {
                if let Some(s) = by_id.get_mut(&session) {
                    s.ended_at = Some(r.time);
                    s.duration_ms = Some(duration_ms);
                    s.statements = Some(statements);
                    s.end_reason = Some(reason);
                    s.recording = recording;
                }
            }
            AuditEvent::RecordingDeleted { session, .. } => {
                if let Some(s) = by_id.get_mut(&session) {
                    s.recording_deleted = true;
                }
            }
            _ => {}
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect()
}

/// How a stored recording compares with the seal its session's end put in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealCheck {
    /// Byte for byte what was sealed.
    Matches,
    /// Not what was sealed: its size and SHA-256 now.
    Altered { bytes: u64, sha256: String },
}

impl RecordingSeal {
    /// Whether `recording` (the stored bytes) is what this seal sealed: same size, same SHA-256.
    pub fn check(&self, recording: &[u8]) -> SealCheck {
        let sha256 = hex::encode(sha2::Sha256::digest(recording));
        let bytes = recording.len() as u64;
        if sha256 == self.sha256 && bytes == self.bytes {
            SealCheck::Matches
        } else {
            SealCheck::Altered { bytes, sha256 }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn a_seal_matches_only_its_own_bytes() {
        let bytes = b"{\"format\":\"sluice-recording\"}\n";
        let seal = RecordingSeal {
            sha256: hex::encode(sha2::Sha256::digest(bytes)),
            bytes: bytes.len() as u64,
            truncated: false,
        };
        assert_eq!(seal.check(bytes), SealCheck::Matches);
        match seal.check(b"{\"format\":\"sluice-recording\"}\nmore\n") {
            SealCheck::Altered { bytes, .. } => assert_eq!(bytes, 35),
            SealCheck::Matches => panic!("an appended line went unnoticed"),
        }
    }
}
