//! Framing and the primitive types of the SFTP wire format: every packet is a `u32` length
//! followed by that many bytes, the first of which is the packet type.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::SftpError;

/// The largest body OpenSSH accepts in either direction (`SFTP_MAX_MSG_LENGTH`): its
/// sftp-server drops a client announcing more, and its client drops such a server.
pub const MAX_PACKET_LEN: usize = 256 * 1024;

pub const SSH_FXP_INIT: u8 = 1;
pub const SSH_FXP_VERSION: u8 = 2;
pub const SSH_FXP_OPEN: u8 = 3;
pub const SSH_FXP_CLOSE: u8 = 4;
pub const SSH_FXP_READ: u8 = 5;
pub const SSH_FXP_WRITE: u8 = 6;
pub const SSH_FXP_LSTAT: u8 = 7;
pub const SSH_FXP_FSTAT: u8 = 8;
pub const SSH_FXP_SETSTAT: u8 = 9;
pub const SSH_FXP_FSETSTAT: u8 = 10;
pub const SSH_FXP_OPENDIR: u8 = 11;
pub const SSH_FXP_READDIR: u8 = 12;
pub const SSH_FXP_REMOVE: u8 = 13;
pub const SSH_FXP_MKDIR: u8 = 14;
pub const SSH_FXP_RMDIR: u8 = 15;
pub const SSH_FXP_REALPATH: u8 = 16;
pub const SSH_FXP_STAT: u8 = 17;
pub const SSH_FXP_RENAME: u8 = 18;
pub const SSH_FXP_READLINK: u8 = 19;
pub const SSH_FXP_SYMLINK: u8 = 20;
pub const SSH_FXP_STATUS: u8 = 101;
pub const SSH_FXP_HANDLE: u8 = 102;
pub const SSH_FXP_DATA: u8 = 103;
pub const SSH_FXP_NAME: u8 = 104;
pub const SSH_FXP_ATTRS: u8 = 105;
pub const SSH_FXP_EXTENDED: u8 = 200;
pub const SSH_FXP_EXTENDED_REPLY: u8 = 201;

pub const SSH_FX_OK: u32 = 0;
pub const SSH_FX_EOF: u32 = 1;
pub const SSH_FX_NO_SUCH_FILE: u32 = 2;
pub const SSH_FX_PERMISSION_DENIED: u32 = 3;
pub const SSH_FX_FAILURE: u32 = 4;
pub const SSH_FX_BAD_MESSAGE: u32 = 5;
pub const SSH_FX_OP_UNSUPPORTED: u32 = 8;

/// The longest path accepted: Linux's PATH_MAX. Servers refuse longer ones anyway, and the
/// tracker keeps paths of unanswered requests, so their size bounds its memory.
pub const MAX_PATH_LEN: usize = 4096;

/// The longest handle accepted: draft-02 forbids servers longer ones, and the tracker keeps
/// one per open file.
pub const MAX_HANDLE_LEN: usize = 256;

/// One whole packet as it came off the stream, length prefix included, so that forwarding
/// it is a write of [`Packet::raw`] with no re-encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    raw: Bytes,
}

impl Packet {
    /// The packet as received: length prefix, type, rest of the body.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    pub fn into_raw(self) -> Bytes {
        self.raw
    }

    /// Type byte and everything after it.
    pub fn body(&self) -> Bytes {
        self.raw.slice(4..)
    }

    /// The type byte; `None` for an empty body (which no type allows).
    pub fn packet_type(&self) -> Option<u8> {
        self.raw.get(4).copied()
    }

    /// The request id of any packet but INIT and VERSION, read without parsing the rest,
    /// so that a relay can answer a request it failed to parse.
    pub fn request_id(&self) -> Option<u32> {
        match self.packet_type()? {
            SSH_FXP_INIT | SSH_FXP_VERSION => None,
            _ => {
                let b = self.raw.get(5..9)?;
                Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            }
        }
    }
}

/// Cuts a byte stream, however it is chunked, into whole packets.
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    max: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    /// A framer with OpenSSH's limit, [`MAX_PACKET_LEN`].
    pub fn new() -> Self {
        Self::with_max(MAX_PACKET_LEN)
    }

    /// A framer refusing bodies longer than `max` bytes.
    pub fn with_max(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max,
        }
    }

    /// Appends channel data.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet returned as part of a packet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole packet, `Ok(None)` until one has arrived. An error is final: the
    /// stream is no longer in step with packet boundaries.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, SftpError> {
        let Some(prefix) = self.buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        // Checked before the body arrives: waiting for it would let a peer make us buffer
        // up to 4 GiB.
        if len > self.max {
            return Err(SftpError::TooLong { len, max: self.max });
        }
        if self.buf.len() < 4 + len {
            // Reserve once for the whole packet rather than growing with every chunk.
            self.buf.reserve(4 + len - self.buf.len());
            return Ok(None);
        }
        Ok(Some(Packet {
            raw: self.buf.split_to(4 + len).freeze(),
        }))
    }
}

/// Reads the fields of a packet body in order, each failing rather than reading past the end.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
}

