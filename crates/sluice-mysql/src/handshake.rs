//! The connection phase up to authentication: the gateway's greeting (Handshake v10), the
//! client's optional switch to TLS (SSLRequest), and its HandshakeResponse41.

use bytes::{BufMut, BytesMut};
use tokio_rustls::TlsAcceptor;

use sluice_mywire::caps::{self, CLIENT_SSL};
use sluice_mywire::lenenc::Reader;
use sluice_mywire::WireError;
use sluice_net::stream::{ClientStream, MaybeTls};

use crate::error::MyError;
use crate::packets::{read_exact_packet, write_packet, ReadError};

/// The plugin the gateway asks for first.
pub const CACHING_SHA2: &[u8] = b"caching_sha2_password";
pub const NATIVE: &[u8] = b"mysql_native_password";
pub const CLEAR: &[u8] = b"mysql_clear_password";

/// Handshake packets are small; a larger one is an attack or a bug.
const MAX_HANDSHAKE_PACKET: usize = 64 * 1024;

/// What the gateway tells a client first.
pub struct Greeting<'a> {
    pub server_version: &'a str,
    pub connection_id: u32,
    pub nonce: [u8; 20],
    pub tls: bool,
}

impl Greeting<'_> {
    fn encode(&self) -> BytesMut {
        let mut out = BytesMut::with_capacity(128);
        let capabilities = caps::SUPPORTED & !(if self.tls { 0 } else { CLIENT_SSL });
        out.put_u8(10);
        out.extend_from_slice(self.server_version.as_bytes());
        out.put_u8(0);
        out.put_u32_le(self.connection_id);
        out.extend_from_slice(&self.nonce[..8]);
        out.put_u8(0);
        out.put_u16_le(capabilities as u16);
        out.put_u8(caps::UTF8MB4_GENERAL_CI as u8);
        out.put_u16_le(caps::SERVER_STATUS_AUTOCOMMIT);
        out.put_u16_le((capabilities >> 16) as u16);
        out.put_u8(21);
        out.put_bytes(0, 10);
        out.extend_from_slice(&self.nonce[8..]);
        out.put_u8(0);
        out.extend_from_slice(CACHING_SHA2);
        out.put_u8(0);
        out
    }
}

/// A client's HandshakeResponse41.
#[derive(Debug, Clone)]
pub struct Response {
    pub capabilities: u32,
    pub charset: u8,
    pub user: String,
    pub auth_response: Vec<u8>,
    /// The database it asked for (`TARGET` or `TARGET/DATABASE`); empty when none.
    pub database: String,
    /// The plugin its auth response is for; empty when it named none.
    pub plugin: Vec<u8>,
    /// Connection attributes (`program_name`, `_client_name`, ...).
    pub attributes: Vec<(String, String)>,
}

