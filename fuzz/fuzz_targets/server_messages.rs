//! Server byte stream as the gateway reads it: tagged frames, each decoded by the
//! `backend` view its tag selects. The whole input is the stream (servers send no untagged
//! startup packet). Errors are expected; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_pgwire::backend;
use sluice_pgwire::frame;
use sluice_pgwire::rows;

const MAX_MESSAGE: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut buf = data;
    loop {
        let f = match frame::peek(buf, MAX_MESSAGE) {
            Ok(Some(f)) => f,
            Ok(None) | Err(_) => return,
        };
        if buf.len() < f.len {
            return;
        }
        let body = f.body(buf);
        match f.tag {
            backend::AUTHENTICATION => {
                let _ = std::hint::black_box(backend::auth_request(body));
            }
            backend::ERROR_RESPONSE | backend::NOTICE_RESPONSE => {
                let _ = std::hint::black_box(backend::error_fields(body));
            }
            backend::COMMAND_COMPLETE => match backend::command_tag(body) {
                Ok(tag) => {
                    std::hint::black_box(backend::rows_of_tag(tag));
                }
                Err(e) => {
                    std::hint::black_box(e.to_string());
                }
            },
            backend::BACKEND_KEY_DATA => {
                let _ = std::hint::black_box(backend::backend_key_data(body));
            }
            backend::PARAMETER_STATUS => {
                let _ = std::hint::black_box(backend::parameter_status(body));
            }
            backend::ROW_DESCRIPTION => {
                let _ = std::hint::black_box(rows::row_description(body));
            }
            backend::DATA_ROW => {
                // A row that decodes must encode back to the same bytes.
                if let Ok(values) = rows::data_row(body) {
                    let mut out = bytes::BytesMut::new();
                    if rows::encode_data_row(&mut out, values.iter().copied()).is_ok() {
                        assert_eq!(&out[5..], body);
                    }
                }
            }
            _ => {}
        }
        // rows_of_tag takes any bytes; feed it the raw body too, NULs and all.
        std::hint::black_box(backend::rows_of_tag(body));
        buf = &buf[f.len..];
    }
});
