//! Times as the audit trail writes them (RFC 3339) and as the store keeps them (Unix ms).

use ::time::format_description::well_known::Rfc3339;
use ::time::OffsetDateTime;

/// An RFC 3339 time in Unix milliseconds; `None` when it does not parse.
pub(crate) fn parse_ms(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Unix milliseconds as RFC 3339, UTC, to the millisecond.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let ms = parse_ms("2026-12-04T09:00:00.123456Z").unwrap();
        assert_eq!(ms, 1_796_374_800_123);
        assert_eq!(rfc3339_ms(ms), "2026-12-04T09:00:00.123Z");
        assert_eq!(parse_ms("yesterday"), None);
    }
}
