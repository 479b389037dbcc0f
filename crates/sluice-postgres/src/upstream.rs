//! The gateway's own connection to the target: TCP, optional TLS, startup, and login with the
//! credential only sluice holds.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use sluice_core::config::{TargetConfig, TargetTls};
use sluice_core::{Gateway, Session};
use sluice_pgwire::backend;
use sluice_pgwire::login::{LoginError, PasswordLogin};
use sluice_pgwire::{encode, frame, PROTOCOL_3_0};

use crate::error::PgError;
use sluice_net::stream::{MaybeTls, UpstreamStream};
use sluice_net::{dial, tls};

/// Server messages during login are small; anything bigger is not a PostgreSQL server.
const MAX_LOGIN_MESSAGE: usize = 1 << 20;

/// A logged-in target connection, with what the server announced after login.
pub struct Upstream {
    pub stream: UpstreamStream,
    /// ParameterStatus and NoticeResponse messages, as received, to replay to the client.
    pub announcements: BytesMut,
    pub backend_pid: i32,
    pub backend_secret: Vec<u8>,
    /// Bytes the server sent after ReadyForQuery (normally none).
    pub leftover: BytesMut,
}

fn io_err(target: &TargetConfig, e: std::io::Error) -> PgError {
    PgError::UpstreamConnect(format!("{}:{}: {e}", target.host, target.port))
}

/// TCP (or a stream through an agent) plus TLS as the target's mode asks. Also used for
/// cancel requests.
pub async fn open_transport(
    gateway: &Gateway,
    target: &TargetConfig,
) -> Result<UpstreamStream, PgError> {
    let mut tcp = dial::connect(gateway, target)
        .await
        .map_err(|e| io_err(target, e))?;
    let Some(config) = tls::client_config(target)? else {
        return Ok(MaybeTls::Plain(tcp));
    };
    let mut req = BytesMut::new();
    encode::ssl_request(&mut req);
    tcp.write_all(&req).await.map_err(|e| io_err(target, e))?;
    let answer = tcp.read_u8().await.map_err(|e| io_err(target, e))?;
    match (answer, target.tls) {
        (b'S', _) => {
            let connector = tokio_rustls::TlsConnector::from(config);
            let tls = connector
                .connect(tls::server_name(&target.host)?, tcp)
                .await
                .map_err(|e| PgError::Tls(format!("target {}: {e}", target.name)))?;
            Ok(MaybeTls::Tls(Box::new(tls)))
        }
        (b'N', TargetTls::Prefer) => Ok(MaybeTls::Plain(tcp)),
        (b'N', _) => Err(PgError::Tls(format!(
            "target {} does not offer TLS but its tls mode requires it",
            target.name
        ))),
        (other, _) => Err(PgError::UpstreamProtocol(format!(
            "unexpected answer {other:#04x} to SSLRequest"
        ))),
    }
}

/// Connects and logs in as the target's configured user. `client_params` are the startup
/// parameters the client may pass through (application_name, client_encoding, ...).
pub async fn connect(
    session: &Session,
    client_params: &[(&[u8], &[u8])],
) -> Result<Upstream, PgError> {
    let target = session.target();
    let mut stream = open_transport(session.gateway(), target).await?;
    let mut out = BytesMut::new();
    let mut params: Vec<(&[u8], &[u8])> = vec![
        (b"user", target.user.as_bytes()),
        (b"database", session.database().as_bytes()),
    ];
    params.extend_from_slice(client_params);
    encode::startup_message(&mut out, PROTOCOL_3_0, &params);
    stream.write_all(&out).await?;

    let password = session
        .upstream_password()
        .map(|s| s.expose().as_bytes())
        .unwrap_or_default();
    let mut buf = BytesMut::with_capacity(4096);
    let mut login = PasswordLogin::new(target.user.as_bytes(), password);
    let mut announcements = BytesMut::new();
    let mut key: Option<(i32, Vec<u8>)> = None;
    loop {
        let (tag, body) = read_message(&mut stream, &mut buf, MAX_LOGIN_MESSAGE)
            .await?
            .ok_or_else(|| {
                PgError::UpstreamConnect("target closed the connection during login".into())
            })?;
        out.clear();
        match tag {
            backend::AUTHENTICATION => {
                let request = backend::auth_request(&body).map_err(bad)?;
                login.answer(request, &mut out).map_err(|e| match e {
                    LoginError::Protocol(m) => bad(m),
                    LoginError::Auth(m) => PgError::UpstreamAuth(m),
                })?;
            }
            backend::PARAMETER_STATUS | backend::NOTICE_RESPONSE => {
                append_frame(&mut announcements, tag, &body);
            }
            backend::BACKEND_KEY_DATA => {
                let (pid, secret) = backend::backend_key_data(&body).map_err(bad)?;
                key = Some((pid, secret.to_vec()));
            }
            backend::NEGOTIATE_PROTOCOL_VERSION => {}
            backend::ERROR_RESPONSE => {
                let f = backend::error_fields(&body).map_err(bad)?;
                return Err(PgError::UpstreamRefused {
                    code: String::from_utf8_lossy(f.code).into_owned(),
                    message: String::from_utf8_lossy(f.message).into_owned(),
                });
            }
            backend::READY_FOR_QUERY => {
                let (backend_pid, backend_secret) = key.unwrap_or((0, Vec::new()));
                return Ok(Upstream {
                    stream,
                    announcements,
                    backend_pid,
                    backend_secret,
                    leftover: buf,
                });
            }
            other => {
                return Err(bad(format!(
                    "unexpected message '{}' during login",
                    char::from(other)
                )))
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
        }
    }
}

fn bad(e: impl std::fmt::Display) -> PgError {
    PgError::UpstreamProtocol(e.to_string())
}

fn append_frame(out: &mut BytesMut, tag: u8, body: &[u8]) {
    out.extend_from_slice(&[tag]);
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
}

/// Reads one whole message from the target (at most `max` bytes); `None` when it closed.
pub(crate) async fn read_message(
    stream: &mut UpstreamStream,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<(u8, BytesMut)>, PgError> {
    loop {
        if let Some(f) = frame::peek(buf, max).map_err(bad)? {
            if buf.len() >= f.len {
                let mut msg = buf.split_to(f.len);
                msg.advance(frame::HEADER_LEN);
                return Ok(Some((f.tag, msg)));
            }
        }
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}
