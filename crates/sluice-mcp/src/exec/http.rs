//! The HTTP leg, for HTTP and Kubernetes targets: one HTTP/1.1 request to the gateway's own
//! HTTPS listener (its certificate pinned), the per-task credential as the bearer, the answer
//! read up to the output cap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::McpError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how a target is reached on the listener.
pub(crate) struct Route {
    pub addr: SocketAddr,
    pub tls: Arc<rustls::ClientConfig>,
    /// `Host` for host routing (`TARGET.DOMAIN`); `None` puts the target in the path.
    pub host: Option<String>,
}

pub(crate) struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
    pub truncated: bool,
}

fn http_err(e: impl std::fmt::Display) -> McpError {
    McpError::Client(format!("HTTPS listener: {e}"))
}

/// One request.
pub(crate) struct Ask<'a> {
    pub target: &'a str,
    pub bearer: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a [(String, String)],
    pub body: Option<&'a str>,
    pub max_output: usize,
}

pub(crate) async fn request(route: &Route, ask: Ask<'_>) -> Result<Answer, McpError> {
    let Ask {
        target,
        bearer,
        method,
        path,
        headers,
        body,
        max_output,
    } = ask;
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| http_err("bad method"))?;
    if !path.starts_with('/') {
        return Err(McpError::Client("the path must start with /".into()));
    }
    let (uri, host) = match &route.host {
        Some(host) => (path.to_owned(), host.clone()),
        None => (format!("/{target}{path}"), route.addr.to_string()),
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(route.addr))
        .await
        .map_err(|_| http_err("connection timed out"))?
        .map_err(http_err)?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from("localhost").map_err(http_err)?;
    let tls = TlsConnector::from(route.tls.clone())
        .connect(name, tcp)
        .await
        .map_err(http_err)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(http_err)?;
    let driver = tokio::spawn(connection);
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(HOST, host)
        .header(AUTHORIZATION, format!("Bearer {bearer}"));
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| McpError::Client(format!("bad header name {name:?}")))?;
        if name == AUTHORIZATION || name == HOST {
            return Err(McpError::Client(format!(
                "the {name} header is the gateway's to set"
            )));
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| McpError::Client(format!("bad value for header {name}")))?;
        builder = builder.header(name, value);
    }
    let request = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))
        .map_err(http_err)?;
    let response = sender.send_request(request).await.map_err(http_err)?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    let mut truncated = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(http_err)?;
        if let Some(data) = frame.data_ref() {
            let room = max_output.saturating_sub(bytes.len());
            if data.len() > room {
                truncated = true;
                bytes.extend_from_slice(&data[..room]);
                // A watch or a followed log never ends: stop reading at the cap.
                break;
            }
            bytes.extend_from_slice(data);
        }
    }
    driver.abort();
    Ok(Answer {
        status,
        content_type,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        truncated,
    })
}
