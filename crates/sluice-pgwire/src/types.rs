//! What masking can do with a result value, given its PostgreSQL type OID.
//!
//! Content masking finds sensitive text (emails, card numbers, ...) in values and rewrites it.
//! In the text result format every value is text, but only text-like types can take arbitrary
//! replacement text back; in the binary format a value must first be turned into the text
//! PostgreSQL would have printed, which sluice can do for a few types, and can write back only
//! for the text-like ones. A value sluice cannot read must not be relayed when masking applies
//! to it, so every type falls into exactly one of the cases below, and anything unrecognised or
//! malformed lands in the most restrictive one.

use std::cmp::Ordering;
use std::fmt::Write as _;

const BOOL: u32 = 16;
const CHAR: u32 = 18;
const NAME: u32 = 19;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT4: u32 = 23;
const TEXT: u32 = 25;
const OID: u32 = 26;
const TID: u32 = 27;
const XID: u32 = 28;
const CID: u32 = 29;
const JSON: u32 = 114;
const JSON_ARRAY: u32 = 199;
const CIDR: u32 = 650;
const FLOAT4: u32 = 700;
const FLOAT8: u32 = 701;
const UNKNOWN: u32 = 705;
const MACADDR: u32 = 829;
const INET: u32 = 869;
const NAME_ARRAY: u32 = 1003;
const TEXT_ARRAY: u32 = 1009;
const BPCHAR_ARRAY: u32 = 1014;
const VARCHAR_ARRAY: u32 = 1015;
const BPCHAR: u32 = 1042;
const VARCHAR: u32 = 1043;
const DATE: u32 = 1082;
const TIME: u32 = 1083;
const TIMESTAMP: u32 = 1114;
const TIMESTAMPTZ: u32 = 1184;
const INTERVAL: u32 = 1186;
const TIMETZ: u32 = 1266;
const NUMERIC: u32 = 1700;
const UUID: u32 = 2950;
const PG_LSN: u32 = 3220;
const JSONB: u32 = 3802;
const JSONB_ARRAY: u32 = 3807;

/// The only jsonb binary format version PostgreSQL has defined.
const JSONB_VERSION: u8 = 1;

/// How a value in the text result format can carry masked text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFit {
    /// Any text is a valid value (arrays included: masking rewrites inside elements).
    Text,
    /// The value is JSON; replacement text must keep it valid JSON.
    Json,
    /// Replacement text could make the value invalid for its type.
    Other,
}

/// text, varchar (1043), bpchar (1042), name (19), unknown (705), and arrays of those
/// (1009 text[], 1015 varchar[], 1014 bpchar[], 1003 name[]) -> Text;
/// json (114), jsonb (3802), json[] (199), jsonb[] (3807) -> Json; anything else -> Other.
pub fn text_fit(type_oid: u32) -> TextFit {
    match type_oid {
        TEXT | VARCHAR | BPCHAR | NAME | UNKNOWN | TEXT_ARRAY | VARCHAR_ARRAY | BPCHAR_ARRAY
        | NAME_ARRAY => TextFit::Text,
        JSON | JSONB | JSON_ARRAY | JSONB_ARRAY => TextFit::Json,
        _ => TextFit::Other,
    }
}

/// A binary-format (format code 1) value seen through its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryView<'a> {
    /// The bytes are the value's text: text, varchar, bpchar, name, unknown, json (114) as UTF-8;
    /// jsonb (3802) = version byte 1 followed by the text (the view is the text after that byte).
    /// Invalid UTF-8 or a jsonb version other than 1 -> Opaque.
    Text(&'a str),
    /// A value sluice can render to exactly the text PostgreSQL's text output would give, but
    /// cannot write back: int8 (20), numeric (1700), float8 (701), inet (869), cidr (650), macaddr (829).
    Rendered(String),
    /// Cannot contain text a content detector finds (email, SSN with separators, 13-19 digit
    /// cards, phone numbers with separators or +, IP addresses, tokens): bool 16, int2 21,
    /// int4 23, oid 26, float4 700, date 1082, time 1083, timestamp 1114, timestamptz 1184,
    /// interval 1186, timetz 1266, uuid 2950, "char" 18, xid 28, cid 29, tid 27, pg_lsn 3220.
    Inert,
    /// Anything else (bytea, arrays, records, composites, enums, user types, malformed bytes):
    /// unreadable, so a value that content masking applies to must be replaced by NULL.
    Opaque,
}

