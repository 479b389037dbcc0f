//! The list of recorded sessions, newest first, filtered and paged.
//!
//! The recording store is the source (every kind of session has a recording; only SQL
//! sessions have audit records). Its listing is metadata only, so it is sorted by last
//! modification (a finished session's end) at no cost; recordings are then read one at a time
//! in that order until a page is full, so memory holds one recording at a time, never all of
//! them. The cost is reading: a filter that matches little reads more recordings, at most
//! [`SCAN_LIMIT`] per page view, after which the page offers to go on from where it stopped.

use axum::http::StatusCode;
use maud::{html, Markup};
use serde::Deserialize;
use sluice_record::{Recording, RecordingInfo, RecordingStore};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::admin_client::query;
use crate::console::page;

/// Rows on a page.
const PAGE_SIZE: usize = 25;
/// Recordings read for one page view at most, however few match.
const SCAN_LIMIT: usize = 500;
/// Longest filter value kept: longer ones are cut (nothing recorded is that long to match).
const MAX_FILTER: usize = 200;

/// The filters and position, as the form's GET query carries them. Empty fields are no filter.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    #[serde(default)]
    identity: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    kind: String,
    /// Started at or after: RFC 3339, or a duration meaning that long ago (as `--since`).
    #[serde(default)]
    from: String,
    /// Started before.
    #[serde(default)]
    to: String,
    /// Text in a statement, command or request (as `sluice sessions search`).
    #[serde(default)]
    q: String,
    /// How many recordings, newest first, earlier pages went through.
    #[serde(default)]
    at: usize,
}

/// Kinds the filter offers: (value, label).
const KINDS: [(&str, &str); 4] = [
    (sluice_record::KIND_SQL, "SQL"),
    (sluice_record::KIND_TERMINAL, "Terminal"),
    (sluice_record::KIND_HTTP, "HTTP"),
    (sluice_record::KIND_FILE, "File"),
];

/// A filter value as used: trimmed and bounded.
fn value(s: &str) -> &str {
    let s = s.trim();
    match s.char_indices().nth(MAX_FILTER) {
        Some((cut, _)) => &s[..cut],
        None => s,
    }
}

/// The filters checked: times parsed, the kind one of [`KINDS`].
struct Checked<'a> {
    identity: &'a str,
    target: &'a str,
    kind: &'a str,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
    q: &'a str,
}

impl Filters {
    fn check(&self) -> Result<Checked<'_>, String> {
        let time = |name: &str, text: &str| match value(text) {
            "" => Ok(None),
            t => crate::audit_cmd::parse_time(t)
                .map(Some)
                .map_err(|e| format!("{name}: {e}")),
        };
        let kind = value(&self.kind);
        if !kind.is_empty() && !KINDS.iter().any(|(k, _)| *k == kind) {
            return Err(format!("kind: {kind:?} is not a kind of session"));
        }
        Ok(Checked {
            identity: value(&self.identity),
            target: value(&self.target),
            kind,
            from: time("From", &self.from)?,
            to: time("To", &self.to)?,
            q: value(&self.q),
        })
    }

    /// The query string of these filters at position `at`.
    fn link(&self, at: usize) -> String {
        let at = at.to_string();
        let pairs = [
            ("identity", &self.identity),
            ("target", &self.target),
            ("kind", &self.kind),
            ("from", &self.from),
            ("to", &self.to),
            ("q", &self.q),
        ];
        let mut kept: Vec<(&str, Option<&str>)> = pairs
            .iter()
            .map(|(k, v)| (*k, Some(value(v)).filter(|v| !v.is_empty())))
            .collect();
        kept.push(("at", Some(at.as_str())));
        format!("/console/sessions{}", query(&kept))
    }
}

impl Checked<'_> {
    /// Whether a recording's header passes the filters that need nothing else.
    fn admits(&self, recording: &Recording) -> bool {
        let header = &recording.header;
        let started = OffsetDateTime::parse(&header.started_at, &Rfc3339).ok();
        (self.identity.is_empty() || header.identity == self.identity)
            && (self.target.is_empty() || header.target == self.target)
            && (self.kind.is_empty() || recording.kind() == self.kind)
            && self
                .from
                .is_none_or(|from| started.is_some_and(|s| s >= from))
            && self.to.is_none_or(|to| started.is_some_and(|s| s < to))
    }
}

/// One row: the recording as parsed, its size, and what the text filter found in it.
struct Row {
    recording: Recording,
    bytes: u64,
    hits: Vec<u64>,
}

/// A page of rows and where the next one starts, if anything is left.
struct Found {
    rows: Vec<Row>,
    next: Option<usize>,
    /// Recordings read for this page; short of a full page, the limit stopped the scan.
    scanned: usize,
}

