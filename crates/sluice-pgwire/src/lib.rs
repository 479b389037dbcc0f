//! PostgreSQL wire protocol (v3.0 and v3.2) as bytes in, typed views out: no sockets, no runtime.
//!
//! sluice relays most bytes untouched, so this crate does not decode every message into an owned
//! struct and re-encode it. It finds frame boundaries ([`frame`]), gives borrowed views of the few
//! messages the gateway must read ([`frontend`], [`backend`], [`startup`]), and builds the few
//! messages the gateway itself sends ([`encode`]).
//!
//! # Layout
//! - [`frame`]: splits a byte buffer into `tag + length + body` frames, with a size limit.
//! - [`startup`]: the untagged first packets (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest).
//! - [`frontend`]: views of client messages (Query, Parse, Bind, Execute, ...).
//! - [`backend`]: views of server messages (CommandComplete, ErrorResponse, ReadyForQuery, ...).
//! - [`encode`]: builders for the messages sluice writes itself, in either direction.
//! - [`rows`]: result columns (RowDescription) and values (DataRow), read in place and rewritten.
//! - [`cstr`]: reading NUL-terminated strings, the protocol's one string format.
//! - [`encoding`]: client encodings, and the text the server reads from a client's bytes.
//! - [`types`]: per type OID, whether masking can read a result value and write it back.

pub mod backend;
pub mod cstr;
pub mod encode;
pub mod encoding;
mod error;
pub mod frame;
pub mod frontend;
pub mod login;
pub mod rows;
pub mod startup;
pub mod types;

pub use error::WireError;

/// Protocol version 3.0, the one every server and client speaks.
pub const PROTOCOL_3_0: ProtocolVersion = ProtocolVersion { major: 3, minor: 0 };
/// Protocol version 3.2 (PostgreSQL 18): longer cancel keys.
pub const PROTOCOL_3_2: ProtocolVersion = ProtocolVersion { major: 3, minor: 2 };

/// A protocol version as carried in the StartupMessage (major in the high 16 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProtocolVersion {
    pub major: u16,
    pub minor: u16,
}

impl ProtocolVersion {
    pub fn from_code(code: u32) -> Self {
        ProtocolVersion {
            major: (code >> 16) as u16,
            minor: (code & 0xffff) as u16,
        }
    }
    pub fn code(self) -> u32 {
        (u32::from(self.major) << 16) | u32::from(self.minor)
    }
}