/// Classifies a binary-format value of the given type; bytes that do not decode as that type are
/// Opaque, whatever the type.
pub fn binary_view(type_oid: u32, bytes: &[u8]) -> BinaryView<'_> {
    let view = match type_oid {
        TEXT | VARCHAR | BPCHAR | NAME | UNKNOWN | JSON => {
            std::str::from_utf8(bytes).ok().map(BinaryView::Text)
        }
        JSONB => match bytes.split_first() {
            Some((&JSONB_VERSION, text)) => std::str::from_utf8(text).ok().map(BinaryView::Text),
            _ => None,
        },
        INT8 => be_array(bytes).map(|b| BinaryView::Rendered(i64::from_be_bytes(b).to_string())),
        FLOAT8 => be_array(bytes).map(|b| BinaryView::Rendered(float8_text(f64::from_be_bytes(b)))),
        NUMERIC => numeric_text(bytes).map(BinaryView::Rendered),
        INET => inet_text(bytes, false).map(BinaryView::Rendered),
        CIDR => inet_text(bytes, true).map(BinaryView::Rendered),
        MACADDR => macaddr_text(bytes).map(BinaryView::Rendered),
        _ => inert_size(type_oid)
            .filter(|&size| size == bytes.len())
            .map(|_| BinaryView::Inert),
    };
    view.unwrap_or(BinaryView::Opaque)
}

/// Encodes `text` as the binary value of a text-like type (the Text cases of binary_view):
/// the UTF-8 bytes, with the version byte 1 in front for jsonb. Returns false (writing nothing)
/// for any other type.
pub fn encode_binary_text(type_oid: u32, text: &str, out: &mut Vec<u8>) -> bool {
    match type_oid {
        TEXT | VARCHAR | BPCHAR | NAME | UNKNOWN | JSON => {}
        JSONB => out.push(JSONB_VERSION),
        _ => return false,
    }
    out.extend_from_slice(text.as_bytes());
    true
}

/// The binary send size of each inert type. All are fixed-size, so a value of any other length
/// is not what the type claims and is treated as unreadable rather than trusted as inert.
fn inert_size(type_oid: u32) -> Option<usize> {
    Some(match type_oid {
        BOOL | CHAR => 1,
        INT2 => 2,
        TID => 6,
        INT4 | OID | FLOAT4 | DATE | XID | CID => 4,
        TIME | TIMESTAMP | TIMESTAMPTZ | PG_LSN => 8,
        TIMETZ => 12,
        INTERVAL | UUID => 16,
        _ => return None,
    })
}

fn be_array<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    bytes.try_into().ok()
}