/// The page of sessions `filters` asks for.
async fn find(
    store: &dyn RecordingStore,
    filters: &Checked<'_>,
    at: usize,
) -> Result<Found, sluice_record::RecordError> {
    let mut infos: Vec<RecordingInfo> = store.list().await?;
    infos.sort_by(|a, b| {
        b.modified
            .cmp(&a.modified)
            .then_with(|| a.session.cmp(&b.session))
    });
    let mut found = Found {
        rows: Vec::new(),
        next: None,
        scanned: 0,
    };
    for (i, info) in infos.iter().enumerate().skip(at) {
        if found.rows.len() == PAGE_SIZE || found.scanned == SCAN_LIMIT {
            found.next = Some(i);
            break;
        }
        // A recording is last written at its end, after it started: once they are older than
        // `from`, every later one started before it too.
        if let Some(from) = filters.from {
            if OffsetDateTime::from(info.modified) < from {
                break;
            }
        }
        found.scanned += 1;
        // Deleted by retention since the listing, or unreadable: not a row of the list (its
        // own page says what is wrong with it).
        let Ok(bytes) = store.read(&info.session).await else {
            continue;
        };
        let Ok(recording) = sluice_record::parse(&bytes) else {
            continue;
        };
        if !filters.admits(&recording) {
            continue;
        }
        let hits = if filters.q.is_empty() {
            Vec::new()
        } else {
            let hits = sluice_record::search(&recording, filters.q);
            if hits.is_empty() {
                continue;
            }
            hits
        };
        found.rows.push(Row {
            recording,
            bytes: info.bytes,
            hits,
        });
    }
    Ok(found)
}

/// The list page's body and its status: the filter form, then the page of sessions, or why
/// there is none (a filter that does not read: 400; a store that cannot be listed: 503).
pub(super) async fn body(store: &dyn RecordingStore, filters: &Filters) -> (StatusCode, Markup) {
    let result = match filters.check() {
        Ok(checked) => find(store, &checked, filters.at).await.map_err(|e| {
            tracing::warn!(error = %e, "console: the recordings cannot be listed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the recordings cannot be read: {e}"),
            )
        }),
        Err(e) => Err((StatusCode::BAD_REQUEST, e)),
    };
    let status = match &result {
        Ok(_) => StatusCode::OK,
        Err((status, _)) => *status,
    };
    let markup = html! {
        h1 { "Sessions" }
        (form(filters))
        @match result {
            Err((_, e)) => p class="error" role="alert" { (e) },
            Ok(found) => (table(filters, &found)),
        }
    };
    (status, markup)
}

fn form(f: &Filters) -> Markup {
    html! {
        form class="session-filters" method="get" action="/console/sessions" role="search" {
            label { "Identity" input type="text" name="identity" value=(value(&f.identity)); }
            label { "Target" input type="text" name="target" value=(value(&f.target)); }
            label {
                "Kind"
                select name="kind" {
                    option value="" { "Any" }
                    @for (k, label) in KINDS {
                        option value=(k) selected[value(&f.kind) == k] { (label) }
                    }
                }
            }
            label { "Started from" input type="text" name="from" value=(value(&f.from)) placeholder="2h, or 2026-01-02T03:04:05Z"; }
            label { "Started before" input type="text" name="to" value=(value(&f.to)) placeholder="RFC 3339, or 1d"; }
            label { "Text in statements, commands, requests" input type="search" name="q" value=(value(&f.q)); }
            div class="buttons" { button type="submit" { "Filter" } a href="/console/sessions" { "Clear" } }
        }
    }
}

fn table(filters: &Filters, found: &Found) -> Markup {
    html! {
        @if found.rows.is_empty() {
            p class="empty" { "No recorded session matches." }
        } @else {
            div class="table-wrap" {
                table class="sessions" {
                    caption class="muted" { "Newest first, by the recording's last activity." }
                    thead {
                        tr {
                            th scope="col" { "Started" }
                            th scope="col" { "Identity" }
                            th scope="col" { "Target" }
                            th scope="col" { "Kind" }
                            th scope="col" { "Client" }
                            th scope="col" { "Entries" }
                            th scope="col" { "Recorded" }
                            @if !value(&filters.q).is_empty() { th scope="col" { "Matches" } }
                        }
                    }
                    tbody {
                        @for row in &found.rows {
                            (table_row(filters, row))
                        }
                    }
                }
            }
        }
        nav class="pager" aria-label="Pages" {
            @if filters.at > 0 {
                a href=(filters.link(0)) { "Newest" }
            }
            @if let Some(next) = found.next {
                @if found.rows.len() < PAGE_SIZE {
                    span class="muted" { "Read " (found.scanned) " recordings without filling the page. " }
                    a href=(filters.link(next)) rel="next" { "Search older recordings" }
                } @else {
                    a href=(filters.link(next)) rel="next" { "Older" }
                }
            }
        }
    }
}

fn table_row(filters: &Filters, row: &Row) -> Markup {
    let h = &row.recording.header;
    let href = format!("/console/sessions/{}", h.session);
    let entries = row.recording.statements().count() + row.recording.requests().count();
    html! {
        tr data-session=(h.session) {
            th scope="row" {
                a href=(href) { (page::when(&h.started_at)) }
                br;
                span class="muted" { (page::relative(&h.started_at)) }
            }
            td { (h.identity) }
            td {
                (h.target)
                @if !h.database.is_empty() { " " span class="muted" { "(" (h.database) ")" } }
            }
            td { (row.recording.kind()) " " span class="muted" { (h.protocol) } }
            td { (h.client_addr) }
            td class="num" { (entries) }
            td class="num" {
                (crate::sessions_cmd::human_bytes(row.bytes))
                @if !row.recording.is_complete() { br; span class="muted" { "open or cut short" } }
            }
            @if !value(&filters.q).is_empty() {
                td {
                    @for n in row.hits.iter().take(5) {
                        a href={ (href) "#entry-" (n) } { "#" (n) } " "
                    }
                    @if row.hits.len() > 5 { span class="muted" { "+" (row.hits.len() - 5) } }
                }
            }
        }
    }
}
