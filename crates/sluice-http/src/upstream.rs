//! The relay's HTTP/1.1 client towards a target. Written here rather than taken from a client
//! library because every byte towards the target must pass the session's sealed writer (the
//! proof that the request's audit record is durable), and because an upgrade (exec,
//! port-forward) continues on the very connection its request went out on.
//!
//! A session keeps a few idle connections to its target for reuse; a response that ends the
//! connection (`Connection: close`, a body delimited by close, an upgrade) is not returned.

use std::sync::Mutex;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, ReadHalf, WriteHalf};
use tokio_rustls::TlsConnector;

use sluice_core::config::{UpstreamAuth, UpstreamUrl};
use sluice_core::secret::Secret;
use sluice_core::{Sealed, Session, UpstreamWriter};
use sluice_net::stream::{MaybeTls, UpstreamStream};

use crate::HttpError;

/// Longest response head accepted from a target.
const MAX_HEAD: usize = 64 * 1024;
/// Longest chunk-size or trailer line.
const MAX_LINE: usize = 4096;
/// Idle connections kept per session.
const MAX_IDLE: usize = 8;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A session's way to its target.
pub(crate) struct Upstream {
    url: UpstreamUrl,
    /// `host[:port]` for the `Host` header.
    authority: String,
    tls: Option<TlsConnector>,
    /// The header the gateway adds to every request: name, value. Never logged.
    credential: Option<(String, Secret)>,
    idle: Mutex<Vec<Conn>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

/// One connection to the target: its read side and the session's sealed write side.
pub(crate) struct Conn {
    pub reader: ReadHalf<UpstreamStream>,
    pub writer: UpstreamWriter<WriteHalf<UpstreamStream>>,
    /// Read from the target, not yet consumed.
    pub buf: BytesMut,
}

/// A response's status line and headers.
#[derive(Debug)]
pub(crate) struct Head {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Whether the connection can serve another request after this response's body.
    pub fn keeps_alive(&self) -> bool {
        !self
            .header("connection")
            .is_some_and(|c| c.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }
}

/// How a response body ends.
#[derive(Debug)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked(Chunk),
    /// Until the target closes the connection.
    Close,
    Done,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

impl Upstream {
    pub(crate) fn new(session: &Session) -> Result<Upstream, HttpError> {
        let target = session.target();
        let url = target.upstream_url().map_err(HttpError::Upstream)?;
        let tls = if url.tls {
            let config = sluice_net::tls::http_client_config(target)
                .map_err(|e| HttpError::Upstream(e.to_string()))?;
            Some(TlsConnector::from(config))
        } else {
            None
        };
        let secret = || {
            session.upstream_password().cloned().ok_or_else(|| {
                HttpError::Upstream(format!(
                    "target {}: its credential is not loaded",
                    target.name
                ))
            })
        };
        let credential = match target.auth {
            UpstreamAuth::None | UpstreamAuth::ClientCert => None,
            UpstreamAuth::Bearer => Some((
                "authorization".to_owned(),
                Secret::new(format!("Bearer {}", secret()?.expose())),
            )),
            UpstreamAuth::Basic => {
                use base64::Engine;
                let pair = format!("{}:{}", target.user, secret()?.expose());
                Some((
                    "authorization".to_owned(),
                    Secret::new(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair)
                    )),
                ))
            }
            UpstreamAuth::Header => Some((
                target
                    .auth_header
                    .clone()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                secret()?,
            )),
        };
        let default_port = if url.tls { 443 } else { 80 };
        let host = if url.host.contains(':') {
            format!("[{}]", url.host)
        } else {
            url.host.clone()
        };
        let authority = if url.port == default_port {
            host
        } else {
            format!("{host}:{}", url.port)
        };
        Ok(Upstream {
            url,
            authority,
            tls,
            credential,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The header name of the injected credential, so a caller's own is never forwarded.
    pub(crate) fn credential_header(&self) -> Option<&str> {
        self.credential.as_ref().map(|(n, _)| n.as_str())
    }

    /// The request head towards the target: `path` under the target's base path, the
    /// caller's headers as filtered by the exchange, the gateway's `Host` and credential.
    pub(crate) fn head(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, Vec<u8>)],
        body_len: Option<usize>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.url.base_path.as_bytes());
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        out.extend_from_slice(self.authority.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if let Some((name, value)) = &self.credential {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.expose().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(len) = body_len {
            out.extend_from_slice(format!("content-length: {len}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// An idle connection (`true`: reused, the target may have closed it meanwhile), or a new
    /// one.
    pub(crate) async fn checkout(&self, session: &Session) -> Result<(Conn, bool), HttpError> {
        if let Some(conn) = sluice_core::sync::lock(&self.idle).pop() {
            return Ok((conn, true));
        }
        let io = |e: std::io::Error| HttpError::Upstream(format!("cannot reach the target: {e}"));
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            sluice_net::dial::connect_to(
                session.gateway(),
                session.target(),
                (self.url.host.as_str(), self.url.port),
            ),
        )
        .await
        .map_err(|_| HttpError::Upstream("the target did not answer within 10 s".into()))?
        .map_err(io)?;
        let stream: UpstreamStream = match &self.tls {
            Some(connector) => {
                let name = sluice_net::tls::server_name(&self.url.host)
                    .map_err(|e| HttpError::Upstream(e.to_string()))?;
                let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
                    .await
                    .map_err(|_| {
                        HttpError::Upstream("the target's TLS handshake timed out".into())
                    })?
                    .map_err(|e| HttpError::Upstream(format!("TLS towards the target: {e}")))?;
                MaybeTls::Tls(Box::new(tls))
            }
            None => MaybeTls::Plain(tcp),
        };
        let (reader, writer) = tokio::io::split(stream);
        Ok((
            Conn {
                reader,
                writer: session.upstream_writer(writer),
                buf: BytesMut::with_capacity(8 * 1024),
            },
            false,
        ))
    }

    /// Keeps `conn` for the session's next request.
    pub(crate) fn checkin(&self, conn: Conn) {
        let mut idle = sluice_core::sync::lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

impl Conn {
    /// The request, under the seal that covers its audit record.
    pub(crate) async fn send(
        &mut self,
        sealed: Sealed,
        head: &[u8],
        body: &[u8],
    ) -> std::io::Result<()> {
        let mut forwarding = self.writer.forwarding(sealed);
        forwarding.write(head).await?;
        forwarding.write(body).await?;
        forwarding.finish().await
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        self.buf.reserve(16 * 1024);
        self.reader.read_buf(&mut self.buf).await
    }

    /// Reads the response head; interim 100 Continue answers are skipped.
    pub(crate) async fn read_head(&mut self) -> Result<Head, HttpError> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 128];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = response.code.unwrap_or(0);
                    let headers = response
                        .headers
                        .iter()
                        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                        .collect();
                    self.buf.advance(len);
                    if status == 100 {
                        continue;
                    }
                    return Ok(Head { status, headers });
                }
                Ok(httparse::Status::Partial) => {
                    if self.buf.len() > MAX_HEAD {
                        return Err(HttpError::Upstream(
                            "the target's response head is over 64 KiB".into(),
                        ));
                    }
                }
                Err(e) => {
                    return Err(HttpError::Upstream(format!(
                        "the target's response is not HTTP/1.1: {e}"
                    )))
                }
            }
            match self.fill().await {
                Ok(0) => {
                    return Err(HttpError::Upstream(
                        "the target closed the connection before answering".into(),
                    ))
                }
                Ok(_) => {}
                Err(e) => return Err(HttpError::Upstream(format!("reading the target: {e}"))),
            }
        }
    }

    /// The next part of the body, `None` at its end.
    pub(crate) async fn next_chunk(
        &mut self,
        framing: &mut Framing,
    ) -> Result<Option<Bytes>, HttpError> {
        loop {
            match framing {
                Framing::Empty | Framing::Done => {
                    *framing = Framing::Done;
                    return Ok(None);
                }
                Framing::Length(0) => {
                    *framing = Framing::Done;
                    return Ok(None);
                }
                Framing::Length(left) => {
                    if self.buf.is_empty() && self.fill_or_eof().await? == 0 {
                        return Err(truncated());
                    }
                    let n = (*left).min(self.buf.len() as u64) as usize;
                    *left -= n as u64;
                    return Ok(Some(self.buf.split_to(n).freeze()));
                }
                Framing::Close => {
                    if self.buf.is_empty() && self.fill_or_eof().await? == 0 {
                        *framing = Framing::Done;
                        return Ok(None);
                    }
                    return Ok(Some(self.buf.split().freeze()));
                }
                Framing::Chunked(state) => match *state {
                    Chunk::Size => {
                        let line = self.line().await?;
                        let hex = line.split(|&b| b == b';').next().unwrap_or_default();
                        let hex = std::str::from_utf8(hex).unwrap_or("").trim();
                        let size = u64::from_str_radix(hex, 16).map_err(|_| {
                            HttpError::Upstream("the target sent a malformed chunk size".into())
                        })?;
                        *state = if size == 0 {
                            Chunk::Trailers
                        } else {
                            Chunk::Data(size)
                        };
                    }
                    Chunk::Data(left) => {
                        if self.buf.is_empty() && self.fill_or_eof().await? == 0 {
                            return Err(truncated());
                        }
                        let n = left.min(self.buf.len() as u64) as usize;
                        *state = if left == n as u64 {
                            Chunk::DataEnd
                        } else {
                            Chunk::Data(left - n as u64)
                        };
                        return Ok(Some(self.buf.split_to(n).freeze()));
                    }
                    Chunk::DataEnd => {
                        if !self.line().await?.is_empty() {
                            return Err(HttpError::Upstream(
                                "the target's chunk is longer than its size".into(),
                            ));
                        }
                        *state = Chunk::Size;
                    }
                    Chunk::Trailers => {
                        if self.line().await?.is_empty() {
                            *framing = Framing::Done;
                            return Ok(None);
                        }
                    }
                },
            }
        }
    }

    async fn fill_or_eof(&mut self) -> Result<usize, HttpError> {
        self.fill()
            .await
            .map_err(|e| HttpError::Upstream(format!("reading the target: {e}")))
    }

    /// One CRLF-ended line, without its end.
    async fn line(&mut self) -> Result<Vec<u8>, HttpError> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf.split_to(end).to_vec();
                self.buf.advance(2);
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                return Err(HttpError::Upstream(
                    "the target sent an overlong line".into(),
                ));
            }
            if self.fill_or_eof().await? == 0 {
                return Err(truncated());
            }
        }
    }
}

fn truncated() -> HttpError {
    HttpError::Upstream("the target closed the connection in the middle of a body".into())
}

/// How the body of a response to `method` with `head` is delimited (RFC 9112 section 6.3).
pub(crate) fn framing(method: &str, head: &Head) -> Framing {
    if method == "HEAD" || head.status < 200 || head.status == 204 || head.status == 304 {
        return Framing::Empty;
    }
    if head
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        return Framing::Chunked(Chunk::Size);
    }
    match head
        .header("content-length")
        .map(|v| v.trim().parse::<u64>())
    {
        Some(Ok(n)) => Framing::Length(n),
        _ => Framing::Close,
    }
}