/// float8out with the default extra_float_digits (PostgreSQL 12+), laid out like printf's %g:
/// fixed for decimal exponents -4..=14, else scientific with an at-least-two-digit exponent.
fn float8_text(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let mut out = String::with_capacity(24);
    if value.is_sign_negative() {
        out.push('-');
    }
    if value == 0.0 {
        out.push('0');
        return out;
    }
    let (mut mantissa, mut scale) = shortest_decimal(value.abs());
    // Trailing zeros are only ever written in fixed notation, where the layout restores them.
    while mantissa != 0 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale += 1;
    }
    let digits = mantissa.to_string();
    let digits = digits.as_str();
    let exponent = scale + digits.len() as i32 - 1;
    if (-4..15).contains(&exponent) {
        if exponent < 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
            out.push_str(digits);
        } else {
            let int_len = exponent as usize + 1;
            if digits.len() <= int_len {
                out.push_str(digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    }
    out
}

/// The decimal `mantissa * 10^scale` PostgreSQL's Ryu picks for a positive finite double: the
/// fewest significant digits that lie strictly inside the double's rounding interval (PostgreSQL
/// builds Ryu without STRICTLY_SHORTEST, so unlike Rust's `{}` it never accepts a boundary),
/// and of those the nearest to the value, ties to an even last digit.
fn shortest_decimal(value: f64) -> (u64, i32) {
    let bits = value.to_bits();
    let fraction = bits & ((1 << 52) - 1);
    let biased = (bits >> 52) as i32;
    let (m2, e2) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    let exact = Dyadic {
        mantissa: m2,
        exponent: e2,
    };
    // The interval is half an ulp either side, except just above a power of two, where the
    // next double down is half as far away.
    let upper = Dyadic {
        mantissa: 2 * m2 + 1,
        exponent: e2 - 1,
    };
    let lower = if fraction == 0 && biased > 1 {
        Dyadic {
            mantissa: 4 * m2 - 1,
            exponent: e2 - 2,
        }
    } else {
        Dyadic {
            mantissa: 2 * m2 - 1,
            exponent: e2 - 1,
        }
    };
    let inside = |d: Decimal| lower.cmp_decimal(d).is_lt() && upper.cmp_decimal(d).is_gt();

    // Rust's shortest accepts even boundaries, so it can be shorter than PostgreSQL's but never
    // longer: start there. Seventeen digits always fit strictly inside.
    let rust_len = format!("{value:e}")
        .split('e')
        .next()
        .map_or(17, |m| m.bytes().filter(u8::is_ascii_digit).count());
    for len in rust_len.max(1)..=17 {
        let Some(near) = rounded(value, len) else {
            break;
        };
        // The two `len`-digit decimals either side of the value, at the value's own scale
        // (rounding up to a power of ten moves `near` one scale too coarse).
        let (floor, ceil) = match exact.cmp_decimal(near) {
            Ordering::Equal => return (near.mantissa, near.scale),
            Ordering::Greater => (near, near.next()),
            Ordering::Less if near.mantissa == 10u64.pow(len as u32 - 1) => (
                Decimal {
                    mantissa: near.mantissa * 10 - 1,
                    scale: near.scale - 1,
                },
                near,
            ),
            Ordering::Less => (near.prev(), near),
        };
        let twice = Dyadic {
            mantissa: exact.mantissa * 2,
            exponent: exact.exponent,
        };
        let ceil_at_floor_scale = ceil.mantissa * 10u64.pow((ceil.scale - floor.scale) as u32);
        let midpoint_twice = Decimal {
            mantissa: floor.mantissa + ceil_at_floor_scale,
            scale: floor.scale,
        };
        let (first, second) = match twice.cmp_decimal(midpoint_twice) {
            Ordering::Less => (floor, ceil),
            Ordering::Greater => (ceil, floor),
            Ordering::Equal if floor.mantissa % 2 == 0 => (floor, ceil),
            Ordering::Equal => (ceil, floor),
        };
        if inside(first) {
            return (first.mantissa, first.scale);
        }
        if inside(second) {
            return (second.mantissa, second.scale);
        }
    }
    // Unreachable for a finite double; seventeen correctly rounded digits are a safe answer.
    rounded(value, 17).map_or((0, 0), |d| (d.mantissa, d.scale))
}

/// `value` correctly rounded to `len` significant digits.
fn rounded(value: f64, len: usize) -> Option<Decimal> {
    let text = format!("{:.*e}", len - 1, value);
    let (mantissa, exponent) = text.split_once('e')?;
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    Some(Decimal {
        mantissa: digits.parse().ok()?,
        scale: exponent.parse::<i32>().ok()? - (len as i32 - 1),
    })
}

/// `mantissa * 10^scale`.
#[derive(Debug, Clone, Copy)]
struct Decimal {
    mantissa: u64,
    scale: i32,
}

impl Decimal {
    fn next(self) -> Decimal {
        Decimal {
            mantissa: self.mantissa + 1,
            ..self
        }
    }
    fn prev(self) -> Decimal {
        Decimal {
            mantissa: self.mantissa - 1,
            ..self
        }
    }
}

/// `mantissa * 2^exponent`.
#[derive(Debug, Clone, Copy)]
struct Dyadic {
    mantissa: u64,
    exponent: i32,
}

impl Dyadic {
    /// Exact comparison with a decimal: both sides are scaled to integers, so this needs
    /// numbers far wider than any machine integer (a double spans about 2^-1074..2^1024).
    fn cmp_decimal(self, d: Decimal) -> Ordering {
        let mut left = Big::from(self.mantissa);
        let mut right = Big::from(d.mantissa);
        if d.scale >= 0 {
            right.mul_pow5(d.scale.unsigned_abs());
            right.shl(d.scale.unsigned_abs());
        } else {
            left.mul_pow5(d.scale.unsigned_abs());
            left.shl(d.scale.unsigned_abs());
        }
        if self.exponent >= 0 {
            left.shl(self.exponent.unsigned_abs());
        } else {
            right.shl(self.exponent.unsigned_abs());
        }
        left.cmp(&right)
    }
}

/// An unsigned integer of any size, least significant 32-bit limb first, with just the
/// operations exact float comparison needs.
#[derive(Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl From<u64> for Big {
    fn from(v: u64) -> Self {
        Big(vec![v as u32, (v >> 32) as u32])
    }
}

