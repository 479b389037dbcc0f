/// Why a request cannot be described unambiguously (the gateway refuses it: fail closed), or
/// why the listener or a session could not go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The target could not be reached or answered with something that is not HTTP/1.1.
    #[error("{0}")]
    Upstream(String),
    /// The caller's credential did not verify.
    #[error("the bearer credential is missing, unknown, expired or revoked")]
    Unauthorized,
    /// An identity provider's token verified, and no credential was issued for it.
    #[error("{0}")]
    Refused(String),
    /// Too many failed authentications lately.
    #[error("{0}")]
    Throttled(String),
    /// The listener could not start: TLS, the socket.
    #[error("{0}")]
    Listener(String),
    #[error("the request target is not an absolute path")]
    NotAbsolute,
    #[error("the request target is longer than {0} bytes")]
    TooLong(usize),
    #[error("the path holds a malformed percent escape")]
    BadEscape,
    /// `%2F` and `%5C`: servers disagree on whether they separate segments, so a rule could
    /// not know which path the target sees.
    #[error("the path holds an encoded slash or backslash, which servers read differently")]
    EncodedSeparator,
    #[error("the path has an empty segment (`//`), which servers merge or keep differently")]
    EmptySegment,
    #[error("the path holds a `;`, which some servers read as the start of path parameters")]
    PathParameter,
    #[error("the request holds a backslash, a control character or a byte outside ASCII")]
    BadCharacter,
    #[error("a query parameter is not UTF-8 once decoded")]
    NotUtf8,
    #[error("the host {0:?} is not a host name or address")]
    BadHost(String),
    #[error("the method {0:?} is not an HTTP method token")]
    BadMethod(String),
}
