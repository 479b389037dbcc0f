use std::time::Duration;

/// Errors of what the gateway sends out. None of them repeats a URL, a token or a key: a
/// webhook's URL and a sink's token are credentials.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// A webhook or sink that cannot work as configured, found at start.
    #[error("configuration: {0}")]
    Config(String),
    /// A URL that names no usable HTTP endpoint.
    #[error("{0}")]
    Url(&'static str),
    /// A header value HTTP cannot carry; the value is not repeated.
    #[error("{0} holds characters an HTTP header cannot carry")]
    Header(&'static str),
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("tls: {0}")]
    Tls(String),
    #[error("http: {0}")]
    Http(hyper::Error),
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
}
