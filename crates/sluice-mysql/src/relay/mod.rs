//! The relay of an open session. MySQL is half-duplex: the client sends one command and reads
//! its whole answer before the next, so one loop does both directions: read a command,
//! decide and audit it, seal, forward, then read the answer packet by packet (it must know
//! where the answer ends, and mask rows), relay it, and audit how it ended.

mod masking;
mod results;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::watch;

use sluice_core::sequence::Relayed;
use sluice_core::{
    Admission, Ask, AuditBatch, Denial, DenialKind, Outcome, Preparation, Prepared, Session,
    StatementPermit, Traffic, UpstreamWriter,
};
use sluice_mywire::command::{Command, Execute, LAST_PREPARED};
use sluice_mywire::frame::{self, Packet};
use sluice_mywire::rows::ValueType;
use sluice_net::stream::{ClientStream, UpstreamStream};
use sluice_net::ShutdownPhase;
use sluice_sql::Lexing;

use crate::error::MyError;
use crate::kill::{parse_kill, HoldCancel, Registry};
use crate::packets::{PacketReader, ReadError};
use results::Answer;

/// The rule a command the gateway does not relay is refused under.
const RULE_PROTOCOL: &str = "sluice.protocol";
/// Settings whose change makes the relay ask the target again how it lexes texts.
const LEXING_SETTINGS: [&str; 4] = [
    "sql_mode",
    "global.sql_mode",
    "names",
    "character_set_client",
];

/// The rule text the gateway cannot read as the target will is refused under.
const RULE_ENCODING: &str = "sluice.encoding";

pub struct RelaySettings {
    pub max_packet: usize,
    pub shutdown: watch::Receiver<ShutdownPhase>,
    pub hold: Arc<HoldCancel>,
    pub registry: Arc<Registry>,
    pub capabilities: u32,
    /// The target's sql_mode has NO_BACKSLASH_ESCAPES / ANSI_QUOTES.
    pub no_backslash_escapes: bool,
    pub ansi_quotes: bool,
}

/// A statement the client prepared.
struct Statement {
    prepared: Arc<Prepared>,
    params: u16,
    bound: Vec<ValueType>,
    long_data: Vec<bool>,
    /// An execution's cursor, whose rows COM_STMT_FETCH reads.
    cursor: Option<results::Cursor>,
}

pub(crate) struct Relay<'s> {
    session: &'s Session,
    client: PacketReader<ReadHalf<ClientStream>>,
    downstream: WriteHalf<ClientStream>,
    to_client: u64,
    upstream_in: PacketReader<ReadHalf<UpstreamStream>>,
    upstream: UpstreamWriter<WriteHalf<UpstreamStream>>,
    settings: RelaySettings,
    statements: HashMap<u32, Statement>,
    last_prepared: Option<u32>,
    /// Packets for the client, written at the end of each answer (and when large).
    out: BytesMut,
}

/// What the relay hands back: the client's write side, closed once the end is audited.
pub struct Closing {
    writer: WriteHalf<ClientStream>,
}

impl Closing {
    pub async fn close(mut self) {
        let _ = self.writer.shutdown().await;
    }
}

pub async fn run(
    session: &Session,
    client: ClientStream,
    upstream: UpstreamStream,
    settings: RelaySettings,
) -> Relayed<Closing, MyError> {
    let (client_reader, downstream) = tokio::io::split(client);
    let (upstream_reader, upstream_writer) = tokio::io::split(upstream);
    let mut relay = Relay {
        session,
        client: PacketReader::new(client_reader, settings.max_packet),
        downstream,
        to_client: 0,
        upstream_in: PacketReader::new(upstream_reader, usize::MAX),
        upstream: session.upstream_writer(upstream_writer),
        settings,
        statements: HashMap::new(),
        last_prepared: None,
        out: BytesMut::with_capacity(16 * 1024),
    };
    // Raced once per session: a session cannot outlive its credential.
    let served = tokio::select! {
        served = relay.serve() => served,
        ended = session.credential_ended() => Err(MyError::refused(
            1053,
            "08S01",
            format!("sluice: the session ends because {ended}; sign in again for a new credential"),
        )),
    };
    let (reason, error) = match served {
        Ok(reason) => (reason.to_owned(), None),
        Err(e) => {
            let mut framed = BytesMut::new();
            e.put_for_client(&mut framed, 1);
            relay.out.clear();
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(1),
                relay.downstream.write_all(&framed),
            )
            .await;
            (e.to_string(), Some(e))
        }
    };
    for (_, statement) in relay.statements.drain() {
        if let Some(cursor) = statement.cursor {
            cursor.abandon(session, &reason);
        }
    }
    if error.is_some() {
        session.gateway().metrics().session_errors.inc();
    }
    Relayed {
        reason,
        traffic: Traffic {
            from_client: relay.client.bytes,
            to_client: relay.to_client,
        },
        closing: Closing {
            writer: relay.downstream,
        },
        error,
    }
}

