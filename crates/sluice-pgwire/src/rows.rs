//! Result rows: the column descriptions of a RowDescription and the values of a DataRow, read
//! in place, and a DataRow written back with some values replaced. Masking reads a row's
//! values, decides per column, and rewrites only rows that change.

use bytes::{BufMut, BytesMut};

use crate::backend::{DATA_ROW, ROW_DESCRIPTION};
use crate::cstr::Reader;
use crate::WireError;

/// One column of a RowDescription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column<'a> {
    pub name: &'a [u8],
    /// The source table's OID when the column is a plain table column, else 0.
    pub table_oid: u32,
    /// The column's attribute number in that table, else 0.
    pub attnum: i16,
    pub type_oid: u32,
    pub type_size: i16,
    pub type_modifier: i32,
    /// 0 text, 1 binary.
    pub format: i16,
}

impl Column<'_> {
    pub fn is_binary(&self) -> bool {
        self.format == 1
    }
}

/// The columns of a RowDescription, in order.
pub fn row_description(body: &[u8]) -> Result<Vec<Column<'_>>, WireError> {
    let mut r = Reader::new(ROW_DESCRIPTION, body);
    let count = non_negative(r.i16()?, ROW_DESCRIPTION, "column count")?;
    let mut columns = Vec::with_capacity(count);
    for _ in 0..count {
        columns.push(Column {
            name: r.cstr()?,
            table_oid: r.i32()? as u32,
            attnum: r.i16()?,
            type_oid: r.i32()? as u32,
            type_size: r.i16()?,
            type_modifier: r.i32()?,
            format: r.i16()?,
        });
    }
    r.finish()?;
    Ok(columns)
}

/// The values of a DataRow, in column order; `None` is SQL NULL.
pub fn data_row(body: &[u8]) -> Result<Vec<Option<&[u8]>>, WireError> {
    let mut r = Reader::new(DATA_ROW, body);
    let count = non_negative(r.i16()?, DATA_ROW, "value count")?;
    let mut values = Vec::with_capacity(count);
    for _ in 0..count {
        let len = r.i32()?;
        values.push(match len {
            -1 => None,
            n if n < 0 => return Err(malformed(DATA_ROW, "negative value length")),
            n => Some(r.bytes(n as usize)?),
        });
    }
    r.finish()?;
    Ok(values)
}

/// Appends a DataRow holding `values`.
pub fn encode_data_row<'v>(
    out: &mut BytesMut,
    values: impl ExactSizeIterator<Item = Option<&'v [u8]>>,
) -> Result<(), WireError> {
    let count =
        i16::try_from(values.len()).map_err(|_| malformed(DATA_ROW, "more than 32767 values"))?;
    let at = out.len();
    out.put_u8(DATA_ROW);
    out.put_u32(0);
    out.put_i16(count);
    for value in values {
        match value {
            None => out.put_i32(-1),
            Some(v) => {
                let len =
                    i32::try_from(v.len()).map_err(|_| malformed(DATA_ROW, "value over 2 GiB"))?;
                out.put_i32(len);
                out.put_slice(v);
            }
        }
    }
    let len = (out.len() - at - 1) as u32;
    out[at + 1..at + 5].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn malformed(tag: u8, what: &'static str) -> WireError {
    WireError::Malformed {
        tag: tag as char,
        what,
    }
}

fn non_negative(n: i16, tag: u8, what: &'static str) -> Result<usize, WireError> {
    usize::try_from(n).map_err(|_| malformed(tag, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&2i16.to_be_bytes());
        for (name, table, att, ty, format) in [
            (&b"ssn"[..], 16384u32, 3i16, 25u32, 0i16),
            (b"?column?", 0, 0, 23, 1),
        ] {
            b.extend_from_slice(name);
            b.push(0);
            b.extend_from_slice(&table.to_be_bytes());
            b.extend_from_slice(&att.to_be_bytes());
            b.extend_from_slice(&ty.to_be_bytes());
            b.extend_from_slice(&(-1i16).to_be_bytes());
            b.extend_from_slice(&(-1i32).to_be_bytes());
            b.extend_from_slice(&format.to_be_bytes());
        }
        b
    }

    #[test]
    fn reads_columns_with_their_sources() {
        let body = description();
        let cols = row_description(&body).unwrap();
        assert_eq!(cols.len(), 2);
        assert_eq!(cols[0].name, b"ssn");
        assert_eq!((cols[0].table_oid, cols[0].attnum), (16384, 3));
        assert!(!cols[0].is_binary());
        assert_eq!((cols[1].table_oid, cols[1].type_oid), (0, 23));
        assert!(cols[1].is_binary());
        assert!(row_description(&body[..body.len() - 1]).is_err());
    }

    #[test]
    fn rows_round_trip_with_nulls() {
        let mut out = BytesMut::new();
        let values: [Option<&[u8]>; 3] = [Some(b"123-45-6789"), None, Some(b"")];
        encode_data_row(&mut out, values.iter().copied()).unwrap();
        assert_eq!(out[0], DATA_ROW);
        let len = u32::from_be_bytes([out[1], out[2], out[3], out[4]]) as usize;
        assert_eq!(len, out.len() - 1);
        assert_eq!(data_row(&out[5..]).unwrap(), values.to_vec());
    }

    #[test]
    fn malformed_rows_are_errors() {
        // Claims one value of 10 bytes but carries 2.
        let mut b = Vec::new();
        b.extend_from_slice(&1i16.to_be_bytes());
        b.extend_from_slice(&10i32.to_be_bytes());
        b.extend_from_slice(b"ab");
        assert!(data_row(&b).is_err());
        let mut b = Vec::new();
        b.extend_from_slice(&1i16.to_be_bytes());
        b.extend_from_slice(&(-2i32).to_be_bytes());
        assert!(data_row(&b).is_err());
        assert!(data_row(&(-1i16).to_be_bytes()).is_err());
    }
}
