//! Frame boundaries: every message after the startup packet is `tag (1) + length (4) + body`,
//! where the length counts itself but not the tag.

use crate::WireError;

/// Tag byte plus the 4-byte length.
pub const HEADER_LEN: usize = 5;

/// Where one message sits in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub tag: u8,
    /// Whole message length on the wire, header included.
    pub len: usize,
}

impl Frame {
    /// The body of this frame, given the buffer that starts with it.
    pub fn body(self, buf: &[u8]) -> &[u8] {
        &buf[HEADER_LEN..self.len]
    }
}

/// Reads the header at the start of `buf`.
///
/// Returns `Ok(None)` when fewer than five bytes are buffered. The frame may be longer than
/// `buf`; callers check `frame.len <= buf.len()` before reading the body. `max_len` bounds the
/// whole message so a hostile length field cannot make the caller buffer gigabytes.
pub fn peek(buf: &[u8], max_len: usize) -> Result<Option<Frame>, WireError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let declared = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    if declared < 4 {
        return Err(WireError::BadLength(declared));
    }
    let len = declared as usize + 1;
    if len > max_len {
        return Err(WireError::TooLarge { len, max: max_len });
    }
    Ok(Some(Frame { tag: buf[0], len }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_a_whole_header() {
        assert_eq!(peek(b"Q\0\0\0", 100), Ok(None));
    }

    #[test]
    fn reads_tag_and_total_length() {
        let buf = b"Q\0\0\0\x0eSELECT 1;\0";
        let f = peek(buf, 100).unwrap().unwrap();
        assert_eq!(f, Frame { tag: b'Q', len: 15 });
        assert_eq!(f.body(buf), b"SELECT 1;\0");
    }

    #[test]
    fn rejects_lengths_below_four() {
        assert_eq!(peek(b"Q\0\0\0\x03", 100), Err(WireError::BadLength(3)));
    }

    #[test]
    fn rejects_oversized_frames_before_buffering_them() {
        assert_eq!(
            peek(b"Q\x7f\xff\xff\xff", 1024),
            Err(WireError::TooLarge {
                len: 0x8000_0000,
                max: 1024
            })
        );
    }
}