impl<'s> Relay<'s> {
    async fn serve(&mut self) -> Result<&'static str, MyError> {
        loop {
            let packet = tokio::select! {
                biased;
                read = self.client.read() => match read {
                    Ok(p) => p,
                    Err(ReadError::Closed) => return Ok("client disconnected"),
                    Err(ReadError::Wire(e)) => return Err(MyError::ClientProtocol(e)),
                    Err(ReadError::Io(e)) => return Err(MyError::Io(e)),
                },
                phase = wait_for_shutdown(self.settings.shutdown.clone()) => {
                    let _ = phase;
                    return Err(MyError::refused(1053, "08S01", "the gateway is shutting down"));
                }
                // Between commands the target says nothing unless it is going away (KILL
                // CONNECTION, wait_timeout, a restart): the client must see its connection
                // close then, as it would directly, not at its next command.
                () = self.upstream_in.readable() => return self.target_left().await,
            };
            if self.session.recording().is_some_and(|r| r.failed()) {
                return Err(MyError::Core(sluice_core::CoreError::RecordingCap(
                    "the recording store failed".into(),
                )));
            }
            let payload = packet.payload.clone();
            let command = Command::decode(&payload).map_err(MyError::ClientProtocol)?;
            match command {
                Command::Quit => return Ok("client terminated the session"),
                Command::Query(sql) => self.query(&packet, sql).await?,
                Command::InitDb(db) => {
                    let text = format!("USE `{}`", String::from_utf8_lossy(db).replace('`', "``"));
                    self.admitted_text(&packet, text.as_bytes(), Answer::Simple)
                        .await?
                }
                Command::StmtPrepare(sql) => self.prepare(&packet, sql).await?,
                Command::StmtExecute(execute) => self.execute(&packet, execute).await?,
                Command::StmtFetch { statement, .. } => self.fetch(&packet, statement).await?,
                Command::StmtSendLongData {
                    statement, param, ..
                } => {
                    if let Some(s) = self.statements.get_mut(&self.resolve(statement)) {
                        if let Some(flag) = s.long_data.get_mut(usize::from(param)) {
                            *flag = true;
                        }
                    }
                    self.pass(&packet, None).await?
                }
                Command::StmtClose(id) => {
                    let id = self.resolve(id);
                    if let Some(s) = self.statements.remove(&id) {
                        if let Some(c) = s.cursor {
                            c.close(self.session);
                        }
                    }
                    self.pass(&packet, None).await?
                }
                Command::StmtReset(id) => {
                    let id = self.resolve(id);
                    if let Some(s) = self.statements.get_mut(&id) {
                        s.long_data.iter_mut().for_each(|f| *f = false);
                        if let Some(c) = s.cursor.take() {
                            c.close(self.session);
                        }
                    }
                    self.pass(&packet, Some(Answer::Simple)).await?
                }
                Command::ResetConnection => {
                    // The target forgets its prepared statements; so does the relay.
                    for (_, s) in self.statements.drain() {
                        if let Some(c) = s.cursor {
                            c.close(self.session);
                        }
                    }
                    self.pass(&packet, Some(Answer::Simple)).await?
                }
                Command::Ping | Command::SetOption(_) => {
                    self.pass(&packet, Some(Answer::Simple)).await?
                }
                Command::Statistics => self.pass(&packet, Some(Answer::Simple)).await?,
                Command::FieldList { .. } => self.pass(&packet, Some(Answer::FieldList)).await?,
                Command::ProcessKill(id) => {
                    let text = format!("KILL CONNECTION {id}");
                    self.admitted_text(&packet, text.as_bytes(), Answer::Simple)
                        .await?
                }
                Command::ChangeUser(_) | Command::Other(_) => {
                    let name = match command {
                        Command::Other(code) => format!("command 0x{code:02x}"),
                        other => other.name().to_owned(),
                    };
                    self.refuse_command(&packet, &name).await?
                }
            }
            self.flush().await?;
            if *self.settings.shutdown.borrow() != ShutdownPhase::Running {
                return Ok("gateway shutdown");
            }
        }
    }

    /// The target spoke between commands: it is closing. Its last words (an ERR saying why)
    /// go to the client, then the session ends.
    async fn target_left(&mut self) -> Result<&'static str, MyError> {
        if let Ok(packet) = self.upstream_in.read().await {
            if packet.payload.first() == Some(&0xff) {
                frame::put(&mut self.out, packet.seq, &packet.payload);
                self.flush().await?;
            }
        }
        Ok("target closed the connection")
    }

    /// Maps MariaDB's "the statement prepared last" to its id.
    fn resolve(&self, id: u32) -> u32 {
        if id == LAST_PREPARED {
            self.last_prepared.unwrap_or(id)
        } else {
            id
        }
    }

    /// The lexing the target applies to the next text.
    fn lexing(&self) -> Lexing {
        if self.settings.no_backslash_escapes {
            Lexing::Standard
        } else {
            Lexing::BackslashEscapes
        }
    }

    /// Text as the target reads it: UTF-8 (the connection's character set is utf8mb4 or a
    /// subset), or refused.
    fn decode<'t>(
        &self,
        batch: &mut AuditBatch,
        sql: &'t [u8],
    ) -> Result<Result<&'t str, Denial>, MyError> {
        match std::str::from_utf8(sql) {
            Ok(text) if self.settings.ansi_quotes && text.contains('"') => Ok(Err(self
                .session
                .refuse_unreadable(
                batch,
                text,
                RULE_ENCODING,
                "the session's sql_mode has ANSI_QUOTES, under which \"...\" is a name: sluice \
                 reads it as a string, so texts with double quotes are refused"
                    .into(),
                DenialKind::Ambiguous,
            )?)),
            Ok(text) => Ok(Ok(text)),
            Err(e) => Ok(Err(self.session.refuse_unreadable(
                batch,
                &String::from_utf8_lossy(sql),
                RULE_ENCODING,
                format!("the statement is not valid UTF-8: {e}"),
                DenialKind::Invalid,
            )?)),
        }
    }

    async fn query(&mut self, packet: &Packet, sql: &[u8]) -> Result<(), MyError> {
        self.admitted_text(packet, sql, Answer::Text).await
    }

    /// Decides a text (COM_QUERY, or what COM_INIT_DB and COM_PROCESS_KILL amount to), and
    /// relays it and its answer if allowed.
    async fn admitted_text(
        &mut self,
        packet: &Packet,
        sql: &[u8],
        answer: Answer,
    ) -> Result<(), MyError> {
        let mut batch = AuditBatch::default();
        let text = match self.decode(&mut batch, sql)? {
            Ok(text) => text.to_owned(),
            Err(denial) => return self.deny(&mut batch, packet, &denial).await,
        };
        let admission = self.session.admit(
            &mut batch,
            Ask::Sql {
                text: &text,
                lexing: self.lexing(),
            },
        )?;
        let admission = self.settle(&mut batch, admission).await?;
        match admission {
            Admission::Allowed(permit) => {
                if let Some((query_only, id)) = parse_kill(&text) {
                    return self.kill(&mut batch, packet, permit, query_only, id).await;
                }
                let sealed = self.session.seal(&mut batch).await?;
                let mut forwarding = self.upstream.forwarding(sealed);
                forwarding.write(&framed(packet)).await?;
                forwarding.finish().await?;
                let changes_mode = permit
                    .changed_settings()
                    .iter()
                    .any(|s| LEXING_SETTINGS.contains(&s.as_str()));
                self.answer(answer, Some(permit), Some(&text), packet.next_seq())
                    .await?;
                if changes_mode {
                    self.reread_sql_mode().await?;
                }
                Ok(())
            }
            Admission::Denied(denial) => self.deny(&mut batch, packet, &denial).await,
            Admission::Held(_) | Admission::NeedsCatalog(_) => Err(MyError::Core(
                sluice_core::CoreError::Config("a request was admitted twice".into()),
            )),
        }
    }

    /// Turns a hold into its verdict, and a catalog request (PostgreSQL's lineage, which
    /// MySQL sessions never ask for) into a denial.
    async fn settle(
        &mut self,
        batch: &mut AuditBatch,
        admission: Admission,
    ) -> Result<Admission, MyError> {
        match admission {
            Admission::Held(held) => {
                // The held request's own record is durable before its review opens.
                // Sealed for the record alone: nothing is forwarded.
                let _ = self.session.seal(batch).await?;
                let pending = self.session.open_statement_review(held).await?;
                tracing::info!(review = %pending.id(), "statement held for review");
                let hold = self.settings.hold.clone();
                let client = &mut self.client;
                let abandoned = async move {
                    let cancelled = hold.cancelled.notified();
                    tokio::pin!(cancelled);
                    cancelled.as_mut().enable();
                    hold.holding
                        .store(true, std::sync::atomic::Ordering::Release);
                    let gone = async {
                        // MySQL clients send nothing while they wait: reading shows a close.
                        while client.fill().await {}
                    };
                    tokio::select! {
                        () = gone => {}
                        () = cancelled => {}
                    }
                };
                let verdict = self.session.await_review(batch, pending, abandoned).await;
                self.settings
                    .hold
                    .holding
                    .store(false, std::sync::atomic::Ordering::Release);
                Ok(verdict?)
            }
            Admission::NeedsCatalog(_) => Ok(Admission::Denied(Denial {
                kind: DenialKind::Policy,
                rule: "mask_unknown_lineage".into(),
                reason: "masking cannot trace this statement".into(),
                position: None,
            })),
            other => Ok(other),
        }
    }

    /// Answers a refused request with the MySQL error for it, after its record is durable.
    async fn deny(
        &mut self,
        batch: &mut AuditBatch,
        packet: &Packet,
        denial: &Denial,
    ) -> Result<(), MyError> {
        // Sealed for the record alone: nothing is forwarded.
        let _ = self.session.seal(batch).await?;
        let (code, state) = match denial.kind {
            DenialKind::Policy if denial.rule == "sluice.review" => (1317, "70100"),
            DenialKind::Policy => (1142, "42000"),
            DenialKind::Unparseable | DenialKind::Ambiguous => (1064, "42000"),
            DenialKind::Invalid | DenialKind::Unreadable => (1227, "42000"),
        };
        let message = format!(
            "sluice: denied by policy rule {}: {}",
            denial.rule, denial.reason
        );
        if let Some(r) = self.session.recording() {
            let _ = r.error(None, &results::recorded_code(code, state), &message);
        }
        self.error_packet(packet.next_seq(), code, state, &message);
        Ok(())
    }

    fn error_packet(&mut self, seq: u8, code: u16, state: &str, message: &str) {
        sluice_mywire::response::put_err(&mut self.out, seq, code, state, message);
    }

    /// A command the gateway does not relay: refused and audited, the session goes on.
    async fn refuse_command(&mut self, packet: &Packet, name: &str) -> Result<(), MyError> {
        let mut batch = AuditBatch::default();
        let denial = self.session.refuse_unreadable(
            &mut batch,
            name,
            RULE_PROTOCOL,
            format!("{name} is not supported through sluice"),
            DenialKind::Unreadable,
        )?;
        // Sealed for the record alone: nothing is forwarded.
        let _ = self.session.seal(&mut batch).await?;
        let message = format!(
            "sluice: denied by policy rule {}: {}",
            denial.rule, denial.reason
        );
        self.error_packet(packet.next_seq(), 1047, "08S01", &message);
        Ok(())
    }

    /// Relays a command that carries no request of its own (it paces, closes or describes
    /// what was decided) and, when it has one, its answer.
    async fn pass(&mut self, packet: &Packet, answer: Option<Answer>) -> Result<(), MyError> {
        let mut batch = AuditBatch::default();
        batch.carries_no_request();
        let sealed = self.session.seal(&mut batch).await?;
        let mut forwarding = self.upstream.forwarding(sealed);
        forwarding.write(&framed(packet)).await?;
        forwarding.finish().await?;
        if let Some(answer) = answer {
            self.answer(answer, None, None, packet.next_seq()).await?;
        }
        Ok(())
    }

    async fn prepare(&mut self, packet: &Packet, sql: &[u8]) -> Result<(), MyError> {
        let mut batch = AuditBatch::default();
        let text = match self.decode(&mut batch, sql)? {
            Ok(text) => text.to_owned(),
            Err(denial) => return self.deny(&mut batch, packet, &denial).await,
        };
        match self.session.prepare(&mut batch, &text, self.lexing())? {
            Preparation::Denied(denial) => self.deny(&mut batch, packet, &denial).await,
            Preparation::Allowed(prepared) => {
                // Audited with each execution, not here.
                batch.carries_no_request();
                let sealed = self.session.seal(&mut batch).await?;
                let mut forwarding = self.upstream.forwarding(sealed);
                forwarding.write(&framed(packet)).await?;
                forwarding.finish().await?;
                if let Some(ok) = self.answer_prepare(packet.next_seq()).await? {
                    self.last_prepared = Some(ok.statement);
                    self.statements.insert(
                        ok.statement,
                        Statement {
                            prepared,
                            params: ok.params,
                            bound: Vec::new(),
                            long_data: vec![false; usize::from(ok.params)],
                            cursor: None,
                        },
                    );
                }
                Ok(())
            }
        }
    }

    async fn execute(&mut self, packet: &Packet, execute: Execute<'_>) -> Result<(), MyError> {
        let id = self.resolve(execute.statement);
        let mut batch = AuditBatch::default();
        let Some(statement) = self.statements.get_mut(&id) else {
            // Unknown to the relay, so never decided: the target is not asked.
            let message = format!(
                "sluice: unknown prepared statement handler ({}) given to mysqld_stmt_execute",
                execute.statement
            );
            self.error_packet(packet.next_seq(), 1243, "HY000", &message);
            return Ok(());
        };
        let values = sluice_mywire::params::decode(
            execute.params,
            usize::from(statement.params),
            &mut statement.bound,
            &statement.long_data,
        )
        .map_err(MyError::ClientProtocol)?;
        statement.long_data.iter_mut().for_each(|f| *f = false);
        if let Some(cursor) = statement.cursor.take() {
            cursor.close(self.session);
        }
        let prepared = statement.prepared.clone();
        let parameters = self.session.needs_parameters(&prepared).then_some(values);
        let admission = self
            .session
            .admit_execute(&mut batch, &prepared, parameters)?;
        let admission = self.settle(&mut batch, admission).await?;
        match admission {
            Admission::Allowed(permit) => {
                let sealed = self.session.seal(&mut batch).await?;
                let mut forwarding = self.upstream.forwarding(sealed);
                forwarding.write(&framed(packet)).await?;
                forwarding.finish().await?;
                let cursor = self
                    .answer(
                        Answer::Binary {
                            cursor: execute.opens_cursor(),
                        },
                        Some(permit),
                        None,
                        packet.next_seq(),
                    )
                    .await?;
                if let (Some(cursor), Some(statement)) = (cursor, self.statements.get_mut(&id)) {
                    statement.cursor = Some(cursor);
                }
                Ok(())
            }
            Admission::Denied(denial) => self.deny(&mut batch, packet, &denial).await,
            Admission::Held(_) | Admission::NeedsCatalog(_) => Err(MyError::Core(
                sluice_core::CoreError::Config("a request was admitted twice".into()),
            )),
        }
    }

    async fn fetch(&mut self, packet: &Packet, id: u32) -> Result<(), MyError> {
        let id = self.resolve(id);
        let cursor = self.statements.get_mut(&id).and_then(|s| s.cursor.take());
        let Some(cursor) = cursor else {
            self.error_packet(
                packet.next_seq(),
                1421,
                "HY000",
                "sluice: the statement has no open cursor",
            );
            return Ok(());
        };
        let mut batch = AuditBatch::default();
        batch.carries_no_request();
        let sealed = self.session.seal(&mut batch).await?;
        let mut forwarding = self.upstream.forwarding(sealed);
        forwarding.write(&framed(packet)).await?;
        forwarding.finish().await?;
        let open = self.fetch_rows(cursor, packet.next_seq()).await?;
        if let (Some(cursor), Some(s)) = (open, self.statements.get_mut(&id)) {
            s.cursor = Some(cursor);
        }
        Ok(())
    }

    /// KILL through the gateway: only connections of the same identity on the same target,
    /// by the target's id over this session's own target connection; a held statement's
    /// hold is cancelled.
    async fn kill(
        &mut self,
        batch: &mut AuditBatch,
        packet: &Packet,
        permit: StatementPermit,
        query_only: bool,
        id: u32,
    ) -> Result<(), MyError> {
        let victim = self.settings.registry.find(
            self.session.identity().name.as_str(),
            &self.session.target().name,
            id,
        );
        let Some(victim) = victim else {
            // Sealed for the record alone: nothing is forwarded.
            let _ = self.session.seal(batch).await?;
            let message = format!("Unknown thread id: {id}");
            self.session
                .finish(permit, Outcome::error("1094", message.clone()));
            self.error_packet(
                packet.next_seq(),
                1094,
                "HY000",
                &format!("sluice: {message}"),
            );
            return Ok(());
        };
        if victim
            .hold
            .holding
            .load(std::sync::atomic::Ordering::Acquire)
        {
            victim.hold.cancelled.notify_one();
        }
        let Some(thread) = victim.upstream_thread else {
            // Sealed for the record alone: nothing is forwarded.
            let _ = self.session.seal(batch).await?;
            self.session.finish(permit, Outcome::ok("KILL", Some(0)));
            let mut ok = BytesMut::new();
            sluice_mywire::response::encode_ok(
                &mut ok,
                0,
                sluice_mywire::caps::SERVER_STATUS_AUTOCOMMIT,
                0,
            );
            frame::put(&mut self.out, packet.next_seq(), &ok);
            return Ok(());
        };
        let text = format!(
            "KILL {}{thread}",
            if query_only { "QUERY " } else { "CONNECTION " }
        );
        let mut payload = Vec::with_capacity(text.len() + 1);
        payload.push(sluice_mywire::command::COM_QUERY);
        payload.extend_from_slice(text.as_bytes());
        let mut out = BytesMut::new();
        frame::put(&mut out, packet.seq, &payload);
        let sealed = self.session.seal(batch).await?;
        let mut forwarding = self.upstream.forwarding(sealed);
        forwarding.write(&out).await?;
        forwarding.finish().await?;
        self.answer(Answer::Simple, Some(permit), None, packet.next_seq())
            .await?;
        Ok(())
    }

    /// Asks the target for its sql_mode again after a statement changed it: the mode decides
    /// how the next texts are lexed.
    async fn reread_sql_mode(&mut self) -> Result<(), MyError> {
        let mut batch = AuditBatch::default();
        batch.carries_no_request();
        let sealed = self.session.seal(&mut batch).await?;
        let (no_backslash, ansi) =
            results::read_sql_mode(&mut self.upstream_in, self.upstream.forwarding(sealed)).await?;
        self.settings.no_backslash_escapes = no_backslash;
        self.settings.ansi_quotes = ansi;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), MyError> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.downstream.write_all(&self.out).await?;
        self.downstream.flush().await?;
        let n = self.out.len() as u64;
        self.to_client += n;
        self.session.gateway().metrics().bytes_to_clients.add(n);
        self.out.clear();
        if let Some(r) = self.session.recording() {
            r.flush();
        }
        Ok(())
    }
}

/// A packet as it goes on the wire again, split as it came.
fn framed(packet: &Packet) -> Bytes {
    let mut out = BytesMut::with_capacity(packet.payload.len() + 4);
    frame::put(&mut out, packet.seq, &packet.payload);
    out.freeze()
}

async fn wait_for_shutdown(mut rx: watch::Receiver<ShutdownPhase>) -> ShutdownPhase {
    loop {
        let phase = *rx.borrow_and_update();
        // Called only between requests: a drain ends the session here.
        if phase != ShutdownPhase::Running {
            return phase;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}
