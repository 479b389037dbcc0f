//! Views of the messages a server sends, limited to those the gateway reads.

use crate::cstr::Reader;
use crate::WireError;

pub const AUTHENTICATION: u8 = b'R';
pub const PARAMETER_STATUS: u8 = b'S';
pub const BACKEND_KEY_DATA: u8 = b'K';
pub const READY_FOR_QUERY: u8 = b'Z';
pub const COMMAND_COMPLETE: u8 = b'C';
pub const ERROR_RESPONSE: u8 = b'E';
pub const NOTICE_RESPONSE: u8 = b'N';
pub const EMPTY_QUERY_RESPONSE: u8 = b'I';
pub const PORTAL_SUSPENDED: u8 = b's';
pub const PARSE_COMPLETE: u8 = b'1';
pub const BIND_COMPLETE: u8 = b'2';
pub const CLOSE_COMPLETE: u8 = b'3';
pub const ROW_DESCRIPTION: u8 = b'T';
pub const NO_DATA: u8 = b'n';
pub const PARAMETER_DESCRIPTION: u8 = b't';
pub const DATA_ROW: u8 = b'D';
pub const COPY_IN_RESPONSE: u8 = b'G';
pub const COPY_OUT_RESPONSE: u8 = b'H';
pub const COPY_BOTH_RESPONSE: u8 = b'W';
pub const COPY_DATA: u8 = b'd';
pub const COPY_DONE: u8 = b'c';
pub const NOTIFICATION_RESPONSE: u8 = b'A';
pub const NEGOTIATE_PROTOCOL_VERSION: u8 = b'v';
pub const FUNCTION_CALL_RESPONSE: u8 = b'V';

/// An Authentication request from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthRequest<'a> {
    Ok,
    Cleartext,
    Md5 {
        salt: [u8; 4],
    },
    /// SASL with the mechanisms the server offers, NUL-separated.
    Sasl {
        mechanisms: Vec<&'a [u8]>,
    },
    SaslContinue(&'a [u8]),
    SaslFinal(&'a [u8]),
    Other(i32),
}

pub fn auth_request(body: &[u8]) -> Result<AuthRequest<'_>, WireError> {
    let mut r = Reader::new(AUTHENTICATION, body);
    Ok(match r.i32()? {
        0 => AuthRequest::Ok,
        3 => AuthRequest::Cleartext,
        5 => {
            let s = r.bytes(4)?;
            AuthRequest::Md5 {
                salt: [s[0], s[1], s[2], s[3]],
            }
        }
        10 => {
            let mut mechanisms = Vec::new();
            loop {
                let m = r.cstr()?;
                if m.is_empty() {
                    break;
                }
                mechanisms.push(m);
            }
            AuthRequest::Sasl { mechanisms }
        }
        11 => AuthRequest::SaslContinue(r.remaining()),
        12 => AuthRequest::SaslFinal(r.remaining()),
        other => AuthRequest::Other(other),
    })
}

/// BackendKeyData: the key a client needs to cancel its query.
pub fn backend_key_data(body: &[u8]) -> Result<(i32, &[u8]), WireError> {
    let mut r = Reader::new(BACKEND_KEY_DATA, body);
    let pid = r.i32()?;
    Ok((pid, r.remaining()))
}

pub fn parameter_status(body: &[u8]) -> Result<(&[u8], &[u8]), WireError> {
    let mut r = Reader::new(PARAMETER_STATUS, body);
    let name = r.cstr()?;
    let value = r.cstr()?;
    r.finish()?;
    Ok((name, value))
}

/// The command tag of a CommandComplete, such as `SELECT 5` or `INSERT 0 1`.
pub fn command_tag(body: &[u8]) -> Result<&[u8], WireError> {
    let mut r = Reader::new(COMMAND_COMPLETE, body);
    let tag = r.cstr()?;
    r.finish()?;
    Ok(tag)
}

/// Rows returned or affected, from the last number of a command tag (`UPDATE 3`, `INSERT 0 1`).
/// Tags without a count (`CREATE TABLE`, `BEGIN`) give `None`.
pub fn rows_of_tag(tag: &[u8]) -> Option<u64> {
    let last = tag.rsplit(|&b| b == b' ').next()?;
    if last.is_empty() || tag.len() == last.len() {
        return None;
    }
    std::str::from_utf8(last).ok()?.parse().ok()
}

