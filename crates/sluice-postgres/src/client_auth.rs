//! Authenticating the client: SCRAM-SHA-256 (RFC 5802/7677) with the gateway-issued token as
//! the password, or a cleartext token inside TLS when the listener allows it.
//!
//! Channel binding (SCRAM-SHA-256-PLUS) is not offered; TLS toward sluice is still verified
//! by the client as usual.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use sluice_core::config::ClientAuth;
use sluice_core::{Authenticated, Credentials, Gateway};
use sluice_pgwire::{encode, frame, frontend};

use crate::error::PgError;
use sluice_net::stream::ClientStream;

const MECHANISM: &str = "SCRAM-SHA-256";
/// Authentication messages are tiny; a larger one is an attack or a bug.
const MAX_AUTH_MESSAGE: usize = 8 * 1024;

pub async fn authenticate(
    gateway: &Gateway,
    stream: &mut ClientStream,
    identity: &str,
    client_addr: &str,
    mode: ClientAuth,
) -> Result<Authenticated, PgError> {
    let credentials = gateway.credentials(identity, client_addr).await?;
    match mode {
        ClientAuth::ScramSha256 => scram(stream, identity, &credentials).await,
        ClientAuth::Password if stream.is_tls() => cleartext(stream, identity, &credentials).await,
        ClientAuth::Password => Err(PgError::refused(
            "28000",
            "password authentication is only allowed over TLS (sslmode=require)",
        )),
    }
}

async fn cleartext(
    stream: &mut ClientStream,
    identity: &str,
    credentials: &Credentials,
) -> Result<Authenticated, PgError> {
    let mut out = BytesMut::new();
    encode::authentication_cleartext(&mut out);
    stream.write_all(&out).await?;
    let body = read_password_message(stream).await?;
    let password = frontend::password(&body)?;
    credentials
        .verify_password(password)
        .ok_or_else(|| PgError::AuthFailed(identity.to_owned()))
}

async fn scram(
    stream: &mut ClientStream,
    identity: &str,
    credentials: &Credentials,
) -> Result<Authenticated, PgError> {
    let mut out = BytesMut::new();
    encode::authentication_sasl(&mut out, &[MECHANISM]);
    stream.write_all(&out).await?;

    let body = read_password_message(stream).await?;
    let (mechanism, client_first) = frontend::sasl_initial_response(&body)?;
    if mechanism != MECHANISM.as_bytes() {
        return Err(PgError::refused("28000", "only SCRAM-SHA-256 is supported"));
    }
    let first = ClientFirst::parse(client_first)?;
    let nonce = format!(
        "{}{}",
        first.nonce,
        STANDARD.encode(sluice_core::token::random_bytes::<18>())
    );
    let server_first = format!(
        "r={nonce},s={},i={}",
        STANDARD.encode(&credentials.salt),
        credentials.iterations
    );
    out.clear();
    encode::authentication_sasl_continue(&mut out, server_first.as_bytes());
    stream.write_all(&out).await?;

    let body = read_password_message(stream).await?;
    let client_final = std::str::from_utf8(&body).map_err(|_| bad("client-final is not UTF-8"))?;
    let (without_proof, proof) = client_final
        .rsplit_once(",p=")
        .ok_or_else(|| bad("client-final has no proof"))?;
    let mut channel_binding = None;
    let mut final_nonce = None;
    for attr in without_proof.split(',') {
        if let Some(v) = attr.strip_prefix("c=") {
            channel_binding = Some(v);
        } else if let Some(v) = attr.strip_prefix("r=") {
            final_nonce = Some(v);
        }
    }
    let expected_binding = STANDARD.encode(first.gs2_header.as_bytes());
    if channel_binding != Some(expected_binding.as_str()) || final_nonce != Some(nonce.as_str()) {
        return Err(bad("client-final does not match the exchange"));
    }
    let proof = STANDARD
        .decode(proof)
        .map_err(|_| bad("proof is not base64"))?;
    let auth_message = format!("{},{server_first},{without_proof}", first.bare);
    let (authenticated, signature) = credentials
        .verify_scram(auth_message.as_bytes(), &proof)
        .ok_or_else(|| PgError::AuthFailed(identity.to_owned()))?;
    out.clear();
    encode::authentication_sasl_final(
        &mut out,
        format!("v={}", STANDARD.encode(signature)).as_bytes(),
    );
    stream.write_all(&out).await?;
    Ok(authenticated)
}

fn bad(what: &str) -> PgError {
    PgError::ClientUnexpected(format!("SCRAM: {what}"))
}

/// The parts of a client-first message the exchange needs.
struct ClientFirst<'a> {
    gs2_header: &'a str,
    bare: &'a str,
    nonce: &'a str,
}

impl<'a> ClientFirst<'a> {
    fn parse(bytes: &'a [u8]) -> Result<ClientFirst<'a>, PgError> {
        let text = std::str::from_utf8(bytes).map_err(|_| bad("client-first is not UTF-8"))?;
        // gs2-header = cbind-flag "," [authzid] ","
        let mut parts = text.splitn(3, ',');
        let (Some(flag), Some(_authzid), Some(bare)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("malformed client-first"));
        };
        match flag {
            // "y": the client could bind but believes the server cannot; true here.
            "n" | "y" => {}
            _ => return Err(bad("channel binding was requested but is not offered")),
        }
        let gs2_header = &text[..text.len() - bare.len()];
        let nonce = bare
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','))
            .ok_or_else(|| bad("client-first has no valid nonce"))?;
        Ok(ClientFirst {
            gs2_header,
            bare,
            nonce,
        })
    }
}

async fn read_password_message(stream: &mut ClientStream) -> Result<BytesMut, PgError> {
    let mut header = [0u8; frame::HEADER_LEN];
    stream.read_exact(&mut header).await?;
    let f = frame::peek(&header, MAX_AUTH_MESSAGE)?.ok_or_else(|| bad("short header"))?;
    if f.tag != frontend::PASSWORD {
        return Err(PgError::ClientUnexpected(format!(
            "expected a password message, got '{}'",
            char::from(f.tag)
        )));
    }
    let mut body = BytesMut::zeroed(f.len - frame::HEADER_LEN);
    stream.read_exact(&mut body).await?;
    body.advance(0);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_first_parsing() {
        let f = ClientFirst::parse(b"n,,n=,r=abc").unwrap();
        assert_eq!((f.gs2_header, f.bare, f.nonce), ("n,,", "n=,r=abc", "abc"));
        assert!(ClientFirst::parse(b"p=tls-server-end-point,,n=,r=abc").is_err());
        assert!(ClientFirst::parse(b"n,,n=,r=").is_err());
        assert!(ClientFirst::parse(b"n,,").is_err());
    }
}
