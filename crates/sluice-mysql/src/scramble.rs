//! The password scrambles of MySQL's authentication plugins, computed by the gateway as a
//! client (toward targets) and checked as a server (from clients), and the RSA encryption
//! caching_sha2_password uses without TLS.

use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1};
use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// mysql_native_password: SHA1(pw) XOR SHA1(nonce || SHA1(SHA1(pw))).
pub fn native(nonce: &[u8], password: &[u8]) -> [u8; 20] {
    let stage1 = Sha1::digest(password);
    xor(&stage1, &native_mask(nonce, &Sha1::digest(stage1)))
}

/// caching_sha2_password: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || nonce).
pub fn sha2(nonce: &[u8], password: &[u8]) -> [u8; 32] {
    let stage1 = Sha256::digest(password);
    xor(&stage1, &sha2_mask(nonce, &Sha256::digest(stage1)))
}

/// What native's stage 1 is masked with, from the verifier (`stage2`).
pub fn native_mask(nonce: &[u8], stage2: &[u8]) -> Vec<u8> {
    Sha1::new()
        .chain_update(nonce)
        .chain_update(stage2)
        .finalize()
        .to_vec()
}

/// What caching_sha2's stage 1 is masked with, from the verifier (`stage2`).
pub fn sha2_mask(nonce: &[u8], stage2: &[u8]) -> Vec<u8> {
    Sha256::new()
        .chain_update(stage2)
        .chain_update(nonce)
        .finalize()
        .to_vec()
}

/// Whether a client's `scramble`, unmasked with `mask`, hashes (with `D`) to the verifier
/// `stage2`: the server's side of both plugins, in constant time.
pub fn proves<D: Digest>(scramble: &[u8], mask: &[u8], stage2: &[u8]) -> bool {
    let stage1: Vec<u8> = scramble.iter().zip(mask).map(|(a, b)| a ^ b).collect();
    subtle::ConstantTimeEq::ct_eq(D::digest(&stage1).as_slice(), stage2).into()
}

fn xor<const N: usize>(a: &[u8], b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

/// The password (NUL-terminated, XORed with the nonce) encrypted with the server's RSA
/// public key (PEM, as the server sent it), with OAEP padding as MySQL 8.0.5+ expects.
pub fn rsa_encrypt(pem: &[u8], nonce: &[u8], password: &[u8]) -> Result<Vec<u8>, String> {
    let text = String::from_utf8_lossy(pem);
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|e| e.to_string())?;
    let key = PublicEncryptingKey::from_der(&der).map_err(|e| e.to_string())?;
    let key = OaepPublicEncryptingKey::new(key).map_err(|e| e.to_string())?;
    let mut plain = password.to_vec();
    plain.push(0);
    for (i, b) in plain.iter_mut().enumerate() {
        *b ^= nonce[i % nonce.len().max(1)];
    }
    let mut out = vec![0u8; key.ciphertext_size()];
    let written = key
        .encrypt(&OAEP_SHA1_MGF1SHA1, &plain, &mut out, None)
        .map_err(|e| e.to_string())?;
    Ok(written.to_vec())
}
