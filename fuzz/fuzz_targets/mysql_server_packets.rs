//! MySQL server byte stream of the command phase, as the relay reads a response: packets off
//! the front with `frame::split`, the first one classified by `response::first`, then column
//! definitions, the EOF after them, rows until the end packet, and the next result while the
//! server says more results exist.
//!
//! Input layout: byte 0 is a mode:
//! - bit 0: rows are binary (the answer to COM_STMT_EXECUTE), else text (COM_QUERY);
//! - bit 1: CLIENT_DEPRECATE_EOF was negotiated (no EOF packet after column definitions);
//! - bit 2: the stream answers COM_STMT_PREPARE (prepare OK, then parameter and column
//!   definitions) instead of a query.
//!
//! The rest is the packet stream. Every packet also goes through each OK/ERR/EOF decoder,
//! whatever the relay would make of it. Whatever the relay rewrites must read back as it was
//! (column definitions, text rows, binary rows), and a rewritten row must never look like the
//! end of the rows. Errors are expected; a panic is a bug.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sluice_mywire::caps;
use sluice_mywire::frame::{self, Split};
use sluice_mywire::response::{self, ColumnDef, ErrPacket, First, OkPacket, PrepareOk};
use sluice_mywire::rows::{self, ValueType, Written};

const MAX_PACKET: usize = 1 << 20;

const BINARY: u8 = 1;
const DEPRECATE_EOF: u8 = 1 << 1;
const PREPARE: u8 = 1 << 2;

/// The next complete packet's payload; `None` where the relay would wait or give up.
fn next(buf: &mut BytesMut) -> Option<bytes::Bytes> {
    match frame::split(buf, MAX_PACKET) {
        Ok(Split::Packet(p)) => {
            std::hint::black_box(p.next_seq());
            every_decoder(&p.payload);
            Some(p.payload)
        }
        Ok(Split::Incomplete(_)) | Err(_) => None,
    }
}

/// The decoders the relay may pick for a packet, all of them, on any packet.
fn every_decoder(p: &[u8]) {
    let _ = std::hint::black_box(response::first(p));
    std::hint::black_box(response::is_eof(p));
    let _ = std::hint::black_box(response::eof_status(p));
    let _ = std::hint::black_box(response::end_status(p));
    let _ = std::hint::black_box(PrepareOk::decode(p));
    if let Ok(ok) = OkPacket::decode(p) {
        // The gateway's own OK carries the same counts and status.
        let mut out = BytesMut::new();
        response::encode_ok(&mut out, ok.affected_rows, ok.status, ok.warnings);
        let again = OkPacket::decode(&out).unwrap();
        assert_eq!(
            (again.affected_rows, again.status, again.warnings),
            (ok.affected_rows, ok.status, ok.warnings)
        );
    }
    if let Ok(err) = ErrPacket::decode(p) {
        // Re-encoding always adds a SQL state; code and message must survive it.
        let mut out = BytesMut::new();
        err.encode(&mut out);
        let again = ErrPacket::decode(&out).unwrap();
        assert_eq!((again.code, again.message), (err.code, err.message));
        assert_eq!(again.state, Some(err.state.unwrap_or(b"HY000")));
    }
    if let Ok(def) = ColumnDef::decode(p) {
        column_round_trip(&def);
    }
}

fn column_round_trip(def: &ColumnDef<'_>) {
    let mut out = BytesMut::new();
    def.encode(&mut out);
    assert_eq!(&ColumnDef::decode(&out).unwrap(), def);
}

/// Reads `n` column definitions; `None` if the stream ends or one is malformed.
fn definitions(buf: &mut BytesMut, n: u64) -> Option<Vec<ValueType>> {
    let mut kinds = Vec::new();
    for _ in 0..n {
        let p = next(buf)?;
        let def = ColumnDef::decode(&p).ok()?;
        column_round_trip(&def);
        kinds.push(ValueType {
            column_type: def.column_type,
            unsigned: def.flags & caps::UNSIGNED_FLAG != 0,
        });
    }
    Some(kinds)
}

