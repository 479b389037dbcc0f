//! A request that may run, and how it ended. The permit is what a protocol carries from the
//! decision to the target's answer; [`Session::finish`] consumes it with the [`Outcome`]. A
//! permit dropped without a finish (a relay that lost it, a future cancelled mid-request)
//! still leaves a record: its drop audits the request as interrupted.

use std::sync::Arc;
use std::time::Instant;

use super::Session;
use crate::masking::{MaskPlan, MaskTally};

/// An allowed request whose record is in the batch. It travels with the request until the
/// response arrives and is consumed by [`Session::finish`].
#[must_use = "a permit must be finished with Session::finish; dropping it audits the request as interrupted"]
pub struct StatementPermit {
    pub(crate) statement: u64,
    pub(crate) started: Instant,
    pub(crate) mask: Option<MaskPlan>,
    pub(crate) tally: MaskTally,
    /// Results (RowDescriptions) of the request masked so far, to match each to its lineage.
    pub(crate) results_seen: usize,
    /// The session settings the request changes or may change (see
    /// [`StatementPermit::changed_settings`]); `None` for the many that change none.
    pub(crate) settings: Option<Arc<[String]>>,
    /// See [`StatementPermit::relations_read`].
    pub(crate) relations_read: Arc<[String]>,
    /// The decision's `"secrets": "reveal"` (Kubernetes Secrets' data shown).
    pub(crate) reveal_secrets: bool,
    /// The session that audits the request's outcome; `None` once it has been audited.
    pub(crate) unfinished: Option<Session>,
}

impl std::fmt::Debug for StatementPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatementPermit")
            .field("statement", &self.statement)
            .field("masked", &self.mask.is_some())
            .finish()
    }
}

impl StatementPermit {
    /// The statement's number in its session, as its audit records and recording name it.
    pub fn number(&self) -> u64 {
        self.statement
    }

    /// Time since the statement was admitted, for its recording.
    pub fn elapsed_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    /// The masking the statement's results need; `None`: relay them as they are.
    pub fn mask(&self) -> Option<&MaskPlan> {
        self.mask.as_ref()
    }

    /// Whether the decision lets Kubernetes Secrets' `data` and `stringData` through.
    pub fn reveals_secrets(&self) -> bool {
        self.reveal_secrets
    }

    /// How many results of the request the relay has begun to mask: the next one's index.
    pub fn results_seen(&self) -> usize {
        self.results_seen
    }

    /// The relay begins to mask the next result of the request.
    pub fn saw_result(&mut self) {
        self.results_seen += 1;
    }

    /// Where the relay counts what it masked, for the result record.
    /// The masking and its tally together, for a relay that masks as it goes.
    pub fn masking(&mut self) -> Option<(&MaskPlan, &mut MaskTally)> {
        let plan = self.mask.as_ref()?;
        Some((plan, &mut self.tally))
    }

    pub fn tally(&mut self) -> &mut MaskTally {
        &mut self.tally
    }

    /// The relations the request reads (`schema.table`), kept only when its results are
    /// masked: a protocol that cannot trace computed values masks those of a request that
    /// reads a masked relation whole.
    pub fn relations_read(&self) -> &[String] {
        &self.relations_read
    }

    /// The session settings the request changes (`SET`/`RESET`; `all` for `RESET ALL` and
    /// `DISCARD ALL`) or may change (`set_config`, for a call of that function, whose setting
    /// the analysis does not read): the protocol follows those that change how it reads the
    /// requests after it.
    pub fn changed_settings(&self) -> &[String] {
        self.settings.as_deref().unwrap_or_default()
    }

    /// The same permit, naming the settings `statements` change.
    pub(crate) fn changing(mut self, statements: Option<&[sluice_decision::SqlStatement]>) -> Self {
        let mut names: Vec<String> = Vec::new();
        if self.mask.is_some() {
            let read: Vec<String> = statements
                .unwrap_or_default()
                .iter()
                .flat_map(|s| s.tables_read.iter().cloned())
                .collect();
            self.relations_read = read.into();
        }
        for s in statements.unwrap_or_default() {
            if let Some(change) = &s.session_change {
                names.push(change.setting.clone());
            }
            if s.functions.iter().any(|f| f == "set_config") {
                names.push("set_config".to_owned());
            }
        }
        if !names.is_empty() {
            self.settings = Some(names.into());
        }
        self
    }
}

impl Drop for StatementPermit {
    fn drop(&mut self) {
        if let Some(session) = self.unfinished.take() {
            session.finish_dropped(self);
        }
    }
}

/// How a request ended, in terms every protocol has: a status, the protocol's code for it
/// (a SQLSTATE, later an HTTP status or an exit code), a message (PostgreSQL's command tag
/// such as `SELECT 3` for a success, the error message for a failure, the reason for the
/// other two) and a count (rows; later bytes or items).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    pub code: Option<String>,
    pub message: String,
    pub count: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The target did it.
    Ok,
    /// The target refused or failed it.
    Error,
    /// Forwarded, but the session ended before its result arrived: it may have run.
    Interrupted,
    /// Never run: skipped after an earlier error in the same pipeline, or never forwarded.
    NotExecuted,
}

impl Outcome {
    /// Success; `summary` names what was done (PostgreSQL's command tag).
    pub fn ok(summary: impl Into<String>, count: Option<u64>) -> Outcome {
        Outcome {
            status: Status::Ok,
            code: None,
            message: summary.into(),
            count,
        }
    }

    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Error,
            code: Some(code.into()),
            message: message.into(),
            count: None,
        }
    }

    pub fn interrupted(reason: impl Into<String>) -> Outcome {
        Outcome::ended(Status::Interrupted, reason)
    }

    pub fn not_executed(reason: impl Into<String>) -> Outcome {
        Outcome::ended(Status::NotExecuted, reason)
    }

    fn ended(status: Status, reason: impl Into<String>) -> Outcome {
        Outcome {
            status,
            code: None,
            message: reason.into(),
            count: None,
        }
    }
}
