//! Streaming query over a log file for the admin API and CLI.

use std::path::Path;

use time::OffsetDateTime;

use crate::error::AuditError;
use crate::lines::Lines;
use crate::record::AuditRecord;

/// Which records to return; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchFilter {
    pub identity: Option<String>,
    pub target: Option<String>,
    pub session: Option<String>,
    /// Inclusive.
    pub since: Option<OffsetDateTime>,
    /// Exclusive.
    pub until: Option<OffsetDateTime>,
}

impl SearchFilter {
    /// Whether `record` passes. Events that carry no identity/target (gateway
    /// lifecycle, recovery) only pass when those filters are unset.
    pub fn matches(&self, record: &AuditRecord) -> Result<bool, time::error::Parse> {
        let event = &record.event;
        let field_ok = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|want| have == Some(want))
        };
        if !field_ok(&self.identity, event.identity())
            || !field_ok(&self.target, event.target())
            || !field_ok(&self.session, event.session())
        {
            return Ok(false);
        }
        if self.since.is_none() && self.until.is_none() {
            return Ok(true);
        }
        let time = record.timestamp()?;
        Ok(self.since.is_none_or(|since| time >= since)
            && self.until.is_none_or(|until| time < until))
    }
}

/// Streams the log at `path` and returns the records that pass `filter`, in
/// file order.
///
/// A torn last line (the gateway crashed and has not reopened the log yet) is
/// skipped; any other unparsable line is an [`AuditError::Corrupt`].
pub fn search(path: &Path, filter: &SearchFilter) -> Result<Vec<AuditRecord>, AuditError> {
    let mut lines = Lines::open(path)?;
    let mut found = Vec::new();
    while let Some(line) = lines.next_line()? {
        if !line.complete {
            break;
        }
        let corrupt = |reason: String| AuditError::Corrupt {
            line: line.number,
            reason,
        };
        let record = AuditRecord::from_line(line.bytes).map_err(|err| corrupt(err.to_string()))?;
        if filter
            .matches(&record)
            .map_err(|err| corrupt(format!("bad time {:?}: {err}", record.time)))?
        {
            found.push(record);
        }
    }
    Ok(found)
}
