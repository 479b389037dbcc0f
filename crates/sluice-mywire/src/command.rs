//! Client commands of the command phase: the first payload byte names the command.

use crate::error::{malformed, WireError};
use crate::lenenc::Reader;

pub const COM_SLEEP: u8 = 0x00;
pub const COM_QUIT: u8 = 0x01;
pub const COM_INIT_DB: u8 = 0x02;
pub const COM_QUERY: u8 = 0x03;
pub const COM_FIELD_LIST: u8 = 0x04;
pub const COM_CREATE_DB: u8 = 0x05;
pub const COM_DROP_DB: u8 = 0x06;
pub const COM_REFRESH: u8 = 0x07;
pub const COM_SHUTDOWN: u8 = 0x08;
pub const COM_STATISTICS: u8 = 0x09;
pub const COM_PROCESS_INFO: u8 = 0x0a;
pub const COM_PROCESS_KILL: u8 = 0x0c;
pub const COM_DEBUG: u8 = 0x0d;
pub const COM_PING: u8 = 0x0e;
pub const COM_CHANGE_USER: u8 = 0x11;
pub const COM_BINLOG_DUMP: u8 = 0x12;
pub const COM_STMT_PREPARE: u8 = 0x16;
pub const COM_STMT_EXECUTE: u8 = 0x17;
pub const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
pub const COM_STMT_CLOSE: u8 = 0x19;
pub const COM_STMT_RESET: u8 = 0x1a;
pub const COM_SET_OPTION: u8 = 0x1b;
pub const COM_STMT_FETCH: u8 = 0x1c;
pub const COM_RESET_CONNECTION: u8 = 0x1f;

/// MariaDB's "the statement prepared last" in a pipelined prepare + execute.
pub const LAST_PREPARED: u32 = 0xffff_ffff;

/// A client command, borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    Quit,
    InitDb(&'a [u8]),
    Query(&'a [u8]),
    FieldList {
        table: &'a [u8],
        wildcard: &'a [u8],
    },
    Statistics,
    ProcessKill(u32),
    Ping,
    ChangeUser(&'a [u8]),
    StmtPrepare(&'a [u8]),
    StmtExecute(Execute<'a>),
    StmtSendLongData {
        statement: u32,
        param: u16,
        data: &'a [u8],
    },
    StmtClose(u32),
    StmtReset(u32),
    SetOption(u16),
    StmtFetch {
        statement: u32,
        rows: u32,
    },
    ResetConnection,
    /// Any other command (replication, shutdown, debug, the pre-4.1 database commands, ...):
    /// the gateway refuses what it does not relay.
    Other(u8),
}

/// COM_STMT_EXECUTE: the statement, cursor flags, and the bound values as sent (read with
/// [`crate::params`], which needs the statement's parameter count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Execute<'a> {
    pub statement: u32,
    pub flags: u8,
    pub params: &'a [u8],
}

impl Execute<'_> {
    /// Whether the client asked for a cursor (rows fetched later with COM_STMT_FETCH).
    pub fn opens_cursor(&self) -> bool {
        self.flags & 0x07 != 0
    }
}

impl<'a> Command<'a> {
    pub fn decode(payload: &'a [u8]) -> Result<Command<'a>, WireError> {
        let Some((&code, body)) = payload.split_first() else {
            return Err(malformed("command", "empty packet"));
        };
        let mut r = Reader::new(body, "command");
        Ok(match code {
            COM_QUIT => Command::Quit,
            COM_INIT_DB => Command::InitDb(body),
            COM_QUERY => Command::Query(body),
            COM_FIELD_LIST => {
                let table = r.cstr()?;
                Command::FieldList {
                    table,
                    wildcard: r.rest(),
                }
            }
            COM_STATISTICS => Command::Statistics,
            COM_PROCESS_KILL => Command::ProcessKill(r.u32()?),
            COM_PING => Command::Ping,
            COM_CHANGE_USER => Command::ChangeUser(body),
            COM_STMT_PREPARE => Command::StmtPrepare(body),
            COM_STMT_EXECUTE => {
                let statement = r.u32()?;
                let flags = r.u8()?;
                let _iterations = r.u32()?;
                Command::StmtExecute(Execute {
                    statement,
                    flags,
                    params: r.rest(),
                })
            }
            COM_STMT_SEND_LONG_DATA => {
                let statement = r.u32()?;
                let param = r.u16()?;
                Command::StmtSendLongData {
                    statement,
                    param,
                    data: r.rest(),
                }
            }
            COM_STMT_CLOSE => Command::StmtClose(r.u32()?),
            COM_STMT_RESET => Command::StmtReset(r.u32()?),
            COM_SET_OPTION => Command::SetOption(r.u16()?),
            COM_STMT_FETCH => {
                let statement = r.u32()?;
                Command::StmtFetch {
                    statement,
                    rows: r.u32()?,
                }
            }
            COM_RESET_CONNECTION => Command::ResetConnection,
            other => Command::Other(other),
        })
    }

    /// The command's name, for errors and audit.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Quit => "COM_QUIT",
            Command::InitDb(_) => "COM_INIT_DB",
            Command::Query(_) => "COM_QUERY",
            Command::FieldList { .. } => "COM_FIELD_LIST",
            Command::Statistics => "COM_STATISTICS",
            Command::ProcessKill(_) => "COM_PROCESS_KILL",
            Command::Ping => "COM_PING",
            Command::ChangeUser(_) => "COM_CHANGE_USER",
            Command::StmtPrepare(_) => "COM_STMT_PREPARE",
            Command::StmtExecute(_) => "COM_STMT_EXECUTE",
            Command::StmtSendLongData { .. } => "COM_STMT_SEND_LONG_DATA",
            Command::StmtClose(_) => "COM_STMT_CLOSE",
            Command::StmtReset(_) => "COM_STMT_RESET",
            Command::SetOption(_) => "COM_SET_OPTION",
            Command::StmtFetch { .. } => "COM_STMT_FETCH",
            Command::ResetConnection => "COM_RESET_CONNECTION",
            Command::Other(_) => "an unsupported command",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_decode_with_their_fields_and_short_ones_are_errors() {
        assert_eq!(
            Command::decode(b"\x03SELECT 1").unwrap(),
            Command::Query(b"SELECT 1")
        );
        assert_eq!(
            Command::decode(b"\x17\x01\x00\x00\x00\x01\x01\x00\x00\x00rest").unwrap(),
            Command::StmtExecute(Execute {
                statement: 1,
                flags: 1,
                params: b"rest"
            })
        );
        assert_eq!(
            Command::decode(b"\x04t\x00%").unwrap(),
            Command::FieldList {
                table: b"t",
                wildcard: b"%"
            }
        );
        assert!(Command::decode(b"").is_err());
        assert!(Command::decode(b"\x19\x01").is_err());
        assert!(Command::decode(b"\x04t").is_err());
        assert_eq!(
            Command::decode(b"\x08").unwrap(),
            Command::Other(COM_SHUTDOWN)
        );
    }
}
