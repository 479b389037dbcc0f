//! NUL-terminated strings, the only string encoding the protocol uses.

use crate::WireError;

/// A cursor over a message body that reads protocol fields in order.
pub struct Reader<'a> {
    tag: u8,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(tag: u8, body: &'a [u8]) -> Self {
        Reader { tag, rest: body }
    }

    fn truncated(&self) -> WireError {
        WireError::Truncated {
            tag: char::from(self.tag),
        }
    }

    /// Reads bytes up to the next NUL, consuming the NUL.
    pub fn cstr(&mut self) -> Result<&'a [u8], WireError> {
        let end = self
            .rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(WireError::MissingNul {
                tag: char::from(self.tag),
            })?;
        let (s, rest) = self.rest.split_at(end);
        self.rest = &rest[1..];
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, WireError> {
        let (&b, rest) = self.rest.split_first().ok_or_else(|| self.truncated())?;
        self.rest = rest;
        Ok(b)
    }

    pub fn i16(&mut self) -> Result<i16, WireError> {
        let b = self.bytes(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub fn i32(&mut self) -> Result<i32, WireError> {
        let b = self.bytes(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(self.truncated());
        }
        let (b, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(b)
    }

    /// Everything not read yet.
    pub fn remaining(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// Fails if bytes are left over: a message longer than its fields is malformed.
    pub fn finish(self) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes {
                tag: char::from(self.tag),
                extra: self.rest.len(),
            })
        }
    }
}

/// Text of a protocol string for humans and the audit trail; invalid UTF-8 is replaced, not rejected,
/// because clients may use another client_encoding.
pub fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}
