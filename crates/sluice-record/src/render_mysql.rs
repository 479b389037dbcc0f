//! A MySQL or MariaDB session for replay, as the mysql command-line client
//! prints it interactively (`mysql --table`): the SQL walk is `render.rs`'s,
//! this is only what mysql prints where psql would print something else.
//!
//! Timings (`2 rows in set (0.00 sec)`) are left out: a replay of one
//! recording must print the same every time, and the duration recorded is
//! the gateway's, not the client's. Otherwise where this differs from
//! mysql's own screen it is for want of something the recording does not
//! keep:
//!
//! - columns are as wide as their name and widest value; mysql widens a
//!   nullable column to at least 4 (room for `NULL`) even when no value is
//!   NULL, but nullability is not recorded;
//! - a statement that ran several statements (a multi-statement string)
//!   prints one table per result set, but the `Query OK` of the statements
//!   among them that returned no rows is not recorded, only the total rows
//!   affected, printed after the tables;
//! - control characters print escaped as psql's renderer escapes them,
//!   where mysql writes them raw: a replay must not let recorded bytes drive
//!   the terminal or break the table;
//! - rows a statement sent before failing print before its error, and a
//!   single result set's `N rows in set` counts the rows the completion
//!   reports even when the row cap recorded fewer, as for psql.

use std::fmt::Write as _;

use crate::read::{Column, Event, Statement};
use crate::render::{self, display_line, event_t, pad};

/// Column type codes (`enum_field_types`) mysql right-aligns, its `IS_NUM`:
/// DECIMAL, TINY, SHORT, LONG, FLOAT, DOUBLE, NULL, LONGLONG, INT24, YEAR
/// and NEWDECIMAL. NULL is there because mysql's test is `type <= INT24`
/// (less TIMESTAMP), which takes it in.
const NUMERIC_TYPES: &[u32] = &[0, 1, 2, 3, 4, 5, 6, 8, 9, 13, 246];

/// The statement as typed at `mysql> `, continuation lines at `    -> `. The
/// client strips the `;` that ended the statement before sending it, so
/// the recorded text usually lacks one: it is put back.
pub(crate) fn prompt(text: &str) -> String {
    let text = text.trim_end();
    let end = if text.ends_with(';') { "" } else { ";" };
    let mut out = String::new();
    for (i, line) in format!("{text}{end}").split('\n').enumerate() {
        let mark = if i == 0 { "mysql> " } else { "    -> " };
        let _ = writeln!(out, "{mark}{line}");
    }
    out
}

/// An error as mysql prints it, `ERROR 1146 (42S02): message`: the relay
/// records `CODE (STATE)` where PostgreSQL has its SQLSTATE. Everything
/// else prints as for psql.
pub(crate) fn push_event(out: &mut String, event: &Event) {
    match event {
        Event::Error(m) if m.sqlstate.trim().is_empty() => {
            let _ = writeln!(out, "ERROR: {}", m.message);
        }
        Event::Error(m) => {
            let _ = writeln!(out, "ERROR {}: {}", m.sqlstate.trim(), m.message);
        }
        Event::Notice(_) | Event::Truncated(_) => render::push_event(out, event),
    }
}

