//! Length-encoded integers and strings.

use bytes::{BufMut, BytesMut};

use crate::error::{malformed, WireError};

/// A cursor over a packet's payload.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// `what` names the packet in errors.
    pub fn new(buf: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { buf, what }
    }

    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(malformed(self.what, "shorter than its fields"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.bytes(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, WireError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A length-encoded integer; `None` for the NULL marker (0xfb), which only rows use.
    pub fn lenenc_int_or_null(&mut self) -> Result<Option<u64>, WireError> {
        let first = self.u8()?;
        Ok(Some(match first {
            0..=0xfa => u64::from(first),
            0xfb => return Ok(None),
            0xfc => u64::from(self.u16()?),
            0xfd => {
                let b = self.bytes(3)?;
                u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16
            }
            0xfe => self.u64()?,
            0xff => return Err(malformed(self.what, "0xff is not a length")),
        }))
    }

    pub fn lenenc_int(&mut self) -> Result<u64, WireError> {
        self.lenenc_int_or_null()?
            .ok_or_else(|| malformed(self.what, "NULL where a length belongs"))
    }

    pub fn lenenc_bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.lenenc_int()?;
        let n = usize::try_from(n).map_err(|_| malformed(self.what, "length too large"))?;
        self.bytes(n)
    }

    /// A length-encoded string, or `None` for NULL (text rows).
    pub fn lenenc_bytes_or_null(&mut self) -> Result<Option<&'a [u8]>, WireError> {
        match self.lenenc_int_or_null()? {
            None => Ok(None),
            Some(n) => {
                let n = usize::try_from(n).map_err(|_| malformed(self.what, "length too large"))?;
                self.bytes(n).map(Some)
            }
        }
    }

    /// A NUL-terminated string.
    pub fn cstr(&mut self) -> Result<&'a [u8], WireError> {
        let end = self
            .buf
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| malformed(self.what, "string without its terminating NUL"))?;
        let s = &self.buf[..end];
        self.buf = &self.buf[end + 1..];
        Ok(s)
    }
}

pub fn put_lenenc_int(out: &mut BytesMut, n: u64) {
    match n {
        0..=0xfa => out.put_u8(n as u8),
        0xfb..=0xffff => {
            out.put_u8(0xfc);
            out.put_u16_le(n as u16);
        }
        0x1_0000..=0xff_ffff => {
            out.put_u8(0xfd);
            out.put_uint_le(n, 3);
        }
        _ => {
            out.put_u8(0xfe);
            out.put_u64_le(n);
        }
    }
}

pub fn put_lenenc_bytes(out: &mut BytesMut, b: &[u8]) {
    put_lenenc_int(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_at_every_width() {
        for n in [
            0u64,
            250,
            251,
            0xffff,
            0x1_0000,
            0xff_ffff,
            0x100_0000,
            u64::MAX,
        ] {
            let mut out = BytesMut::new();
            put_lenenc_int(&mut out, n);
            let mut r = Reader::new(&out, "test");
            assert_eq!(r.lenenc_int().unwrap(), n);
            assert!(r.is_empty());
        }
        assert_eq!(
            Reader::new(&[0xfb], "t").lenenc_int_or_null().unwrap(),
            None
        );
        assert!(Reader::new(&[0xff], "t").lenenc_int().is_err());
        assert!(Reader::new(&[0xfe, 1], "t").lenenc_int().is_err());
    }
}
