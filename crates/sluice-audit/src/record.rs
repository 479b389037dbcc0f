//! The on-disk record: one JSON line per event, chained by the SHA-256 of the
//! previous line's exact bytes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::AuditError;
use crate::event::AuditEvent;

/// `prev` of the very first record of a log.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One line of the audit log, as read back.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub seq: u64,
    /// RFC 3339, UTC, microsecond precision.
    pub time: String,
    /// Hex SHA-256 of the previous record's line (without its `\n`).
    pub prev: String,
    /// The gateway that wrote the record, when it was given a name. Each gateway keeps its
    /// own chain, so a set of trails collected from several gateways can be told apart and
    /// merged. Absent in trails written before names existed and by unnamed gateways; skipped
    /// when `None` so those lines keep exactly their old bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(flatten)]
    pub event: AuditEvent,
}

impl AuditRecord {
    /// Parses one line (with or without its trailing `\n`).
    pub fn from_line(line: &[u8]) -> Result<Self, AuditError> {
        Ok(serde_json::from_slice(strip_newline(line))?)
    }

    /// The record's timestamp, parsed.
    pub fn timestamp(&self) -> Result<OffsetDateTime, time::error::Parse> {
        OffsetDateTime::parse(&self.time, &time::format_description::well_known::Rfc3339)
    }
}

/// SHA-256 of a line's bytes; the `\n` terminator, if present, is not hashed.
pub fn hash_line(line: &[u8]) -> [u8; 32] {
    Sha256::digest(strip_newline(line)).into()
}

fn strip_newline(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

/// Serializes an event body (`{"type":...}`) outside any lock, so the critical
/// section only splices in the chain header.
pub(crate) fn encode_body(event: &AuditEvent, out: &mut Vec<u8>) -> Result<(), AuditError> {
    out.clear();
    serde_json::to_writer(&mut *out, event)?;
    Ok(())
}

/// Writes `now` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`: fixed-width UTC so lines sort and compare
/// as text, microseconds because statements in one session are often less than a millisecond
/// apart. Digit by digit, because this runs twice per audited statement and the generic
/// formatter costs several times more.
fn write_time(out: &mut Vec<u8>, now: OffsetDateTime) {
    let now = now.to_offset(time::UtcOffset::UTC);
    let digits = |out: &mut Vec<u8>, value: u32, width: u32| {
        for i in (0..width).rev() {
            out.push(b'0' + ((value / 10u32.pow(i)) % 10) as u8);
        }
    };
    digits(out, now.year().clamp(0, 9999) as u32, 4);
    out.push(b'-');
    digits(out, u32::from(u8::from(now.month())), 2);
    out.push(b'-');
    digits(out, u32::from(now.day()), 2);
    out.push(b'T');
    digits(out, u32::from(now.hour()), 2);
    out.push(b':');
    digits(out, u32::from(now.minute()), 2);
    out.push(b':');
    digits(out, u32::from(now.second()), 2);
    out.push(b'.');
    digits(out, now.microsecond(), 6);
    out.push(b'Z');
}

/// `now` as a record's `time` is written, for fields that must equal it exactly.
pub(crate) fn format_time(now: OffsetDateTime) -> String {
    let mut out = Vec::with_capacity(27);
    write_time(&mut out, now);
    // Only ASCII digits and separators are written.
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends `{"seq":..,"time":..,"prev":..[,"gateway":..],<body fields>}\n` to `out` and
/// returns the hash of the line just written.
///
/// `gateway` is the name already encoded as a JSON string (quotes and escapes included),
/// encoded once at open rather than on every append.
///
/// Splicing yields exactly what serializing an [`AuditRecord`] would (header
/// fields first, then the flattened event), and hashing the bytes as they lie
/// in the buffer guarantees the hash matches the bytes that reach disk.
pub(crate) fn encode_line(
    out: &mut Vec<u8>,
    seq: u64,
    now: OffsetDateTime,
    prev: &[u8; 32],
    gateway: Option<&[u8]>,
    body: &[u8],
) -> Result<[u8; 32], AuditError> {
    let start = out.len();
    let mut prev_hex = [0u8; 64];
    // Cannot fail: the output is exactly twice the input length.
    let _ = hex::encode_to_slice(prev, &mut prev_hex);
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
    out.extend_from_slice(b",\"time\":\"");
    write_time(out, now);
    out.extend_from_slice(b"\",\"prev\":\"");
    out.extend_from_slice(&prev_hex);
    out.push(b'"');
    if let Some(gateway) = gateway {
        out.extend_from_slice(b",\"gateway\":");
        out.extend_from_slice(gateway);
    }
    // The body is a JSON object; drop its `{` and keep the rest, including `}`.
    match body.split_first() {
        Some((b'{', rest)) if rest.len() > 1 => {
            out.push(b',');
            out.extend_from_slice(rest);
        }
        _ => out.push(b'}'),
    }
    let hash = hash_line(&out[start..]);
    out.push(b'\n');
    Ok(hash)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );

    #[test]
    fn hand_written_time_matches_the_format_description() {
        for unix_micros in [
            0i128,
            1_763_750_400_123_456,
            1_700_000_000_000_001,
            253_402_300_799_999_999,
        ] {
            let t = OffsetDateTime::from_unix_timestamp_nanos(unix_micros * 1000).unwrap();
            let mut fast = Vec::new();
            write_time(&mut fast, t);
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                t.format(TIME_FORMAT).unwrap()
            );
        }
    }

    #[test]
    fn spliced_line_parses_and_round_trips() {
        let event = AuditEvent::GatewayStopped {
            reason: "sig\"term\n".into(),
        };
        let mut body = Vec::new();
        encode_body(&event, &mut body).unwrap();
        let mut out = Vec::new();
        let now = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        let hash = encode_line(&mut out, 7, now, &[0u8; 32], None, &body).unwrap();
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        let rec = AuditRecord::from_line(&out).unwrap();
        assert_eq!(rec.seq, 7);
        assert_eq!(rec.time, "2023-11-14T22:13:20.123456Z");
        assert_eq!(rec.prev, GENESIS_PREV);
        assert_eq!(rec.event, event);
        assert_eq!(hash, hash_line(&out));
        // Same bytes as serializing the record type directly.
        let direct = serde_json::to_vec(&rec).unwrap();
        assert_eq!(&direct[..], &out[..out.len() - 1]);
        assert!(rec.timestamp().is_ok());
        assert_eq!(rec.gateway, None);
        assert!(!out.windows(9).any(|w| w == b"\"gateway\""));
    }

    #[test]
    fn spliced_line_with_a_gateway_matches_serde() {
        let event = AuditEvent::GatewayStopped {
            reason: "stop".into(),
        };
        let mut body = Vec::new();
        encode_body(&event, &mut body).unwrap();
        // A name that needs escaping, to show the splice writes valid JSON.
        let name = "gw-\"east\"\u{7f}";
        let encoded = serde_json::to_vec(name).unwrap();
        let mut out = Vec::new();
        let now = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_000_000_000).unwrap();
        let hash = encode_line(&mut out, 3, now, &[1u8; 32], Some(&encoded), &body).unwrap();
        let rec = AuditRecord::from_line(&out).unwrap();
        assert_eq!(rec.gateway.as_deref(), Some(name));
        assert_eq!(rec.event, event);
        assert_eq!(hash, hash_line(&out));
        // `gateway` comes right after `prev`, exactly where serde puts it.
        let direct = serde_json::to_vec(&rec).unwrap();
        assert_eq!(&direct[..], &out[..out.len() - 1]);
    }
}
