//! The untagged packets a client may send first: `length (4) + code (4) + payload`.

use crate::cstr::Reader;
use crate::{ProtocolVersion, WireError};

pub const SSL_REQUEST_CODE: u32 = (1234 << 16) | 5679;
pub const GSSENC_REQUEST_CODE: u32 = (1234 << 16) | 5680;
pub const CANCEL_REQUEST_CODE: u32 = (1234 << 16) | 5678;

/// Largest startup packet accepted; PostgreSQL itself uses the same 10 000-byte bound.
pub const MAX_STARTUP_LEN: usize = 10_000;

/// Longest cancel secret the protocol allows (3.2 made it variable, up to 256 bytes).
pub const MAX_CANCEL_SECRET_LEN: usize = 256;

/// A decoded first packet.
#[derive(Debug, PartialEq, Eq)]
pub enum StartupRequest<'a> {
    Ssl,
    GssEnc,
    Cancel { pid: i32, secret: &'a [u8] },
    Startup(StartupMessage<'a>),
}

/// A StartupMessage: the requested version and the `name = value` parameters in wire order.
#[derive(Debug, PartialEq, Eq)]
pub struct StartupMessage<'a> {
    pub version: ProtocolVersion,
    pub params: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> StartupMessage<'a> {
    pub fn param(&self, name: &str) -> Option<&'a [u8]> {
        self.params
            .iter()
            .find(|(k, _)| *k == name.as_bytes())
            .map(|(_, v)| *v)
    }
}

/// Reads the declared length of a startup packet from its first four bytes, bounded.
pub fn packet_len(header: [u8; 4]) -> Result<usize, WireError> {
    let len = u32::from_be_bytes(header);
    if len < 8 {
        return Err(WireError::BadLength(len));
    }
    let len = len as usize;
    if len > MAX_STARTUP_LEN {
        return Err(WireError::TooLarge {
            len,
            max: MAX_STARTUP_LEN,
        });
    }
    Ok(len)
}

/// Decodes the packet after its length field (`code + payload`).
pub fn decode(packet: &[u8]) -> Result<StartupRequest<'_>, WireError> {
    let mut r = Reader::new(0, packet);
    let code = r.i32()? as u32;
    match code {
        SSL_REQUEST_CODE => {
            r.finish()?;
            Ok(StartupRequest::Ssl)
        }
        GSSENC_REQUEST_CODE => {
            r.finish()?;
            Ok(StartupRequest::GssEnc)
        }
        CANCEL_REQUEST_CODE => {
            let pid = r.i32()?;
            let secret = r.remaining();
            if secret.len() < 4 || secret.len() > MAX_CANCEL_SECRET_LEN {
                return Err(WireError::BadStartupParameters);
            }
            Ok(StartupRequest::Cancel { pid, secret })
        }
        code if code >> 16 == 3 => {
            let mut params = Vec::new();
            loop {
                let name = r.cstr().map_err(|_| WireError::BadStartupParameters)?;
                if name.is_empty() {
                    break;
                }
                let value = r.cstr().map_err(|_| WireError::BadStartupParameters)?;
                params.push((name, value));
            }
            r.finish().map_err(|_| WireError::BadStartupParameters)?;
            Ok(StartupRequest::Startup(StartupMessage {
                version: ProtocolVersion::from_code(code),
                params,
            }))
        }
        other => Err(WireError::UnknownStartupCode(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_and_gssenc_requests() {
        assert_eq!(
            decode(&SSL_REQUEST_CODE.to_be_bytes()),
            Ok(StartupRequest::Ssl)
        );
        assert_eq!(
            decode(&GSSENC_REQUEST_CODE.to_be_bytes()),
            Ok(StartupRequest::GssEnc)
        );
    }

    #[test]
    fn startup_message_with_parameters() {
        let packet = b"\x00\x03\x00\x00user\0alice\0database\0app\0\0";
        let StartupRequest::Startup(msg) = decode(packet).unwrap() else {
            panic!("not a startup message")
        };
        assert_eq!(msg.version, crate::PROTOCOL_3_0);
        assert_eq!(msg.param("user"), Some(&b"alice"[..]));
        assert_eq!(msg.param("database"), Some(&b"app"[..]));
        assert_eq!(msg.param("options"), None);
    }

    #[test]
    fn protocol_3_2_is_read_as_such() {
        let StartupRequest::Startup(msg) = decode(b"\x00\x03\x00\x02user\0a\0\0").unwrap() else {
            panic!("not a startup message")
        };
        assert_eq!(msg.version, crate::PROTOCOL_3_2);
    }

    #[test]
    fn cancel_request_with_long_secret() {
        let mut p = CANCEL_REQUEST_CODE.to_be_bytes().to_vec();
        p.extend_from_slice(&42i32.to_be_bytes());
        p.extend_from_slice(&[7u8; 32]);
        assert_eq!(
            decode(&p),
            Ok(StartupRequest::Cancel {
                pid: 42,
                secret: &[7u8; 32]
            })
        );
    }

    #[test]
    fn unterminated_parameters_are_rejected() {
        assert_eq!(
            decode(b"\x00\x03\x00\x00user\0alice"),
            Err(WireError::BadStartupParameters)
        );
    }

    #[test]
    fn garbage_code_is_rejected() {
        assert_eq!(
            decode(b"GET / HTTP/1.1"),
            Err(WireError::UnknownStartupCode(u32::from_be_bytes(*b"GET ")))
        );
    }

    #[test]
    fn startup_length_bounds() {
        assert_eq!(packet_len([0, 0, 0, 4]), Err(WireError::BadLength(4)));
        assert!(packet_len([0, 1, 0, 0]).is_err());
        assert_eq!(packet_len([0, 0, 0, 8]), Ok(8));
    }
}
