//! A PostgreSQL login the agent performs with a credential only it holds (`--targets FILE`):
//! the gateway's StartupMessage goes on to the target, the target's authentication requests
//! are answered here and never reach the gateway, and from AuthenticationOk on the stream is
//! the gateway's, byte for byte. The gateway, which holds no password for the target, never
//! sees one.

use bytes::BytesMut;
use sluice_net::stream::MaybeTls;
use sluice_pgwire::backend::{self, AuthRequest};
use sluice_pgwire::frame;
use sluice_pgwire::login::PasswordLogin;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::credentials::Credential;

/// Startup packets are small; login messages too.
const MAX_STARTUP: usize = 10_000;
const MAX_LOGIN_MESSAGE: usize = 1 << 20;
/// PostgreSQL's SSLRequest and GSSENCRequest codes.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

/// The agent's own TLS to the target, as the credential's `tls` asks: an SSLRequest, then
/// the handshake; a target that declines is refused unless the mode is `prefer`.
pub(crate) async fn tls(
    plain: MaybeTls<tokio_rustls::client::TlsStream<TcpStream>>,
    host: &str,
    credential: &Credential,
) -> Result<MaybeTls<tokio_rustls::client::TlsStream<TcpStream>>, String> {
    let (Some(config), MaybeTls::Plain(mut tcp)) = (&credential.tls, plain) else {
        return Err("TLS to the target was set up twice".into());
    };
    let mut request = BytesMut::new();
    sluice_pgwire::encode::ssl_request(&mut request);
    tcp.write_all(&request).await.map_err(|e| e.to_string())?;
    match tcp.read_u8().await.map_err(|e| e.to_string())? {
        b'S' => {
            let name = sluice_net::tls::server_name(host).map_err(|e| e.to_string())?;
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS to the target: {e}"))?;
            Ok(MaybeTls::Tls(Box::new(tls)))
        }
        b'N' if credential.tls_optional => Ok(MaybeTls::Plain(tcp)),
        b'N' => Err("the target does not offer TLS, which the agent's tls mode requires".into()),
        other => Err(format!("unexpected answer {other:#04x} to SSLRequest")),
    }
}

/// Runs the login between `gateway` (the stream) and `target` (the agent's socket).
pub(crate) async fn postgres(
    gateway: &mut (impl AsyncRead + AsyncWrite + Unpin),
    target: &mut (impl AsyncRead + AsyncWrite + Unpin),
    password: &[u8],
) -> Result<(), String> {
    let startup = loop {
        let packet = read_startup(gateway).await?;
        match packet
            .get(4..8)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        {
            // The agent's leg to the target is what it is; the gateway's own TLS over the
            // stream would hide the login the agent must answer. `tls = "disable"` on the
            // gateway's side of such a target; `require` there is refused here, closed.
            Some(SSL_REQUEST | GSSENC_REQUEST) => {
                gateway.write_all(b"N").await.map_err(|e| e.to_string())?
            }
            _ => break packet,
        }
    };
    let user = startup_user(&startup).ok_or("the startup message names no user")?;
    target
        .write_all(&startup)
        .await
        .map_err(|e| e.to_string())?;
    let mut login = PasswordLogin::new(user.as_bytes(), password);
    let mut buf = BytesMut::with_capacity(4096);
    let mut out = BytesMut::new();
    loop {
        let message = read_message(target, &mut buf).await?;
        let tag = message.first().copied().unwrap_or_default();
        if tag != backend::AUTHENTICATION {
            // An error (a wrong password, no such database) or NegotiateProtocolVersion: the
            // gateway reads it as it would from the target.
            gateway
                .write_all(&message)
                .await
                .map_err(|e| e.to_string())?;
            if tag == backend::ERROR_RESPONSE {
                return Err("the target refused the agent's login".into());
            }
            continue;
        }
        let request =
            backend::auth_request(&message[frame::HEADER_LEN..]).map_err(|e| e.to_string())?;
        if matches!(request, AuthRequest::Ok) {
            gateway
                .write_all(&message)
                .await
                .map_err(|e| e.to_string())?;
            gateway.write_all(&buf).await.map_err(|e| e.to_string())?;
            return Ok(());
        }
        out.clear();
        login.answer(request, &mut out).map_err(|e| e.to_string())?;
        if !out.is_empty() {
            target.write_all(&out).await.map_err(|e| e.to_string())?;
        }
    }
}

async fn read_startup(gateway: &mut (impl AsyncRead + Unpin)) -> Result<Vec<u8>, String> {
    let len = gateway.read_u32().await.map_err(|e| e.to_string())? as usize;
    if !(8..=MAX_STARTUP).contains(&len) {
        return Err(format!("a startup packet of {len} bytes"));
    }
    let mut packet = vec![0u8; len];
    packet[..4].copy_from_slice(&(len as u32).to_be_bytes());
    gateway
        .read_exact(&mut packet[4..])
        .await
        .map_err(|e| e.to_string())?;
    Ok(packet)
}

/// The `user` parameter of a StartupMessage (NUL-terminated pairs after the version).
fn startup_user(packet: &[u8]) -> Option<String> {
    let mut fields = packet.get(8..)?.split(|b| *b == 0);
    while let (Some(key), Some(value)) = (fields.next(), fields.next()) {
        if key == b"user" {
            return String::from_utf8(value.to_vec()).ok();
        }
        if key.is_empty() {
            break;
        }
    }
    None
}

/// One whole message, header included.
async fn read_message(
    target: &mut (impl AsyncRead + Unpin),
    buf: &mut BytesMut,
) -> Result<BytesMut, String> {
    loop {
        if let Some(f) = frame::peek(buf, MAX_LOGIN_MESSAGE).map_err(|e| e.to_string())? {
            if buf.len() >= f.len {
                return Ok(buf.split_to(f.len));
            }
        }
        if target.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("the target closed the connection during login".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_is_read_from_the_startup_parameters() {
        let mut packet = vec![0, 0, 0, 0, 0, 3, 0, 0];
        packet.extend_from_slice(b"database\0app\0user\0sluice_scram\0\0");
        assert_eq!(startup_user(&packet).as_deref(), Some("sluice_scram"));
        assert_eq!(startup_user(&packet[..8]), None);
    }
}
