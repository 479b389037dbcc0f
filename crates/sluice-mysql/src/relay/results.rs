//! Reading the target's answer to one command, packet by packet, and relaying it: results
//! masked and recorded, the outcome audited. Sequence ids are kept as the target sent them,
//! shifted only when a rewritten row needs more or fewer 16 MiB chunks than it came in.

use std::borrow::Cow;

use bytes::BytesMut;
use tokio::io::{ReadHalf, WriteHalf};

use sluice_core::{Outcome, Session, StatementPermit};
use sluice_mywire::caps::{self, SERVER_MORE_RESULTS_EXISTS, SERVER_STATUS_CURSOR_EXISTS};
use sluice_mywire::frame::{self, Packet};
use sluice_mywire::response::{self, ColumnDef, ErrPacket, First, OkPacket, PrepareOk};
use sluice_mywire::rows::{self, Written};
use sluice_net::stream::UpstreamStream;

use super::masking::{self, ResultColumns};
use super::Relay;
use crate::error::MyError;
use crate::packets::{PacketReader, ReadError};

/// What shape of answer a command gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// One packet: OK, ERR, EOF, or COM_STATISTICS's string.
    Simple,
    /// COM_FIELD_LIST: column definitions up to an EOF, or an ERR.
    FieldList,
    /// COM_QUERY: results in the text protocol.
    Text,
    /// COM_STMT_EXECUTE: results in the binary protocol, or a cursor's columns.
    Binary { cursor: bool },
}

/// A cursor's columns and the permit of the execution that opened it, kept until its last
/// row is fetched or it is closed.
pub struct Cursor {
    permit: StatementPermit,
    columns: ResultColumns,
    rows: u64,
}

impl Cursor {
    pub fn close(self, session: &Session) {
        let rows = self.rows;
        session.finish(self.permit, Outcome::ok(format!("{rows} rows"), Some(rows)));
    }

    pub fn abandon(self, session: &Session, reason: &str) {
        session.finish(self.permit, Outcome::interrupted(reason.to_owned()));
    }
}

/// How one result ended.
enum End {
    Ok {
        status: u16,
        affected: u64,
    },
    Rows {
        status: u16,
        rows: u64,
    },
    Err {
        code: u16,
        state: String,
        message: String,
    },
}