/// The EOF packet that follows a definition block unless CLIENT_DEPRECATE_EOF dropped it.
fn definitions_end(buf: &mut BytesMut, mode: u8) -> Option<()> {
    if mode & DEPRECATE_EOF != 0 {
        return Some(());
    }
    let p = next(buf)?;
    if !response::is_eof(&p) {
        return None;
    }
    response::eof_status(&p).ok().map(drop)
}

fn text_row(p: &[u8], width: usize) {
    let Ok(values) = rows::read_text_row(p, width) else {
        return;
    };
    let mut out = BytesMut::new();
    rows::write_text_row(&mut out, values.iter().copied());
    assert!(!response::is_eof(&out), "a rewritten text row reads as EOF");
    assert_eq!(rows::read_text_row(&out, width).unwrap(), values);
}

fn binary_row(p: &[u8], kinds: &[ValueType]) {
    let Ok(values) = rows::read_binary_row(p, kinds) else {
        return;
    };
    for v in values.iter().flatten() {
        std::hint::black_box(v.to_text());
        std::hint::black_box(v.string());
    }
    // Forwarded as read.
    let raw: Vec<Written<'_>> = values
        .iter()
        .map(|v| v.map_or(Written::Null, |v| Written::Raw(v.raw)))
        .collect();
    let mut out = BytesMut::new();
    rows::write_binary_row(&mut out, &raw);
    assert!(
        !response::is_eof(&out),
        "a rewritten binary row reads as EOF"
    );
    assert_eq!(rows::read_binary_row(&out, kinds).unwrap(), values);

    // Masked: every string value replaced by another string, the rest kept.
    let masked: Vec<Written<'_>> = values
        .iter()
        .map(|v| match v {
            None => Written::Null,
            Some(v) if v.string().is_some() => Written::String(b"***masked***"),
            Some(v) => Written::Raw(v.raw),
        })
        .collect();
    out.clear();
    rows::write_binary_row(&mut out, &masked);
    let again = rows::read_binary_row(&out, kinds).unwrap();
    assert_eq!(again.len(), values.len());
    for (before, after) in values.iter().zip(&again) {
        match (before, after) {
            (None, None) => {}
            (Some(b), Some(a)) if b.string().is_some() => {
                assert_eq!(a.string(), Some(&b"***masked***"[..]));
            }
            (Some(b), Some(a)) => assert_eq!(a, b),
            other => panic!("a masked row changed its NULLs: {other:?}"),
        }
    }
}

/// Reads one response; `Some(())` when another result follows.
fn result(buf: &mut BytesMut, mode: u8) -> Option<()> {
    let p = next(buf)?;
    match response::first(&p).ok()? {
        First::Err => {
            ErrPacket::decode(&p).ok()?;
            None
        }
        First::LocalInfile => None,
        First::Ok => {
            let ok = OkPacket::decode(&p).ok()?;
            (ok.status & caps::SERVER_MORE_RESULTS_EXISTS != 0).then_some(())
        }
        First::ResultSet(n) => {
            let kinds = definitions(buf, n)?;
            definitions_end(buf, mode)?;
            loop {
                let p = next(buf)?;
                if response::is_eof(&p) {
                    let status = response::end_status(&p).ok()?;
                    return (status & caps::SERVER_MORE_RESULTS_EXISTS != 0).then_some(());
                }
                if p.first() == Some(&0xff) {
                    ErrPacket::decode(&p).ok()?;
                    return None;
                }
                if mode & BINARY != 0 {
                    binary_row(&p, &kinds);
                } else {
                    text_row(&p, kinds.len());
                }
            }
        }
    }
}

fn prepare(buf: &mut BytesMut, mode: u8) -> Option<()> {
    let p = next(buf)?;
    if p.first() == Some(&0xff) {
        ErrPacket::decode(&p).ok()?;
        return None;
    }
    let ok = PrepareOk::decode(&p).ok()?;
    for n in [ok.params, ok.columns] {
        if n > 0 {
            definitions(buf, u64::from(n))?;
            definitions_end(buf, mode)?;
        }
    }
    Some(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, stream)) = data.split_first() else {
        return;
    };
    let mut buf = BytesMut::from(stream);
    if mode & PREPARE != 0 {
        let _ = prepare(&mut buf, mode);
        return;
    }
    while result(&mut buf, mode).is_some() {}
});
