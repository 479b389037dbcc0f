//! Views of the messages a client sends after startup.

use crate::cstr::Reader;
use crate::WireError;

pub const QUERY: u8 = b'Q';
pub const PARSE: u8 = b'P';
pub const BIND: u8 = b'B';
pub const EXECUTE: u8 = b'E';
pub const DESCRIBE: u8 = b'D';
pub const CLOSE: u8 = b'C';
pub const SYNC: u8 = b'S';
pub const FLUSH: u8 = b'H';
pub const TERMINATE: u8 = b'X';
pub const COPY_DATA: u8 = b'd';
pub const COPY_DONE: u8 = b'c';
pub const COPY_FAIL: u8 = b'f';
pub const FUNCTION_CALL: u8 = b'F';
/// PasswordMessage, SASLInitialResponse and SASLResponse all use this tag.
pub const PASSWORD: u8 = b'p';

/// A client message, borrowing from the frame body.
#[derive(Debug, PartialEq, Eq)]
pub enum FrontendMessage<'a> {
    Query {
        sql: &'a [u8],
    },
    Parse {
        statement: &'a [u8],
        sql: &'a [u8],
    },
    Bind(Bind<'a>),
    Execute {
        portal: &'a [u8],
        max_rows: i32,
    },
    /// `kind` is `b'S'` (statement) or `b'P'` (portal).
    Describe {
        kind: u8,
        name: &'a [u8],
    },
    Close {
        kind: u8,
        name: &'a [u8],
    },
    Sync,
    Flush,
    Terminate,
    CopyData,
    CopyDone,
    CopyFail {
        message: &'a [u8],
    },
    FunctionCall(FunctionCall<'a>),
    Password(&'a [u8]),
}

/// A FunctionCall (the fast-path interface, psql's `\lo_import`): a function named by OID and
/// its arguments, laid out as a Bind's parameters.
#[derive(Debug, PartialEq, Eq)]
pub struct FunctionCall<'a> {
    pub function_oid: u32,
    /// The arguments with their formats.
    pub arguments: Vec<BoundValue<'a>>,
}

/// A Bind message. Parameter values are kept raw; [`Bind::parameters`] reads them only when the
/// audit configuration asks for them, so the common path does not walk them.
#[derive(Debug, PartialEq, Eq)]
pub struct Bind<'a> {
    pub portal: &'a [u8],
    pub statement: &'a [u8],
    rest: &'a [u8],
}

/// One bound parameter value and whether it was sent in binary format.
#[derive(Debug, PartialEq, Eq)]
pub struct BoundValue<'a> {
    pub binary: bool,
    pub value: Option<&'a [u8]>,
}

impl<'a> Bind<'a> {
    /// The parameter values with their formats.
    pub fn parameters(&self) -> Result<Vec<BoundValue<'a>>, WireError> {
        bound_values(&mut Reader::new(BIND, self.rest))
    }
}

/// Format codes then values, as Bind and FunctionCall carry them.
fn bound_values<'a>(r: &mut Reader<'a>) -> Result<Vec<BoundValue<'a>>, WireError> {
    let format_count = non_negative(r.i16()?)?;
    let mut formats = Vec::with_capacity(format_count);
    for _ in 0..format_count {
        formats.push(r.i16()? == 1);
    }
    let count = non_negative(r.i16()?)?;
    let mut values = Vec::with_capacity(count);
    for i in 0..count {
        let len = r.i32()?;
        let value = if len < 0 {
            None
        } else {
            Some(r.bytes(len as usize)?)
        };
        let binary = match formats.len() {
            0 => false,
            1 => formats[0],
            _ => formats.get(i).copied().unwrap_or(false),
        };
        values.push(BoundValue { binary, value });
    }
    Ok(values)
}

fn non_negative(n: i16) -> Result<usize, WireError> {
    usize::try_from(n).map_err(|_| WireError::Truncated {
        tag: char::from(BIND),
    })
}

/// Decodes one client message from its tag and body.
///
/// Unknown tags are an error: a gateway that forwarded messages it cannot classify could not
/// audit them.
pub fn decode(tag: u8, body: &[u8]) -> Result<FrontendMessage<'_>, WireError> {
    let mut r = Reader::new(tag, body);
    let msg = match tag {
        QUERY => {
            let sql = r.cstr()?;
            r.finish()?;
            FrontendMessage::Query { sql }
        }
        PARSE => {
            let statement = r.cstr()?;
            let sql = r.cstr()?;
            let n = r.i16()?;
            let n = usize::try_from(n).map_err(|_| WireError::Truncated { tag: 'P' })?;
            r.bytes(n * 4)?;
            r.finish()?;
            FrontendMessage::Parse { statement, sql }
        }
        BIND => {
            let portal = r.cstr()?;
            let statement = r.cstr()?;
            FrontendMessage::Bind(Bind {
                portal,
                statement,
                rest: r.remaining(),
            })
        }
        EXECUTE => {
            let portal = r.cstr()?;
            let max_rows = r.i32()?;
            r.finish()?;
            FrontendMessage::Execute { portal, max_rows }
        }
        DESCRIBE | CLOSE => {
            let kind = r.u8()?;
            if kind != b'S' && kind != b'P' {
                return Err(WireError::Truncated {
                    tag: char::from(tag),
                });
            }
            let name = r.cstr()?;
            r.finish()?;
            if tag == DESCRIBE {
                FrontendMessage::Describe { kind, name }
            } else {
                FrontendMessage::Close { kind, name }
            }
        }
        SYNC | FLUSH | TERMINATE | COPY_DONE => {
            r.finish()?;
            match tag {
                SYNC => FrontendMessage::Sync,
                FLUSH => FrontendMessage::Flush,
                TERMINATE => FrontendMessage::Terminate,
                _ => FrontendMessage::CopyDone,
            }
        }
        COPY_DATA => FrontendMessage::CopyData,
        COPY_FAIL => {
            let message = r.cstr()?;
            r.finish()?;
            FrontendMessage::CopyFail { message }
        }
        FUNCTION_CALL => {
            let function_oid = r.i32()? as u32;
            let arguments = bound_values(&mut r)?;
            r.i16()?;
            r.finish()?;
            FrontendMessage::FunctionCall(FunctionCall {
                function_oid,
                arguments,
            })
        }
        PASSWORD => FrontendMessage::Password(body),
        other => return Err(WireError::UnknownMessage(other)),
    };
    Ok(msg)
}