impl Relay<'_> {
    async fn next(&mut self) -> Result<Packet, MyError> {
        match self.upstream_in.read().await {
            Ok(p) => Ok(p),
            Err(ReadError::Closed) => Err(MyError::UpstreamProtocol(
                "the target closed the connection".into(),
            )),
            Err(ReadError::Wire(e)) => Err(MyError::upstream(e)),
            Err(ReadError::Io(e)) => Err(MyError::Io(e)),
        }
    }

    /// Passes a packet on to the client with its sequence id shifted by `shift`.
    fn relay_packet(&mut self, packet: &Packet, payload: &[u8], shift: &mut u8) {
        let seq = packet.seq.wrapping_add(*shift);
        let next = frame::put(&mut self.out, seq, payload);
        *shift = next.wrapping_sub(packet.next_seq());
    }

    async fn maybe_flush(&mut self) -> Result<(), MyError> {
        if self.out.len() >= 64 * 1024 {
            self.flush().await?;
        }
        Ok(())
    }

    /// Relays the answer to a command, auditing `permit`'s outcome. Returns the cursor an
    /// execution opened.
    pub(super) async fn answer(
        &mut self,
        answer: Answer,
        mut permit: Option<StatementPermit>,
        text: Option<&str>,
        _seq: u8,
    ) -> Result<Option<Cursor>, MyError> {
        let mut shift = 0u8;
        let deprecate_eof = self.settings.capabilities & caps::CLIENT_DEPRECATE_EOF != 0;
        let mut total_rows = 0u64;
        let mut total_affected = 0u64;
        // A LOAD DATA LOCAL file's size, for the outcome the audit record keeps.
        let mut file_bytes = None;
        loop {
            let first = self.next().await?;
            if let Some(r) = self.session.recording() {
                let _ = r;
            }
            let end = match answer {
                Answer::Simple => {
                    let end = self.simple_end(&first);
                    let payload = self.masked_error(&first.payload, permit.as_ref());
                    self.relay_packet(&first, &payload, &mut shift);
                    end
                }
                Answer::FieldList => {
                    let mut packet = first;
                    loop {
                        let payload = packet.payload.clone();
                        self.relay_packet(&packet, &payload, &mut shift);
                        if response::is_eof(&payload) || payload.first() == Some(&0xff) {
                            break;
                        }
                        packet = self.next().await?;
                    }
                    End::Ok {
                        status: 0,
                        affected: 0,
                    }
                }
                Answer::Text | Answer::Binary { .. } => match response::first(&first.payload)
                    .map_err(MyError::upstream)?
                {
                    First::Ok => {
                        let ok = OkPacket::decode(&first.payload).map_err(MyError::upstream)?;
                        let end = End::Ok {
                            status: ok.status,
                            affected: ok.affected_rows,
                        };
                        let payload = first.payload.clone();
                        self.relay_packet(&first, &payload, &mut shift);
                        end
                    }
                    First::Err => {
                        let end = err_end(&first.payload);
                        let payload = self.masked_error(&first.payload, permit.as_ref());
                        self.relay_packet(&first, &payload, &mut shift);
                        end
                    }
                    First::LocalInfile => {
                        let (end, bytes) = self.local_infile(&first, text, &mut shift).await?;
                        file_bytes = bytes;
                        end
                    }
                    First::ResultSet(n) => {
                        let binary = matches!(answer, Answer::Binary { .. });
                        let payload = first.payload.clone();
                        self.relay_packet(&first, &payload, &mut shift);
                        let mut columns = ResultColumns {
                            names: Vec::new(),
                            kinds: Vec::new(),
                            masks: None,
                        };
                        for _ in 0..n {
                            let packet = self.next().await?;
                            let def =
                                ColumnDef::decode(&packet.payload).map_err(MyError::upstream)?;
                            let mut rewritten = BytesMut::new();
                            if masking::column(permit.as_ref(), &def, &mut columns, &mut rewritten)
                            {
                                self.relay_packet(&packet, &rewritten, &mut shift);
                            } else {
                                let payload = packet.payload.clone();
                                self.relay_packet(&packet, &payload, &mut shift);
                            }
                        }
                        if let (Some(r), Some(p)) = (self.session.recording(), permit.as_ref()) {
                            let cols: Vec<(&str, u32)> = columns
                                .names
                                .iter()
                                .zip(&columns.kinds)
                                .map(|(n, k)| (n.as_str(), u32::from(k.column_type)))
                                .collect();
                            r.columns(p.number(), &cols).map_err(|c| {
                                MyError::Core(sluice_core::CoreError::RecordingCap(c.to_string()))
                            })?;
                        }
                        let mut packet = self.next().await?;
                        if response::is_eof(&packet.payload) {
                            let status =
                                response::end_status(&packet.payload).map_err(MyError::upstream)?;
                            let payload = packet.payload.clone();
                            self.relay_packet(&packet, &payload, &mut shift);
                            if status & SERVER_STATUS_CURSOR_EXISTS != 0 {
                                // Rows come with COM_STMT_FETCH.
                                self.flush().await?;
                                return Ok(permit.map(|permit| Cursor {
                                    permit,
                                    columns,
                                    rows: 0,
                                }));
                            }
                            if deprecate_eof {
                                // No metadata terminator: this ended the (empty) rows.
                                End::Rows { status, rows: 0 }
                            } else {
                                packet = self.next().await?;
                                self.rows(packet, binary, &columns, permit.as_mut(), &mut shift)
                                    .await?
                            }
                        } else {
                            self.rows(packet, binary, &columns, permit.as_mut(), &mut shift)
                                .await?
                        }
                    }
                },
            };
            let (more, failed) = match &end {
                End::Ok { status, affected } => {
                    total_affected += affected;
                    (status & SERVER_MORE_RESULTS_EXISTS != 0, None)
                }
                End::Rows { status, rows } => {
                    total_rows += rows;
                    (status & SERVER_MORE_RESULTS_EXISTS != 0, None)
                }
                End::Err {
                    code,
                    state,
                    message,
                } => (false, Some((*code, state.clone(), message.clone()))),
            };
            self.maybe_flush().await?;
            if let Some((code, state, message)) = failed {
                if let Some(r) = self.session.recording() {
                    let _ = r.error(
                        permit.as_ref().map(StatementPermit::number),
                        &recorded_code(code, &state),
                        &message,
                    );
                }
                if let Some(p) = permit.take() {
                    self.session
                        .finish(p, Outcome::error(code.to_string(), message));
                }
                break;
            }
            if !more {
                break;
            }
        }
        if let Some(p) = permit {
            let mut summary = if total_rows > 0 || total_affected == 0 {
                format!("{total_rows} rows")
            } else {
                format!("OK, {total_affected} rows affected")
            };
            if let Some(bytes) = file_bytes {
                summary.push_str(&format!(", local file of {bytes} bytes"));
            }
            if let Some(r) = self.session.recording() {
                let _ = r.complete(p.number(), &summary, p.elapsed_us());
            }
            let count = total_rows.max(total_affected);
            self.session.finish(p, Outcome::ok(summary, Some(count)));
        }
        Ok(None)
    }

    fn simple_end(&self, packet: &Packet) -> End {
        match packet.payload.first() {
            Some(0xff) => err_end(&packet.payload),
            Some(0x00) => match OkPacket::decode(&packet.payload) {
                Ok(ok) => End::Ok {
                    status: ok.status,
                    affected: ok.affected_rows,
                },
                Err(_) => End::Ok {
                    status: 0,
                    affected: 0,
                },
            },
            _ => End::Ok {
                status: 0,
                affected: 0,
            },
        }
    }

    /// An ERR packet with its message masked by the request's content rules (errors quote
    /// values: a duplicate key, a bad cast).
    fn masked_error<'p>(
        &self,
        payload: &'p [u8],
        permit: Option<&StatementPermit>,
    ) -> Cow<'p, [u8]> {
        let Some(plan) = permit.and_then(StatementPermit::mask) else {
            return Cow::Borrowed(payload);
        };
        if payload.first() != Some(&0xff) || !plan.has_content() {
            return Cow::Borrowed(payload);
        }
        let Ok(err) = ErrPacket::decode(payload) else {
            // An error that cannot be read cannot be masked: the client gets a stand-in.
            let mut out = BytesMut::new();
            ErrPacket {
                code: 1105,
                state: Some(b"HY000"),
                message: b"sluice: the target's error could not be read to mask it",
            }
            .encode(&mut out);
            return Cow::Owned(out.to_vec());
        };
        let mut tally = sluice_core::MaskTally::default();
        match plan.mask_content(&String::from_utf8_lossy(err.message), &mut tally) {
            Some(masked) => {
                let mut out = BytesMut::new();
                ErrPacket {
                    message: masked.as_bytes(),
                    ..err
                }
                .encode(&mut out);
                Cow::Owned(out.to_vec())
            }
            None => Cow::Borrowed(payload),
        }
    }

    /// Rows up to the end of a result, masked and recorded.
    async fn rows(
        &mut self,
        mut packet: Packet,
        binary: bool,
        columns: &ResultColumns,
        mut permit: Option<&mut StatementPermit>,
        shift: &mut u8,
    ) -> Result<End, MyError> {
        let mut count = 0u64;
        loop {
            let payload = packet.payload.clone();
            if payload.first() == Some(&0xff) {
                let end = err_end(&payload);
                let masked = self.masked_error(&payload, permit.as_deref());
                self.relay_packet(&packet, &masked, shift);
                return Ok(end);
            }
            if response::is_eof(&payload) {
                let status = response::end_status(&payload).map_err(MyError::upstream)?;
                self.relay_packet(&packet, &payload, shift);
                return Ok(End::Rows {
                    status,
                    rows: count,
                });
            }
            count += 1;
            let rewritten = self.row(&payload, binary, columns, permit.as_deref_mut())?;
            match rewritten {
                Some(row) => self.relay_packet(&packet, &row, shift),
                None => self.relay_packet(&packet, &payload, shift),
            }
            self.maybe_flush().await?;
            packet = self.next().await?;
        }
    }

    /// One row, masked (`None`: relayed as it is) and recorded.
    fn row(
        &self,
        payload: &[u8],
        binary: bool,
        columns: &ResultColumns,
        permit: Option<&mut StatementPermit>,
    ) -> Result<Option<BytesMut>, MyError> {
        let recording = self.session.recording();
        let Some(permit) = permit else {
            return Ok(None);
        };
        let plan = permit.mask().cloned();
        if plan.is_none() && recording.is_none() {
            return Ok(None);
        }
        let width = columns.kinds.len();
        // Every value as text, masked when the plan says so.
        let texts: Vec<Option<Cow<'_, [u8]>>>;
        let mut out = None;
        if binary {
            let values = rows::read_binary_row(payload, &columns.kinds)
                .map_err(|e| MyError::Masking(e.to_string()))?;
            // What replaces a value: `None` keeps its bytes; `Some(None)` is NULL.
            let mut replaced: Vec<Option<Option<Vec<u8>>>> = vec![None; width];
            let mut shown = Vec::with_capacity(width);
            let mut changed = false;
            for (i, v) in values.iter().enumerate() {
                let Some(v) = v else {
                    shown.push(None);
                    continue;
                };
                let string = v.string();
                let text: Cow<'_, [u8]> = match string {
                    Some(s) => Cow::Borrowed(s),
                    None => Cow::Owned(v.to_text().unwrap_or_default().into_bytes()),
                };
                let (Some(plan), Some(mask)) =
                    (&plan, columns.masks.as_ref().and_then(|m| m.get(i)))
                else {
                    shown.push(Some(text));
                    continue;
                };
                let masked = masking::value(plan, mask, permit.tally(), &text).map(Cow::into_owned);
                let unchanged = masked.as_deref() == Some(&text[..]);
                if unchanged && mask.strategy.is_none() {
                    shown.push(Some(text));
                    continue;
                }
                changed = true;
                if string.is_none() && mask.strategy.is_none() {
                    // A detector fired in a number: no text fits its type.
                    permit.tally().add_nulled();
                    replaced[i] = Some(None);
                    shown.push(None);
                    continue;
                }
                shown.push(masked.clone().map(Cow::Owned));
                replaced[i] = Some(masked);
            }
            if changed {
                let written: Vec<Written<'_>> = values
                    .iter()
                    .zip(&replaced)
                    .map(|(v, r)| match (r, v) {
                        (Some(Some(text)), _) => Written::String(text),
                        (Some(None), _) | (None, None) => Written::Null,
                        (None, Some(v)) => Written::Raw(v.raw),
                    })
                    .collect();
                let mut row = BytesMut::with_capacity(payload.len() + 16);
                rows::write_binary_row(&mut row, &written);
                out = Some(row);
            }
            texts = shown;
        } else {
            let values =
                rows::read_text_row(payload, width).map_err(|e| MyError::Masking(e.to_string()))?;
            let mut shown = Vec::with_capacity(width);
            let mut changed = false;
            for (i, v) in values.iter().enumerate() {
                let masked = match (v, &plan, columns.masks.as_ref().and_then(|m| m.get(i))) {
                    (Some(v), Some(plan), Some(mask)) => {
                        let m = masking::value(plan, mask, permit.tally(), v);
                        changed |= m.as_deref() != Some(*v);
                        m
                    }
                    (v, _, _) => v.map(Cow::Borrowed),
                };
                shown.push(masked);
            }
            if changed {
                let mut row = BytesMut::new();
                rows::write_text_row(&mut row, shown.iter().map(|v| v.as_deref()));
                out = Some(row);
            }
            texts = shown;
        }
        if let Some(r) = recording {
            let values: Vec<Option<&[u8]>> = texts.iter().map(|v| v.as_deref()).collect();
            let flags = vec![false; values.len()];
            r.row(permit.number(), &values, &flags)
                .map_err(|c| MyError::Core(sluice_core::CoreError::RecordingCap(c.to_string())))?;
        }
        Ok(out)
    }

    /// LOAD DATA LOCAL: the target asks for a client file. Relayed only for a statement the
    /// policy allowed as a LOAD DATA LOCAL; the file's bytes are counted for the audit
    /// record. Any other request for a file (a hostile target may ask at any time) gets an
    /// empty file, and the client an error.
    async fn local_infile(
        &mut self,
        request: &Packet,
        text: Option<&str>,
        shift: &mut u8,
    ) -> Result<(End, Option<u64>), MyError> {
        let allowed = text.is_some_and(|t| is_load_data_local(t, self.lexing()));
        if !allowed {
            let mut batch = sluice_core::AuditBatch::default();
            batch.carries_no_request();
            let sealed = self.session.seal(&mut batch).await?;
            let mut empty = BytesMut::new();
            frame::put(&mut empty, request.next_seq(), &[]);
            let mut f = self.upstream.forwarding(sealed);
            f.write(&empty).await?;
            f.finish().await?;
            let _answer = self.next().await?;
            let message = "sluice: the target asked for a local file, which only an allowed LOAD DATA LOCAL may send";
            let seq = request.seq.wrapping_add(*shift);
            response::put_err(&mut self.out, seq, 2068, "HY000", message);
            return Ok((
                End::Err {
                    code: 2068,
                    state: "HY000".into(),
                    message: message.into(),
                },
                None,
            ));
        }
        let payload = request.payload.clone();
        self.relay_packet(request, &payload, shift);
        self.flush().await?;
        let mut bytes = 0u64;
        loop {
            let chunk = match self.client.read().await {
                Ok(p) => p,
                Err(ReadError::Closed) => {
                    return Err(MyError::Io(std::io::ErrorKind::UnexpectedEof.into()))
                }
                Err(ReadError::Wire(e)) => return Err(MyError::ClientProtocol(e)),
                Err(ReadError::Io(e)) => return Err(MyError::Io(e)),
            };
            bytes += chunk.payload.len() as u64;
            let mut batch = sluice_core::AuditBatch::default();
            batch.carries_no_request();
            let sealed = self.session.seal(&mut batch).await?;
            let mut out = BytesMut::new();
            frame::put(&mut out, chunk.seq.wrapping_sub(*shift), &chunk.payload);
            let mut f = self.upstream.forwarding(sealed);
            f.write(&out).await?;
            f.finish().await?;
            if chunk.payload.is_empty() {
                break;
            }
        }
        let answer = self.next().await?;
        let end = match answer.payload.first() {
            Some(0xff) => err_end(&answer.payload),
            _ => {
                let ok = OkPacket::decode(&answer.payload).map_err(MyError::upstream)?;
                tracing::info!(bytes, "LOAD DATA LOCAL file relayed");
                End::Ok {
                    status: ok.status,
                    affected: ok.affected_rows,
                }
            }
        };
        let payload = answer.payload.clone();
        self.relay_packet(&answer, &payload, shift);
        Ok((end, Some(bytes)))
    }

    /// The answer to COM_STMT_PREPARE: the statement's id, parameter and column definitions.
    pub(super) async fn answer_prepare(&mut self, _seq: u8) -> Result<Option<PrepareOk>, MyError> {
        let mut shift = 0u8;
        let first = self.next().await?;
        let payload = first.payload.clone();
        self.relay_packet(&first, &payload, &mut shift);
        if payload.first() == Some(&0xff) {
            return Ok(None);
        }
        let ok = PrepareOk::decode(&payload).map_err(MyError::upstream)?;
        let deprecate_eof = self.settings.capabilities & caps::CLIENT_DEPRECATE_EOF != 0;
        for count in [ok.params, ok.columns] {
            if count == 0 {
                continue;
            }
            let definitions = usize::from(count) + usize::from(!deprecate_eof);
            for _ in 0..definitions {
                let packet = self.next().await?;
                let payload = packet.payload.clone();
                self.relay_packet(&packet, &payload, &mut shift);
            }
        }
        Ok(Some(ok))
    }

    /// Rows of a cursor, fetched; the cursor stays open unless its last row was sent.
    pub(super) async fn fetch_rows(
        &mut self,
        mut cursor: Cursor,
        _seq: u8,
    ) -> Result<Option<Cursor>, MyError> {
        let mut shift = 0u8;
        let packet = self.next().await?;
        let end = self
            .rows(
                packet,
                true,
                &cursor.columns,
                Some(&mut cursor.permit),
                &mut shift,
            )
            .await?;
        match end {
            End::Rows { status, rows } => {
                cursor.rows += rows;
                if status & caps::SERVER_STATUS_LAST_ROW_SENT != 0 {
                    cursor.close(self.session);
                    return Ok(None);
                }
                Ok(Some(cursor))
            }
            End::Err { code, message, .. } => {
                self.session
                    .finish(cursor.permit, Outcome::error(code.to_string(), message));
                Ok(None)
            }
            End::Ok { .. } => Ok(Some(cursor)),
        }
    }
}

