//! Deterministic keyed tokens.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA256 with the key's inner and outer pads already hashed, so a token costs two
/// SHA-256 compressions plus the value's length.
#[derive(Clone)]
pub(crate) struct TokenKey {
    mac: Hmac<Sha256>,
}

/// `tok_` + 16 hex digits: 64 bits, enough that distinct values of one column do not collide
/// in practice, short enough to fit where the original did.
const HEX_DIGITS: usize = 16;

impl TokenKey {
    pub(crate) fn new(key: &[u8; 32]) -> TokenKey {
        // HMAC pads a short key with zeros to the hash's block size, so padding it here gives
        // the same MAC through the infallible constructor.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(key);
        TokenKey {
            mac: <Hmac<Sha256> as KeyInit>::new(&block.into()),
        }
    }

    pub(crate) fn write(&self, value: &str, out: &mut String) {
        let mut mac = self.mac.clone();
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        out.push_str("tok_");
        for byte in digest.iter().take(HEX_DIGITS / 2) {
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0x0f));
        }
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(if nibble < 10 {
        b'0' + nibble
    } else {
        b'a' + nibble - 10
    })
}
