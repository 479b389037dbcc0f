//! Server-sent events read as they arrive, so that a progress notification reaches the client
//! while the call it reports on is still running. Only `data:` matters to MCP: comments,
//! `event:`, `id:` and `retry:` are read past (the bridge never resumes a stream).

/// The incremental parser: bytes in, each complete event's data out.
#[derive(Debug)]
pub struct SseParser {
    /// The current line, before its end arrives.
    line: Vec<u8>,
    /// The current event's `data:` lines, joined by `\n`.
    data: Vec<u8>,
    has_data: bool,
    /// A line ended with `\r`: a `\n` right after it belongs to the same line end, even when it
    /// arrives in the next chunk.
    skip_lf: bool,
    /// Bounds the memory one event may take: the server is trusted to answer, not to be small.
    limit: usize,
}

/// An event (or a line) longer than the parser's limit.
#[derive(Debug, PartialEq, Eq)]
pub struct EventTooLarge;

impl SseParser {
    pub fn new(limit: usize) -> Self {
        SseParser {
            line: Vec::new(),
            data: Vec::new(),
            has_data: false,
            skip_lf: false,
            limit,
        }
    }

    /// Takes the next bytes of the stream; returns the data of every event they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<String>, EventTooLarge> {
        let mut events = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.skip_lf {
                self.skip_lf = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    self.push_line_bytes(&rest[..end])?;
                    self.skip_lf = rest[end] == b'\r';
                    rest = &rest[end + 1..];
                    if let Some(event) = self.end_line() {
                        events.push(event);
                    }
                }
                None => {
                    self.push_line_bytes(rest)?;
                    rest = &[];
                }
            }
        }
        Ok(events)
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) -> Result<(), EventTooLarge> {
        if self.line.len() + self.data.len() + bytes.len() > self.limit {
            return Err(EventTooLarge);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// A blank line dispatches the event; any other line may add to its data.
    fn end_line(&mut self) -> Option<String> {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (&line[..], &[][..]),
        };
        // A byte-order mark may open the stream; it is not part of the first field's name.
        let field = field.strip_prefix("\u{feff}".as_bytes()).unwrap_or(field);
        if field == b"data" {
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(value);
            self.has_data = true;
        }
        None
    }

    fn dispatch(&mut self) -> Option<String> {
        let data = std::mem::take(&mut self.data);
        if !std::mem::replace(&mut self.has_data, false) {
            return None;
        }
        Some(String::from_utf8_lossy(&data).into_owned())
    }
}
