//! Why a request cannot be classified. Every variant is a refusal: the gateway denies the
//! request rather than guess what the API server would make of it (fail closed).

use thiserror::Error;

/// A Kubernetes API request this crate will not describe.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KubeError {
    #[error("the HTTP method {0:?} is not one the Kubernetes API serves")]
    Method(String),
    #[error("the {part} is {len} bytes, over the limit of {max}")]
    TooLong {
        part: &'static str,
        len: usize,
        max: usize,
    },
    #[error("the path does not start with `/`")]
    NotAbsolute,
    #[error("the path has an empty segment (`//` or a trailing `/`)")]
    EmptySegment,
    #[error("the path has a `.` or `..` segment")]
    DotSegment,
    #[error("a path segment holds an encoded `/` or a `\\`, which servers split differently")]
    SlashInSegment,
    #[error("the path holds a raw `#`, where proxies would cut a fragment off")]
    Fragment,
    #[error("the {0} has a `%` that does not start two hex digits")]
    BadEscape(&'static str),
    #[error("the {0} decodes to bytes that are not UTF-8")]
    NotUtf8(&'static str),
    #[error(
        "the {0} holds a NUL, a control character or a raw space, which servers read differently"
    )]
    ControlCharacter(&'static str),
    #[error("the query separates parameters with `;`, which the API server drops")]
    Semicolon,
    #[error("the query parameter `{0}` is given more than once")]
    Repeated(&'static str),
    #[error("`/{0}/` in the path is followed by no resource")]
    MissingResource(&'static str),
    #[error("a watch through the `/watch/` path takes GET, not {0}")]
    WatchMethod(&'static str),
    #[error("the path goes on after the subresource")]
    TrailingSegments,
}
