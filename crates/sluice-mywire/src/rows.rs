//! Result rows: the text protocol's (every value a length-encoded string or NULL) and the
//! binary protocol's (a NULL bitmap, then each value in its type's encoding).

use bytes::{BufMut, BytesMut};

use crate::caps::types;
use crate::error::{malformed, WireError};
use crate::lenenc::{put_lenenc_bytes, Reader};

/// The values of a text row, `None` for NULL.
pub fn read_text_row(payload: &[u8], width: usize) -> Result<Vec<Option<&[u8]>>, WireError> {
    let mut r = Reader::new(payload, "text row");
    let mut values = Vec::with_capacity(width);
    for _ in 0..width {
        values.push(r.lenenc_bytes_or_null()?);
    }
    if !r.is_empty() {
        return Err(malformed("text row", "more values than columns"));
    }
    Ok(values)
}

pub fn write_text_row<'v>(out: &mut BytesMut, values: impl IntoIterator<Item = Option<&'v [u8]>>) {
    for v in values {
        match v {
            Some(v) => put_lenenc_bytes(out, v),
            None => out.put_u8(0xfb),
        }
    }
}

/// How a binary value is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueType {
    pub column_type: u8,
    pub unsigned: bool,
}

/// One value of a binary row, as encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryValue<'a> {
    pub kind: ValueType,
    /// The value's bytes as sent, its length prefix included.
    pub raw: &'a [u8],
}

impl<'a> BinaryValue<'a> {
    /// Reads one value of `kind` off `r`.
    pub fn read(r: &mut Reader<'a>, kind: ValueType) -> Result<BinaryValue<'a>, WireError> {
        let before = r.rest();
        let fixed = match kind.column_type {
            types::TINY => Some(1),
            types::SHORT | types::YEAR => Some(2),
            types::LONG | types::INT24 | types::FLOAT => Some(4),
            types::LONGLONG | types::DOUBLE => Some(8),
            types::NULL => Some(0),
            _ => None,
        };
        match fixed {
            Some(n) => {
                r.bytes(n)?;
            }
            None => match kind.column_type {
                types::DATE
                | types::DATETIME
                | types::TIMESTAMP
                | types::NEWDATE
                | types::TIME
                | types::DATETIME2
                | types::TIMESTAMP2
                | types::TIME2 => {
                    let n = r.u8()?;
                    r.bytes(usize::from(n))?;
                }
                _ => {
                    r.lenenc_bytes()?;
                }
            },
        }
        let used = before.len() - r.rest().len();
        Ok(BinaryValue {
            kind,
            raw: &before[..used],
        })
    }

    /// A string type's contents (without the length prefix).
    pub fn string(&self) -> Option<&'a [u8]> {
        if !types::is_string(self.kind.column_type) && !is_other_lenenc(self.kind.column_type) {
            return None;
        }
        Reader::new(self.raw, "value").lenenc_bytes().ok()
    }

    /// The value as the text protocol would send it; `None` when the bytes are not valid
    /// for the type.
    pub fn to_text(&self) -> Option<String> {
        if let Some(s) = self.string() {
            return Some(String::from_utf8_lossy(s).into_owned());
        }
        let mut r = Reader::new(self.raw, "value");
        let u = self.kind.unsigned;
        Some(match self.kind.column_type {
            types::TINY => {
                let b = r.u8().ok()?;
                if u {
                    b.to_string()
                } else {
                    (b as i8).to_string()
                }
            }
            types::SHORT | types::YEAR => {
                let v = r.u16().ok()?;
                if u || self.kind.column_type == types::YEAR {
                    v.to_string()
                } else {
                    (v as i16).to_string()
                }
            }
            types::LONG | types::INT24 => {
                let v = r.u32().ok()?;
                if u {
                    v.to_string()
                } else {
                    (v as i32).to_string()
                }
            }
            types::LONGLONG => {
                let v = r.u64().ok()?;
                if u {
                    v.to_string()
                } else {
                    (v as i64).to_string()
                }
            }
            types::FLOAT => f32::from_bits(r.u32().ok()?).to_string(),
            types::DOUBLE => f64::from_bits(r.u64().ok()?).to_string(),
            types::NULL => return None,
            types::TIME | types::TIME2 => time_text(&mut r)?,
            _ => date_text(
                &mut r,
                self.kind.column_type == types::DATE || self.kind.column_type == types::NEWDATE,
            )?,
        })
    }
}

/// Types without a fixed encoding that are sent length-encoded (BIT, GEOMETRY, VECTOR, ...).
fn is_other_lenenc(t: u8) -> bool {
    !matches!(
        t,
        types::TINY
            | types::SHORT
            | types::YEAR
            | types::LONG
            | types::INT24
            | types::FLOAT
            | types::LONGLONG
            | types::DOUBLE
            | types::NULL
            | types::DATE
            | types::DATETIME
            | types::TIMESTAMP
            | types::NEWDATE
            | types::TIME
            | types::DATETIME2
            | types::TIMESTAMP2
            | types::TIME2
    )
}

