//! Client byte stream as the gateway reads it: optional startup packets, then tagged frames.
//!
//! Input layout: byte 0 is a mode switch. If it is 0, the rest starts with startup packets
//! (`length (4) + code (4) + payload`), read the way `handshake.rs` does: SSLRequest and
//! GSSENCRequest are declined and followed by another startup packet; a StartupMessage moves on
//! to the tagged frames; a CancelRequest or any error ends the connection. Any other mode byte
//! means the rest is tagged frames only. Errors are expected; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_pgwire::frame;
use sluice_pgwire::frontend::{self, FrontendMessage};
use sluice_pgwire::startup::{self, StartupRequest};

/// The frame size bound the fuzz target uses (the gateway's is configurable).
const MAX_MESSAGE: usize = 1 << 20;
/// How many SSL/GSSENC requests in a row the target follows before giving up.
const MAX_STARTUP_PACKETS: usize = 4;

/// Reads startup packets from `buf`; returns what follows the StartupMessage, or `None` when the
/// connection would end here.
fn startup_phase(mut buf: &[u8]) -> Option<&[u8]> {
    for _ in 0..MAX_STARTUP_PACKETS {
        let header: [u8; 4] = buf.get(..4)?.try_into().ok()?;
        let len = startup::packet_len(header).ok()?;
        let packet = buf.get(4..len)?;
        buf = &buf[len..];
        match startup::decode(packet).ok()? {
            StartupRequest::Ssl | StartupRequest::GssEnc => continue,
            StartupRequest::Cancel { pid, secret } => {
                std::hint::black_box((pid, secret));
                return None;
            }
            StartupRequest::Startup(msg) => {
                for name in ["user", "database", "application_name", "options"] {
                    std::hint::black_box(msg.param(name));
                }
                std::hint::black_box(msg.version.code());
                return Some(buf);
            }
        }
    }
    None
}

/// Walks the complete frames in `buf` the way the frontend relay does.
fn frames(mut buf: &[u8]) {
    loop {
        let f = match frame::peek(buf, MAX_MESSAGE) {
            Ok(Some(f)) => f,
            Ok(None) | Err(_) => return,
        };
        if buf.len() < f.len {
            return; // incomplete: the relay would wait for more bytes
        }
        let body = f.body(buf);
        match frontend::decode(f.tag, body) {
            Ok(FrontendMessage::Bind(bind)) => {
                let _ = std::hint::black_box(bind.parameters());
            }
            Ok(msg) => {
                std::hint::black_box(msg);
            }
            Err(e) => {
                // The error's Display is what the gateway logs and reports.
                std::hint::black_box(e.to_string());
            }
        }
        if f.tag == frontend::PASSWORD {
            let _ = std::hint::black_box(frontend::sasl_initial_response(body));
            let _ = std::hint::black_box(frontend::password(body));
        }
        buf = &buf[f.len..];
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode == 0 {
        if let Some(after) = startup_phase(rest) {
            frames(after);
        }
    } else {
        frames(rest);
    }
});
