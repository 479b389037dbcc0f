//! Deciding whether a pattern's candidate is the real thing, and which part of it to mask.
//!
//! Patterns over-match on purpose (they must stay simple enough for a DFA); checksums and
//! structural rules here turn away the near misses. A check may also move the span's end or
//! start: a password rule masks only the value after `=`, an IBAN drops a trailing word it
//! swallowed, a private key's BEGIN line extends to its END line.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::checksum::{luhn, mod97};
use crate::{Builtin, Validation};

/// What a detector's candidates must pass.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Check {
    Builtin(Builtin),
    Custom(Validation),
}

/// The span to mask if the candidate `span` of `text` passes, else `None`.
pub(crate) fn accept(check: Check, text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let found = text.get(span.clone())?;
    let ok = match check {
        Check::Custom(Validation::None) => true,
        Check::Custom(Validation::Luhn) => luhn(found),
        Check::Custom(Validation::Mod97) => mod97(found),
        Check::Builtin(builtin) => match builtin {
            Builtin::UsSsn => ssn(found),
            Builtin::Phone => (10..=15).contains(&digits(found)),
            Builtin::Ipv4 => ipv4(text, &span),
            Builtin::Ipv6 => ipv6(text, &span),
            Builtin::Jwt => jwt(found),
            Builtin::Iban => return iban(text, span),
            Builtin::PaymentCard => return card(text, span),
            Builtin::Password => return password_value(text, span),
            Builtin::PrivateKey => return Some(span.start..key_block_end(text, span.end)),
            Builtin::Email | Builtin::AwsAccessKey | Builtin::GithubToken | Builtin::SlackToken => {
                true
            }
        },
    };
    ok.then_some(span)
}

fn digits(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

/// The Social Security Administration never issues area 000, 666 or 900-999, group 00 or
/// serial 0000. The pattern fixed the shape: `AAA-GG-SSSS` or the same with spaces.
fn ssn(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(area), Some(group), Some(serial)) = (b.get(0..3), b.get(4..6), b.get(7..11)) else {
        return false;
    };
    area != b"000"
        && area != b"666"
        && area.first() != Some(&b'9')
        && group != b"00"
        && serial != b"0000"
}

/// Luhn, and a first digit of 2 to 6 (Mastercard 2 and 5, Amex and Diners 3, Visa 4,
/// Discover and UnionPay 6): one long numeric id in ten passes Luhn by chance, and the first
/// digit halves that. The pattern is greedy, so a card followed by more digit groups (a CVV,
/// an expiry) is a longer candidate; failing whole, it is cut back group by group.
fn card(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    if !matches!(text.as_bytes().get(span.start), Some(b'2'..=b'6')) {
        return None;
    }
    let mut end = span.end;
    loop {
        let candidate = text.get(span.start..end)?;
        if digits(candidate) < 13 {
            return None;
        }
        if luhn(candidate) {
            return Some(span.start..end);
        }
        end = span.start + candidate.rfind([' ', '-'])?;
    }
}

/// The address must parse, and it must not be four parts of a longer dotted number (a version
/// string or an OID such as `1.3.6.1.4.1`).
fn ipv4(text: &str, span: &Range<usize>) -> bool {
    let bytes = text.as_bytes();
    let dotted_digit_before = span.start >= 2
        && bytes.get(span.start - 1) == Some(&b'.')
        && bytes.get(span.start - 2).is_some_and(u8::is_ascii_digit);
    let dotted_digit_after = bytes.get(span.end) == Some(&b'.')
        && bytes.get(span.end + 1).is_some_and(u8::is_ascii_digit);
    !dotted_digit_before
        && !dotted_digit_after
        && text
            .get(span.clone())
            .is_some_and(|s| s.parse::<Ipv4Addr>().is_ok())
}

/// The address must parse and stand alone: not part of a longer hex word, nor the head of a
/// longer run of groups (`1:2:3:4:5:6:7:8:9`). A colon after it (`at fe80::1: refused`) is
/// fine.
fn ipv6(text: &str, span: &Range<usize>) -> bool {
    let bytes = text.as_bytes();
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let glued_before = span
        .start
        .checked_sub(1)
        .and_then(|i| bytes.get(i))
        .is_some_and(|b| word(b) || *b == b':');
    let glued_after = bytes.get(span.end).is_some_and(word)
        || (bytes.get(span.end) == Some(&b':')
            && bytes
                .get(span.end + 1)
                .is_some_and(|b| b.is_ascii_hexdigit() || *b == b':'));
    let Some(found) = text.get(span.clone()) else {
        return false;
    };
    // `::` alone (in `a :: b`) parses, but names no host.
    !glued_before
        && !glued_after
        && found.bytes().any(|b| b.is_ascii_hexdigit())
        && found.parse::<Ipv6Addr>().is_ok()
}

