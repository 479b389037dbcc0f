//! Authenticating the client with its sluice token as the password.
//!
//! - caching_sha2_password, as MySQL 8 does it: the fast path proves the token against a
//!   verifier cached by an earlier full authentication of the same token (in memory, per
//!   identity, dropped when the token is revoked or expires); otherwise the full path, where
//!   the client sends the token inside TLS, or without TLS encrypted with the gateway's RSA
//!   key. The token is then checked against its SCRAM verifier like any other login.
//! - mysql_clear_password, inside TLS only.
//! - mysql_native_password, only when the listener allows it (`allow_native_password`) and
//!   only from a verifier cached by an earlier full authentication of the same token: it is
//!   SHA-1 based, and whoever holds the verifier and sees one exchange can log in.
//!
//! A client that starts with another plugin is switched to caching_sha2_password.

use bytes::{BufMut, BytesMut};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use sluice_core::{Authenticated, Credentials, Gateway};
use sluice_net::stream::ClientStream;

use crate::error::MyError;
use crate::handshake::{read_auth, Response, CACHING_SHA2, CLEAR, NATIVE};
use crate::packets::write_packet;
use crate::rsa_key::RsaKey;
use crate::scramble;

/// Derived verifier kinds kept by the gateway.
const SHA2_VERIFIER: &str = "mysql_sha2";
const NATIVE_VERIFIER: &str = "mysql_native";

const FAST_AUTH_SUCCESS: u8 = 3;
const PERFORM_FULL_AUTHENTICATION: u8 = 4;
const REQUEST_PUBLIC_KEY: u8 = 2;

pub struct AuthContext<'a> {
    pub gateway: &'a Gateway,
    pub nonce: &'a [u8; 20],
    pub allow_native: bool,
    pub rsa: &'a RsaKey,
    /// Where the client connects from, for the failed-login limits.
    pub client_addr: &'a str,
}

/// Authenticates `response.user`. `seq` is the next sequence id to send, kept current (a
/// refusal is sent with it).
pub async fn authenticate(
    cx: &AuthContext<'_>,
    stream: &mut ClientStream,
    response: &Response,
    seq: &mut u8,
) -> Result<Authenticated, MyError> {
    let identity = response.user.as_str();
    let credentials = cx.gateway.credentials(identity, cx.client_addr).await?;
    // A failure that no verifier counted (no proof at all, an undecryptable one) is counted
    // here, for the failed-login limits.
    let failed = || {
        credentials.note_failure();
        MyError::AuthFailed(identity.to_owned())
    };
    let rejected = || MyError::AuthFailed(identity.to_owned());
    let mut data = response.auth_response.clone();
    let plugin = response.plugin.as_slice();
    if plugin == CLEAR {
        if !stream.is_tls() {
            return Err(MyError::refused(
                1045,
                "28000",
                "mysql_clear_password is accepted only over TLS (--ssl-mode=REQUIRED)",
            ));
        }
        let password = strip_nul(&data);
        let auth = credentials.verify_password(password).ok_or_else(rejected)?;
        remember(cx.gateway, &auth, password);
        return Ok(auth);
    }
    if plugin == NATIVE && cx.allow_native && data.len() == 20 {
        return match verify_native(&credentials, cx.nonce, &data) {
            Some(auth) => Ok(auth),
            None => Err({
                credentials.note_failure();
                MyError::refused(
                    1045,
                    "28000",
                    format!(
                    "access denied for identity '{identity}': mysql_native_password works only \
                     for a token that has signed in once with caching_sha2_password or over TLS \
                     since the gateway started"
                ),
                )
            }),
        };
    }
    if plugin != CACHING_SHA2 {
        // Switch: the client answers with a caching_sha2 scramble of the same nonce.
        let mut switch = BytesMut::new();
        switch.put_u8(0xfe);
        switch.extend_from_slice(CACHING_SHA2);
        switch.put_u8(0);
        switch.extend_from_slice(cx.nonce);
        switch.put_u8(0);
        write_packet(stream, *seq, &switch).await?;
        let answer = read_auth(stream).await?;
        *seq = answer.seq.wrapping_add(1);
        data = answer.payload.to_vec();
    }
    if data.len() == 32 {
        if let Some(auth) = verify_sha2(&credentials, cx.nonce, &data) {
            *seq = write_packet(stream, *seq, &[0x01, FAST_AUTH_SUCCESS]).await?;
            return Ok(auth);
        }
    } else if data.is_empty() {
        return Err(failed());
    }
    write_packet(stream, *seq, &[0x01, PERFORM_FULL_AUTHENTICATION]).await?;
    let mut answer = read_auth(stream).await?;
    *seq = answer.seq.wrapping_add(1);
    let password = if stream.is_tls() {
        strip_nul(&answer.payload).to_vec()
    } else {
        if answer.payload.as_ref() == [REQUEST_PUBLIC_KEY] {
            let mut key = BytesMut::new();
            key.put_u8(0x01);
            key.extend_from_slice(cx.rsa.public_pem()?);
            write_packet(stream, *seq, &key).await?;
            answer = read_auth(stream).await?;
            *seq = answer.seq.wrapping_add(1);
        }
        let Some(mut plain) = cx.rsa.decrypt(&answer.payload)? else {
            return Err(failed());
        };
        for (i, b) in plain.iter_mut().enumerate() {
            *b ^= cx.nonce[i % cx.nonce.len()];
        }
        strip_nul(&plain).to_vec()
    };
    let auth = credentials
        .verify_password(&password)
        .ok_or_else(rejected)?;
    remember(cx.gateway, &auth, &password);
    Ok(auth)
}

