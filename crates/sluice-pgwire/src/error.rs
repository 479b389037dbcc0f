/// Why a byte sequence is not a valid protocol message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("message length {0} is smaller than its own length field")]
    BadLength(u32),
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("message '{tag}' is truncated")]
    Truncated { tag: char },
    #[error("message '{tag}' has a string without its terminating NUL")]
    MissingNul { tag: char },
    #[error("message '{tag}' has {extra} unexpected trailing bytes")]
    TrailingBytes { tag: char, extra: usize },
    #[error("unknown message type {0:#04x}")]
    UnknownMessage(u8),
    #[error("startup packet has unknown request code {0:#010x}")]
    UnknownStartupCode(u32),
    #[error("startup packet parameters are malformed")]
    BadStartupParameters,
    #[error("message '{tag}' is malformed: {what}")]
    Malformed { tag: char, what: &'static str },
}
