//! What the client was sent, into the session's recording (docs/recording.md): result columns
//! and rows after masking, command tags, errors and notices, each under the number of the
//! statement it answers.

use sluice_core::recording::SessionRecording;
use sluice_core::CoreError;
use sluice_pgwire::backend as be;
use sluice_pgwire::cstr::lossy;
use sluice_pgwire::rows;

use super::expect::Expect;
use crate::error::PgError;

/// The columns of the result being relayed: from a simple query's RowDescription, or for an
/// Execute from the gateway's own Describe of its portal, sent just before it (a client's
/// Describe may describe another statement than the next one to run). Kept until the first
/// row of the statement needs them.
#[derive(Default)]
pub(super) struct ResultRecording {
    /// Name, type OID, and whether values come in binary.
    columns: Vec<(String, u32, bool)>,
    binary: Vec<bool>,
    /// The statement whose columns were last written.
    written_for: Option<u64>,
}

/// Whether the recording needs to read a message of this type whole.
pub(super) fn reads(tag: u8) -> bool {
    matches!(
        tag,
        be::ROW_DESCRIPTION
            | be::DATA_ROW
            | be::NOTICE_RESPONSE
            | be::COMMAND_COMPLETE
            | be::ERROR_RESPONSE
            | be::COPY_OUT_RESPONSE
            | be::NOTIFICATION_RESPONSE
            | be::FUNCTION_CALL_RESPONSE
    )
}

impl ResultRecording {
    /// Records one message as relayed to the client; `front` is the request it answers.
    pub(super) fn message(
        &mut self,
        recording: &SessionRecording,
        front: Option<&Expect>,
        tag: u8,
        body: &[u8],
    ) -> Result<(), PgError> {
        let permit = match front {
            Some(Expect::SimpleQuery(p) | Expect::Execute(p)) => Some(p),
            _ => None,
        };
        let n = permit.map(|p| p.number());
        let cap = match tag {
            // A simple query's description comes with its rows: written now, so an empty
            // result still shows its columns. A client's own Describe is not recorded.
            be::ROW_DESCRIPTION => match n {
                Some(n) => {
                    self.describe(tag, body)?;
                    self.write_columns(recording, n)
                }
                None => Ok(()),
            },
            be::DATA_ROW => {
                let Some(n) = n else {
                    return Ok(());
                };
                let values = rows::data_row(body).map_err(bad)?;
                let columns = if self.written_for == Some(n) {
                    Ok(())
                } else {
                    self.write_columns(recording, n)
                };
                columns.and_then(|()| recording.row(n, &values, &self.binary))
            }
            be::COMMAND_COMPLETE => match (n, permit) {
                (Some(n), Some(p)) => {
                    let tag = be::command_tag(body).map_err(bad)?;
                    recording.complete(n, &lossy(tag), p.elapsed_us())
                }
                _ => Ok(()),
            },
            be::ERROR_RESPONSE => {
                let f = be::error_fields(body).map_err(bad)?;
                recording.error(n, &lossy(f.code), &lossy(f.message))
            }
            be::NOTICE_RESPONSE => {
                let f = be::error_fields(body).map_err(bad)?;
                recording.notice(n, &lossy(f.severity), &lossy(f.code), &lossy(f.message))
            }
            // What the client receives but the format has no line for yet is still named, so
            // the recording is never silently short.
            be::COPY_OUT_RESPONSE => recording.notice(
                n,
                "RECORDING",
                "",
                "COPY data sent to the client is not recorded",
            ),
            be::FUNCTION_CALL_RESPONSE => recording.notice(
                n,
                "RECORDING",
                "",
                &format!(
                    "a FunctionCall result of {} bytes was sent to the client but is not recorded",
                    body.len().saturating_sub(4)
                ),
            ),
            be::NOTIFICATION_RESPONSE => {
                let (_, channel, payload) = be::notification(body).map_err(bad)?;
                recording.notice(
                    n,
                    "NOTIFY",
                    "",
                    &format!("{}: {}", lossy(channel), lossy(payload)),
                )
            }
            _ => Ok(()),
        };
        cap.map_err(|cap| PgError::Core(CoreError::RecordingCap(cap.to_string())))
    }

    /// The columns of the result about to come, from a RowDescription (or none, for NoData).
    pub(super) fn describe(&mut self, tag: u8, body: &[u8]) -> Result<(), PgError> {
        self.columns = if tag == be::ROW_DESCRIPTION {
            rows::row_description(body)
                .map_err(bad)?
                .iter()
                .map(|c| (lossy(c.name).into_owned(), c.type_oid, c.format == 1))
                .collect()
        } else {
            Vec::new()
        };
        self.binary = self.columns.iter().map(|(_, _, binary)| *binary).collect();
        self.written_for = None;
        Ok(())
    }

    fn write_columns(
        &mut self,
        recording: &SessionRecording,
        n: u64,
    ) -> Result<(), sluice_core::recording::CapReached> {
        self.written_for = Some(n);
        let columns: Vec<(&str, u32)> = self
            .columns
            .iter()
            .map(|(name, oid, _)| (name.as_str(), *oid))
            .collect();
        recording.columns(n, &columns)
    }

    /// A row too large to read whole went to the client unread: the recording says so rather
    /// than silently missing it.
    pub(super) fn unread_row(
        &self,
        recording: &SessionRecording,
        front: Option<&Expect>,
        bytes: usize,
    ) -> Result<(), PgError> {
        let n = match front {
            Some(Expect::SimpleQuery(p) | Expect::Execute(p)) => Some(p.number()),
            _ => None,
        };
        recording
            .notice(
                n,
                "RECORDING",
                "",
                &format!(
                    "a row of {bytes} bytes was sent to the client but is too large to record"
                ),
            )
            .map_err(|cap| PgError::Core(CoreError::RecordingCap(cap.to_string())))
    }
}

fn bad(e: impl std::fmt::Display) -> PgError {
    PgError::UpstreamProtocol(e.to_string())
}
