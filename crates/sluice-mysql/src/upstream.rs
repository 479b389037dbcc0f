//! The gateway's own login to the target, with the credential only it holds:
//! mysql_native_password, or caching_sha2_password (fast path, or full authentication inside
//! TLS or with the server's RSA key), after TLS as the target's mode asks.

use bytes::{BufMut, BytesMut};

use sluice_core::config::TargetTls;
use sluice_core::Session;
use sluice_mywire::caps::{self, CLIENT_SSL};
use sluice_mywire::lenenc::{put_lenenc_bytes, Reader};
use sluice_mywire::response::ErrPacket;
use sluice_mywire::WireError;
use sluice_net::stream::{MaybeTls, UpstreamStream};
use sluice_net::tls;

use crate::error::MyError;
use crate::handshake::{CACHING_SHA2, CLEAR, NATIVE};
use crate::packets::{read_exact_packet, write_packet, ReadError};

const MAX_LOGIN_PACKET: usize = 64 * 1024;

/// A logged-in connection to the target.
pub struct Upstream {
    pub stream: UpstreamStream,
    /// The target's id for this connection (what its KILL takes).
    pub thread_id: u32,
    /// The capabilities in force on this connection, the client's choice among them.
    pub capabilities: u32,
}

struct ServerHello {
    version: String,
    thread_id: u32,
    nonce: Vec<u8>,
    capabilities: u32,
    plugin: Vec<u8>,
}

fn parse_hello(payload: &[u8]) -> Result<ServerHello, WireError> {
    let mut r = Reader::new(payload, "server greeting");
    if payload.first() == Some(&0xff) {
        return Err(WireError::Malformed {
            what: "server greeting",
            why: "the server sent an error instead",
        });
    }
    if r.u8()? != 10 {
        return Err(WireError::Malformed {
            what: "server greeting",
            why: "not protocol version 10",
        });
    }
    let version = String::from_utf8_lossy(r.cstr()?).into_owned();
    let thread_id = r.u32()?;
    let mut nonce = r.bytes(8)?.to_vec();
    r.u8()?;
    let low = u32::from(r.u16()?);
    let mut capabilities = low;
    let mut plugin = Vec::new();
    if !r.is_empty() {
        let _charset = r.u8()?;
        let _status = r.u16()?;
        capabilities |= u32::from(r.u16()?) << 16;
        let auth_len = r.u8()?;
        r.bytes(10)?;
        if capabilities & caps::CLIENT_SECURE_CONNECTION != 0 {
            let n = usize::from(auth_len).saturating_sub(8).max(13);
            let part = r.bytes(n.min(r.rest().len()))?;
            nonce.extend_from_slice(part.strip_suffix(&[0]).unwrap_or(part));
        }
        if capabilities & caps::CLIENT_PLUGIN_AUTH != 0 {
            plugin = r
                .cstr()
                .map(<[u8]>::to_vec)
                .unwrap_or_else(|_| r.rest().to_vec());
        }
    }
    Ok(ServerHello {
        version,
        thread_id,
        nonce,
        capabilities,
        plugin,
    })
}