impl Response {
    fn decode(payload: &[u8]) -> Result<Response, WireError> {
        let mut r = Reader::new(payload, "handshake response");
        let capabilities = r.u32()?;
        if capabilities & caps::CLIENT_PROTOCOL_41 == 0 {
            return Err(WireError::Malformed {
                what: "handshake response",
                why: "the client does not speak the 4.1 protocol",
            });
        }
        let _max_packet = r.u32()?;
        let charset = r.u8()?;
        r.bytes(23)?;
        let user = String::from_utf8_lossy(r.cstr()?).into_owned();
        let auth_response = if capabilities & caps::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            r.lenenc_bytes()?
        } else if capabilities & caps::CLIENT_SECURE_CONNECTION != 0 {
            let n = r.u8()?;
            r.bytes(usize::from(n))?
        } else {
            r.cstr()?
        }
        .to_vec();
        let mut database = String::new();
        if capabilities & caps::CLIENT_CONNECT_WITH_DB != 0 && !r.is_empty() {
            database = String::from_utf8_lossy(r.cstr()?).into_owned();
        }
        let mut plugin = Vec::new();
        if capabilities & caps::CLIENT_PLUGIN_AUTH != 0 && !r.is_empty() {
            plugin = r.cstr()?.to_vec();
        }
        let mut attributes = Vec::new();
        if capabilities & caps::CLIENT_CONNECT_ATTRS != 0 && !r.is_empty() {
            let mut attrs = Reader::new(r.lenenc_bytes()?, "connection attributes");
            while !attrs.is_empty() {
                let k = String::from_utf8_lossy(attrs.lenenc_bytes()?).into_owned();
                let v = String::from_utf8_lossy(attrs.lenenc_bytes()?).into_owned();
                attributes.push((k, v));
            }
        }
        Ok(Response {
            capabilities,
            charset,
            user,
            auth_response,
            database,
            plugin,
            attributes,
        })
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A client whose HandshakeResponse was read; `seq` is the next sequence id to send.
pub struct Hello {
    pub stream: ClientStream,
    pub response: Response,
    pub seq: u8,
}

/// Sends the greeting, follows a switch to TLS, reads the response. On failure the stream,
/// if there is still one to tell, is left in `slot` with the sequence id to answer with.
pub async fn negotiate(
    slot: &mut Option<(ClientStream, u8)>,
    greeting: &Greeting<'_>,
    tls: Option<&TlsAcceptor>,
    require_tls: bool,
) -> Result<Hello, MyError> {
    let Some((mut stream, _)) = slot.take() else {
        return Err(MyError::HandshakeTimeout);
    };
    write_packet(&mut stream, 0, &greeting.encode()).await?;
    let first = read(&mut stream).await?;
    let mut seq = first.seq.wrapping_add(1);
    let mut payload = first.payload;
    if payload.len() == 32 {
        // SSLRequest: the response's first 32 bytes, then TLS.
        let capabilities = Reader::new(&payload, "SSL request")
            .u32()
            .map_err(MyError::ClientProtocol)?;
        if capabilities & CLIENT_SSL == 0 {
            slot.replace((stream, seq));
            return Err(MyError::ClientProtocol(WireError::Malformed {
                what: "handshake response",
                why: "too short",
            }));
        }
        let Some(acceptor) = tls else {
            return Err(MyError::Tls(
                "the client asked for TLS, which was not offered".into(),
            ));
        };
        let MaybeTls::Plain(tcp) = stream else {
            return Err(MyError::Tls("TLS requested twice".into()));
        };
        let tls_stream = acceptor
            .accept(tcp)
            .await
            .map_err(|e| MyError::Tls(e.to_string()))?;
        stream = MaybeTls::Tls(Box::new(tls_stream));
        let second = read(&mut stream).await?;
        seq = second.seq.wrapping_add(1);
        payload = second.payload;
    }
    if require_tls && !stream.is_tls() {
        slot.replace((stream, seq));
        return Err(MyError::refused(
            3159,
            "HY000",
            "connections to this gateway must use TLS (--ssl-mode=REQUIRED)",
        ));
    }
    match Response::decode(&payload) {
        Ok(response) => Ok(Hello {
            stream,
            response,
            seq,
        }),
        Err(e) => {
            slot.replace((stream, seq));
            Err(MyError::ClientProtocol(e))
        }
    }
}

async fn read(stream: &mut ClientStream) -> Result<sluice_mywire::frame::Packet, MyError> {
    read_exact_packet(stream, MAX_HANDSHAKE_PACKET)
        .await
        .map_err(|e| match e {
            ReadError::Closed => MyError::Io(std::io::ErrorKind::UnexpectedEof.into()),
            ReadError::Wire(w) => MyError::ClientProtocol(w),
            ReadError::Io(e) => MyError::Io(e),
        })
}

/// Reads one authentication packet from the client.
pub async fn read_auth(stream: &mut ClientStream) -> Result<sluice_mywire::frame::Packet, MyError> {
    read(stream).await
}
