//! The PostgreSQL leg: a minimal frontend over postgres-protocol's codecs, so that every value
//! comes back in text format whatever its type, the hold's notice is seen the moment it is
//! sent, and a result stops being read past the row cap. Without parameters a text runs as a
//! simple query (several statements allowed, as psql sends them); with parameters as one
//! extended-protocol statement whose parameters are sent as text and typed by the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::backend::{self, Message};
use postgres_protocol::message::frontend;
use postgres_protocol::IsNull;
use serde_json::{json, Value};
use sluice_net::stream::MaybeTls;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{Outcome, Progress, ResultSet, ServerError};
use crate::McpError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest server message read (a row of a wide table, a long error).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

pub(crate) struct Leg {
    /// To the gateway's own listener, always over TCP.
    stream: MaybeTls<tokio_rustls::client::TlsStream<TcpStream>>,
    read: BytesMut,
    write: BytesMut,
}

fn proto(e: impl std::fmt::Display) -> McpError {
    McpError::Client(format!("PostgreSQL listener: {e}"))
}

impl Leg {
    pub(crate) async fn connect(
        addr: SocketAddr,
        user: &str,
        database: &str,
        password: &str,
        application_name: &str,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Result<Leg, McpError> {
        let mut tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| proto("connection timed out"))?
            .map_err(proto)?;
        let _ = tcp.set_nodelay(true);
        let stream = match tls {
            None => MaybeTls::Plain(tcp),
            Some(config) => {
                // A listener that requires TLS: SSLRequest, then its own certificate, pinned.
                let mut request = BytesMut::new();
                frontend::ssl_request(&mut request);
                tcp.write_all(&request).await.map_err(proto)?;
                let mut answer = [0u8; 1];
                tcp.read_exact(&mut answer).await.map_err(proto)?;
                if answer[0] != b'S' {
                    return Err(proto("the listener refused TLS"));
                }
                let name = rustls::pki_types::ServerName::try_from("localhost").map_err(proto)?;
                let tls = TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(proto)?;
                MaybeTls::Tls(Box::new(tls))
            }
        };
        let mut leg = Leg {
            stream,
            read: BytesMut::with_capacity(8192),
            write: BytesMut::with_capacity(1024),
        };
        frontend::startup_message(
            [
                ("user", user),
                ("database", database),
                ("application_name", application_name),
                ("client_encoding", "UTF8"),
            ],
            &mut leg.write,
        )
        .map_err(proto)?;
        leg.flush().await?;
        leg.authenticate(password).await?;
        // ParameterStatus, BackendKeyData, then ReadyForQuery.
        loop {
            match leg.next().await? {
                Message::ReadyForQuery(_) => return Ok(leg),
                Message::ErrorResponse(body) => return Err(proto(server_error(&body).message)),
                _ => {}
            }
        }
    }

