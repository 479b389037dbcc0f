use thiserror::Error;

/// Everything that can go wrong reading an SFTP stream or keeping track of it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SftpError {
    /// A length prefix announced more than the limit: the stream cannot be trusted any
    /// further, since skipping the packet would mean buffering it.
    #[error("sftp packet of {len} bytes exceeds the limit of {max}")]
    TooLong { len: usize, max: usize },
    /// A packet whose body does not hold what its type requires.
    #[error("malformed sftp packet: {0}")]
    Malformed(&'static str),
    #[error("more than {0} sftp handles open at once")]
    TooManyHandles(usize),
    #[error("more than {0} sftp requests awaiting a response")]
    TooManyPending(usize),
    /// The client reused the id of a request still awaiting its response.
    #[error("sftp request id {0} is already in flight")]
    DuplicateId(u32),
    /// The server negotiated a version other than 3, whose packets this crate would misread;
    /// the relay closes the channel. (OpenSSH speaks only 3; a client asking for more from a
    /// server that has it ends here.)
    #[error("sftp version {0} negotiated; only version 3 is relayed")]
    UnsupportedVersion(u32),
    /// The server answered an id no forwarded request carries.
    #[error("sftp response to unknown request id {0}")]
    UnknownId(u32),
}
