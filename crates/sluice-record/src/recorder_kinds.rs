//! The [`Recorder`] methods for the version 2 kinds: terminal events, HTTP
//! exchanges and file operations. Same caps and digest as SQL's lines: every
//! line goes through the recorder's `emit`.

use crate::json::Line;
use crate::kinds::{Body, FileOp, HttpExchange, BODY_EXCERPT_BYTES};
use crate::recorder::{CapHit, Recorder};

impl Recorder {
    /// Records terminal output (asciicast `o`) of request `n` (an SSH
    /// channel), or of the session. Bytes that are not UTF-8 are replaced by
    /// U+FFFD; a character split between two calls is kept whole.
    pub fn terminal_output(&mut self, n: Option<u64>, data: &[u8]) -> CapHit {
        self.terminal_bytes(n, b'o', data)
    }

    /// Records terminal input (asciicast `i`): what the user typed.
    pub fn terminal_input(&mut self, n: Option<u64>, data: &[u8]) -> CapHit {
        self.terminal_bytes(n, b'i', data)
    }

    /// Records a window change (asciicast `r`, data `COLSxROWS`).
    pub fn terminal_resize(&mut self, n: Option<u64>, width: u16, height: u16) -> CapHit {
        self.terminal_event(n, "r", &format!("{width}x{height}"))
    }

    /// Records a marker (asciicast `m`): a labelled point to jump to in a
    /// replay.
    pub fn terminal_marker(&mut self, n: Option<u64>, label: &str) -> CapHit {
        self.terminal_event(n, "m", label)
    }

    /// Records request `n`'s HTTP exchange once its response is done (or
    /// failed). Body excerpts longer than [`BODY_EXCERPT_BYTES`] are cut and
    /// marked truncated; the caller masks them before.
    pub fn http(&mut self, n: u64, exchange: &HttpExchange) -> CapHit {
        if self.is_session_capped() {
            return CapHit::SessionCap;
        }
        let line = Line::new("http")
            .u64("n", n)
            .secs("t", self.micros())
            .str("method", &exchange.method)
            .str("host", &exchange.host)
            .str("path", &exchange.path)
            .opt_u64("status", exchange.status.map(u64::from))
            .raw("request_headers", &headers_json(&exchange.request_headers))
            .raw(
                "response_headers",
                &headers_json(&exchange.response_headers),
            )
            .raw("request_body", &body_json(&exchange.request_body))
            .raw("response_body", &body_json(&exchange.response_body))
            .u64("duration_us", exchange.duration_us)
            .finish();
        self.emit(Some(n), &line)
    }

    /// Records request `n`'s file operation (SFTP or SCP) once its outcome
    /// is known.
    pub fn file(&mut self, n: u64, op: &FileOp) -> CapHit {
        if self.is_session_capped() {
            return CapHit::SessionCap;
        }
        let line = Line::new("file")
            .u64("n", n)
            .secs("t", self.micros())
            .str("op", &op.op)
            .str("path", &op.path)
            .opt_str("target", op.target.as_deref())
            .opt_u64("bytes", op.bytes)
            .str("outcome", &op.outcome)
            .str("message", &op.message)
            .finish();
        self.emit(Some(n), &line)
    }

    fn terminal_bytes(&mut self, n: Option<u64>, code: u8, data: &[u8]) -> CapHit {
        if self.is_session_capped() {
            return CapHit::SessionCap;
        }
        let carry = self.utf8_carry.remove(&(n, code)).unwrap_or_default();
        let (text, rest) = decode_utf8(carry, data);
        if !rest.is_empty() {
            self.utf8_carry.insert((n, code), rest);
        }
        if text.is_empty() {
            return CapHit::None;
        }
        let code = if code == b'i' { "i" } else { "o" };
        self.terminal_event(n, code, &text)
    }

    fn terminal_event(&mut self, n: Option<u64>, code: &str, data: &str) -> CapHit {
        if self.is_session_capped() {
            return CapHit::SessionCap;
        }
        let line = Line::new("terminal")
            .opt_u64("n", n)
            .secs("t", self.micros())
            .str("event", code)
            .str("data", data)
            .finish();
        self.emit(n, &line)
    }

    /// Writes what is left of characters cut short at the end of a stream
    /// (they will never be completed), so that no byte the user saw is
    /// silently dropped.
    pub(crate) fn flush_utf8_carry(&mut self) {
        let mut pending: Vec<_> = self.utf8_carry.drain().collect();
        pending.sort_by_key(|(key, _)| *key);
        for ((n, code), bytes) in pending {
            let code = if code == b'i' { "i" } else { "o" };
            self.terminal_event(n, code, &String::from_utf8_lossy(&bytes));
        }
    }
}

/// `carry` then `data` as text, invalid sequences replaced by U+FFFD, and
/// the bytes of a character the input ends in the middle of, to be
/// completed by the next call.
fn decode_utf8(mut carry: Vec<u8>, data: &[u8]) -> (String, Vec<u8>) {
    carry.extend_from_slice(data);
    let mut text = String::with_capacity(carry.len());
    let mut rest: &[u8] = &carry;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                text.push_str(valid);
                return (text, Vec::new());
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                text.push_str(&String::from_utf8_lossy(valid));
                match e.error_len() {
                    Some(len) => {
                        text.push('\u{fffd}');
                        rest = after.get(len..).unwrap_or_default();
                    }
                    None => return (text, after.to_vec()),
                }
            }
        }
    }
}

/// Headers as a JSON array of `[name, value]` pairs: order kept, names may
/// repeat.
fn headers_json(headers: &[(String, String)]) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, (name, value)) in headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        crate::json::push_str(&mut out, name);
        out.push(b',');
        crate::json::push_str(&mut out, value);
        out.push(b']');
    }
    out.push(b']');
    out
}

fn body_json(body: &Body) -> Vec<u8> {
    let (excerpt, cut) = excerpt(&body.excerpt);
    Line::object()
        .u64("bytes", body.bytes)
        .str("excerpt", excerpt)
        .bool("truncated", body.truncated || cut)
        .bool("masked", body.masked)
        .into_object()
}

/// At most [`BODY_EXCERPT_BYTES`] of `text`, cut at a character boundary,
/// and whether it was cut.
fn excerpt(text: &str) -> (&str, bool) {
    if text.len() <= BODY_EXCERPT_BYTES {
        return (text, false);
    }
    let mut end = BODY_EXCERPT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_between_chunks_is_kept_whole() {
        let bytes = "é中".as_bytes();
        let (a, rest) = decode_utf8(Vec::new(), &bytes[..2]);
        assert_eq!((a.as_str(), rest.as_slice()), ("é", &[][..]));
        let (b, rest) = decode_utf8(Vec::new(), &bytes[2..4]);
        assert_eq!(b, "");
        let (c, rest) = decode_utf8(rest, &bytes[4..]);
        assert_eq!((c.as_str(), rest.len()), ("中", 0));
        let (d, rest) = decode_utf8(Vec::new(), &[b'a', 0xff, b'b']);
        assert_eq!((d.as_str(), rest.len()), ("a\u{fffd}b", 0));
    }

    #[test]
    fn excerpts_are_cut_at_a_character_boundary() {
        let long = "é".repeat(BODY_EXCERPT_BYTES);
        let (cut, was_cut) = excerpt(&long);
        assert!(was_cut);
        assert!(cut.len() <= BODY_EXCERPT_BYTES);
        assert_eq!(excerpt("short"), ("short", false));
    }
}