    async fn authenticate(&mut self, password: &str) -> Result<(), McpError> {
        let mut scram: Option<ScramSha256> = None;
        loop {
            match self.next().await? {
                Message::AuthenticationOk => return Ok(()),
                Message::AuthenticationSasl(body) => {
                    let offered: Vec<String> = body
                        .mechanisms()
                        .map(|m| Ok(m.to_owned()))
                        .collect()
                        .map_err(proto)?;
                    if !offered.iter().any(|m| m == SCRAM_SHA_256) {
                        return Err(proto("the listener offers no SCRAM-SHA-256"));
                    }
                    let s = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
                    frontend::sasl_initial_response(SCRAM_SHA_256, s.message(), &mut self.write)
                        .map_err(proto)?;
                    scram = Some(s);
                    self.flush().await?;
                }
                Message::AuthenticationSaslContinue(body) => {
                    let s = scram.as_mut().ok_or_else(|| proto("SCRAM out of order"))?;
                    s.update(body.data()).map_err(proto)?;
                    frontend::sasl_response(s.message(), &mut self.write).map_err(proto)?;
                    self.flush().await?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let mut s = scram.take().ok_or_else(|| proto("SCRAM out of order"))?;
                    s.finish(body.data()).map_err(proto)?;
                }
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(password.as_bytes(), &mut self.write)
                        .map_err(proto)?;
                    self.flush().await?;
                }
                Message::ErrorResponse(body) => return Err(proto(server_error(&body).message)),
                _ => return Err(proto("unexpected message during authentication")),
            }
        }
    }

    /// Runs `sql`, keeping at most `max_rows` rows of each result; notices reach `progress` as
    /// they arrive (a held statement's says which review it waits for).
    pub(crate) async fn run(
        &mut self,
        sql: &str,
        params: &[Value],
        max_rows: usize,
        progress: &mut dyn Progress,
    ) -> Result<Outcome, McpError> {
        if params.is_empty() {
            frontend::query(sql, &mut self.write).map_err(proto)?;
            self.flush().await?;
            return self
                .collect(Outcome::default(), None, max_rows, progress)
                .await;
        }
        // The gateway holds an extended-protocol statement at its Execute and tells of the
        // hold only once every earlier answer is relayed, while a target answers Parse and
        // Bind only at a Sync or Flush. Sent in one batch, the hold's notice would come after
        // the verdict; so Parse is synced, Bind and Describe flushed, and Execute sent alone.
        frontend::parse("", sql, std::iter::empty(), &mut self.write).map_err(proto)?;
        frontend::sync(&mut self.write);
        self.flush().await?;
        let outcome = self
            .collect(Outcome::default(), None, max_rows, progress)
            .await?;
        if outcome.error.is_some() {
            return Ok(outcome);
        }
        let values: Vec<Option<String>> = params.iter().map(param_text).collect();
        frontend::bind(
            "",
            "",
            [0i16],
            values.iter(),
            |value, buf| match value {
                Some(text) => {
                    buf.extend_from_slice(text.as_bytes());
                    Ok(IsNull::No)
                }
                None => Ok(IsNull::Yes),
            },
            [0i16],
            &mut self.write,
        )
        .map_err(|_| proto("a parameter could not be encoded"))?;
        frontend::describe(b'P', "", &mut self.write).map_err(proto)?;
        frontend::flush(&mut self.write);
        self.flush().await?;
        let mut outcome = outcome;
        let columns = loop {
            match self.next().await? {
                Message::RowDescription(body) => break Some(columns(&body)?),
                Message::NoData => break None,
                Message::NoticeResponse(body) => {
                    let notice = fields_error(body.fields()).message;
                    progress.say(&notice);
                    outcome.notices.push(notice);
                }
                Message::ErrorResponse(body) => {
                    // The server skips to the next Sync.
                    outcome.error = Some(server_error(&body));
                    frontend::sync(&mut self.write);
                    self.flush().await?;
                    return self.collect(outcome, None, max_rows, progress).await;
                }
                _ => {}
            }
        };
        let limit = i32::try_from(max_rows.saturating_add(1)).unwrap_or(i32::MAX);
        frontend::execute("", limit, &mut self.write).map_err(proto)?;
        frontend::sync(&mut self.write);
        self.flush().await?;
        let described = columns.map(|columns| ResultSet {
            columns,
            ..ResultSet::default()
        });
        self.collect(outcome, described, max_rows, progress).await
    }

    /// Reads the answers up to ReadyForQuery into `outcome`; `current` is the result a
    /// Describe already announced.
    async fn collect(
        &mut self,
        mut outcome: Outcome,
        mut current: Option<ResultSet>,
        max_rows: usize,
        progress: &mut dyn Progress,
    ) -> Result<Outcome, McpError> {
        loop {
            match self.next().await? {
                Message::RowDescription(body) => {
                    current = Some(ResultSet {
                        columns: columns(&body)?,
                        ..ResultSet::default()
                    });
                }
                Message::DataRow(body) => {
                    let set = current.get_or_insert_with(ResultSet::default);
                    set.row_count += 1;
                    if set.rows.len() >= max_rows {
                        set.truncated = true;
                        continue;
                    }
                    let buffer = body.buffer();
                    let mut row = Vec::with_capacity(set.columns.len());
                    let mut ranges = body.ranges();
                    let mut i = 0;
                    while let Some(range) = ranges.next().map_err(proto)? {
                        let oid = set.columns.get(i).map_or(25, |c| c.1);
                        row.push(match range {
                            None => Value::Null,
                            Some(r) => text_value(
                                oid,
                                &String::from_utf8_lossy(buffer.get(r).unwrap_or_default()),
                            ),
                        });
                        i += 1;
                    }
                    set.rows.push(row);
                }
                Message::PortalSuspended => {
                    // More rows than the cap: the rest are never read.
                    let set = current.get_or_insert_with(ResultSet::default);
                    set.truncated = true;
                    outcome.results.push(std::mem::take(set));
                    current = None;
                }
                Message::CommandComplete(body) => {
                    let mut set = current.take().unwrap_or_default();
                    set.tag = body.tag().ok().map(str::to_owned);
                    outcome.results.push(set);
                }
                Message::EmptyQueryResponse => {
                    current = None;
                }
                Message::ErrorResponse(body) => {
                    current = None;
                    outcome.error = Some(server_error(&body));
                }
                Message::NoticeResponse(body) => {
                    let notice = fields_error(body.fields()).message;
                    progress.say(&notice);
                    outcome.notices.push(notice);
                }
                Message::ReadyForQuery(_) => return Ok(outcome),
                _ => {}
            }
        }
    }

    pub(crate) async fn close(mut self) {
        frontend::terminate(&mut self.write);
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }

    async fn flush(&mut self) -> Result<(), McpError> {
        self.stream.write_all(&self.write).await.map_err(proto)?;
        self.write.clear();
        Ok(())
    }

    async fn next(&mut self) -> Result<Message, McpError> {
        loop {
            if let Some(message) = Message::parse(&mut self.read).map_err(proto)? {
                return Ok(message);
            }
            if self.read.len() > MAX_MESSAGE {
                return Err(proto("a message longer than the client reads"));
            }
            self.read.reserve(8192);
            if self.stream.read_buf(&mut self.read).await.map_err(proto)? == 0 {
                return Err(proto("the listener closed the connection"));
            }
        }
    }
}

