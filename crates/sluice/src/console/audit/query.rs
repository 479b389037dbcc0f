//! What the search form asks for, and one page of the trail read newest first with memory
//! bounded by the page size: the trails are streamed oldest first (that is how they are
//! written), keeping only the newest matches seen so far.

use std::collections::VecDeque;
use std::fmt;

use serde::Deserialize;
use sluice_audit::{AuditError, AuditRecord, MergedRecord, SearchFilter};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Records on one page.
pub(crate) const PAGE_SIZE: usize = 50;
/// The longest filter value taken: a search box, not a document.
const MAX_FILTER: usize = 256;

/// The search form's fields, as the query string carries them; empty means unset.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    pub identity: String,
    #[serde(default)]
    pub session: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub text: String,
    /// The id of the oldest record of the page before: this page starts below it.
    #[serde(default)]
    pub before: String,
}

/// Why a search could not be answered.
#[derive(Debug)]
pub(crate) enum SearchError {
    /// The form asked for something that cannot be searched for.
    BadQuery(String),
    /// The trail could not be read.
    Trail(AuditError),
    /// A record's fields could not be read.
    BadRecord(RecordId, String),
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadQuery(why) => f.write_str(why),
            Self::Trail(e) => write!(f, "the audit trail could not be read: {e}"),
            Self::BadRecord(id, why) => write!(f, "record {id} could not be read: {why}"),
        }
    }
}

impl From<AuditError> for SearchError {
    fn from(e: AuditError) -> Self {
        Self::Trail(e)
    }
}

/// One record across merged trails: the gateway that wrote it and its seq in that gateway's
/// chain. Written `gateway:seq`, or `seq` alone for a gateway that has no name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordId {
    pub gateway: Option<String>,
    pub seq: u64,
}

impl RecordId {
    pub fn of(record: &MergedRecord) -> RecordId {
        RecordId {
            gateway: record.gateway.clone(),
            seq: record.seq,
        }
    }

    /// An id from a URL. Gateway names hold no control characters (the audit log refuses
    /// them), so neither may an id.
    pub fn parse(text: &str) -> Result<RecordId, SearchError> {
        let bad = || {
            SearchError::BadQuery(format!(
                "{:?} is not a record id (gateway:seq, or seq for an unnamed gateway)",
                crate::admin_client::one_line(text, 80)
            ))
        };
        if text.len() > MAX_FILTER || text.chars().any(char::is_control) {
            return Err(bad());
        }
        let (gateway, seq) = match text.rsplit_once(':') {
            Some(("", _)) => return Err(bad()),
            Some((gateway, seq)) => (Some(gateway.to_owned()), seq),
            None => (None, text),
        };
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let seq = seq.parse().map_err(|_| bad())?;
        Ok(RecordId { gateway, seq })
    }

    fn is(&self, record: &MergedRecord) -> bool {
        self.seq == record.seq && self.gateway == record.gateway
    }

    /// The id as a path segment of `/console/audit/{id}`.
    pub fn href(&self) -> String {
        format!("/console/audit/{}", escape(&self.to_string()))
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.gateway {
            Some(gateway) => write!(f, "{gateway}:{}", self.seq),
            None => write!(f, "{}", self.seq),
        }
    }
}

/// Percent-encoded for a path segment or a query value: every byte but RFC 3986's unreserved
/// ones, as the admin client encodes its query values.
pub(crate) fn escape(text: &str) -> String {
    let query = crate::admin_client::query(&[("", Some(text))]);
    query.strip_prefix("?=").unwrap_or(&query).to_owned()
}

/// The filters of a [`SearchQuery`], checked and parsed.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    /// Identity, target, session and the time window: what `sluice audit search` filters on.
    fields: SearchFilter,
    kind: Option<String>,
    outcome: Option<String>,
    /// Matched, ignoring ASCII case, against the record's line as written (JSON).
    text: Option<Vec<u8>>,
    pub before: Option<RecordId>,
}