/// The fields of an ErrorResponse or NoticeResponse that the gateway reports.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ErrorFields<'a> {
    pub severity: &'a [u8],
    pub code: &'a [u8],
    pub message: &'a [u8],
}

pub fn error_fields(body: &[u8]) -> Result<ErrorFields<'_>, WireError> {
    let mut r = Reader::new(ERROR_RESPONSE, body);
    let mut fields = ErrorFields::default();
    loop {
        let kind = r.u8()?;
        if kind == 0 {
            break;
        }
        let value = r.cstr()?;
        match kind {
            // 'V' is the untranslated severity; prefer it over the localized 'S'.
            b'V' => fields.severity = value,
            b'S' if fields.severity.is_empty() => fields.severity = value,
            b'C' => fields.code = value,
            b'M' => fields.message = value,
            _ => {}
        }
    }
    Ok(fields)
}

/// Every field of an ErrorResponse or NoticeResponse, in order: (field type, value).
pub fn all_fields(tag: u8, body: &[u8]) -> Result<Vec<(u8, &[u8])>, WireError> {
    let mut r = Reader::new(tag, body);
    let mut fields = Vec::new();
    loop {
        let kind = r.u8()?;
        if kind == 0 {
            break;
        }
        fields.push((kind, r.cstr()?));
    }
    r.finish()?;
    Ok(fields)
}

/// A NotificationResponse: the notifying backend's pid, the channel and the payload.
pub fn notification(body: &[u8]) -> Result<(i32, &[u8], &[u8]), WireError> {
    let mut r = Reader::new(NOTIFICATION_RESPONSE, body);
    let pid = r.i32()?;
    let channel = r.cstr()?;
    let payload = r.cstr()?;
    r.finish()?;
    Ok((pid, channel, payload))
}

/// Whether a CopyOutResponse announces the binary COPY format (its first byte).
pub fn copy_out_is_binary(body: &[u8]) -> Result<bool, WireError> {
    let mut r = Reader::new(COPY_OUT_RESPONSE, body);
    Ok(r.u8()? != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_from_command_tags() {
        assert_eq!(rows_of_tag(b"SELECT 5"), Some(5));
        assert_eq!(rows_of_tag(b"INSERT 0 12"), Some(12));
        assert_eq!(rows_of_tag(b"COPY 3"), Some(3));
        assert_eq!(rows_of_tag(b"CREATE TABLE"), None);
        assert_eq!(rows_of_tag(b"BEGIN"), None);
        assert_eq!(rows_of_tag(b""), None);
    }

    #[test]
    fn error_fields_prefer_untranslated_severity() {
        let body = b"SFEHLER\0VERROR\0C42P01\0Mrelation \"x\" does not exist\0P15\0\0";
        let f = error_fields(body).unwrap();
        assert_eq!(f.severity, b"ERROR");
        assert_eq!(f.code, b"42P01");
        assert_eq!(f.message, b"relation \"x\" does not exist");
        assert!(error_fields(b"C42P01").is_err());
    }

    #[test]
    fn authentication_requests() {
        assert_eq!(auth_request(b"\0\0\0\0"), Ok(AuthRequest::Ok));
        assert_eq!(
            auth_request(b"\0\0\0\x05abcd"),
            Ok(AuthRequest::Md5 { salt: *b"abcd" })
        );
        assert_eq!(
            auth_request(b"\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"),
            Ok(AuthRequest::Sasl {
                mechanisms: vec![&b"SCRAM-SHA-256-PLUS"[..], &b"SCRAM-SHA-256"[..]]
            })
        );
        assert_eq!(
            auth_request(b"\0\0\0\x0bxyz"),
            Ok(AuthRequest::SaslContinue(b"xyz"))
        );
    }

    #[test]
    fn key_data_and_parameter_status() {
        assert_eq!(backend_key_data(b"\0\0\0\x07abcd"), Ok((7, &b"abcd"[..])));
        assert_eq!(
            parameter_status(b"TimeZone\0UTC\0"),
            Ok((&b"TimeZone"[..], &b"UTC"[..]))
        );
    }
}
