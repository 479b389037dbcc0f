//! Check-digit algorithms, computed without allocating.

/// Luhn over the ASCII digits of `s`, ignoring every other character. Fewer than two digits
/// is not a number with a check digit.
pub(crate) fn luhn(s: &str) -> bool {
    let mut sum = 0u32;
    let mut count = 0usize;
    for b in s.bytes().rev().filter(u8::is_ascii_digit) {
        let d = u32::from(b - b'0');
        sum += if count % 2 == 1 {
            let twice = d * 2;
            if twice > 9 {
                twice - 9
            } else {
                twice
            }
        } else {
            d
        };
        count += 1;
    }
    count >= 2 && sum.is_multiple_of(10)
}

/// The IBAN rule (ISO 13616 / ISO 7064 MOD 97-10): spaces ignored, the first four characters
/// moved to the end, letters (either case) read as 10..=35, the whole number is 1 modulo 97. Anything but
/// ASCII letters, digits and spaces fails.
pub(crate) fn mod97(s: &str) -> bool {
    let mut chars = s.bytes().filter(|&b| b != b' ');
    // The four leading characters are read last.
    let mut first = [0u8; 4];
    for slot in &mut first {
        match chars.next() {
            Some(b) => *slot = b,
            None => return false,
        }
    }
    let mut rem = 0u32;
    let mut len = 0usize;
    for b in chars.chain(first) {
        rem = match b {
            b'0'..=b'9' => (rem * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(b - b'A') + 10) % 97,
            b'a'..=b'z' => (rem * 100 + u32::from(b - b'a') + 10) % 97,
            _ => return false,
        };
        len += 1;
    }
    len > 4 && rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_one_digit_off() {
        assert!(luhn("4111 1111 1111 1111"));
        assert!(luhn("378282246310005"));
        assert!(luhn("79927398713"));
        assert!(!luhn("4111 1111 1111 1112"));
        assert!(!luhn("79927398710"));
        assert!(!luhn("0"));
    }

    #[test]
    fn mod97_accepts_published_ibans_and_rejects_a_changed_digit() {
        assert!(mod97("DE89 3704 0044 0532 0130 00"));
        assert!(mod97("GB82WEST12345698765432"));
        assert!(mod97("gb82west12345698765432"));
        assert!(!mod97("DE89 3704 0044 0532 0130 01"));
        assert!(!mod97("GB82"));
        assert!(!mod97("GB82-WEST-1234"));
    }
}