/// What mysql prints after a statement's prompt, and when it was complete:
/// each result set's table and `N rows in set` (or `Empty set`), else
/// `Query OK, N rows affected`, each followed by a blank line; then the
/// error, which mysql follows with no blank line.
pub(crate) fn statement_result(statement: &Statement) -> (f64, String) {
    let mut out = String::new();
    let mut t = statement.t;
    for event in &statement.events {
        t = t.max(event_t(event));
        if matches!(event, Event::Notice(_)) {
            push_event(&mut out, event);
        }
    }
    let tag = statement.complete.as_ref().map(|c| {
        t = t.max(c.t);
        c.tag.as_str()
    });

    let mut first = 0;
    for set in &statement.earlier_results {
        let rows = statement
            .rows
            .get(first..first + set.rows)
            .unwrap_or_default();
        push_result(&mut out, &set.columns, rows, rows.len() as u64);
        first += set.rows;
    }
    if let Some(columns) = &statement.columns {
        let rows = statement.rows.get(first..).unwrap_or_default();
        let mut count = rows.len() as u64;
        // The completion counts all sets' rows together: it says how many
        // the cap left out only when there is one set.
        if statement.earlier_results.is_empty() {
            if let Some(n) = tag.and_then(rows_in_set) {
                count = count.max(n);
            }
        }
        push_result(&mut out, columns, rows, count);
    }

    for event in &statement.events {
        if matches!(event, Event::Truncated(_)) {
            push_event(&mut out, event);
        }
    }
    if let Some(tag) = tag {
        match (affected(tag), &statement.columns) {
            (Some(n), Some(_)) if n > 0 => push_query_ok(&mut out, n),
            (Some(n), None) => push_query_ok(&mut out, n),
            (None, None) => match rows_in_set(tag) {
                // No result set and no rows affected: `0 rows`.
                Some(n) => push_query_ok(&mut out, n),
                None => {
                    let _ = write!(out, "{tag}\n\n");
                }
            },
            _ => {}
        }
    }
    for event in &statement.events {
        if matches!(event, Event::Error(_)) {
            push_event(&mut out, event);
        }
    }
    (t, out)
}

/// The rows a completion `N rows` reports.
fn rows_in_set(tag: &str) -> Option<u64> {
    tag.strip_suffix(" rows")?.parse().ok()
}

/// The rows a completion `OK, N rows affected` reports.
fn affected(tag: &str) -> Option<u64> {
    tag.strip_prefix("OK, ")?
        .strip_suffix(" rows affected")?
        .parse()
        .ok()
}

fn push_query_ok(out: &mut String, n: u64) {
    let _ = write!(out, "Query OK, {n} {} affected\n\n", plural(n));
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        "row"
    } else {
        "rows"
    }
}

/// One result set: mysql prints no table for one without rows, only
/// `Empty set`.
fn push_result(out: &mut String, columns: &[Column], rows: &[Vec<Option<String>>], count: u64) {
    if count == 0 {
        out.push_str("Empty set\n\n");
        return;
    }
    let headers: Vec<(String, usize)> = columns.iter().map(|c| display_line(&c.name)).collect();
    let cells: Vec<Vec<(String, usize)>> = rows
        .iter()
        .map(|row| {
            (0..columns.len())
                .map(|j| match row.get(j) {
                    Some(Some(value)) => display_line(value),
                    Some(None) | None => ("NULL".to_owned(), 4),
                })
                .collect()
        })
        .collect();
    let right: Vec<bool> = columns
        .iter()
        .map(|c| NUMERIC_TYPES.contains(&c.type_oid))
        .collect();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(j, (_, header))| {
            let values = cells.iter().filter_map(|row| row.get(j).map(|(_, w)| *w));
            values.fold(*header, usize::max)
        })
        .collect();

    let mut border = String::from("+");
    for width in &widths {
        border.extend(std::iter::repeat_n('-', width + 2));
        border.push('+');
    }
    border.push('\n');

    out.push_str(&border);
    out.push('|');
    // Headers are left-aligned whatever the column's type.
    for ((name, w), width) in headers.iter().zip(&widths) {
        out.push(' ');
        out.push_str(name);
        pad(out, width - w);
        out.push_str(" |");
    }
    out.push('\n');
    out.push_str(&border);
    for row in &cells {
        out.push('|');
        for (((text, w), width), right) in row.iter().zip(&widths).zip(&right) {
            out.push(' ');
            if *right {
                pad(out, width - w);
                out.push_str(text);
            } else {
                out.push_str(text);
                pad(out, width - w);
            }
            out.push_str(" |");
        }
        out.push('\n');
    }
    out.push_str(&border);
    let _ = write!(out, "{count} {} in set\n\n", plural(count));
}
