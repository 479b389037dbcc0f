//! Rendering a recording for replay: [`render`] ([`render_psql`] for SQL;
//! MySQL's screen is `render_mysql.rs`), [`replay_timed`], and [`search`].

use std::fmt::Write as _;
use std::time::Duration;

use crate::read::{Column, Event, Item, Recording, Statement};
use crate::{render_kinds, render_mysql};

/// What psql and mysql print for an incomplete recording's missing end
/// (`-- ` starts a comment in both dialects, so one marker serves).
const INCOMPLETE: &str = "-- recording incomplete: the gateway stopped before the session ended\n";

/// Type OIDs psql right-aligns: int2, int4, int8, float4, float8, numeric,
/// oid, xid, xid8, cid and money (psql's `column_type_alignment`).
const NUMERIC_OIDS: &[u32] = &[21, 23, 20, 700, 701, 1700, 26, 28, 5069, 29, 790];

/// Prints the session as the client saw it, in psql's aligned format
/// (`psql -X`, default settings): for each statement a prompt line
/// `db=> <text>` (continuation lines `db-> `), then what psql prints for its
/// result: notices, the aligned table (header centered, numeric columns
/// right-aligned, NULL empty, `(N rows)` footer), the command tag for a
/// command (and after the table for `INSERT`/`UPDATE`/`DELETE`/`MERGE ...
/// RETURNING`), and `ERROR:  message`. Truncation markers print as
/// `-- recording truncated: ...`, and an incomplete recording ends with
/// `-- recording incomplete: ...`.
///
/// Where the recording knows more than psql would show, it is shown: rows a
/// statement sent before failing print before its error (psql discards
/// them), and the footer counts the rows the command tag reports even when
/// the row cap recorded fewer.
///
/// A recording of another kind, or of a MySQL session, prints as [`render`]
/// prints it.
pub fn render_psql(recording: &Recording, out: &mut impl std::fmt::Write) -> std::fmt::Result {
    render(recording, out)
}

/// Prints the session as its user saw it, whatever its kind: SQL statements
/// as [`render_psql`] describes, or, for a MySQL or MariaDB session (header
/// `protocol` `mysql`), as the mysql command-line client prints them
/// interactively (`mysql> ` prompts, `+---+` bordered tables, `N rows in
/// set`, `Query OK, N rows affected`, `ERROR code (state): message`; without
/// the `(0.00 sec)` timings, so that a replay is deterministic); a
/// terminal's output stream verbatim (input, resizes and markers are not
/// shown); one access-log line per HTTP exchange
/// (`0.840s GET host/path?q -> 200 5120B 8.123ms [allow rule]`); one line
/// per file operation (`2.500s rename /a -> /b: ok [allow rule]`); a
/// refused terminal request as `-- exec <command> [deny rule]`. Truncation
/// markers and incompleteness print as for SQL.
pub fn render(recording: &Recording, out: &mut impl std::fmt::Write) -> std::fmt::Result {
    for (_, chunk) in chunks(recording) {
        out.write_str(&chunk)?;
    }
    Ok(())
}

/// The rendered session as `(delay, chunk)` pairs for a timed replay: each
/// chunk is to be printed `delay` after the previous one. A statement gives
/// two chunks, its prompt line at the time it was sent and its result at the
/// time it completed; a terminal recording gives one chunk per output event,
/// so it replays in real time; an HTTP exchange or file operation gives its
/// line at the time its outcome was recorded. `speed` divides the recorded
/// delays (2.0 replays twice as fast; a `speed` that is not a positive number
/// gives no delays), and `max_delay`, if given, caps each delay (an idle
/// limit). The chunks concatenated are [`render`]'s output.
pub fn replay_timed(
    recording: &Recording,
    speed: f64,
    max_delay: Option<Duration>,
) -> Vec<(Duration, String)> {
    let mut last = 0.0_f64;
    chunks(recording)
        .into_iter()
        .map(|(t, text)| {
            let gap = if t > last { t - last } else { 0.0 };
            last = last.max(t);
            let mut delay = if speed > 0.0 && speed.is_finite() {
                Duration::try_from_secs_f64(gap / speed).unwrap_or(Duration::ZERO)
            } else {
                Duration::ZERO
            };
            if let Some(max) = max_delay {
                delay = delay.min(max);
            }
            (delay, text)
        })
        .collect()
}