fn date_text(r: &mut Reader<'_>, date_only: bool) -> Option<String> {
    let n = r.u8().ok()?;
    let (mut y, mut mo, mut d, mut h, mut mi, mut s, mut us) =
        (0u16, 0u8, 0u8, 0u8, 0u8, 0u8, 0u32);
    if n >= 4 {
        y = r.u16().ok()?;
        mo = r.u8().ok()?;
        d = r.u8().ok()?;
    }
    if n >= 7 {
        h = r.u8().ok()?;
        mi = r.u8().ok()?;
        s = r.u8().ok()?;
    }
    if n >= 11 {
        us = r.u32().ok()?;
    }
    let date = format!("{y:04}-{mo:02}-{d:02}");
    if date_only {
        return Some(date);
    }
    let mut t = format!("{date} {h:02}:{mi:02}:{s:02}");
    if us > 0 {
        t.push_str(&format!(".{us:06}"));
    }
    Some(t)
}

fn time_text(r: &mut Reader<'_>) -> Option<String> {
    let n = r.u8().ok()?;
    if n == 0 {
        return Some("00:00:00".to_owned());
    }
    let negative = r.u8().ok()? == 1;
    let days = r.u32().ok()?;
    let h = r.u8().ok()?;
    let mi = r.u8().ok()?;
    let s = r.u8().ok()?;
    let us = if n >= 12 { r.u32().ok()? } else { 0 };
    let hours = u64::from(days) * 24 + u64::from(h);
    let mut t = format!(
        "{}{hours:02}:{mi:02}:{s:02}",
        if negative { "-" } else { "" }
    );
    if us > 0 {
        t.push_str(&format!(".{us:06}"));
    }
    Some(t)
}

/// The values of a binary row, `None` for NULL.
pub fn read_binary_row<'a>(
    payload: &'a [u8],
    kinds: &[ValueType],
) -> Result<Vec<Option<BinaryValue<'a>>>, WireError> {
    let mut r = Reader::new(payload, "binary row");
    if r.u8()? != 0x00 {
        return Err(malformed("binary row", "wrong header"));
    }
    let bitmap = r.bytes((kinds.len() + 7 + 2) / 8)?;
    let mut values = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        let bit = i + 2;
        if bitmap[bit / 8] & (1 << (bit % 8)) != 0 {
            values.push(None);
        } else {
            values.push(Some(BinaryValue::read(&mut r, *kind)?));
        }
    }
    if !r.is_empty() {
        return Err(malformed("binary row", "more values than columns"));
    }
    Ok(values)
}

/// One value of a binary row being written.
#[derive(Debug, Clone, Copy)]
pub enum Written<'a> {
    Null,
    /// As read ([`BinaryValue::raw`]).
    Raw(&'a [u8]),
    /// A string, written length-encoded.
    String(&'a [u8]),
}

pub fn write_binary_row<'v>(out: &mut BytesMut, values: &[Written<'v>]) {
    out.put_u8(0x00);
    let start = out.len();
    out.put_bytes(0, (values.len() + 7 + 2) / 8);
    for (i, v) in values.iter().enumerate() {
        match v {
            Written::Null => {
                let bit = i + 2;
                out[start + bit / 8] |= 1 << (bit % 8);
            }
            Written::Raw(raw) => out.extend_from_slice(raw),
            Written::String(s) => put_lenenc_bytes(out, s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(t: u8) -> ValueType {
        ValueType {
            column_type: t,
            unsigned: false,
        }
    }

    #[test]
    fn text_rows_round_trip_with_nulls() {
        let mut out = BytesMut::new();
        write_text_row(&mut out, [Some(&b"a"[..]), None, Some(&b""[..])]);
        let row = read_text_row(&out, 3).unwrap();
        assert_eq!(row, vec![Some(&b"a"[..]), None, Some(&b""[..])]);
        assert!(read_text_row(&out, 2).is_err());
        assert!(read_text_row(&out, 4).is_err());
    }

    #[test]
    fn binary_rows_read_each_type_and_rewrite() {
        let mut out = BytesMut::new();
        let long = (-5i32).to_le_bytes();
        let date = [7u8, 0xe8, 0x07, 12, 3, 10, 20, 30];
        write_binary_row(
            &mut out,
            &[
                Written::Raw(&long),
                Written::Null,
                Written::String(b"x@example.com"),
                Written::Raw(&date),
            ],
        );
        let kinds = [
            kind(types::LONG),
            kind(types::LONGLONG),
            kind(types::VAR_STRING),
            kind(types::DATETIME),
        ];
        let row = read_binary_row(&out, &kinds).unwrap();
        assert_eq!(row[0].unwrap().to_text().unwrap(), "-5");
        assert!(row[1].is_none());
        assert_eq!(row[2].unwrap().string().unwrap(), b"x@example.com");
        assert_eq!(row[3].unwrap().to_text().unwrap(), "2024-12-03 10:20:30");
        assert!(read_binary_row(&out[..out.len() - 1], &kinds).is_err());
    }
}