/// Reads a SASLInitialResponse body: mechanism name and the client-first message.
pub fn sasl_initial_response(body: &[u8]) -> Result<(&[u8], &[u8]), WireError> {
    let mut r = Reader::new(PASSWORD, body);
    let mechanism = r.cstr()?;
    let len = r.i32()?;
    let data = if len < 0 {
        &[][..]
    } else {
        r.bytes(len as usize)?
    };
    r.finish()?;
    Ok((mechanism, data))
}

/// Reads a cleartext PasswordMessage body.
pub fn password(body: &[u8]) -> Result<&[u8], WireError> {
    let mut r = Reader::new(PASSWORD, body);
    let pw = r.cstr()?;
    r.finish()?;
    Ok(pw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query() {
        assert_eq!(
            decode(b'Q', b"select 1\0"),
            Ok(FrontendMessage::Query { sql: b"select 1" })
        );
        assert!(decode(b'Q', b"select 1").is_err());
        assert!(decode(b'Q', b"select 1\0x").is_err());
    }

    #[test]
    fn parse_with_parameter_types() {
        let body = b"s1\0select $1\0\x00\x01\x00\x00\x00\x17";
        assert_eq!(
            decode(b'P', body),
            Ok(FrontendMessage::Parse {
                statement: b"s1",
                sql: b"select $1"
            })
        );
        assert!(decode(b'P', b"s1\0select $1\0\x00\x02\x00\x00\x00\x17").is_err());
    }

    #[test]
    fn bind_parameters_text_binary_and_null() {
        let body = b"p\0s\0\x00\x02\x00\x00\x00\x01\x00\x03\x00\x00\x00\x0242\x00\x00\x00\x01\x07\xff\xff\xff\xff\x00\x00";
        let FrontendMessage::Bind(bind) = decode(b'B', body).unwrap() else {
            panic!("not a bind")
        };
        assert_eq!(bind.portal, b"p");
        assert_eq!(bind.statement, b"s");
        let params = bind.parameters().unwrap();
        assert_eq!(
            params,
            vec![
                BoundValue {
                    binary: false,
                    value: Some(b"42")
                },
                BoundValue {
                    binary: true,
                    value: Some(b"\x07")
                },
                BoundValue {
                    binary: false,
                    value: None
                },
            ]
        );
    }

    #[test]
    fn bind_with_lying_lengths_fails_cleanly() {
        let FrontendMessage::Bind(bind) =
            decode(b'B', b"\0\0\x00\x00\x00\x01\x00\x00\x10\x00").unwrap()
        else {
            panic!("not a bind")
        };
        assert!(bind.parameters().is_err());
    }

    #[test]
    fn execute_describe_close_sync() {
        assert_eq!(
            decode(b'E', b"\0\0\0\0\0"),
            Ok(FrontendMessage::Execute {
                portal: b"",
                max_rows: 0
            })
        );
        assert_eq!(
            decode(b'D', b"Sname\0"),
            Ok(FrontendMessage::Describe {
                kind: b'S',
                name: b"name"
            })
        );
        assert!(decode(b'D', b"Xname\0").is_err());
        assert_eq!(
            decode(b'C', b"P\0"),
            Ok(FrontendMessage::Close {
                kind: b'P',
                name: b""
            })
        );
        assert_eq!(decode(b'S', b""), Ok(FrontendMessage::Sync));
        assert!(decode(b'S', b"x").is_err());
    }

    #[test]
    fn unknown_tag_is_an_error() {
        assert_eq!(decode(0, b""), Err(WireError::UnknownMessage(0)));
    }

    #[test]
    fn sasl_initial_response_fields() {
        let body = b"SCRAM-SHA-256\0\x00\x00\x00\x05n,,ab";
        assert_eq!(
            sasl_initial_response(body),
            Ok((&b"SCRAM-SHA-256"[..], &b"n,,ab"[..]))
        );
        assert!(sasl_initial_response(b"SCRAM-SHA-256\0\x00\x00\x00\x09n,,").is_err());
    }
}