/// The numbers of the statements and requests whose text contains
/// `needle`, ignoring case, in recording order: a statement's SQL, a
/// request's text (command line, host and path, file path), an HTTP
/// exchange's host and path, a file operation's path and target.
pub fn search(recording: &Recording, needle: &str) -> Vec<u64> {
    let needle = needle.to_lowercase();
    let found = |text: &str| text.to_lowercase().contains(&needle);
    recording
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Statement(s) => found(&s.text).then_some(s.n),
            Item::Request(r) => {
                let http = r
                    .http
                    .as_ref()
                    .is_some_and(|h| found(&format!("{} {}{}", h.method, h.host, h.path)));
                let file = r
                    .file
                    .as_ref()
                    .is_some_and(|f| found(&f.path) || f.target.as_deref().is_some_and(found));
                (found(&r.text) || http || file).then_some(r.n)
            }
            Item::Event(_) | Item::Terminal(_) => None,
        })
        .collect()
}

/// The rendering as chunks stamped with the time (seconds since the session
/// started) they happened.
fn chunks(recording: &Recording) -> Vec<(f64, String)> {
    let mut chunks = Vec::new();
    let mut last_t = 0.0_f64;
    let kind = recording.header.kind.as_str();
    let known = [
        crate::KIND_SQL,
        crate::KIND_TERMINAL,
        crate::KIND_HTTP,
        crate::KIND_FILE,
    ];
    if !known.contains(&kind) {
        chunks.push((
            0.0,
            format!(
                "-- a recording of kind {kind:?}: only the kinds this build knows print here\n"
            ),
        ));
    }
    let client = if kind == crate::KIND_SQL && recording.header.protocol == "mysql" {
        Client::Mysql
    } else {
        Client::Psql(&recording.header.database)
    };
    // A request's errors, notices and truncations are grouped under it but
    // happened later, often amid its terminal output: they wait here, in
    // time order, until the stream passes their time (on a tie the stream
    // goes first: an event is recorded after what caused it).
    let mut pending: Vec<(f64, String)> = Vec::new();
    for item in &recording.items {
        let at = match item {
            Item::Statement(s) => s.t,
            Item::Event(e) => event_t(e),
            Item::Request(r) => r.outcome_t.unwrap_or(r.t),
            Item::Terminal(e) => e.t,
        };
        let due = pending.iter().take_while(|(t, _)| *t < at).count();
        chunks.extend(pending.drain(..due));
        match item {
            Item::Statement(statement) => {
                chunks.push((statement.t, client.prompt(&statement.text)));
                let (t, text) = client.statement_result(statement);
                last_t = last_t.max(t);
                chunks.push((t, text));
            }
            Item::Event(event) => {
                let mut text = String::new();
                client.push_event(&mut text, event);
                let t = event_t(event);
                last_t = last_t.max(t);
                chunks.push((t, text));
            }
            Item::Request(request) => {
                last_t = last_t.max(at);
                if let Some(line) = render_kinds::request(request, kind) {
                    chunks.push(line);
                }
                for event in &request.events {
                    let mut text = String::new();
                    push_event(&mut text, event);
                    let t = event_t(event);
                    last_t = last_t.max(t);
                    let index = pending.partition_point(|(p, _)| *p <= t);
                    pending.insert(index, (t, text));
                }
            }
            Item::Terminal(event) => {
                last_t = last_t.max(event.t);
                if let Some(text) = render_kinds::terminal(event) {
                    chunks.push((event.t, text.to_owned()));
                }
            }
        }
    }
    chunks.append(&mut pending);
    if recording.end.is_none() {
        chunks.push((last_t, INCOMPLETE.to_owned()));
    }
    chunks
}

/// Whose screen a SQL session replays as.
#[derive(Clone, Copy)]
enum Client<'a> {
    /// psql, connected to the database named.
    Psql(&'a str),
    /// The mysql command-line client.
    Mysql,
}

impl Client<'_> {
    fn prompt(self, text: &str) -> String {
        match self {
            Client::Psql(db) => prompt(db, text),
            Client::Mysql => render_mysql::prompt(text),
        }
    }

    fn statement_result(self, statement: &Statement) -> (f64, String) {
        match self {
            Client::Psql(_) => statement_result(statement),
            Client::Mysql => render_mysql::statement_result(statement),
        }
    }

    fn push_event(self, out: &mut String, event: &Event) {
        match self {
            Client::Psql(_) => push_event(out, event),
            Client::Mysql => render_mysql::push_event(out, event),
        }
    }
}

