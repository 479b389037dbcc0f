//! A session as this gateway's audit trail tells it, and whether its stored recording is what
//! the trail sealed: the check `sluice audit verify` makes ([`sluice_audit::RecordingSeal::check`]),
//! for one session.

use maud::{html, Markup};
use sluice_audit::{SealCheck, SearchFilter, SessionSummary};
use sluice_core::Gateway;

/// What the audit trail says about the recording.
pub(super) enum Seal {
    /// The trail could not be read.
    Unreadable(String),
    /// No `session_started` record here: another gateway's trail, one rotated away, or a kind
    /// of session whose start the trail does not record.
    NoRecord,
    /// The session has no `session_ended` record with a seal: still open, or the gateway
    /// stopped before it could seal it.
    Unsealed,
    /// Sealed, and the stored bytes match.
    Matches { bytes: u64, sha256: String },
    /// Sealed, and the stored bytes are not what was sealed.
    Altered {
        sealed_bytes: u64,
        sealed_sha256: String,
        bytes: u64,
        sha256: String,
    },
    /// Sealed, but the recording is gone: deleted by retention (audited) or not.
    Missing { deleted: bool },
}

/// The session's audit summary (when the trail has it) and its seal status against `stored`,
/// the recording's bytes if the store has them.
pub(super) async fn status(
    gateway: &Gateway,
    id: &str,
    stored: Option<&[u8]>,
) -> (Option<SessionSummary>, Seal) {
    let path = gateway.config().audit_path();
    let filter = SearchFilter {
        session: Some(id.to_owned()),
        ..SearchFilter::default()
    };
    // The trail is a file read start to end: not on the runtime's threads.
    let read = tokio::task::spawn_blocking(move || sluice_audit::search(&path, &filter)).await;
    let records = match read {
        Ok(Ok(records)) => records,
        Ok(Err(e)) => return (None, Seal::Unreadable(e.to_string())),
        Err(e) => return (None, Seal::Unreadable(e.to_string())),
    };
    let Some(summary) = sluice_audit::sessions(records).into_iter().next() else {
        return (None, Seal::NoRecord);
    };
    let seal = match (&summary.recording, stored) {
        (None, _) => Seal::Unsealed,
        (Some(_), None) => Seal::Missing {
            deleted: summary.recording_deleted,
        },
        (Some(seal), Some(bytes)) => match seal.check(bytes) {
            SealCheck::Matches => Seal::Matches {
                bytes: seal.bytes,
                sha256: seal.sha256.clone(),
            },
            SealCheck::Altered { bytes, sha256 } => Seal::Altered {
                sealed_bytes: seal.bytes,
                sealed_sha256: seal.sha256.clone(),
                bytes,
                sha256,
            },
        },
    };
    (Some(summary), seal)
}

impl Seal {
    pub(super) fn markup(&self) -> Markup {
        html! {
            @match self {
                Seal::Matches { bytes, sha256 } => p class="seal seal-ok" data-seal="matches" {
                    strong { "Sealed, and intact." }
                    " The recording is the " (bytes) " bytes with SHA-256 " code { (sha256) }
                    " sealed in the audit trail when the session ended."
                },
                Seal::Altered { sealed_bytes, sealed_sha256, bytes, sha256 } => p class="seal seal-bad" data-seal="altered" role="alert" {
                    strong { "Altered since it was sealed." }
                    " The audit trail sealed " (sealed_bytes) " bytes with SHA-256 " code { (sealed_sha256) }
                    "; the stored recording is " (bytes) " bytes with SHA-256 " code { (sha256) } "."
                },
                Seal::Missing { deleted: true } => p class="seal" data-seal="deleted" {
                    "The recording was deleted by retention (the deletion is audited)."
                },
                Seal::Missing { deleted: false } => p class="seal seal-bad" data-seal="missing" role="alert" {
                    strong { "Missing." } " The audit trail sealed a recording of this session, and the store does not have it."
                },
                Seal::Unsealed => p class="seal" data-seal="unsealed" {
                    "Not sealed: the session is still open, or the gateway stopped before it ended."
                },
                Seal::NoRecord => p class="seal" data-seal="no-record" {
                    "This gateway's audit trail has no record of this session (another gateway's trail, \
                     one rotated away, or a kind of session whose end is not sealed there), so \
                     there is no seal to check the recording against."
                },
                Seal::Unreadable(e) => p class="seal seal-bad" data-seal="unreadable" role="alert" {
                    "The audit trail cannot be read, so the seal is not checked: " (e)
                },
            }
        }
    }
}