fn strip_nul(b: &[u8]) -> &[u8] {
    b.strip_suffix(&[0]).unwrap_or(b)
}

/// Keeps the verifiers later logins of this token prove against.
fn remember(gateway: &Gateway, auth: &Authenticated, password: &[u8]) {
    let stage1 = Sha256::digest(password);
    gateway.remember_derived(auth, SHA2_VERIFIER, Sha256::digest(stage1).to_vec());
    let native1 = Sha1::digest(password);
    gateway.remember_derived(auth, NATIVE_VERIFIER, Sha1::digest(native1).to_vec());
}

/// The fast path: the client sent SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || nonce).
fn verify_sha2(
    credentials: &Credentials,
    nonce: &[u8; 20],
    scramble: &[u8],
) -> Option<Authenticated> {
    credentials.verify_derived(SHA2_VERIFIER, |stage2| {
        scramble::proves::<Sha256>(scramble, &scramble::sha2_mask(nonce, stage2), stage2)
    })
}

/// mysql_native_password: SHA1(pw) XOR SHA1(nonce || SHA1(SHA1(pw))).
fn verify_native(
    credentials: &Credentials,
    nonce: &[u8; 20],
    scramble: &[u8],
) -> Option<Authenticated> {
    credentials.verify_derived(NATIVE_VERIFIER, |stage2| {
        scramble::proves::<Sha1>(scramble, &scramble::native_mask(nonce, stage2), stage2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scrambles_mysql_clients_compute_check_against_the_verifiers() {
        let nonce = [7u8; 20];
        let pw = b"tok_secret";
        let sha2 = crate::scramble::sha2(&nonce, pw);
        let stage2 = Sha256::digest(Sha256::digest(pw)).to_vec();
        let mask = Sha256::new()
            .chain_update(&stage2)
            .chain_update(nonce)
            .finalize();
        let stage1: Vec<u8> = sha2.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect();
        assert_eq!(Sha256::digest(&stage1).to_vec(), stage2);
        let native = crate::scramble::native(&nonce, pw);
        let n2 = Sha1::digest(Sha1::digest(pw)).to_vec();
        let mask = Sha1::new().chain_update(nonce).chain_update(&n2).finalize();
        let n1: Vec<u8> = native.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect();
        assert_eq!(Sha1::digest(&n1).to_vec(), n2);
    }
}
