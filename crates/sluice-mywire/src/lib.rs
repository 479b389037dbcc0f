//! MySQL client/server protocol (the 4.1 protocol MySQL 5.7+, 8.x and MariaDB speak) as bytes
//! in, typed views out: no sockets, no runtime, no authentication.
//!
//! The gateway reads every packet it relays (it must know where each response ends, and mask
//! rows), but re-encodes only what it changes. Authentication packets (handshake, handshake
//! response, auth switch) are read with the `mysql_common` crate in sluice-mysql; this crate
//! has the packets of the command phase.
//!
//! # Layout
//! - [`frame`]: packets (3-byte length, sequence id), joined across the 16 MiB split.
//! - [`lenenc`]: length-encoded integers and strings, the protocol's variable-length format.
//! - [`command`]: views of client commands (COM_QUERY, COM_STMT_EXECUTE, ...).
//! - [`response`]: server packets: OK, ERR, EOF, column definitions, prepare answers.
//! - [`rows`]: result rows, text and binary, read in place and rewritten.
//! - [`params`]: a COM_STMT_EXECUTE's bound values, as text for policy and audit.
//! - [`caps`]: capability flags, status flags and column types.

pub mod caps;
pub mod command;
mod error;
pub mod frame;
pub mod lenenc;
pub mod params;
pub mod response;
pub mod rows;

pub use error::WireError;