/// The whole candidate, or failing that the longest prefix ending before a space, must pass
/// MOD 97 with at least the 15 characters of the shortest IBAN (Norway).
fn iban(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let mut end = span.end;
    loop {
        let candidate = text.get(span.start..end)?;
        if candidate.bytes().filter(|&b| b != b' ').count() < 15 {
            return None;
        }
        if mod97(candidate) {
            return Some(span.start..end);
        }
        end = span.start + candidate.rfind(' ')?;
    }
}

/// The end of the `-----END ...-----` line after a BEGIN line ending at `from`, or the end of
/// the text: leaving half of a truncated key in clear would be worse than masking too much.
fn key_block_end(text: &str, from: usize) -> usize {
    let rest = text.get(from..).unwrap_or("");
    rest.find("-----END ")
        .and_then(|end| {
            let label = end + "-----END ".len();
            let close = rest.get(label..)?.find("-----")?;
            Some(from + label + close + "-----".len())
        })
        .unwrap_or(text.len())
}

/// A JWT's header is a base64url JSON object naming its algorithm. Checking for `{`, `}` and
/// `"alg"` is enough to turn away random base64 without parsing JSON.
fn jwt(s: &str) -> bool {
    let Some(header) = s.split('.').next() else {
        return false;
    };
    let Ok(decoded) = URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    let json = decoded.trim_ascii();
    json.starts_with(b"{") && json.ends_with(b"}") && json.windows(5).any(|w| w == b"\"alg\"")
}

/// Only the value after `=` or `:` (and an opening quote) is masked, so the reader still sees
/// that a password was there. A quoted key with an unquoted value is JSON: the value is a
/// number (masked; the masker quotes it) or `true`, `false`, `null` (left alone), and the
/// span must stop where the number does, before a `}` or `]`.
fn password_value(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let found = text.get(span.clone())?;
    let separator = found.find(['=', ':'])?;
    let quoted_key = found.get(..separator)?.contains('"');
    let after = found.get(separator + 1..)?;
    let value = after.trim_start_matches([' ', '\t']);
    let start = span.end - value.len();
    let (start, end) = if let Some(quoted) = value.strip_prefix(['"', '\'']) {
        (span.end - quoted.len(), span.end)
    } else if quoted_key {
        let number = value
            .bytes()
            .take_while(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
            .count();
        (start, start + number)
    } else {
        (start, span.end)
    };
    (start < end).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(check: Builtin, s: &str) -> Option<Range<usize>> {
        accept(Check::Builtin(check), s, 0..s.len())
    }

    #[test]
    fn ssn_rules() {
        assert!(whole(Builtin::UsSsn, "123-45-6789").is_some());
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-34-5678",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(whole(Builtin::UsSsn, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn password_spans_cover_the_value_only() {
        let text = r#"{"password": "hunter2"}"#;
        let span = 2..text.len() - 2;
        assert_eq!(
            accept(Check::Builtin(Builtin::Password), text, span).map(|r| &text[r]),
            Some("hunter2")
        );
        let text = r#"{"password": null}"#;
        assert!(accept(Check::Builtin(Builtin::Password), text, 2..text.len()).is_none());
        let text = r#"{"password": 123456}"#;
        assert_eq!(
            accept(Check::Builtin(Builtin::Password), text, 2..text.len()).map(|r| &text[r]),
            Some("123456")
        );
        let text = "pwd = s3cret";
        assert_eq!(
            whole(Builtin::Password, text).map(|r| &text[r]),
            Some("s3cret")
        );
    }

    #[test]
    fn card_drops_trailing_groups_that_break_luhn() {
        let text = "4111 1111 1111 1111 123";
        assert_eq!(
            whole(Builtin::PaymentCard, text).map(|r| &text[r]),
            Some("4111 1111 1111 1111")
        );
        assert!(whole(Builtin::PaymentCard, "1111 1111 1111 1117").is_none());
    }

    #[test]
    fn iban_drops_a_swallowed_trailing_word() {
        let text = "DE89 3704 0044 0532 0130 00 AB12";
        assert_eq!(
            whole(Builtin::Iban, text).map(|r| &text[r]),
            Some("DE89 3704 0044 0532 0130 00")
        );
    }
}
