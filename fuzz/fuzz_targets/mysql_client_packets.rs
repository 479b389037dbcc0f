//! MySQL client byte stream of the command phase, as the relay reads it: logical packets
//! taken off the front with `frame::split`, each payload a command.
//!
//! Input layout (little-endian):
//! - 2 bytes: the packet size limit (0..=65535), so that `WireError::TooLarge` is reached with
//!   short inputs as well as long ones.
//! - 2 bytes: the parameter count of the prepared statement the COM_STMT_EXECUTEs name (a
//!   `u16`, as in the server's prepare answer).
//! - 1 byte `k`, then `k` pairs (column type, flags): the types remembered from an earlier
//!   execution, which a client may leave out of this one.
//! - the packet stream.
//!
//! COM_STMT_SEND_LONG_DATA marks its parameter as sent apart, COM_STMT_RESET and every execute
//! clear the marks, as the server does. Errors are expected; a panic is a bug.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sluice_mywire::command::Command;
use sluice_mywire::frame::{self, Split};
use sluice_mywire::params;
use sluice_mywire::rows::ValueType;

struct Header<'a> {
    limit: usize,
    count: usize,
    bound: Vec<ValueType>,
    stream: &'a [u8],
}

fn header(data: &[u8]) -> Option<Header<'_>> {
    let limit = usize::from(u16::from_le_bytes([*data.first()?, *data.get(1)?]));
    let count = usize::from(u16::from_le_bytes([*data.get(2)?, *data.get(3)?]));
    let k = usize::from(*data.get(4)?);
    let types = data.get(5..5 + 2 * k)?;
    let bound = types
        .chunks_exact(2)
        .map(|t| ValueType {
            column_type: t[0],
            unsigned: t[1] & 0x80 != 0,
        })
        .collect();
    Some(Header {
        limit,
        count,
        bound,
        stream: &data[5 + 2 * k..],
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(Header {
        limit,
        count,
        mut bound,
        stream,
    }) = header(data)
    else {
        return;
    };
    let mut buf = BytesMut::from(stream);
    let mut long_data = vec![false; count];
    loop {
        let packet = match frame::split(&mut buf, limit) {
            Ok(Split::Packet(p)) => p,
            // Incomplete: the relay waits for more bytes. Too large: it closes the connection.
            Ok(Split::Incomplete(_)) | Err(_) => return,
        };
        assert!(packet.payload.len() <= limit);
        std::hint::black_box(packet.next_seq());
        // What the relay forwards unchanged must frame the same way again.
        let mut again = BytesMut::new();
        frame::put(&mut again, packet.seq, &packet.payload);
        match frame::split(&mut again, usize::MAX) {
            Ok(Split::Packet(p)) => assert_eq!(p, packet),
            other => panic!("a packet put back did not split again: {other:?}"),
        }
        assert!(again.is_empty());

        let command = match Command::decode(&packet.payload) {
            Ok(c) => c,
            Err(e) => {
                // Its Display is what the gateway logs.
                std::hint::black_box(e.to_string());
                continue;
            }
        };
        std::hint::black_box(command.name());
        match command {
            Command::StmtExecute(execute) => {
                std::hint::black_box(execute.opens_cursor());
                match params::decode(execute.params, count, &mut bound, &long_data) {
                    Ok(values) => {
                        assert_eq!(values.len(), count);
                        // With no parameters nothing is read and the remembered types stay.
                        assert!(count == 0 || bound.len() == count);
                        std::hint::black_box(values);
                    }
                    Err(e) => {
                        std::hint::black_box(e.to_string());
                    }
                }
                long_data.iter_mut().for_each(|d| *d = false);
            }
            Command::StmtSendLongData { param, data, .. } => {
                if let Some(d) = long_data.get_mut(usize::from(param)) {
                    *d = true;
                }
                std::hint::black_box(data);
            }
            Command::StmtReset(_) => long_data.iter_mut().for_each(|d| *d = false),
            other => {
                std::hint::black_box(other);
            }
        }
    }
});
