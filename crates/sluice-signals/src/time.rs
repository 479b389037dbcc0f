//! Times as the audit trail writes them (RFC 3339) and as the store keeps them (Unix ms).

use ::time::format_description::well_known::Rfc3339;
use ::time::OffsetDateTime;

/// An RFC 3339 time in Unix milliseconds; `None` when it does not parse.
pub(crate) fn parse_ms(text: &str) -> Option<i64> {
    if let Some(ms) = parse_audit_time(text) {
        return Some(ms);
    }
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The fixed-width UTC form the audit trail writes (`2026-12-04T09:00:00.123456Z`), read
/// digit by digit: every record's time is read, and the general parser costs several times
/// more. Anything else is left to it.
fn parse_audit_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 27
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[26] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        b.get(from..to)?.iter().try_fold(0i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second, micros) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 26)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + micros / 1000)
}

/// Unix milliseconds as RFC 3339, UTC, to the millisecond.
pub fn rfc3339_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_form_reads_as_the_general_parser_does() {
        for t in [
            "2026-12-04T09:00:00.123456Z",
            "2000-02-29T23:59:59.999999Z",
            "1970-01-01T00:00:00.000000Z",
            "2100-03-01T12:34:56.000001Z",
        ] {
            let general = OffsetDateTime::parse(t, &Rfc3339).unwrap();
            assert_eq!(
                parse_audit_time(t),
                Some((general.unix_timestamp_nanos() / 1_000_000) as i64),
                "{t}"
            );
        }
        assert_eq!(parse_audit_time("2026-12-04T09:00:00Z"), None);
        assert_eq!(parse_audit_time("2026-13-04T09:00:00.000000Z"), None);
    }

    #[test]
    fn round_trip() {
        let ms = parse_ms("2026-12-04T09:00:00.123456Z").unwrap();
        assert_eq!(ms, 1_796_374_800_123);
        assert_eq!(rfc3339_ms(ms), "2026-12-04T09:00:00.123Z");
        assert_eq!(parse_ms("yesterday"), None);
    }
}
