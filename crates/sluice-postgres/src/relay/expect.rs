//! What the client half tells the server half to expect, in order. PostgreSQL answers requests
//! in the order it received them, so one FIFO is enough to pair every response with its
//! request, including pipelined extended-protocol batches.

use bytes::Bytes;
use sluice_core::StatementPermit;

#[derive(Debug)]
pub enum Expect {
    /// A Query message: any number of results, finished by ReadyForQuery.
    SimpleQuery(StatementPermit),
    Parse,
    Bind,
    /// Finished by RowDescription or NoData.
    Describe,
    Execute(StatementPermit),
    Close,
    /// Finished by ReadyForQuery; also ends the error state of a failed pipeline.
    Sync,
    /// Bytes sluice answers itself (a refusal) once every earlier response has been relayed.
    /// `ready` appends a ReadyForQuery carrying the session's current transaction status.
    Inject {
        message: Bytes,
        ready: bool,
    },
}