impl Reader {
    pub fn new(buf: Bytes) -> Self {
        Self { buf }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, SftpError> {
        if self.buf.is_empty() {
            return Err(SftpError::Malformed(what));
        }
        Ok(self.buf.get_u8())
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, SftpError> {
        if self.buf.len() < 4 {
            return Err(SftpError::Malformed(what));
        }
        Ok(self.buf.get_u32())
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, SftpError> {
        if self.buf.len() < 8 {
            return Err(SftpError::Malformed(what));
        }
        Ok(self.buf.get_u64())
    }

    /// A length-prefixed string as bytes, sharing the packet's memory.
    pub fn bytes(&mut self, what: &'static str) -> Result<Bytes, SftpError> {
        let len = self.u32(what)? as usize;
        if self.buf.len() < len {
            return Err(SftpError::Malformed(what));
        }
        Ok(self.buf.split_to(len))
    }

    /// A handle, copied out of the packet: a slice would keep the whole packet's buffer
    /// (up to 256 KiB of WRITE data) alive for as long as the tracker holds the handle.
    pub fn handle(&mut self, what: &'static str) -> Result<Bytes, SftpError> {
        let b = self.bytes(what)?;
        if b.len() > MAX_HANDLE_LEN {
            return Err(SftpError::Malformed("handle longer than 256 bytes"));
        }
        Ok(Bytes::copy_from_slice(&b))
    }

    /// A string that names a file. Invalid UTF-8 is replaced (U+FFFD) so that a policy can
    /// still match the rest of the name; a NUL is refused because a C server stops reading
    /// there, and `"/etc/shadow\0/../ok"` would then be checked as one path and opened as
    /// another.
    pub fn path(&mut self, what: &'static str) -> Result<String, SftpError> {
        let b = self.bytes(what)?;
        if b.len() > MAX_PATH_LEN {
            return Err(SftpError::Malformed("path longer than PATH_MAX"));
        }
        if b.contains(&0) {
            return Err(SftpError::Malformed("NUL byte in a path"));
        }
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// A string read for display (messages, extension names); replaced where not UTF-8.
    pub fn text(&mut self, what: &'static str) -> Result<String, SftpError> {
        let b = self.bytes(what)?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// Skips `n` bytes, the payload of a WRITE or DATA, without copying it.
    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<(), SftpError> {
        if self.buf.len() < n {
            return Err(SftpError::Malformed(what));
        }
        self.buf.advance(n);
        Ok(())
    }
}

/// File attributes (draft-02 section 5). Only what the relay may want to show is kept; the
/// extended pairs are checked for length and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs {
    pub size: Option<u64>,
    pub uid_gid: Option<(u32, u32)>,
    pub permissions: Option<u32>,
    pub atime_mtime: Option<(u32, u32)>,
}

const ATTR_SIZE: u32 = 0x1;
const ATTR_UIDGID: u32 = 0x2;
const ATTR_PERMISSIONS: u32 = 0x4;
const ATTR_ACMODTIME: u32 = 0x8;
const ATTR_EXTENDED: u32 = 0x8000_0000;

impl Attrs {
    pub fn read(r: &mut Reader) -> Result<Self, SftpError> {
        let flags = r.u32("attrs flags")?;
        let mut a = Attrs::default();
        if flags & ATTR_SIZE != 0 {
            a.size = Some(r.u64("attrs size")?);
        }
        if flags & ATTR_UIDGID != 0 {
            a.uid_gid = Some((r.u32("attrs uid")?, r.u32("attrs gid")?));
        }
        if flags & ATTR_PERMISSIONS != 0 {
            a.permissions = Some(r.u32("attrs permissions")?);
        }
        if flags & ATTR_ACMODTIME != 0 {
            a.atime_mtime = Some((r.u32("attrs atime")?, r.u32("attrs mtime")?));
        }
        if flags & ATTR_EXTENDED != 0 {
            let count = r.u32("attrs extended count")?;
            for _ in 0..count {
                r.bytes("attrs extended type")?;
                r.bytes("attrs extended data")?;
            }
        }
        Ok(a)
    }
}

/// Writes a length-prefixed string.
pub fn put_string(out: &mut BytesMut, s: &[u8]) {
    out.put_u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
    out.put_slice(s);
}

/// An SSH_FXP_STATUS packet, framed.
pub fn status(id: u32, code: u32, message: &str) -> Bytes {
    let mut body = BytesMut::with_capacity(32 + message.len());
    body.put_u8(SSH_FXP_STATUS);
    body.put_u32(id);
    body.put_u32(code);
    put_string(&mut body, message.as_bytes());
    // Language tag: OpenSSH sends it empty.
    put_string(&mut body, b"");
    let mut out = BytesMut::with_capacity(4 + body.len());
    out.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
    out.put_slice(&body);
    out.freeze()
}

/// The gateway's answer to a request its policy refused: SSH_FX_PERMISSION_DENIED, with a
/// message naming the rule. OpenSSH's `sftp` shows its own text for the code ("Permission
/// denied") and logs the message only at debug level; other clients may show it.
pub fn status_denied(id: u32, message: &str) -> Bytes {
    status(id, SSH_FX_PERMISSION_DENIED, message)
}

/// The gateway's answer to a request it could not read (SSH_FX_BAD_MESSAGE) or does not
/// relay (SSH_FX_OP_UNSUPPORTED) — or any failure: SSH_FX_FAILURE.
pub fn status_failure(id: u32, message: &str) -> Bytes {
    status(id, SSH_FX_FAILURE, message)
}