/// Connects and logs in for `session`, asking for `client_caps` (what the client chose).
pub async fn connect(
    session: &Session,
    client_caps: u32,
    charset: u8,
) -> Result<Upstream, MyError> {
    let target = session.target();
    let addr = format!("{}:{}", target.host, target.port);
    let tcp = sluice_net::dial::connect(session.gateway(), target)
        .await
        .map_err(|e| MyError::UpstreamConnect(format!("{addr}: {e}")))?;
    let mut stream: UpstreamStream = MaybeTls::Plain(tcp);
    let hello = read(&mut stream).await?;
    let server = parse_hello(&hello.payload).map_err(MyError::upstream)?;
    let mut seq = hello.seq.wrapping_add(1);
    let missing = client_caps & caps::SHAPING & !server.capabilities;
    if missing != 0 {
        return Err(MyError::UpstreamConnect(format!(
            "the target lacks capabilities the client chose ({missing:#x}); the relay passes \
             answers on in the target's shape"
        )));
    }
    let mut capabilities = (client_caps & server.capabilities & caps::SUPPORTED)
        | caps::CLIENT_PROTOCOL_41
        | caps::CLIENT_SECURE_CONNECTION
        | caps::CLIENT_PLUGIN_AUTH
        | (server.capabilities & caps::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
        | caps::CLIENT_CONNECT_WITH_DB;
    // No connection attributes are sent: the target sees the gateway, and the client's
    // attributes are in the session's audit record.
    capabilities &= !(CLIENT_SSL | caps::CLIENT_CONNECT_ATTRS);
    capabilities &= server.capabilities | caps::CLIENT_CONNECT_WITH_DB;

    let tls_config = tls::client_config(target)?;
    let offers_tls = server.capabilities & CLIENT_SSL != 0;
    match (tls_config, offers_tls, target.tls) {
        (Some(config), true, _) => {
            let mut request = BytesMut::new();
            request.put_u32_le(capabilities | CLIENT_SSL);
            request.put_u32_le(0x0100_0000);
            request.put_u8(charset);
            request.put_bytes(0, 23);
            seq = write_packet(&mut stream, seq, &request).await?;
            let MaybeTls::Plain(tcp) = stream else {
                return Err(MyError::Tls("TLS twice".into()));
            };
            let connector = tokio_rustls::TlsConnector::from(config);
            let tls = connector
                .connect(tls::server_name(&target.host)?, tcp)
                .await
                .map_err(|e| MyError::Tls(e.to_string()))?;
            stream = MaybeTls::Tls(Box::new(tls));
            capabilities |= CLIENT_SSL;
        }
        (Some(_), false, TargetTls::Require | TargetTls::VerifyFull) => {
            return Err(MyError::Tls(format!(
                "target {} does not offer TLS but its tls mode requires it",
                target.name
            )))
        }
        _ => {}
    }

    let password = session
        .upstream_password()
        .map(|p| p.expose().as_bytes().to_vec())
        .unwrap_or_default();
    let plugin = if server.plugin.is_empty() {
        NATIVE.to_vec()
    } else {
        server.plugin.clone()
    };
    let first_answer = scramble(&plugin, &server.nonce, &password, stream.is_tls())?;
    let mut response = BytesMut::new();
    response.put_u32_le(capabilities);
    response.put_u32_le(0x0100_0000);
    response.put_u8(charset);
    response.put_bytes(0, 23);
    response.extend_from_slice(target.user.as_bytes());
    response.put_u8(0);
    if capabilities & caps::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
        put_lenenc_bytes(&mut response, &first_answer);
    } else {
        response.put_u8(first_answer.len() as u8);
        response.extend_from_slice(&first_answer);
    }
    response.extend_from_slice(session.database().as_bytes());
    response.put_u8(0);
    response.extend_from_slice(&plugin);
    response.put_u8(0);
    write_packet(&mut stream, seq, &response).await?;

    let mut plugin = plugin;
    let mut nonce = server.nonce.clone();
    loop {
        let packet = read(&mut stream).await?;
        seq = packet.seq.wrapping_add(1);
        let payload = &packet.payload[..];
        match payload.first() {
            Some(0x00) => break,
            Some(0xff) => {
                let e = ErrPacket::decode(payload).map_err(MyError::upstream)?;
                return Err(MyError::UpstreamRefused {
                    code: e.code,
                    message: String::from_utf8_lossy(e.message).into_owned(),
                });
            }
            Some(0xfe) => {
                // AuthSwitchRequest: another plugin, a fresh nonce.
                let mut r = Reader::new(&payload[1..], "auth switch");
                plugin = r.cstr().map_err(MyError::upstream)?.to_vec();
                let data = r.rest();
                nonce = data.strip_suffix(&[0]).unwrap_or(data).to_vec();
                let answer = scramble(&plugin, &nonce, &password, stream.is_tls())?;
                write_packet(&mut stream, seq, &answer).await?;
            }
            Some(0x01) if plugin == CACHING_SHA2 => match payload.get(1) {
                Some(3) => {}
                Some(4) if stream.is_tls() => {
                    let mut clear = password.clone();
                    clear.push(0);
                    write_packet(&mut stream, seq, &clear).await?;
                }
                Some(4) => {
                    write_packet(&mut stream, seq, &[2]).await?;
                    let key = read(&mut stream).await?;
                    seq = key.seq.wrapping_add(1);
                    let pem = key.payload.get(1..).unwrap_or_default();
                    let encrypted =
                        crate::scramble::rsa_encrypt(pem, &nonce, &password).map_err(|e| {
                            MyError::UpstreamProtocol(format!("the target's RSA key: {e}"))
                        })?;
                    write_packet(&mut stream, seq, &encrypted).await?;
                }
                _ => {
                    return Err(MyError::UpstreamProtocol(
                        "unexpected caching_sha2 step".into(),
                    ))
                }
            },
            _ => {
                return Err(MyError::UpstreamProtocol(
                    "unexpected packet during login".into(),
                ))
            }
        }
    }
    tracing::debug!(version = %server.version, thread = server.thread_id, "logged in to the target");
    Ok(Upstream {
        stream,
        thread_id: server.thread_id,
        capabilities,
    })
}

