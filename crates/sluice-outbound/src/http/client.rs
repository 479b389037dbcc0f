use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST, RETRY_AFTER};
use hyper::{Method, StatusCode, Uri};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::tls::Tls;
use super::Endpoint;
use crate::OutboundError;

/// Requests to one endpoint, each under the same deadline.
pub struct Client {
    endpoint: Endpoint,
    /// `Some` exactly for https, so a request can never fall back to plain TCP.
    tls: Option<Tls>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    /// Host and port only: the endpoint's path may be a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Client({}, {:?})",
            self.endpoint.describe(),
            self.timeout
        )
    }
}

/// One request; without [`Request::path`] it goes to the endpoint's own path and query.
pub struct Request {
    method: Method,
    path: Option<String>,
    headers: Vec<(&'static str, String)>,
    authorization: Option<Bearer>,
    body: Bytes,
}

/// An `Authorization: Bearer` value, marked sensitive so that hyper never logs it, and never
/// shown by `Debug`.
#[derive(Clone)]
pub struct Bearer(HeaderValue);

/// An answer whose head has arrived; the body is read on demand, before the same deadline.
pub struct Response {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Incoming,
    deadline: Instant,
    timeout: Duration,
    /// Keeps the connection running while the body is read.
    _connection: AbortOnDrop,
}

impl Client {
    /// Builds the TLS connector now for an https endpoint, so a misconfiguration shows at start.
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Result<Client, OutboundError> {
        Ok(Client {
            tls: Tls::for_endpoint(&endpoint, None)?,
            endpoint,
            timeout,
        })
    }

