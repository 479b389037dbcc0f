//! POSTs to the MCP endpoint over HTTP/1.1 (TLS for https), one connection per message: a held
//! tool call keeps its connection for minutes, and a fresh one per message means a `ping` never
//! queues behind it. sluice-outbound's client is not used because it reads an answer whole,
//! under one deadline, without its headers: an event stream must be read as it arrives.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, Uri};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::TlsConnector;

/// Connecting (TCP and TLS) only; the answer itself may take as long as a reviewer does.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The MCP endpoint and the means to reach it.
pub struct Endpoint {
    host: String,
    port: u16,
    authority: HeaderValue,
    path: Uri,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

/// An answer whose head has arrived; its body streams while this lives.
pub struct Answer {
    pub response: Response<Incoming>,
    _connection: AbortOnDrop,
}

impl Endpoint {
    /// https:// against the public roots and `ca`; http:// only on loopback, where no one
    /// else can read the token on the way.
    pub fn new(url: &str, ca: Option<&Path>) -> Result<Self> {
        let uri: Uri = url.parse().map_err(|_| anyhow!("--server is not a URL"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => bail!("--server must be an https:// URL (http:// on loopback only)"),
        };
        let authority = uri.authority().context("--server has no host")?;
        if authority.as_str().contains('@') {
            bail!("--server must not carry credentials: the token comes from SLUICE_TOKEN or `sluice login`");
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if !https && !is_loopback(&host) {
            bail!("--server: http:// is allowed on loopback only (localhost, 127.0.0.1, ::1); use https://");
        }
        let tls = if https {
            let name = ServerName::try_from(host.clone())
                .map_err(|_| anyhow!("--server has an invalid host"))?;
            Some((connector(ca)?, name))
        } else {
            None
        };
        Ok(Endpoint {
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority: HeaderValue::from_str(authority.as_str())
                .map_err(|_| anyhow!("--server has an invalid host"))?,
            path: Uri::try_from(uri.path_and_query().map_or("/", |p| p.as_str()))
                .map_err(|_| anyhow!("--server has an invalid path"))?,
            host,
            tls,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// `host:port`, for messages.
    pub fn describe(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// POSTs `body` with the bearer and `headers`; returns once the answer's head is in.
    pub async fn post(
        &self,
        bearer: &HeaderValue,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
    ) -> Result<Answer> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.path.clone();
        let fixed = request.headers_mut();
        fixed.insert(HOST, self.authority.clone());
        fixed.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        fixed.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        fixed.insert(AUTHORIZATION, bearer.clone());
        for (name, value) in headers {
            fixed.insert(name, value);
        }
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| anyhow!("no connection within {}s", CONNECT_TIMEOUT.as_secs()))??;
        match &self.tls {
            Some((connector, name)) => {
                let stream =
                    tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name.clone(), tcp))
                        .await
                        .map_err(|_| {
                            anyhow!("no TLS handshake within {}s", CONNECT_TIMEOUT.as_secs())
                        })?
                        .context("TLS")?;
                exchange(stream, request).await
            }
            None => exchange(tcp, request).await,
        }
    }
}

/// The bearer header, marked sensitive so hyper never logs it.
pub fn bearer(token: &str) -> Result<HeaderValue> {
    // The error names no part of the value, so it cannot leak the token.
    let mut value = HeaderValue::try_from(format!("Bearer {token}"))
        .map_err(|_| anyhow!("the token holds characters an HTTP header cannot carry"))?;
    value.set_sensitive(true);
    Ok(value)
}

async fn exchange<S>(stream: S, request: Request<Full<Bytes>>) -> Result<Answer>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    // Aborted with the answer, so an abandoned stream cannot keep its connection open.
    let connection = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let response = sender.send_request(request).await?;
    Ok(Answer {
        response,
        _connection: connection,
    })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The public roots plus the CA a gateway with a self-signed or private certificate names: the
/// same `sluice mcp` line then works for a demo and for a gateway with a public certificate.
fn connector(ca: Option<&Path>) -> Result<TlsConnector> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca {
        let unreadable = || format!("the CA file {}", path.display());
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path).with_context(unreadable)? {
            roots
                .add(cert.with_context(unreadable)?)
                .with_context(unreadable)?;
            added += 1;
        }
        if added == 0 {
            bail!("{} holds no PEM certificate", unreadable());
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
