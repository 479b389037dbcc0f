//! Server packets of the command phase.

use bytes::{BufMut, BytesMut};

use crate::error::{malformed, WireError};
use crate::lenenc::{put_lenenc_bytes, put_lenenc_int, Reader};

/// What the first packet of a response is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum First {
    Ok,
    Err,
    /// A request for the client's local file (LOAD DATA LOCAL INFILE).
    LocalInfile,
    /// A result set of this many columns.
    ResultSet(u64),
}

/// Reads the first packet of a response to a query or execute.
pub fn first(payload: &[u8]) -> Result<First, WireError> {
    match payload.first() {
        Some(0x00) => Ok(First::Ok),
        Some(0xff) => Ok(First::Err),
        Some(0xfb) => Ok(First::LocalInfile),
        Some(_) => {
            let n = Reader::new(payload, "result set header").lenenc_int()?;
            if n == 0 {
                return Err(malformed("result set header", "zero columns"));
            }
            Ok(First::ResultSet(n))
        }
        None => Err(malformed("response", "empty packet")),
    }
}

/// Whether a packet ends a row stream or a metadata block: the EOF packet, or with
/// CLIENT_DEPRECATE_EOF the OK packet that replaces it. Both start with 0xfe and are shorter
/// than 16 MiB; a text row starting with 0xfe (an 8-byte length) is longer than that.
pub fn is_eof(payload: &[u8]) -> bool {
    payload.first() == Some(&0xfe) && payload.len() < crate::frame::MAX_CHUNK
}

/// An OK packet (or the OK-shaped EOF of CLIENT_DEPRECATE_EOF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OkPacket<'a> {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: u16,
    pub warnings: u16,
    pub info: &'a [u8],
}

impl<'a> OkPacket<'a> {
    pub fn decode(payload: &'a [u8]) -> Result<OkPacket<'a>, WireError> {
        let mut r = Reader::new(payload, "OK packet");
        let header = r.u8()?;
        if header != 0x00 && header != 0xfe {
            return Err(malformed("OK packet", "wrong header"));
        }
        let affected_rows = r.lenenc_int()?;
        let last_insert_id = r.lenenc_int()?;
        let status = r.u16()?;
        let warnings = r.u16()?;
        Ok(OkPacket {
            affected_rows,
            last_insert_id,
            status,
            warnings,
            info: r.rest(),
        })
    }
}

/// A pre-DEPRECATE_EOF EOF packet's warnings and status.
pub fn eof_status(payload: &[u8]) -> Result<(u16, u16), WireError> {
    if payload.len() >= 5 && payload.len() < 9 {
        let mut r = Reader::new(&payload[1..], "EOF packet");
        let warnings = r.u16()?;
        let status = r.u16()?;
        return Ok((warnings, status));
    }
    let ok = OkPacket::decode(payload)?;
    Ok((ok.warnings, ok.status))
}

/// The status flags of a packet that ends a response part (OK, or EOF in either form).
pub fn end_status(payload: &[u8]) -> Result<u16, WireError> {
    match payload.first() {
        Some(0xfe) => eof_status(payload).map(|(_, s)| s),
        _ => OkPacket::decode(payload).map(|ok| ok.status),
    }
}

/// An ERR packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket<'a> {
    pub code: u16,
    /// Five characters, when the server sent one (it does with CLIENT_PROTOCOL_41).
    pub state: Option<&'a [u8]>,
    pub message: &'a [u8],
}

impl<'a> ErrPacket<'a> {
    pub fn decode(payload: &'a [u8]) -> Result<ErrPacket<'a>, WireError> {
        let mut r = Reader::new(payload, "ERR packet");
        if r.u8()? != 0xff {
            return Err(malformed("ERR packet", "wrong header"));
        }
        let code = r.u16()?;
        let state = if r.rest().first() == Some(&b'#') {
            r.u8()?;
            Some(r.bytes(5)?)
        } else {
            None
        };
        Ok(ErrPacket {
            code,
            state,
            message: r.rest(),
        })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(0xff);
        out.put_u16_le(self.code);
        out.put_u8(b'#');
        out.extend_from_slice(self.state.unwrap_or(b"HY000"));
        out.extend_from_slice(self.message);
    }
}

/// An ERR packet the gateway writes itself, framed at sequence id `seq`.
pub fn put_err(out: &mut BytesMut, seq: u8, code: u16, state: &str, message: &str) {
    let mut payload = BytesMut::new();
    ErrPacket {
        code,
        state: Some(state.as_bytes()),
        message: message.as_bytes(),
    }
    .encode(&mut payload);
    crate::frame::put(out, seq, &payload);
}

/// An OK packet the gateway writes itself.
pub fn encode_ok(out: &mut BytesMut, affected_rows: u64, status: u16, warnings: u16) {
    out.put_u8(0x00);
    put_lenenc_int(out, affected_rows);
    put_lenenc_int(out, 0);
    out.put_u16_le(status);
    out.put_u16_le(warnings);
}

/// An EOF packet (pre-DEPRECATE_EOF) the gateway writes itself.
pub fn encode_eof(out: &mut BytesMut, status: u16, warnings: u16) {
    out.put_u8(0xfe);
    out.put_u16_le(warnings);
    out.put_u16_le(status);
}

/// A column definition (Protocol::ColumnDefinition41).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef<'a> {
    pub catalog: &'a [u8],
    /// The database the column's table is in.
    pub schema: &'a [u8],
    /// The table as the query named it (an alias).
    pub table: &'a [u8],
    /// The table the values come from; empty for a computed column.
    pub org_table: &'a [u8],
    /// The column as the query named it (an alias).
    pub name: &'a [u8],
    /// The column the values come from; empty for a computed column.
    pub org_name: &'a [u8],
    pub charset: u16,
    pub length: u32,
    pub column_type: u8,
    pub flags: u16,
    pub decimals: u8,
    /// What follows the fixed fields (a COM_FIELD_LIST default value).
    pub trailer: &'a [u8],
}