impl Filter {
    pub fn from_query(q: &SearchQuery) -> Result<Filter, SearchError> {
        let set = |name: &str, v: &str| -> Result<Option<String>, SearchError> {
            let v = v.trim();
            if v.len() > MAX_FILTER {
                return Err(SearchError::BadQuery(format!(
                    "the {name} filter is longer than {MAX_FILTER} bytes"
                )));
            }
            Ok((!v.is_empty()).then(|| v.to_owned()))
        };
        let time = |name: &str, v: &str| -> Result<Option<OffsetDateTime>, SearchError> {
            set(name, v)?.map(|v| parse_time(name, &v)).transpose()
        };
        Ok(Filter {
            fields: SearchFilter {
                identity: set("identity", &q.identity)?,
                target: set("target", &q.target)?,
                session: set("session", &q.session)?,
                since: time("from", &q.from)?,
                until: time("to", &q.to)?,
            },
            kind: set("kind", &q.kind)?,
            outcome: set("outcome", &q.outcome)?,
            text: set("text", &q.text)?.map(String::into_bytes),
            before: set("before", &q.before)?
                .map(|b| RecordId::parse(&b))
                .transpose()?,
        })
    }

    /// Whether `record` passes; the text filter is tried on the line before it is parsed,
    /// since most lines fail it.
    fn matches(&self, line: &MergedRecord) -> Result<Option<AuditRecord>, SearchError> {
        if let Some(text) = &self.text {
            let found = line
                .line
                .windows(text.len())
                .any(|w| w.eq_ignore_ascii_case(text));
            if !found {
                return Ok(None);
            }
        }
        let record = line
            .record()
            .map_err(|e| SearchError::BadRecord(RecordId::of(line), e.to_string()))?;
        let time_ok = self.fields.matches(&record).map_err(|e| {
            SearchError::BadRecord(
                RecordId::of(line),
                format!("bad time {:?}: {e}", record.time),
            )
        })?;
        let kind_ok = self
            .kind
            .as_deref()
            .is_none_or(|k| record.event.kind() == k);
        let outcome_ok = self
            .outcome
            .as_deref()
            .is_none_or(|o| record.event.outcome() == Some(o));
        Ok((time_ok && kind_ok && outcome_ok).then_some(record))
    }
}

/// RFC 3339, or the `YYYY-MM-DDTHH:MM[:SS]` a browser's date-time field sends, read as UTC.
fn parse_time(name: &str, text: &str) -> Result<OffsetDateTime, SearchError> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let local = PrimitiveDateTime::parse(
        text,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .or_else(|_| {
        PrimitiveDateTime::parse(
            text,
            format_description!("[year]-[month]-[day]T[hour]:[minute]"),
        )
    });
    local.map(PrimitiveDateTime::assume_utc).map_err(|_| {
        SearchError::BadQuery(format!(
            "the {name} time {:?} is neither RFC 3339 nor YYYY-MM-DDTHH:MM (UTC)",
            crate::admin_client::one_line(text, 80)
        ))
    })
}

/// One page of matches, newest first.
#[derive(Debug)]
pub(crate) struct Page {
    pub records: Vec<(RecordId, AuditRecord)>,
    /// Where the next (older) page starts, when there are older matches.
    pub older: Option<RecordId>,
}

/// The newest `size` records that pass `filter` and come before its cursor in `trails`
/// (oldest first). Reads every record up to the cursor (all of them for the first page) and
/// holds at most `size + 1` matches and one line per trail.
pub(crate) fn newest_first(
    trails: impl Iterator<Item = Result<MergedRecord, AuditError>>,
    filter: &Filter,
    size: usize,
) -> Result<Page, SearchError> {
    let mut kept: VecDeque<(RecordId, AuditRecord)> = VecDeque::with_capacity(size + 1);
    let mut reached_cursor = false;
    for line in trails {
        let line = line?;
        if filter.before.as_ref().is_some_and(|b| b.is(&line)) {
            reached_cursor = true;
            break;
        }
        if let Some(record) = filter.matches(&line)? {
            if kept.len() > size {
                kept.pop_front();
            }
            kept.push_back((RecordId::of(&line), record));
        }
    }
    if let (Some(before), false) = (&filter.before, reached_cursor) {
        return Err(SearchError::BadQuery(format!(
            "record {before} is not in the trail: start the search again"
        )));
    }
    // One more than a page was kept: its presence says there are older matches.
    let more = kept.len() > size;
    if more {
        kept.pop_front();
    }
    let records: Vec<_> = kept.into_iter().rev().collect();
    let older = more
        .then(|| records.last().map(|(id, _)| id.clone()))
        .flatten();
    Ok(Page { records, older })
}

