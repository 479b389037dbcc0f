//! A target's (or an impostor's) answers to the login that the gateway, or an agent holding
//! the credential, performs with a password: the whole input is the server's byte stream;
//! every Authentication request in it is answered by `PasswordLogin` until the login fails or
//! the stream ends. The SCRAM nonce is random per run, so no input gets past postgres-protocol's
//! nonce check into PBKDF2: what is fuzzed is the order of requests, the SASL mechanism list,
//! the iteration-count guard and the SCRAM message parsing. Errors are expected; a panic is a
//! bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_pgwire::backend;
use sluice_pgwire::frame;
use sluice_pgwire::login::PasswordLogin;

const MAX_MESSAGE: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut login = PasswordLogin::new(b"sluice", b"secret");
    let mut out = bytes::BytesMut::new();
    let mut buf = data;
    loop {
        let f = match frame::peek(buf, MAX_MESSAGE) {
            Ok(Some(f)) if buf.len() >= f.len => f,
            _ => return,
        };
        if f.tag == backend::AUTHENTICATION {
            let Ok(request) = backend::auth_request(f.body(buf)) else {
                return;
            };
            out.clear();
            if login.answer(request, &mut out).is_err() {
                return;
            }
        }
        buf = &buf[f.len..];
    }
});