/// A MySQL error as recordings keep it in the SQLSTATE field: `CODE (STATE)`, which is how
/// the mysql client shows it.
pub(super) fn recorded_code(code: u16, state: &str) -> String {
    format!("{code} ({state})")
}

fn err_end(payload: &[u8]) -> End {
    match ErrPacket::decode(payload) {
        Ok(e) => End::Err {
            code: e.code,
            state: e
                .state
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .unwrap_or_else(|| "HY000".into()),
            message: String::from_utf8_lossy(e.message).into_owned(),
        },
        Err(_) => End::Err {
            code: 0,
            state: "HY000".into(),
            message: "malformed error".into(),
        },
    }
}

fn is_load_data_local(text: &str, lexing: sluice_sql::Lexing) -> bool {
    use sluice_sql::Dialect;
    let names = sluice_sql::NameContext::Database(None);
    match sluice_sql::MYSQL.analyze(text, &names, lexing) {
        Ok(statements) => {
            statements.len() == 1
                && statements[0].command == "LOAD DATA"
                && statements[0].kind == sluice_sql::StatementKind::Write
        }
        Err(_) => false,
    }
}

/// Asks the target for the session's sql_mode again (a query of the gateway's own, carrying
/// no client request).
pub(super) async fn read_sql_mode(
    upstream_in: &mut PacketReader<ReadHalf<UpstreamStream>>,
    mut forwarding: sluice_core::Forwarding<'_, WriteHalf<UpstreamStream>>,
) -> Result<(bool, bool), MyError> {
    let mut out = BytesMut::new();
    frame::put(&mut out, 0, crate::upstream::SQL_MODE_QUERY);
    forwarding.write(&out).await?;
    forwarding.finish().await?;
    let mut answer = crate::upstream::SqlModeAnswer::default();
    loop {
        let p = match upstream_in.read().await {
            Ok(p) => p,
            Err(ReadError::Closed) => {
                return Err(MyError::UpstreamProtocol(
                    "the target closed the connection".into(),
                ))
            }
            Err(ReadError::Wire(e)) => return Err(MyError::upstream(e)),
            Err(ReadError::Io(e)) => return Err(MyError::Io(e)),
        };
        if let Some(flags) = answer.feed(&p.payload)? {
            return Ok(flags);
        }
    }
}