fn prompt(db: &str, text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.split('\n').enumerate() {
        let mark = if i == 0 { '=' } else { '-' };
        let _ = writeln!(out, "{db}{mark}> {line}");
    }
    out
}

pub(crate) fn event_t(event: &Event) -> f64 {
    match event {
        Event::Error(m) | Event::Notice(m) => m.t,
        Event::Truncated(t) => t.t,
    }
}

pub(crate) fn push_event(out: &mut String, event: &Event) {
    match event {
        Event::Error(m) | Event::Notice(m) => {
            let _ = writeln!(out, "{}:  {}", m.severity, m.message);
        }
        Event::Truncated(t) => {
            let _ = writeln!(out, "-- recording truncated: {}", t.detail);
        }
    }
}

/// What psql prints after a statement's prompt, and when it was complete.
fn statement_result(statement: &Statement) -> (f64, String) {
    let mut out = String::new();
    let mut t = statement.t;
    for event in &statement.events {
        t = t.max(event_t(event));
        if matches!(event, Event::Notice(_)) {
            push_event(&mut out, event);
        }
    }
    if let Some(complete) = &statement.complete {
        t = t.max(complete.t);
    }
    if let Some(columns) = &statement.columns {
        let count = statement
            .complete
            .as_ref()
            .and_then(|c| tag_rows(&c.tag))
            .map_or(statement.rows.len() as u64, |n| {
                n.max(statement.rows.len() as u64)
            });
        push_table(&mut out, columns, &statement.rows, count);
    }
    for event in &statement.events {
        if matches!(event, Event::Truncated(_)) {
            push_event(&mut out, event);
        }
    }
    if let Some(complete) = &statement.complete {
        let command = complete.tag.split(' ').next().unwrap_or_default();
        let returning = matches!(command, "INSERT" | "UPDATE" | "DELETE" | "MERGE");
        if statement.columns.is_none() || returning {
            let _ = writeln!(out, "{}", complete.tag);
        }
    }
    for event in &statement.events {
        if matches!(event, Event::Error(_)) {
            push_event(&mut out, event);
        }
    }
    (t, out)
}

/// The row count a command tag reports (`SELECT 2`, `INSERT 0 1`, `FETCH 5`).
fn tag_rows(tag: &str) -> Option<u64> {
    let mut words = tag.split(' ');
    let command = words.next()?;
    if !matches!(
        command,
        "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "FETCH" | "COPY" | "MOVE"
    ) {
        return None;
    }
    words.next_back()?.parse().ok()
}

/// psql's aligned table with `border 1`, then the footer and a blank line.
fn push_table(out: &mut String, columns: &[Column], rows: &[Vec<Option<String>>], count: u64) {
    if columns.is_empty() {
        out.push_str("--\n");
    } else {
        let headers: Vec<Vec<(String, usize)>> =
            columns.iter().map(|c| cell_lines(&c.name)).collect();
        let cells: Vec<Vec<Vec<(String, usize)>>> = rows
            .iter()
            .map(|row| {
                (0..columns.len())
                    .map(|j| cell_lines(row.get(j).and_then(|v| v.as_deref()).unwrap_or("")))
                    .collect()
            })
            .collect();
        let right: Vec<bool> = columns
            .iter()
            .map(|c| NUMERIC_OIDS.contains(&c.type_oid))
            .collect();
        let widths: Vec<usize> = (0..columns.len())
            .map(|j| {
                let header = headers[j].iter().map(|(_, w)| *w);
                let values = cells.iter().flat_map(|row| row[j].iter().map(|(_, w)| *w));
                header.chain(values).max().unwrap_or(0)
            })
            .collect();
        let last = columns.len() - 1;

        let header_lines = headers.iter().map(Vec::len).max().unwrap_or(1);
        for k in 0..header_lines {
            for (j, header) in headers.iter().enumerate() {
                let (text, w) = header.get(k).map_or(("", 0), |(s, w)| (s.as_str(), *w));
                let left = (widths[j] - w) / 2;
                out.push(' ');
                pad(out, left);
                out.push_str(text);
                pad(out, widths[j] - w - left);
                out.push(' ');
                if j < last {
                    out.push('|');
                }
            }
            out.push('\n');
        }
        for (j, width) in widths.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            out.extend(std::iter::repeat_n('-', width + 2));
        }
        out.push('\n');

        for row in &cells {
            let height = row.iter().map(Vec::len).max().unwrap_or(1);
            for k in 0..height {
                for (j, cell) in row.iter().enumerate() {
                    let is_last = j == last;
                    let continues = k + 1 < cell.len();
                    out.push(' ');
                    match cell.get(k) {
                        None => {
                            if !is_last {
                                pad(out, widths[j]);
                            }
                        }
                        Some((text, w)) if right[j] => {
                            pad(out, widths[j] - w);
                            out.push_str(text);
                        }
                        Some((text, w)) => {
                            out.push_str(text);
                            if !is_last || continues {
                                pad(out, widths[j] - w);
                            }
                        }
                    }
                    if continues {
                        out.push('+');
                    } else if !is_last {
                        out.push(' ');
                    }
                    if !is_last {
                        out.push('|');
                    }
                }
                out.push('\n');
            }
        }
    }
    if count == 1 {
        out.push_str("(1 row)\n\n");
    } else {
        let _ = write!(out, "({count} rows)\n\n");
    }
}