/// The record named `id`, and its line as written.
pub(crate) fn find(
    trails: impl Iterator<Item = Result<MergedRecord, AuditError>>,
    id: &RecordId,
) -> Result<Option<MergedRecord>, AuditError> {
    for line in trails {
        let line = line?;
        if id.is(&line) {
            return Ok(Some(line));
        }
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn line(seq: u64, gateway: Option<&str>, identity: &str) -> Result<MergedRecord, AuditError> {
        let record = AuditRecord {
            seq,
            time: format!("2026-12-04T10:00:{:02}.000000Z", seq % 60),
            prev: sluice_audit::GENESIS_PREV.into(),
            gateway: gateway.map(str::to_owned),
            event: sluice_audit::AuditEvent::CredentialRevoked {
                token_id: "t".into(),
                identity: identity.into(),
                by: "x".into(),
            },
        };
        Ok(MergedRecord {
            trail: 0,
            time: record.timestamp().unwrap(),
            gateway: record.gateway.clone(),
            seq,
            line: serde_json::to_vec(&record).unwrap(),
        })
    }

    fn seqs(page: &Page) -> Vec<u64> {
        page.records.iter().map(|(id, _)| id.seq).collect()
    }

    #[test]
    fn pages_go_from_the_newest_to_the_oldest() {
        let trail =
            || (1..=7).map(|s| line(s, Some("gw"), if s % 2 == 0 { "even" } else { "odd" }));
        let mut filter = Filter::default();
        let page = newest_first(trail(), &filter, 3).unwrap();
        assert_eq!(seqs(&page), [7, 6, 5]);
        filter.before = page.older.clone();
        let page = newest_first(trail(), &filter, 3).unwrap();
        assert_eq!(seqs(&page), [4, 3, 2]);
        filter.before = page.older.clone();
        let page = newest_first(trail(), &filter, 3).unwrap();
        assert_eq!(seqs(&page), [1]);
        assert!(page.older.is_none());

        let q = SearchQuery {
            identity: "even".into(),
            text: "EVEN".into(),
            ..SearchQuery::default()
        };
        let page = newest_first(trail(), &Filter::from_query(&q).unwrap(), 2).unwrap();
        assert_eq!(seqs(&page), [6, 4]);
        assert_eq!(page.older.as_ref().map(|o| o.seq), Some(4));
    }

    #[test]
    fn a_cursor_that_is_not_in_the_trail_is_said_so() {
        let filter = Filter {
            before: Some(RecordId {
                gateway: Some("other".into()),
                seq: 2,
            }),
            ..Filter::default()
        };
        let err = newest_first((1..=3).map(|s| line(s, Some("gw"), "a")), &filter, 5).unwrap_err();
        assert!(err.to_string().contains("other:2"), "{err}");
    }

    #[test]
    fn ids_name_a_gateway_and_a_seq() {
        let id = RecordId::parse("gw:east:12").unwrap();
        assert_eq!(id.gateway.as_deref(), Some("gw:east"));
        assert_eq!(id.seq, 12);
        assert_eq!(id.to_string(), "gw:east:12");
        assert_eq!(RecordId::parse("7").unwrap().gateway, None);
        for bad in [
            "",
            ":3",
            "gw:",
            "gw:x",
            "gw:-1",
            "g\u{1b}w:1",
            "gw:99999999999999999999999",
        ] {
            assert!(RecordId::parse(bad).is_err(), "{bad:?}");
        }
        let spaced = RecordId {
            gateway: Some("a b/c".into()),
            seq: 1,
        };
        assert_eq!(spaced.href(), "/console/audit/a%20b%2Fc%3A1");
    }

    #[test]
    fn times_are_rfc3339_or_a_browsers_field() {
        let q = SearchQuery {
            from: "2026-12-04T10:00".into(),
            to: "2026-12-04T11:00:00Z".into(),
            ..SearchQuery::default()
        };
        assert!(Filter::from_query(&q).is_ok());
        let q = SearchQuery {
            from: "yesterday".into(),
            ..SearchQuery::default()
        };
        assert!(Filter::from_query(&q).is_err());
    }
}
