//! SFTP (version 3, draft-ietf-secsh-filexfer-02, as OpenSSH speaks it, with the OpenSSH
//! extensions its client uses) read packet by packet for a relaying gateway. No I/O: the
//! relay owns the channel, this crate says what the bytes mean.
//!
//! A relay keeps, per `sftp` subsystem channel, a [`Framer`] for each direction and one
//! [`Tracker`]:
//!
//! ```no_run
//! # use sluice_sftp::*;
//! # fn decide(_: &[sluice_decision::facts::FileAccess]) -> Result<(), String> { Ok(()) }
//! # fn run(from_client: &[u8], from_server: &[u8]) -> Result<(), SftpError> {
//! # let (mut to_server, mut to_client, mut audit) = (Vec::new(), Vec::new(), Vec::new());
//! let (mut up, mut down, mut tracker) = (Framer::new(), Framer::new(), Tracker::default());
//! up.push(from_client);
//! while let Some(packet) = up.next_packet()? {
//!     let Ok(req) = ClientRequest::parse(&packet) else {
//!         // Fail closed: a request that cannot be read is answered, never forwarded.
//!         let id = packet.request_id().unwrap_or(0);
//!         to_client.push(status_failure(id, "malformed request"));
//!         continue;
//!     };
//!     let verdict = match tracker.check(&req) {
//!         Check::Forward => Ok(()),
//!         Check::Decide(facts) => decide(&facts),
//!         Check::Refuse(r) => { to_client.push(r.answer(req.id)); continue; }
//!     };
//!     match verdict {
//!         Ok(()) => {
//!             tracker.forwarded(&req)?;
//!             to_server.push(packet.into_raw());
//!             if matches!(req.kind, RequestKind::Init { .. }) && tracker.cwd().is_none() {
//!                 to_server.push(tracker.probe()?); // the gateway's own REALPATH(".")
//!             }
//!         }
//!         Err(rule) => {
//!             audit.extend(tracker.denied(&req, &rule));
//!             to_client.push(status_denied(req.id, &rule));
//!         }
//!     }
//! }
//! down.push(from_server);
//! let mut held_version = None;
//! while let Some(packet) = down.next_packet()? {
//!     let resp = ServerResponse::parse(&packet)?;
//!     let own = tracker.is_probe_answer(&resp);
//!     audit.extend(tracker.server_response(&resp)?);
//!     if matches!(resp.kind, ResponseKind::Version { .. }) && tracker.probing() {
//!         held_version = Some(packet.into_raw()); // the client waits for the directory
//!         continue;
//!     }
//!     if !own {
//!         to_client.push(packet.into_raw());
//!     }
//!     if !tracker.probing() {
//!         to_client.extend(held_version.take());
//!     }
//! }
//! // At channel end: audit.extend(tracker.finish());
//! # Ok(()) }
//! ```
//!
//! What the policy sees ([`Tracker::check`]): [`FileAccess`] facts with absolute,
//! lexically normalised paths ([`normalize`]). Relative paths are relative to the
//! session's directory, which the relay learns by sending a REALPATH(".") of its own right
//! after the client's INIT ([`Tracker::probe`]) and holding the server's VERSION back until
//! it is answered, so no request is checked before it is known. (OpenSSH's `sftp` asks for
//! it at startup, and the tracker learns from that answer too; OpenSSH 9's `scp` does not,
//! and sends relative paths straight away.) It can also be given ([`Tracker::with_home`]).
//! Without it, relative paths are refused rather than guessed. Handle operations are decided (FSTAT, FSETSTAT) or
//! forwarded (READ, WRITE, READDIR, CLOSE) against the path the handle was opened with;
//! a handle the tracker never saw opened is refused. Unknown packet types and unknown
//! extensions are refused: what they would do cannot be said.
//!
//! What the recording gets: one [`FileOp`] per operation, when its answer arrives; for a
//! file or directory handle, one when it is closed, with the bytes read and written
//! through it (WRITE counted once the server acknowledges it).
//!
//! The legacy scp protocol runs over exec, not over this subsystem: see [`scp`]. Since
//! OpenSSH 9.0, `scp` uses SFTP unless given `-O`, so most scp copies arrive here.
//!
//! [`FileAccess`]: sluice_decision::facts::FileAccess
//! [`FileOp`]: sluice_record::FileOp

pub mod codec;
mod error;
pub mod path;
pub mod request;
pub mod response;
pub mod scp;
pub mod tracker;

pub use codec::{status_denied, status_failure, Attrs, Framer, Packet, MAX_PACKET_LEN};
pub use error::SftpError;
pub use path::normalize;
pub use request::{ClientRequest, Extension, RequestKind};
pub use response::{ResponseKind, ServerResponse};
pub use scp::{scp_from_argv, ScpDirection, ScpError, ScpEvent, ScpRequest, ScpStream};
pub use tracker::{Check, Limits, Refusal, Tracker, PROBE_ID};

#[cfg(test)]
mod tests;