fn columns(body: &backend::RowDescriptionBody) -> Result<Vec<(String, u32)>, McpError> {
    body.fields()
        .map(|f| Ok((f.name().to_owned(), f.type_oid())))
        .collect()
        .map_err(proto)
}

fn server_error(body: &backend::ErrorResponseBody) -> ServerError {
    fields_error(body.fields())
}

/// An error's or a notice's fields, as a client shows them.
fn fields_error(mut fields: backend::ErrorFields<'_>) -> ServerError {
    let mut error = ServerError {
        code: String::new(),
        message: String::new(),
        detail: None,
        hint: None,
    };
    while let Ok(Some(field)) = fields.next() {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            b'C' => error.code = value,
            b'M' => error.message = value,
            b'D' => error.detail = Some(value),
            b'H' => error.hint = Some(value),
            _ => {}
        }
    }
    error
}

/// A JSON parameter as PostgreSQL's text input reads it; the server types it.
fn param_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        // json and jsonb parameters.
        other => Some(other.to_string()),
    }
}

/// A value as JSON: numbers and booleans that JSON holds exactly, json values as themselves,
/// the rest (int8, numeric, dates, ...) as the text PostgreSQL sent.
fn text_value(oid: u32, text: &str) -> Value {
    match oid {
        16 => Value::Bool(text == "t"),
        21 | 23 => text
            .parse::<i64>()
            .map_or_else(|_| json!(text), Value::from),
        700 | 701 => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| json!(text), Value::Number),
        114 | 3802 => serde_json::from_str(text).unwrap_or_else(|_| json!(text)),
        _ => json!(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_what_json_holds_exactly() {
        assert_eq!(text_value(16, "t"), json!(true));
        assert_eq!(text_value(23, "42"), json!(42));
        assert_eq!(
            text_value(20, "9007199254740993"),
            json!("9007199254740993")
        );
        assert_eq!(text_value(701, "NaN"), json!("NaN"));
        assert_eq!(text_value(3802, r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(param_text(&json!(null)), None);
        assert_eq!(param_text(&json!([1, 2])), Some("[1,2]".into()));
    }
}