impl Big {
    fn mul_small(&mut self, factor: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let product = u64::from(*limb) * u64::from(factor) + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow5(&mut self, mut power: u32) {
        // 5^13 is the largest power of five that fits a limb.
        while power >= 13 {
            self.mul_small(1_220_703_125);
            power -= 13;
        }
        self.mul_small(5u32.pow(power));
    }

    fn shl(&mut self, bits: u32) {
        let limbs = (bits / 32) as usize;
        let bits = bits % 32;
        if bits != 0 {
            let mut carry = 0u32;
            for limb in &mut self.0 {
                let shifted = (u64::from(*limb) << bits) | u64::from(carry);
                *limb = shifted as u32;
                carry = (shifted >> 32) as u32;
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }
        self.0.splice(0..0, std::iter::repeat_n(0, limbs));
    }

    fn significant(&self) -> &[u32] {
        let len = self.0.iter().rposition(|&l| l != 0).map_or(0, |i| i + 1);
        &self.0[..len]
    }
}

impl PartialOrd for Big {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Big {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.significant(), other.significant());
        a.len()
            .cmp(&b.len())
            .then_with(|| a.iter().rev().cmp(b.iter().rev()))
    }
}

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;
const NUMERIC_DSCALE_MASK: u16 = 0x3FFF;
const NBASE: u16 = 10000;

/// numeric_out of a numeric_send value. The header checks are numeric_recv's, so anything
/// PostgreSQL itself would reject is unreadable here too.
fn numeric_text(bytes: &[u8]) -> Option<String> {
    let header = bytes.get(..8)?;
    let field = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    // numeric_recv reads the digit count as unsigned; a wide integer part can need more than
    // i16::MAX groups.
    let ndigits = usize::from(field(0));
    let weight = field(2) as i16;
    let sign = field(4);
    let dscale = field(6);
    let body = &bytes[8..];
    if body.len() != ndigits * 2 || dscale & !NUMERIC_DSCALE_MASK != 0 {
        return None;
    }
    let digits: Vec<u16> = body
        .chunks_exact(2)
        .map(|d| u16::from_be_bytes([d[0], d[1]]))
        .collect();
    if digits.iter().any(|&d| d >= NBASE) {
        return None;
    }
    match sign {
        NUMERIC_POS | NUMERIC_NEG => {}
        NUMERIC_NAN => return Some("NaN".to_owned()),
        NUMERIC_PINF => return Some("Infinity".to_owned()),
        NUMERIC_NINF => return Some("-Infinity".to_owned()),
        _ => return None,
    }

    // Digit groups are indexed from the most significant, which has the given weight; indexes
    // outside the stored digits are implicit zeros on either side.
    let group = |index: i32| -> u16 {
        usize::try_from(index)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let weight = i32::from(weight);
    let mut out = String::new();
    if sign == NUMERIC_NEG {
        out.push('-');
    }
    let mut index = if weight < 0 {
        out.push('0');
        weight + 1
    } else {
        let _ = write!(out, "{}", group(0));
        for index in 1..=weight {
            let _ = write!(out, "{:04}", group(index));
        }
        weight + 1
    };
    if dscale > 0 {
        out.push('.');
        let mut fraction = String::with_capacity(usize::from(dscale) + 4);
        while fraction.len() < usize::from(dscale) {
            let _ = write!(fraction, "{:04}", group(index));
            index += 1;
        }
        // numeric_out truncates, not rounds: dscale already bounds the stored digits.
        fraction.truncate(usize::from(dscale));
        out.push_str(&fraction);
    }
    Some(out)
}

const PGSQL_AF_INET: u8 = 2;
const PGSQL_AF_INET6: u8 = 3;

/// network_out of an inet_send/cidr_send value. The is_cidr byte is ignored, as network_recv
/// does: which of the two types the column has decides the output.
fn inet_text(bytes: &[u8], cidr: bool) -> Option<String> {
    let (&[family, bits, _is_cidr, len], addr) = bytes.split_first_chunk::<4>()?;
    if usize::from(len) != addr.len() {
        return None;
    }
    let mut out = match (family, addr) {
        (PGSQL_AF_INET, [a, b, c, d]) if bits <= 32 => {
            let mut out = format!("{a}.{b}.{c}.{d}");
            if bits != 32 {
                let _ = write!(out, "/{bits}");
            }
            out
        }
        (PGSQL_AF_INET6, _) if addr.len() == 16 && bits <= 128 => {
            let mut out = ipv6_text(addr);
            if bits != 128 {
                let _ = write!(out, "/{bits}");
            }
            out
        }
        _ => return None,
    };
    if cidr && !out.contains('/') {
        let _ = write!(out, "/{bits}");
    }
    Some(out)
}

/// PostgreSQL's inet_net_ntop_ipv6. std's Ipv6Addr Display agrees except for embedded IPv4:
/// PostgreSQL also prints IPv4-compatible addresses (`::1.2.3.4`) in dotted form.
fn ipv6_text(addr: &[u8]) -> String {
    let mut words = [0u16; 8];
    for (word, pair) in words.iter_mut().zip(addr.chunks_exact(2)) {
        *word = u16::from_be_bytes([pair[0], pair[1]]);
    }
    // The first longest run of zero words, if at least two long, becomes "::".
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < 8 {
        if words[i] != 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < 8 && words[i] == 0 {
            i += 1;
        }
        let len = i - start;
        if len >= 2 && best.is_none_or(|(_, best_len)| len > best_len) {
            best = Some((start, len));
        }
    }

    let mut out = String::with_capacity(48);
    for (i, word) in words.iter().enumerate() {
        if let Some((start, len)) = best {
            if (start..start + len).contains(&i) {
                if i == start {
                    out.push(':');
                }
                continue;
            }
        }
        if i != 0 {
            out.push(':');
        }
        let embedded_v4 =
            matches!(best, Some((0, 6))) || (best == Some((0, 5)) && words[5] == 0xffff);
        if i == 6 && embedded_v4 {
            let _ = write!(out, "{}.{}.{}.{}", addr[12], addr[13], addr[14], addr[15]);
            return out;
        }
        let _ = write!(out, "{word:x}");
    }
    if matches!(best, Some((start, len)) if start + len == 8) {
        out.push(':');
    }
    out
}

fn macaddr_text(bytes: &[u8]) -> Option<String> {
    let [a, b, c, d, e, f] = be_array::<6>(bytes)?;
    Some(format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Byte/text pairs below come from a live PostgreSQL 15 (`*_send(x)` against `x`'s output).

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn rendered(type_oid: u32, bytes_hex: &str) -> String {
        match binary_view(type_oid, &hex(bytes_hex)) {
            BinaryView::Rendered(s) => s,
            other => panic!("{type_oid} {bytes_hex}: {other:?}"),
        }
    }

    fn opaque(type_oid: u32, bytes: &[u8]) -> bool {
        binary_view(type_oid, bytes) == BinaryView::Opaque
    }

    #[test]
    fn text_fit_by_oid() {
        for oid in [25, 1043, 1042, 19, 705, 1009, 1015, 1014, 1003] {
            assert_eq!(text_fit(oid), TextFit::Text, "{oid}");
        }
        for oid in [114, 3802, 199, 3807] {
            assert_eq!(text_fit(oid), TextFit::Json, "{oid}");
        }
        for oid in [0, 16, 17, 20, 23, 701, 1700, 869, 2950, 1007, 2249, 16384] {
            assert_eq!(text_fit(oid), TextFit::Other, "{oid}");
        }
    }

    #[test]
    fn text_types_are_their_utf8() {
        for oid in [25, 1043, 1042, 19, 705, 114] {
            assert_eq!(binary_view(oid, b"a@b.c"), BinaryView::Text("a@b.c"));
            assert_eq!(binary_view(oid, "é".as_bytes()), BinaryView::Text("é"));
            assert_eq!(binary_view(oid, b""), BinaryView::Text(""));
            assert!(opaque(oid, b"\xff\xfe"), "{oid}");
        }
    }

    #[test]
    fn jsonb_needs_version_one() {
        let bytes = hex("017b2261223a20227840792e7a227d");
        assert_eq!(
            binary_view(3802, &bytes),
            BinaryView::Text(r#"{"a": "x@y.z"}"#)
        );
        assert!(opaque(3802, b"\x02{}"));
        assert!(opaque(3802, b"{}"));
        assert!(opaque(3802, b""));
        assert!(opaque(3802, b"\x01\xff"));
        // The version byte is not part of the text, so plain json keeps a leading 0x01.
        assert_eq!(binary_view(114, b"\x01{}"), BinaryView::Text("\u{1}{}"));
    }

    #[test]
    fn int8() {
        assert_eq!(rendered(20, "0000000000000000"), "0");
        assert_eq!(rendered(20, "ffffffffffffffff"), "-1");
        assert_eq!(rendered(20, "000e9b08a568f1c7"), "4111111111111111");
        assert_eq!(rendered(20, "7fffffffffffffff"), "9223372036854775807");
        assert_eq!(rendered(20, "8000000000000000"), "-9223372036854775808");
        assert!(opaque(20, &[0; 4]));
        assert!(opaque(20, &[0; 9]));
    }

    #[test]
    fn numeric() {
        for (bytes, text) in [
            ("0000000000000000", "0"),
            ("0000000000000002", "0.00"),
            ("0001ffff000000040001", "0.0001"),
            ("0001ffff400000040001", "-0.0001"),
            ("0002000000000004007b1194", "123.4500"),
            ("0002000040000002007b1194", "-123.45"),
            ("0004000300000000100f045704570457", "4111111111111111"),
            ("00010001000000000001", "10000"),
            (
                "0005ffff000000140d050d050d050d050d05",
                "0.33333333333333333333",
            ),
            ("000300010000000104d2162e2328", "12345678.9"),
            ("00000000c0000000", "NaN"),
            ("00000000d0000020", "Infinity"),
            ("00000000f0000020", "-Infinity"),
        ] {
            assert_eq!(rendered(1700, bytes), text, "{bytes}");
        }
        // Integer groups past the stored digits, and fraction digits cut at dscale.
        assert_eq!(rendered(1700, "0001000200000000000c"), "1200000000");
        assert_eq!(rendered(1700, "0002000000000002000104d2"), "1.12");
    }

    #[test]
    fn numeric_malformed() {
        for bytes in [
            "",
            "00000000000000",
            "0001000000000000",
            "000100000000000000010002",
            "00010000000000002710",
            "0000000080000000",
            "0000000000004000",
        ] {
            assert!(opaque(1700, &hex(bytes)), "{bytes}");
        }
    }

    #[test]
    fn float8() {
        for (bytes, text) in [
            ("432d36114ad1e38e", "4.111111111111111e+15"),
            ("42dc12218377de40", "123456789012345"),
            ("3f1a36e2eb1c432d", "0.0001"),
            ("3ee4f8b588e368f1", "1e-05"),
            ("3eef75104d551d69", "1.5e-05"),
            ("430c6bf526340000", "1e+15"),
            ("8000000000000000", "-0"),
            ("0000000000000000", "0"),
            ("0000000000000001", "5e-324"),
            ("7fefffffffffffff", "1.7976931348623157e+308"),
            ("3fb999999999999a", "0.1"),
            ("4059000000000000", "100"),
            ("54b249ad2594c37d", "1e+100"),
            ("c004000000000000", "-2.5"),
            ("7ff8000000000000", "NaN"),
            ("7ff0000000000000", "Infinity"),
            ("fff0000000000000", "-Infinity"),
            // Exactly ...461.25: two shortest candidates, PostgreSQL takes the even one.
            ("43055b89ce8e102a", "751452743123461.2"),
            // 16 digits would land exactly on the rounding boundary, which PostgreSQL's Ryu
            // does not accept (Rust's `{}` prints 6.258234010665826e16).
            ("436bcac9d0e8a43a", "6.2582340106658256e+16"),
        ] {
            assert_eq!(rendered(701, bytes), text, "{bytes}");
        }
        assert!(opaque(701, &[0; 4]));
        assert!(opaque(701, &[]));
    }

    #[test]
    fn float8_layout_thresholds() {
        assert_eq!(float8_text(1e14), "100000000000000");
        assert_eq!(float8_text(123456789012345.6), "123456789012345.6");
        assert_eq!(float8_text(1e16), "1e+16");
        assert_eq!(float8_text(-1.25e-5), "-1.25e-05");
        assert_eq!(float8_text(0.000123), "0.000123");
        assert_eq!(float8_text(1e-100), "1e-100");
    }

    #[test]
    fn inet() {
        for (bytes, text) in [
            ("02200004c0a80001", "192.168.0.1"),
            ("020800040a000000", "10.0.0.0/8"),
            ("0380001000000000000000000000000000000001", "::1"),
            ("0380001000000000000000000000000001020304", "::1.2.3.4"),
            ("0380001000000000000000000000ffff01020304", "::ffff:1.2.3.4"),
            ("0340001020010db8000000000000000000000001", "2001:db8::1/64"),
            ("0380001000010000000000010000000000000001", "1:0:0:1::1"),
            ("03800010fe800000000000000000000000000000", "fe80::"),
            ("0380001000000000000000000000000000000000", "::"),
            (
                "0380001000010000000100000001000000010000",
                "1:0:1:0:1:0:1:0",
            ),
        ] {
            assert_eq!(rendered(869, bytes), text, "{bytes}");
        }
    }

    #[test]
    fn cidr_always_has_a_prefix() {
        for (bytes, text) in [
            ("022001040a010203", "10.1.2.3/32"),
            ("020801040a000000", "10.0.0.0/8"),
            ("0300011000000000000000000000000000000000", "::/0"),
            ("0320011020010db8000000000000000000000000", "2001:db8::/32"),
            ("0380011000000000000000000000000000000001", "::1/128"),
        ] {
            assert_eq!(rendered(650, bytes), text, "{bytes}");
        }
    }

    #[test]
    fn inet_malformed() {
        for bytes in [
            "",
            "022000",
            "02200004c0a800",
            "02200004c0a8000100",
            "02210004c0a80001",
            "02200010c0a80001",
            "01200004c0a80001",
            "0381001000000000000000000000000000000001",
            "03800004c0a80001",
        ] {
            assert!(opaque(869, &hex(bytes)), "{bytes}");
            assert!(opaque(650, &hex(bytes)), "{bytes}");
        }
    }

    #[test]
    fn macaddr() {
        assert_eq!(rendered(829, "08002b010203"), "08:00:2b:01:02:03");
        assert_eq!(rendered(829, "ffffffffffff"), "ff:ff:ff:ff:ff:ff");
        assert!(opaque(829, &[0; 5]));
        assert!(opaque(829, &[0; 8]));
    }

    #[test]
    fn inert_types_at_their_size() {
        for (oid, size) in [
            (16, 1),
            (18, 1),
            (21, 2),
            (23, 4),
            (26, 4),
            (700, 4),
            (1082, 4),
            (28, 4),
            (29, 4),
            (27, 6),
            (1083, 8),
            (1114, 8),
            (1184, 8),
            (3220, 8),
            (1266, 12),
            (1186, 16),
            (2950, 16),
        ] {
            assert_eq!(
                binary_view(oid, &vec![0x41; size]),
                BinaryView::Inert,
                "{oid}"
            );
            assert!(opaque(oid, &vec![0x41; size + 1]), "{oid}");
            assert!(opaque(oid, &vec![0x41; size - 1]), "{oid}");
        }
    }

    #[test]
    fn everything_else_is_opaque() {
        // bytea, text[], json[], record, an enum or user type, int4[], xml.
        for oid in [17, 1009, 199, 2249, 16384, 1007, 142] {
            assert!(opaque(oid, b"a@b.c"), "{oid}");
        }
    }

    #[test]
    fn encode_text_types() {
        for oid in [25, 1043, 1042, 19, 705, 114] {
            let mut out = b"x".to_vec();
            assert!(encode_binary_text(oid, "***@b.c", &mut out));
            assert_eq!(out, b"x***@b.c");
            assert_eq!(binary_view(oid, &out[1..]), BinaryView::Text("***@b.c"));
        }
        let mut out = Vec::new();
        assert!(encode_binary_text(3802, "{}", &mut out));
        assert_eq!(out, b"\x01{}");
        assert_eq!(binary_view(3802, &out), BinaryView::Text("{}"));
    }

    #[test]
    fn encode_refuses_other_types() {
        for oid in [16, 17, 20, 23, 701, 1700, 869, 1009, 3807, 16384] {
            let mut out = b"x".to_vec();
            assert!(!encode_binary_text(oid, "text", &mut out), "{oid}");
            assert_eq!(out, b"x");
        }
    }
}
