//! Packets: a 3-byte little-endian length, a sequence id, the payload. A payload of 16 MiB - 1
//! or more is split into chunks of exactly that size followed by a shorter one (possibly
//! empty); the chunks are one logical packet, joined here so that nothing above sees a
//! partial packet.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::WireError;

/// The largest chunk; a chunk of this size says more chunks follow.
pub const MAX_CHUNK: usize = 0xff_ffff;
const HEADER: usize = 4;

/// One logical packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The sequence id of its first chunk.
    pub seq: u8,
    /// How many chunks carried it (1 unless it was split).
    pub chunks: u8,
    pub payload: Bytes,
}

impl Packet {
    /// The sequence id the packet after this one carries.
    pub fn next_seq(&self) -> u8 {
        self.seq.wrapping_add(self.chunks)
    }
}

/// What [`split`] found at the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Split {
    Packet(Packet),
    /// Not complete yet: at least this many more bytes are needed.
    Incomplete(usize),
}

/// Takes the first whole logical packet off `buf`, refusing one whose payload exceeds `limit`
/// as soon as its announced chunks say so (before they arrive).
pub fn split(buf: &mut BytesMut, limit: usize) -> Result<Split, WireError> {
    let mut at = 0;
    let mut size = 0usize;
    let mut chunks = 0u8;
    loop {
        let Some(header) = buf.get(at..at + HEADER) else {
            return Ok(Split::Incomplete(at + HEADER - buf.len()));
        };
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        size += len;
        if size > limit {
            return Err(WireError::TooLarge { size, limit });
        }
        chunks = chunks.wrapping_add(1);
        let end = at + HEADER + len;
        if buf.len() < end {
            return Ok(Split::Incomplete(end - buf.len()));
        }
        at = end;
        if len < MAX_CHUNK {
            break;
        }
    }
    let seq = buf[3];
    let whole = buf.split_to(at);
    let payload = if chunks == 1 {
        whole.freeze().slice(HEADER..)
    } else {
        let mut joined = BytesMut::with_capacity(size);
        let mut rest = whole.freeze();
        while !rest.is_empty() {
            let len = usize::from(rest[0]) | usize::from(rest[1]) << 8 | usize::from(rest[2]) << 16;
            rest.advance(HEADER);
            joined.put(rest.split_to(len));
        }
        joined.freeze()
    };
    Ok(Split::Packet(Packet {
        seq,
        chunks,
        payload,
    }))
}

/// Appends `payload` as a packet starting at sequence id `seq`, split as the protocol
/// requires; returns the sequence id of the next packet.
pub fn put(out: &mut BytesMut, seq: u8, payload: &[u8]) -> u8 {
    let mut seq = seq;
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_CHUNK);
        out.reserve(HEADER + n);
        out.put_uint_le(n as u64, 3);
        out.put_u8(seq);
        out.extend_from_slice(&rest[..n]);
        seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_CHUNK {
            return seq;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_split_at_16_mib_is_joined_and_split_again_the_same_way() {
        for size in [0, 5, MAX_CHUNK - 1, MAX_CHUNK, MAX_CHUNK + 3, 2 * MAX_CHUNK] {
            let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
            let mut wire = BytesMut::new();
            let next = put(&mut wire, 7, &payload);
            let expected_chunks = size / MAX_CHUNK + 1;
            assert_eq!(next, 7 + expected_chunks as u8);
            let copy = wire.clone();
            // Every prefix is incomplete.
            let mut partial = BytesMut::from(&copy[..copy.len() - 1]);
            assert!(matches!(
                split(&mut partial, usize::MAX).unwrap(),
                Split::Incomplete(1)
            ));
            match split(&mut wire, usize::MAX).unwrap() {
                Split::Packet(p) => {
                    assert_eq!(p.seq, 7);
                    assert_eq!(usize::from(p.chunks), expected_chunks);
                    assert_eq!(&p.payload[..], &payload[..]);
                    let mut again = BytesMut::new();
                    put(&mut again, p.seq, &p.payload);
                    assert_eq!(again, copy);
                }
                other => panic!("{other:?}"),
            }
            assert!(wire.is_empty());
        }
    }

    #[test]
    fn an_oversized_packet_is_refused_from_its_header() {
        let mut wire = BytesMut::from(&[0xff, 0xff, 0xff, 0][..]);
        assert_eq!(
            split(&mut wire, 1024),
            Err(WireError::TooLarge {
                size: MAX_CHUNK,
                limit: 1024
            })
        );
    }
}