fn scramble(plugin: &[u8], nonce: &[u8], password: &[u8], tls: bool) -> Result<Vec<u8>, MyError> {
    if password.is_empty() {
        return Ok(Vec::new());
    }
    if plugin == NATIVE {
        return Ok(crate::scramble::native(nonce, password).to_vec());
    }
    if plugin == CACHING_SHA2 {
        return Ok(crate::scramble::sha2(nonce, password).to_vec());
    }
    if plugin == CLEAR && tls {
        let mut clear = password.to_vec();
        clear.push(0);
        return Ok(clear);
    }
    Err(MyError::UpstreamProtocol(format!(
        "the target asks for authentication plugin {}, which sluice does not speak{}",
        String::from_utf8_lossy(plugin),
        if plugin == CLEAR { " without TLS" } else { "" }
    )))
}

/// Reads how the session's texts are lexed right after login (part of the login, before any
/// request): its sql_mode and its client character set.
pub async fn sql_mode(upstream: &mut Upstream) -> Result<(bool, bool), MyError> {
    write_packet(&mut upstream.stream, 0, SQL_MODE_QUERY).await?;
    let mut answer = SqlModeAnswer::default();
    loop {
        let packet = read(&mut upstream.stream).await?;
        if let Some(flags) = answer.feed(&packet.payload)? {
            return Ok(flags);
        }
    }
}

/// The gateway's own query for what changes lexing, as a COM_QUERY payload.
pub const SQL_MODE_QUERY: &[u8] = b"\x03SELECT @@SESSION.sql_mode, @@SESSION.character_set_client";

/// Client character sets whose multi-byte characters may end in a byte that is `\` or `'` in
/// ASCII: the server reads such a byte as part of a character, the analysis (which reads
/// UTF-8) as a quote or an escape, so the same bytes would be two different statements.
const UNSAFE_CHARSETS: [&str; 5] = ["big5", "cp932", "gb18030", "gbk", "sjis"];

/// Reads the answer to [`SQL_MODE_QUERY`] packet by packet.
#[derive(Default)]
pub struct SqlModeAnswer {
    columns: Option<u64>,
    columns_left: u64,
    values: Option<Vec<Option<String>>>,
}

impl SqlModeAnswer {
    /// Takes the next packet; once the answer is complete, the flags (NO_BACKSLASH_ESCAPES,
    /// ANSI_QUOTES), or a refusal of a character set the analysis cannot follow.
    pub fn feed(&mut self, payload: &[u8]) -> Result<Option<(bool, bool)>, MyError> {
        use sluice_mywire::response::{self, First};
        if payload.first() == Some(&0xff) {
            return Err(MyError::UpstreamProtocol(
                "the target refused SELECT @@sql_mode".into(),
            ));
        }
        let Some(width) = self.columns else {
            return match response::first(payload).map_err(MyError::upstream)? {
                First::ResultSet(n) => {
                    self.columns = Some(n);
                    self.columns_left = n;
                    Ok(None)
                }
                // Nothing known: assume both modes, which refuses what either reads differently.
                _ => Ok(Some((true, true))),
            };
        };
        if self.columns_left > 0 {
            self.columns_left -= 1;
            return Ok(None);
        }
        if !response::is_eof(payload) {
            let width = usize::try_from(width).unwrap_or(usize::MAX);
            let values =
                sluice_mywire::rows::read_text_row(payload, width).map_err(MyError::upstream)?;
            self.values = Some(
                values
                    .into_iter()
                    .map(|v| v.map(|v| String::from_utf8_lossy(v).to_ascii_lowercase()))
                    .collect(),
            );
            return Ok(None);
        }
        // The metadata's terminator (without CLIENT_DEPRECATE_EOF) comes before the row.
        let Some(values) = &self.values else {
            return Ok(None);
        };
        let mode = values.first().cloned().flatten().unwrap_or_default();
        let modes: Vec<&str> = mode.split(',').collect();
        let no_backslash = modes.contains(&"no_backslash_escapes");
        let ansi = modes.iter().any(|m| *m == "ansi_quotes" || *m == "ansi");
        if let Some(Some(charset)) = values.get(1) {
            if UNSAFE_CHARSETS.contains(&charset.as_str()) {
                return Err(MyError::refused(
                    1115,
                    "42000",
                    format!(
                        "character set {charset} is not supported through sluice: its multi-byte \
                         characters can contain the bytes of a quote or a backslash; use utf8mb4"
                    ),
                ));
            }
        }
        Ok(Some((no_backslash, ansi)))
    }
}

async fn read(stream: &mut UpstreamStream) -> Result<sluice_mywire::frame::Packet, MyError> {
    read_exact_packet(stream, MAX_LOGIN_PACKET)
        .await
        .map_err(|e| match e {
            ReadError::Closed => {
                MyError::UpstreamConnect("the target closed the connection".into())
            }
            ReadError::Wire(w) => MyError::upstream(w),
            ReadError::Io(e) => MyError::Io(e),
        })
}
