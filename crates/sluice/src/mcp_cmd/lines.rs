//! stdin as newline-delimited messages, each line bounded so that a client (or a stray binary
//! file on stdin) cannot make the bridge hold an unbounded buffer.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The longest message line the bridge reads.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line without its line end (`\n` or `\r\n`).
    Text(Vec<u8>),
    /// A line past the limit, read to its end and dropped.
    TooLong,
    Eof,
}

/// The next line of `reader`; a last line without a newline still counts.
pub async fn next_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: usize,
) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(if !too_long && line.is_empty() {
                Line::Eof
            } else {
                finish(line, too_long, limit)
            });
        }
        let (chunk, used, ended) = match buffer.iter().position(|&b| b == b'\n') {
            Some(end) => (&buffer[..end], end + 1, true),
            None => (buffer, buffer.len(), false),
        };
        // One byte of slack: a `\r` ending the line may arrive before its `\n`.
        if too_long || line.len() + chunk.len() > limit + 1 {
            too_long = true;
            line = Vec::new();
        } else {
            line.extend_from_slice(chunk);
        }
        reader.consume(used);
        if ended {
            return Ok(finish(line, too_long, limit));
        }
    }
}

fn finish(line: Vec<u8>, too_long: bool, limit: usize) -> Line {
    let line = strip_cr(line);
    if too_long || line.len() > limit {
        Line::TooLong
    } else {
        Line::Text(line)
    }
}

fn strip_cr(mut line: Vec<u8>) -> Vec<u8> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    line
}
