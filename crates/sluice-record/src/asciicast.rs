//! [`to_asciicast`]: a terminal recording as an asciicast v2 file, so that
//! any asciicast player can replay it.

use serde_json::{json, Map, Value};

use crate::read::Recording;
use crate::RecordError;

/// The terminal recording as asciicast v2 text: a header line (`version` 2,
/// `width`, `height`, and when known `timestamp` (from `started_at`),
/// `duration` (from `end`), `command` and `env.TERM`), then one
/// `[t, code, data]` line per `terminal` line, in order, each ended by a
/// newline. Nothing of the terminal stream is lost: the codes (`o`, `i`,
/// `r`, `m`) and data are the recording's. Lines of other types (requests,
/// truncation markers) have no place in asciicast and are left out.
///
/// An HTTP recording carries terminal lines for its Kubernetes exec and
/// attach streams: those convert too, on a screen of the first size a
/// resize gave (80x24 without one). A recording with neither a terminal
/// header nor terminal lines is refused: there is nothing to play.
pub fn to_asciicast(recording: &Recording) -> Result<String, RecordError> {
    let streamed;
    let terminal = match &recording.terminal {
        Some(terminal) => terminal,
        None if recording.terminal_events().next().is_some() => {
            streamed = streamed_screen(recording);
            &streamed
        }
        None => return Err(RecordError::NotATerminal(recording.header.kind.clone())),
    };
    let mut header = Map::new();
    header.insert("version".to_owned(), json!(2));
    header.insert("width".to_owned(), json!(terminal.width));
    header.insert("height".to_owned(), json!(terminal.height));
    if let Some(timestamp) = unix_seconds(&recording.header.started_at) {
        header.insert("timestamp".to_owned(), json!(timestamp));
    }
    if let Some(end) = &recording.end {
        header.insert("duration".to_owned(), json!(end.t));
    }
    if let Some(command) = &terminal.command {
        header.insert("command".to_owned(), json!(command));
    }
    if !terminal.term.is_empty() {
        header.insert("env".to_owned(), json!({ "TERM": terminal.term }));
    }
    let mut out = Value::Object(header).to_string();
    out.push('\n');
    for event in recording.terminal_events() {
        out.push_str(&json!([event.t, event.code, event.data]).to_string());
        out.push('\n');
    }
    Ok(out)
}

/// The screen of a recording whose terminal lines come from streams inside
/// another kind's session: the first resize's size, else the classic 80x24.
fn streamed_screen(recording: &Recording) -> crate::TerminalHeader {
    let (width, height) = recording
        .terminal_events()
        .find(|e| e.code == "r")
        .and_then(|e| {
            let (w, h) = e.data.split_once('x')?;
            Some((w.parse().ok()?, h.parse().ok()?))
        })
        .unwrap_or((80, 24));
    crate::TerminalHeader {
        width,
        height,
        term: String::new(),
        command: None,
    }
}

/// `started_at` as asciicast's `timestamp`: whole seconds since the Unix
/// epoch.
fn unix_seconds(started_at: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(started_at, &time::format_description::well_known::Rfc3339)
            .ok()?;
    Some(at.unix_timestamp())
}
