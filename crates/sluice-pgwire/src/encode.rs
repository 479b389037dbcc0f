//! Builders for the messages sluice writes itself. Each appends one whole message to `out`.

use bytes::{BufMut, BytesMut};

use crate::ProtocolVersion;

/// Appends `tag`, a length placeholder and the body written by `body`, then fixes the length.
fn message(out: &mut BytesMut, tag: u8, body: impl FnOnce(&mut BytesMut)) {
    out.put_u8(tag);
    untagged(out, body);
}

/// A length-prefixed message without a tag (startup-phase packets).
fn untagged(out: &mut BytesMut, body: impl FnOnce(&mut BytesMut)) {
    let at = out.len();
    out.put_u32(0);
    body(out);
    let len = (out.len() - at) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn cstr(out: &mut BytesMut, s: &[u8]) {
    out.put_slice(s);
    out.put_u8(0);
}

// ---- server to client ----

pub fn authentication_ok(out: &mut BytesMut) {
    message(out, b'R', |b| b.put_i32(0));
}

pub fn authentication_cleartext(out: &mut BytesMut) {
    message(out, b'R', |b| b.put_i32(3));
}

pub fn authentication_sasl(out: &mut BytesMut, mechanisms: &[&str]) {
    message(out, b'R', |b| {
        b.put_i32(10);
        for m in mechanisms {
            cstr(b, m.as_bytes());
        }
        b.put_u8(0);
    });
}

pub fn authentication_sasl_continue(out: &mut BytesMut, data: &[u8]) {
    message(out, b'R', |b| {
        b.put_i32(11);
        b.put_slice(data);
    });
}

pub fn authentication_sasl_final(out: &mut BytesMut, data: &[u8]) {
    message(out, b'R', |b| {
        b.put_i32(12);
        b.put_slice(data);
    });
}

pub fn parameter_status(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    message(out, b'S', |b| {
        cstr(b, name);
        cstr(b, value);
    });
}

pub fn backend_key_data(out: &mut BytesMut, pid: i32, secret: &[u8]) {
    message(out, b'K', |b| {
        b.put_i32(pid);
        b.put_slice(secret);
    });
}

/// An ErrorResponse or NoticeResponse (`tag`) with exactly these fields.
pub fn fields_message(out: &mut BytesMut, tag: u8, fields: &[(u8, &[u8])]) {
    message(out, tag, |b| {
        for (kind, value) in fields {
            b.put_u8(*kind);
            cstr(b, value);
        }
        b.put_u8(0);
    });
}

pub fn notification(out: &mut BytesMut, pid: i32, channel: &[u8], payload: &[u8]) {
    message(out, b'A', |b| {
        b.put_i32(pid);
        cstr(b, channel);
        cstr(b, payload);
    });
}

pub fn copy_data(out: &mut BytesMut, data: &[u8]) {
    message(out, b'd', |b| b.put_slice(data));
}

// ---- client to server, written by the gateway itself ----

/// A simple Query (the gateway's own catalog reads).
pub fn query(out: &mut BytesMut, sql: &str) {
    message(out, b'Q', |b| cstr(b, sql.as_bytes()));
}

/// What the gateway sends the target in place of a request it refused: a statement the
/// target rejects at once with a syntax error, before touching the catalog, in any state. Its
/// failure does to the target's transaction what the refused request's own failure would have:
/// an open transaction block is aborted (later statements get 25P02, COMMIT rolls back), and a
/// pipeline's implicit transaction rolls back at Sync. The comment is for the target's log.
pub const REFUSED_SQL: &str = "SLUICE_REFUSED /* the gateway refused the client's request; \
                               this error fails the transaction as that refusal does */";

/// The name of the statement the refusal's Parse would create: never created, since it fails,
/// and so never in the way of the client's statements (the unnamed one included).
const REFUSED_STATEMENT: &[u8] = b"sluice_refused";

/// A simple Query of [`REFUSED_SQL`], in place of a refused simple Query (or FunctionCall).
pub fn refused_query(out: &mut BytesMut) {
    query(out, REFUSED_SQL);
}

/// A Parse of [`REFUSED_SQL`], in place of a refused extended-protocol message.
pub fn refused_parse(out: &mut BytesMut) {
    parse(out, REFUSED_STATEMENT, REFUSED_SQL.as_bytes());
}

/// What the gateway sends in place of a request whose text its own parser rejected: a Parse of
/// that text as the statement `name` (parsed by the target, never executed), so the target
/// explains the error in its own words, position, hint and detail; then [`refused_parse`],
/// which fails should the target accept what the gateway's parser did not.
pub fn rejected_text(out: &mut BytesMut, name: &[u8], sql: &[u8]) {
    parse(out, name, sql);
    refused_parse(out);
}

/// A Parse of `sql` as the prepared statement `name`, with no parameter types.
pub fn parse(out: &mut BytesMut, name: &[u8], sql: &[u8]) {
    message(out, b'P', |b| {
        cstr(b, name);
        cstr(b, sql);
        b.put_i16(0);
    });
}

pub fn sync(out: &mut BytesMut) {
    message(out, b'S', |_| {});
}

/// Describe of a portal: the gateway asks for a portal's result columns when it must know
/// them to mask the rows.
pub fn describe_portal(out: &mut BytesMut, portal: &[u8]) {
    message(out, b'D', |b| {
        b.put_u8(b'P');
        cstr(b, portal);
    });
}

pub fn ready_for_query(out: &mut BytesMut, status: u8) {
    message(out, b'Z', |b| b.put_u8(status));
}

/// Severity, SQLSTATE and message of an error or notice that sluice raises itself.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub severity: &'a str,
    pub code: &'a str,
    pub message: &'a str,
    /// 1-based character position in the request's text (psql's `LINE 1:` and `^`).
    pub position: Option<u32>,
}