impl<'a> ColumnDef<'a> {
    pub fn decode(payload: &'a [u8]) -> Result<ColumnDef<'a>, WireError> {
        let mut r = Reader::new(payload, "column definition");
        let catalog = r.lenenc_bytes()?;
        let schema = r.lenenc_bytes()?;
        let table = r.lenenc_bytes()?;
        let org_table = r.lenenc_bytes()?;
        let name = r.lenenc_bytes()?;
        let org_name = r.lenenc_bytes()?;
        let fixed = r.lenenc_int()?;
        if fixed < 0x0c {
            return Err(malformed("column definition", "fixed fields too short"));
        }
        let charset = r.u16()?;
        let length = r.u32()?;
        let column_type = r.u8()?;
        let flags = r.u16()?;
        let decimals = r.u8()?;
        r.bytes(usize::try_from(fixed - 10).unwrap_or(usize::MAX))?;
        Ok(ColumnDef {
            catalog,
            schema,
            table,
            org_table,
            name,
            org_name,
            charset,
            length,
            column_type,
            flags,
            decimals,
            trailer: r.rest(),
        })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        for s in [
            self.catalog,
            self.schema,
            self.table,
            self.org_table,
            self.name,
            self.org_name,
        ] {
            put_lenenc_bytes(out, s);
        }
        out.put_u8(0x0c);
        out.put_u16_le(self.charset);
        out.put_u32_le(self.length);
        out.put_u8(self.column_type);
        out.put_u16_le(self.flags);
        out.put_u8(self.decimals);
        out.put_u16_le(0);
        out.extend_from_slice(self.trailer);
    }
}

/// The answer to a COM_STMT_PREPARE that succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepareOk {
    pub statement: u32,
    pub columns: u16,
    pub params: u16,
    pub warnings: u16,
}

impl PrepareOk {
    pub fn decode(payload: &[u8]) -> Result<PrepareOk, WireError> {
        let mut r = Reader::new(payload, "prepare answer");
        if r.u8()? != 0x00 {
            return Err(malformed("prepare answer", "wrong header"));
        }
        let statement = r.u32()?;
        let columns = r.u16()?;
        let params = r.u16()?;
        let _reserved = r.u8()?;
        let warnings = if r.rest().len() >= 2 { r.u16()? } else { 0 };
        Ok(PrepareOk {
            statement,
            columns,
            params,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_definitions_round_trip() {
        let def = ColumnDef {
            catalog: b"def",
            schema: b"shop",
            table: b"c",
            org_table: b"customers",
            name: b"e",
            org_name: b"email",
            charset: 45,
            length: 1020,
            column_type: crate::caps::types::VAR_STRING,
            flags: 0,
            decimals: 0,
            trailer: b"",
        };
        let mut out = BytesMut::new();
        def.encode(&mut out);
        assert_eq!(ColumnDef::decode(&out).unwrap(), def);
    }

    #[test]
    fn errors_and_oks_read_back() {
        let mut out = BytesMut::new();
        ErrPacket {
            code: 1142,
            state: Some(b"42000"),
            message: b"sluice: denied",
        }
        .encode(&mut out);
        let e = ErrPacket::decode(&out).unwrap();
        assert_eq!(
            (e.code, e.state, e.message),
            (1142, Some(&b"42000"[..]), &b"sluice: denied"[..])
        );
        out.clear();
        encode_ok(&mut out, 3, 2, 1);
        let ok = OkPacket::decode(&out).unwrap();
        assert_eq!((ok.affected_rows, ok.status, ok.warnings), (3, 2, 1));
        assert_eq!(first(&out).unwrap(), First::Ok);
        assert_eq!(first(&[2]).unwrap(), First::ResultSet(2));
        assert!(is_eof(&[0xfe, 0, 0, 2, 0]));
        assert!(is_eof(&[0xfe, 0, 0, 2, 0, 0, 0]));
    }
}
