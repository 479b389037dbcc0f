//! Server responses (server to client packets), read for what the tracker needs: outcomes,
//! handles, byte counts and the names of REALPATH answers.

use bytes::Bytes;

use crate::codec::*;
use crate::SftpError;

/// One server response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerResponse {
    /// The id of the request answered; 0 for VERSION, which answers INIT.
    pub id: u32,
    pub kind: ResponseKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseKind {
    /// The server's version and the extensions it announces (name, data).
    Version {
        version: u32,
        extensions: Vec<(String, String)>,
    },
    Status {
        code: u32,
        message: String,
    },
    Handle(Bytes),
    /// The data is skipped, not copied: only its length is kept.
    Data {
        len: u32,
    },
    /// `count` entries; only the first name is kept, which is the answer of REALPATH,
    /// READLINK and expand-path.
    Name {
        count: u32,
        first: Option<String>,
    },
    Attrs(Attrs),
    ExtendedReply,
    Unknown(u8),
}

impl ServerResponse {
    pub fn parse(packet: &Packet) -> Result<Self, SftpError> {
        let mut r = Reader::new(packet.body());
        let t = r.u8("empty packet")?;
        if t == SSH_FXP_VERSION {
            let version = r.u32("VERSION version")?;
            let mut extensions = Vec::new();
            while r.remaining() > 0 {
                let name = r.text("VERSION extension name")?;
                let data = r.text("VERSION extension data")?;
                extensions.push((name, data));
            }
            return Ok(Self {
                id: 0,
                kind: ResponseKind::Version {
                    version,
                    extensions,
                },
            });
        }
        let id = r.u32("response id")?;
        let kind = match t {
            SSH_FXP_STATUS => {
                let code = r.u32("STATUS code")?;
                // Some version 3 servers end the packet after the code; the message and
                // language tag are optional here.
                let message = if r.remaining() > 0 {
                    r.text("STATUS message")?
                } else {
                    String::new()
                };
                ResponseKind::Status { code, message }
            }
            SSH_FXP_HANDLE => ResponseKind::Handle(r.handle("HANDLE handle")?),
            SSH_FXP_DATA => {
                let len = r.u32("DATA data")?;
                r.skip(len as usize, "DATA data")?;
                ResponseKind::Data { len }
            }
            SSH_FXP_NAME => {
                let count = r.u32("NAME count")?;
                let first = if count > 0 {
                    let name = r.path("NAME filename")?;
                    r.bytes("NAME longname")?;
                    Attrs::read(&mut r)?;
                    Some(name)
                } else {
                    None
                };
                ResponseKind::Name { count, first }
            }
            SSH_FXP_ATTRS => ResponseKind::Attrs(Attrs::read(&mut r)?),
            SSH_FXP_EXTENDED_REPLY => ResponseKind::ExtendedReply,
            other => ResponseKind::Unknown(other),
        };
        Ok(Self { id, kind })
    }
}