pub fn error_response(out: &mut BytesMut, report: Report<'_>) {
    message(out, b'E', |b| report_fields(b, report));
}

pub fn notice_response(out: &mut BytesMut, report: Report<'_>) {
    message(out, b'N', |b| report_fields(b, report));
}

fn report_fields(b: &mut BytesMut, r: Report<'_>) {
    b.put_u8(b'S');
    cstr(b, r.severity.as_bytes());
    b.put_u8(b'V');
    cstr(b, r.severity.as_bytes());
    b.put_u8(b'C');
    cstr(b, r.code.as_bytes());
    b.put_u8(b'M');
    cstr(b, r.message.as_bytes());
    if let Some(position) = r.position {
        b.put_u8(b'P');
        cstr(b, position.to_string().as_bytes());
    }
    b.put_u8(0);
}

/// Tells the client the newest minor version sluice speaks and which `_pq_.` options it ignored.
pub fn negotiate_protocol_version(out: &mut BytesMut, newest_minor: u16, unsupported: &[&[u8]]) {
    message(out, b'v', |b| {
        b.put_i32(i32::from(newest_minor));
        b.put_i32(unsupported.len() as i32);
        for o in unsupported {
            cstr(b, o);
        }
    });
}

// ---- client to server ----

pub fn startup_message(out: &mut BytesMut, version: ProtocolVersion, params: &[(&[u8], &[u8])]) {
    untagged(out, |b| {
        b.put_u32(version.code());
        for (k, v) in params {
            cstr(b, k);
            cstr(b, v);
        }
        b.put_u8(0);
    });
}

pub fn ssl_request(out: &mut BytesMut) {
    untagged(out, |b| b.put_u32(crate::startup::SSL_REQUEST_CODE));
}

pub fn cancel_request(out: &mut BytesMut, pid: i32, secret: &[u8]) {
    untagged(out, |b| {
        b.put_u32(crate::startup::CANCEL_REQUEST_CODE);
        b.put_i32(pid);
        b.put_slice(secret);
    });
}

/// A cleartext or MD5 PasswordMessage.
pub fn password_message(out: &mut BytesMut, password: &[u8]) {
    message(out, b'p', |b| cstr(b, password));
}

pub fn sasl_initial_response(out: &mut BytesMut, mechanism: &str, data: &[u8]) {
    message(out, b'p', |b| {
        cstr(b, mechanism.as_bytes());
        b.put_i32(data.len() as i32);
        b.put_slice(data);
    });
}

pub fn sasl_response(out: &mut BytesMut, data: &[u8]) {
    message(out, b'p', |b| b.put_slice(data));
}

pub fn terminate(out: &mut BytesMut) {
    message(out, b'X', |_| {});
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_response_bytes() {
        let mut out = BytesMut::new();
        error_response(
            &mut out,
            Report {
                severity: "FATAL",
                code: "28P01",
                message: "no",
                position: None,
            },
        );
        assert_eq!(&out[..], b"E\0\0\0\x1eSFATAL\0VFATAL\0C28P01\0Mno\0\0");
    }

    #[test]
    fn startup_message_round_trips_through_the_decoder() {
        let mut out = BytesMut::new();
        startup_message(
            &mut out,
            crate::PROTOCOL_3_0,
            &[(b"user", b"bob"), (b"database", b"db")],
        );
        let len = crate::startup::packet_len([out[0], out[1], out[2], out[3]]).unwrap();
        assert_eq!(len, out.len());
        let crate::startup::StartupRequest::Startup(m) = crate::startup::decode(&out[4..]).unwrap()
        else {
            panic!("not a startup message")
        };
        assert_eq!(m.param("user"), Some(&b"bob"[..]));
    }

    #[test]
    fn ready_and_key_data() {
        let mut out = BytesMut::new();
        ready_for_query(&mut out, b'I');
        backend_key_data(&mut out, 9, b"abcd");
        assert_eq!(&out[..], b"Z\0\0\0\x05IK\0\0\0\x0c\0\0\0\x09abcd");
    }
}