pub(crate) fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A value's display lines as psql formats them, each with its display
/// width: split at newlines, each line as [`display_line`] has it.
fn cell_lines(value: &str) -> Vec<(String, usize)> {
    value.split('\n').map(display_line).collect()
}

/// One line of a value made safe to print in a table, with its display
/// width: tabs expanded to the next multiple of 8, `\r` shown as `\r` and
/// other control characters as `\xNN` (`\uNNNN` above 0x7f), as psql shows
/// them, so recorded bytes can neither drive the terminal nor break the
/// table's alignment.
pub(crate) fn display_line(line: &str) -> (String, usize) {
    let mut text = String::with_capacity(line.len());
    let mut width = 0;
    for c in line.chars() {
        let code = u32::from(c);
        if c == '\t' {
            let spaces = 8 - width % 8;
            pad(&mut text, spaces);
            width += spaces;
        } else if c == '\r' {
            text.push_str("\\r");
            width += 2;
        } else if code < 0x20 || code == 0x7f {
            let _ = write!(text, "\\x{code:02X}");
            width += 4;
        } else if (0x80..0xa0).contains(&code) {
            let _ = write!(text, "\\u{code:04X}");
            width += 6;
        } else {
            text.push(c);
            width += char_width(code);
        }
    }
    (text, width)
}

/// Display width of a printable character: 0 for combining marks and
/// zero-width characters, 2 for East Asian wide and fullwidth characters and
/// emoji, else 1. An approximation of psql's `ucs_wcwidth` covering the
/// common ranges.
fn char_width(code: u32) -> usize {
    const ZERO: &[(u32, u32)] = &[
        (0x0300, 0x036F),
        (0x0483, 0x0489),
        (0x0591, 0x05BD),
        (0x0610, 0x061A),
        (0x064B, 0x065F),
        (0x0E31, 0x0E31),
        (0x0E34, 0x0E3A),
        (0x1AB0, 0x1AFF),
        (0x1DC0, 0x1DFF),
        (0x200B, 0x200F),
        (0x20D0, 0x20FF),
        (0xFE00, 0xFE0F),
        (0xFE20, 0xFE2F),
    ];
    const WIDE: &[(u32, u32)] = &[
        (0x1100, 0x115F),
        (0x231A, 0x231B),
        (0x2329, 0x232A),
        (0x2E80, 0x303E),
        (0x3041, 0x33FF),
        (0x3400, 0x4DBF),
        (0x4E00, 0x9FFF),
        (0xA000, 0xA4CF),
        (0xAC00, 0xD7A3),
        (0xF900, 0xFAFF),
        (0xFE10, 0xFE19),
        (0xFE30, 0xFE6F),
        (0xFF00, 0xFF60),
        (0xFFE0, 0xFFE6),
        (0x1F300, 0x1F64F),
        (0x1F900, 0x1F9FF),
        (0x20000, 0x2FFFD),
        (0x30000, 0x3FFFD),
    ];
    let within = |ranges: &[(u32, u32)]| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&code));
    if within(ZERO) {
        0
    } else if within(WIDE) {
        2
    } else {
        1
    }
}
