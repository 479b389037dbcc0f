//! From TCP accept to a StartupMessage: TLS negotiation (SSLRequest or direct TLS), GSSENC
//! refusal, cancel requests, and protocol version negotiation.

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

use sluice_pgwire::startup::{self, StartupRequest};
use sluice_pgwire::{encode, ProtocolVersion, WireError};

use crate::error::PgError;
use sluice_net::stream::{ClientStream, MaybeTls};

/// The newest protocol minor version sluice speaks (3.2, PostgreSQL 18).
pub const NEWEST_MINOR: u16 = 2;

/// The first byte of a TLS ClientHello: a client using direct TLS starts with it instead of a
/// startup packet (whose first length byte is always 0).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// A client that has said who it is and what it wants, not yet authenticated.
pub struct ClientHello {
    pub stream: ClientStream,
    pub version: ProtocolVersion,
    /// Startup parameters, owned, in wire order.
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
}

impl ClientHello {
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }
}

#[allow(clippy::large_enum_variant)]
pub enum Opening {
    Hello(ClientHello),
    /// The connection carries a CancelRequest for this key. It is forwarded outside the
    /// handshake's deadline: the client's connection must stay open until the target has
    /// taken the cancel.
    Cancel {
        pid: i32,
        secret: Vec<u8>,
    },
}

/// Runs the startup phase on the stream in `slot`. The stream stays in the slot while this
/// runs, so that whoever bounds it with a timeout can still tell the client why it was cut off.
pub async fn negotiate(
    slot: &mut Option<ClientStream>,
    tls: Option<&TlsAcceptor>,
    require_tls: bool,
) -> Result<Opening, PgError> {
    if let Some(MaybeTls::Plain(tcp)) = slot.as_ref() {
        let mut first = [0u8; 1];
        tcp.peek(&mut first).await?;
        if first[0] == TLS_HANDSHAKE_RECORD {
            let acceptor = tls
                .ok_or_else(|| PgError::refused("08P01", "TLS is not enabled on this listener"))?;
            upgrade(slot, acceptor).await?;
        }
    }
    loop {
        let stream = slot
            .as_mut()
            .ok_or_else(|| PgError::Tls("client handshake failed".into()))?;
        let packet = read_startup_packet(stream).await?;
        let request = match startup::decode(&packet) {
            // Not one of the special 1234.x codes: a StartupMessage of a version sluice lacks.
            Err(WireError::UnknownStartupCode(code)) if code >> 16 != 1234 => {
                return Err(unsupported_version(ProtocolVersion::from_code(code)))
            }
            other => other?,
        };
        match request {
            StartupRequest::Ssl | StartupRequest::GssEnc if stream.is_tls() => {
                return Err(PgError::ClientUnexpected(
                    "encryption requested twice".into(),
                ))
            }
            StartupRequest::Ssl => match tls {
                Some(acceptor) => {
                    stream.write_all(b"S").await?;
                    upgrade(slot, acceptor).await?;
                }
                None => stream.write_all(b"N").await?,
            },
            // sluice has no Kerberos: decline, and libpq falls back to TLS or plain.
            StartupRequest::GssEnc => stream.write_all(b"N").await?,
            StartupRequest::Cancel { pid, secret } => {
                return Ok(Opening::Cancel {
                    pid,
                    secret: secret.to_vec(),
                });
            }
            StartupRequest::Startup(msg) => {
                if msg.version.major != 3 {
                    return Err(unsupported_version(msg.version));
                }
                if require_tls && !stream.is_tls() {
                    return Err(PgError::refused(
                        "28000",
                        "this gateway requires TLS (sslmode=require)",
                    ));
                }
                let unsupported: Vec<&[u8]> = msg
                    .params
                    .iter()
                    .filter(|(k, _)| k.starts_with(b"_pq_."))
                    .map(|(k, _)| *k)
                    .collect();
                let version = ProtocolVersion {
                    major: 3,
                    minor: msg.version.minor.min(NEWEST_MINOR),
                };
                if msg.version.minor > NEWEST_MINOR || !unsupported.is_empty() {
                    let mut out = BytesMut::new();
                    encode::negotiate_protocol_version(&mut out, version.minor, &unsupported);
                    stream.write_all(&out).await?;
                }
                let params = msg
                    .params
                    .iter()
                    .filter(|(k, _)| !k.starts_with(b"_pq_."))
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect();
                let stream = slot
                    .take()
                    .ok_or_else(|| PgError::Tls("client handshake failed".into()))?;
                return Ok(Opening::Hello(ClientHello {
                    stream,
                    version,
                    params,
                }));
            }
        }
    }
}

fn unsupported_version(v: ProtocolVersion) -> PgError {
    PgError::refused(
        "0A000",
        format!(
            "unsupported frontend protocol {}.{}: sluice supports 3.0 to 3.{NEWEST_MINOR}",
            v.major, v.minor
        ),
    )
}

/// Replaces the plain stream in `slot` by its TLS upgrade. A failed TLS handshake leaves the
/// slot empty: there is no stream left to report on.
async fn upgrade(slot: &mut Option<ClientStream>, acceptor: &TlsAcceptor) -> Result<(), PgError> {
    let Some(MaybeTls::Plain(tcp)) = slot.take() else {
        return Err(PgError::ClientUnexpected(
            "encryption requested twice".into(),
        ));
    };
    let tls = acceptor
        .accept(tcp)
        .await
        .map_err(|e| PgError::Tls(format!("client handshake: {e}")))?;
    *slot = Some(MaybeTls::Tls(Box::new(tls)));
    Ok(())
}

/// Reads one `length + payload` startup packet exactly, never past it: what follows an
/// SSLRequest is the TLS handshake.
async fn read_startup_packet(stream: &mut ClientStream) -> Result<Vec<u8>, PgError> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = startup::packet_len(len)?;
    let mut packet = vec![0u8; len - 4];
    stream.read_exact(&mut packet).await?;
    Ok(packet)
}
