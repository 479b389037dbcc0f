/// A packet that does not follow the protocol.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("packet of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed {what}: {why}")]
    Malformed {
        what: &'static str,
        why: &'static str,
    },
}

pub(crate) fn malformed(what: &'static str, why: &'static str) -> WireError {
    WireError::Malformed { what, why }
}