    /// Like [`Client::new`], but an https endpoint must present a certificate issued by the CA
    /// (PEM, one or more certificates) in `ca` instead of a public one: a gateway's admin API
    /// on a private network. Plain http endpoints ignore it.
    pub fn with_ca(
        endpoint: Endpoint,
        timeout: Duration,
        ca: &std::path::Path,
    ) -> Result<Client, OutboundError> {
        Ok(Client {
            tls: Tls::for_endpoint(&endpoint, Some(ca))?,
            endpoint,
            timeout,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Connects, sends and waits for the answer's head, all within the client's timeout; the
    /// whole exchange, body included, ends by the same deadline.
    pub async fn send(&self, request: Request) -> Result<Response, OutboundError> {
        let deadline = Instant::now() + self.timeout;
        let request = request.build(&self.endpoint)?;
        let (response, connection) = tokio::time::timeout_at(deadline, self.exchange(request))
            .await
            .map_err(|_| OutboundError::Timeout(self.timeout))??;
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Ok(Response {
            status: response.status(),
            retry_after,
            body: response.into_body(),
            deadline,
            timeout: self.timeout,
            _connection: connection,
        })
    }

    async fn exchange(
        &self,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<(hyper::Response<Incoming>, AbortOnDrop), OutboundError> {
        let tcp = tokio::net::TcpStream::connect((self.endpoint.host(), self.endpoint.port()))
            .await
            .map_err(OutboundError::Connect)?;
        match &self.tls {
            Some(tls) => {
                let stream = tls
                    .connector
                    .connect(tls.name.clone(), tcp)
                    .await
                    .map_err(|e| OutboundError::Tls(e.to_string()))?;
                exchange(stream, request).await
            }
            None => exchange(tcp, request).await,
        }
    }
}

/// Generic over the stream so plain TCP and TLS share one code path.
async fn exchange<S>(
    stream: S,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(hyper::Response<Incoming>, AbortOnDrop), OutboundError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(OutboundError::Http)?;
    // Aborted when the answer is dropped or the deadline passes, so a server that never closes
    // its side cannot keep a connection task alive.
    let connection = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let response = sender
        .send_request(request)
        .await
        .map_err(OutboundError::Http)?;
    Ok((response, connection))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Request {
    pub fn new(method: Method) -> Request {
        Request {
            method,
            path: None,
            headers: Vec::new(),
            authorization: None,
            body: Bytes::new(),
        }
    }

    /// Path and query on the endpoint's host, instead of the endpoint's own.
    pub fn path(mut self, path: impl Into<String>) -> Request {
        self.path = Some(path.into());
        self
    }

    /// A value HTTP cannot carry fails the send, naming the header but not the value.
    pub fn header(mut self, name: &'static str, value: impl ToString) -> Request {
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn bearer(mut self, token: &Bearer) -> Request {
        self.authorization = Some(token.clone());
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Request {
        self.body = body.into();
        self
    }

    fn build(self, endpoint: &Endpoint) -> Result<hyper::Request<Full<Bytes>>, OutboundError> {
        let target = match self.path {
            Some(path) => Uri::try_from(path)
                .map_err(|_| OutboundError::Url("the request path is not a valid URL path"))?,
            None => endpoint.target().clone(),
        };
        let mut request = hyper::Request::new(Full::new(self.body));
        *request.method_mut() = self.method;
        *request.uri_mut() = target;
        let headers = request.headers_mut();
        headers.insert(HOST, endpoint.authority().clone());
        for (name, value) in self.headers {
            let bad = || OutboundError::Header(name);
            let key = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            headers.insert(key, HeaderValue::try_from(value).map_err(|_| bad())?);
        }
        if let Some(Bearer(value)) = self.authorization {
            headers.insert(AUTHORIZATION, value);
        }
        Ok(request)
    }
}

impl Bearer {
    /// The error carries no part of the token.
    pub fn new(token: &str) -> Result<Bearer, OutboundError> {
        let mut value = HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| OutboundError::Header("the token"))?;
        value.set_sensitive(true);
        Ok(Bearer(value))
    }
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(..)")
    }
}

impl Response {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The answer's `Retry-After` when it is a number of seconds.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The whole body, before the deadline the request was sent under.
    pub async fn body(self) -> Result<Bytes, OutboundError> {
        let Response {
            body,
            deadline,
            timeout,
            _connection,
            ..
        } = self;
        let collected = tokio::time::timeout_at(deadline, body.collect())
            .await
            .map_err(|_| OutboundError::Timeout(timeout))?
            .map_err(OutboundError::Http)?;
        Ok(collected.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-shot server answering `answer` after the request head; returns its URL and what
    /// it read.
    async fn server(answer: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/base?q=1", listener.local_addr().expect("addr"));
        let seen = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut buf = Vec::new();
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let mut chunk = [0u8; 1024];
                let n = stream.read(&mut chunk).await.expect("read");
                assert!(n > 0, "closed inside the head");
                buf.extend_from_slice(&chunk[..n]);
            }
            stream.write_all(answer.as_bytes()).await.expect("write");
            if answer.is_empty() {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            String::from_utf8_lossy(&buf).into_owned()
        });
        (url, seen)
    }

    #[tokio::test]
    async fn get_with_bearer_and_path_reads_status_and_body() {
        let (url, seen) = server(
            "HTTP/1.1 409 Conflict\r\nRetry-After: 7\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        )
        .await;
        let client = Client::new(Endpoint::parse(&url).expect("url"), Duration::from_secs(5))
            .expect("client");
        let token = Bearer::new("s3cret").expect("token");
        assert_eq!(format!("{token:?}"), "Bearer(..)");
        let request = Request::new(Method::GET)
            .path("/reviews?state=all")
            .header("accept", "application/json")
            .bearer(&token);
        let response = client.send(request).await.expect("answer");
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(response.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(response.body().await.expect("body"), "hello");
        let head = seen.await.expect("server");
        assert!(
            head.starts_with("GET /reviews?state=all HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains("authorization: Bearer s3cret\r\n"), "{head}");
        assert!(head.contains("accept: application/json\r\n"), "{head}");
        let host = url
            .trim_start_matches("http://")
            .trim_end_matches("/base?q=1");
        assert!(head.contains(&format!("host: {host}\r\n")), "{head}");
    }

    #[tokio::test]
    async fn post_goes_to_the_endpoints_own_path() {
        let (url, seen) = server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
        let client = Client::new(Endpoint::parse(&url).expect("url"), Duration::from_secs(5))
            .expect("client");
        let response = client
            .send(Request::new(Method::POST).body("{}"))
            .await
            .expect("answer");
        assert_eq!(response.status(), StatusCode::OK);
        let head = seen.await.expect("server");
        assert!(head.starts_with("POST /base?q=1 HTTP/1.1\r\n"), "{head}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out_and_bad_headers_are_named_not_shown() {
        let (url, _seen) = server("").await;
        let client = Client::new(
            Endpoint::parse(&url).expect("url"),
            Duration::from_millis(50),
        )
        .expect("client");
        let err = client
            .send(Request::new(Method::GET))
            .await
            .err()
            .expect("timeout");
        assert_eq!(err.to_string(), "no answer within 50ms");
        let err = client
            .send(Request::new(Method::GET).header("x-note", "a\nSECRET"))
            .await
            .err()
            .expect("bad header");
        assert_eq!(
            err.to_string(),
            "x-note holds characters an HTTP header cannot carry"
        );
        let err = Bearer::new("s3cret\nx").expect_err("newline");
        assert!(!format!("{err:?} {err}").contains("s3cret"));
    }
}
