//! One session channel: its requests (a terminal, environment, a shell, a command, a
//! subsystem) decided before the target sees them, then its data relayed: a shell's typed
//! lines decided as they are entered, output masked and recorded, SFTP decided per file
//! operation. The channel's outcome (exit status, bytes) finishes its audit record.
//!
//! The two directions run side by side, each blocked only by its own writes: russh hands a
//! channel's incoming messages over a bounded queue, so a relay that stopped reading one side
//! while it waited to write to the other would, under load, stop russh from reading the
//! window adjustments that write waits for. What both directions need (the mode, the permits,
//! the SFTP tracker) is shared under a lock never held across an await; what the client is
//! sent comes from one place (the target's direction), so nothing interleaves.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use russh::{ChannelId, ChannelMsg, ChannelWriteHalf};
use sluice_core::{AuditBatch, Outcome, Session, StatementPermit, UpstreamWriter};
use sluice_decision::{ChannelType, Request};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{mpsc, Notify};

use super::intake::{intake, Inbox};
use super::scp;
use super::sftp::{SftpRelay, Step};
use super::terminal::{LineTracker, OutputMasker, Typed};
use super::{channel_facts, summary, Counters};
use crate::command;
use crate::decide::{decide, decide_now, Verdict};
use crate::error::SshError;

type ClientChannel = russh::Channel<russh::server::Msg>;
type TargetChannel = russh::Channel<russh::client::Msg>;
type TargetWriter = UpstreamWriter<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>;

/// The exit status a refused command or shell ends with, as a shell's "permission denied".
const REFUSED_STATUS: u32 = 126;

/// How long masked output may wait for the end of its line.
const HOLD_FOR_LINE: Duration = Duration::from_millis(50);

#[derive(Default)]
enum Mode {
    /// No shell, command or subsystem yet.
    #[default]
    Idle,
    Shell(LineTracker),
    Exec,
    /// A command that moves files over its standard streams (scp's own protocol, rsync):
    /// its bytes are counted, not recorded as terminal output.
    Transfer,
    Sftp(Box<SftpRelay>),
    /// A subsystem sluice does not read, allowed by the policy as a whole.
    Opaque,
}

/// What both directions share.
#[derive(Default)]
struct State {
    mode: Mode,
    /// The shell, command or subsystem running in the channel.
    request: Option<StatementPermit>,
    /// The file operations an scp command line names, finished with the command.
    files: Vec<StatementPermit>,
    exit: Option<u32>,
    masker: OutputMasker,
    /// The shell, command or subsystem was refused and the client's channel closed.
    refused: bool,
    sent: u64,
    received: u64,
    /// Why the channel stopped early, for its audit record.
    failed: Option<String>,
}

impl State {
    fn n(&self) -> Option<u64> {
        self.request.as_ref().map(StatementPermit::number)
    }
}

/// What the client's direction asks the target's direction to send the client.
enum ToClient {
    Data(Bytes),
    /// Words for the client's error stream (a hold's notice, a failure).
    Stderr(Bytes),
    /// A refusal: on the error stream, then exit status 126 and the channel closed.
    Refuse(String),
}

pub(crate) struct SessionChannel {
    session: Session,
    handle: russh::server::Handle,
    counters: Arc<Counters>,
    /// The channel's own admission; finished with the bytes it carried.
    open: StatementPermit,
}

impl SessionChannel {
    pub fn new(
        session: Session,
        handle: russh::server::Handle,
        counters: Arc<Counters>,
        open: StatementPermit,
    ) -> SessionChannel {
        SessionChannel {
            session,
            handle,
            counters,
            open,
        }
    }

    pub async fn run(self, client: ClientChannel, target: TargetChannel) {
        let id = client.id();
        let (client_rx, client_tx) = client.split();
        let (target_rx, target_tx) = target.split();
        let state = Arc::new(Mutex::new(State::default()));
        let (to_client, answers) = mpsc::unbounded_channel();
        let stop = Arc::new(Notify::new());
        let boxed: Box<dyn tokio::io::AsyncWrite + Send + Unpin> =
            Box::new(target_tx.make_writer());
        let up = Up {
            session: &self.session,
            counters: &self.counters,
            state: &state,
            writer: self.session.upstream_writer(boxed),
            target_tx: &target_tx,
            to_client,
            backlog: VecDeque::new(),
        };
        let down = Down {
            session: &self.session,
            handle: &self.handle,
            counters: &self.counters,
            state: &state,
            id,
            client_tx: &client_tx,
        };
        let (client_feed, client_rx) = intake(client_rx);
        let (target_feed, target_rx) = intake(target_rx);
        let relayed = async {
            tokio::join!(
                up.run(client_rx, &stop),
                down.run(target_rx, answers, &stop)
            )
        };
        // The feeds end with their channels; the relay's end is what matters.
        tokio::select! {
            _ = relayed => {}
            () = async { tokio::join!(client_feed, target_feed); std::future::pending::<()>().await } => {}
        }
        let mut state = lock(&state);
        if let Mode::Sftp(sftp) = &mut state.mode {
            sftp.end(&self.session);
        }
        let outcome = match (&state.failed, state.exit) {
            (Some(why), _) => Outcome::interrupted(why.clone()),
            (None, Some(0)) => Outcome::ok("exit 0", None),
            (None, Some(code)) => {
                Outcome::error(code.to_string(), format!("exited with status {code}"))
            }
            (None, None) => Outcome::ok("closed", None),
        };
        let bytes = state.sent.max(state.received);
        for permit in std::mem::take(&mut state.files) {
            let file_outcome = match state.exit {
                Some(0) => Outcome::ok(format!("{bytes} bytes"), Some(bytes)),
                _ => Outcome::error("scp", "the transfer did not complete"),
            };
            self.session.finish(permit, file_outcome);
        }
        if let Some(permit) = state.request.take() {
            self.session.finish(permit, outcome);
        }
        let carried = format!(
            "{} bytes from the client, {} bytes from the target",
            state.sent, state.received
        );
        let total = state.sent + state.received;
        drop(state);
        self.session
            .finish(self.open, Outcome::ok(carried, Some(total)));
        if let Some(r) = self.session.recording() {
            r.flush();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic elsewhere cannot leave the state half-written in a way that matters more than
    // ending the channel; take it as it is.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The client's direction: requests decided, data decided or passed on to the target.
struct Up<'a> {
    session: &'a Session,
    counters: &'a Counters,
    state: &'a Mutex<State>,
    writer: TargetWriter,
    target_tx: &'a ChannelWriteHalf<russh::client::Msg>,
    to_client: mpsc::UnboundedSender<ToClient>,
    /// Messages that arrived while a request waited for reviewers, replayed after it.
    backlog: VecDeque<ChannelMsg>,
}

impl Up<'_> {
    async fn run(mut self, mut client_rx: Inbox, stop: &Notify) {
        loop {
            let msg = match self.backlog.pop_front() {
                Some(msg) => Some(msg),
                None => tokio::select! {
                    msg = client_rx.recv() => msg,
                    () = stop.notified() => break,
                },
            };
            let Some(msg) = msg else { break };
            let closing = matches!(msg, ChannelMsg::Close);
            match self.on_message(msg, &mut client_rx).await {
                Ok(true) if !closing => {}
                Ok(_) => break,
                Err(e) => {
                    lock(self.state).failed = Some(e.to_string());
                    let _ = self
                        .to_client
                        .send(ToClient::Stderr(Bytes::from(format!("sluice: {e}\r\n"))));
                    break;
                }
            }
        }
        // The target's half ends with the client's; the target's close then ends the other
        // direction.
        let _ = self.target_tx.close().await;
    }

    /// Handles one message; `false` ends the channel.
    async fn on_message(
        &mut self,
        msg: ChannelMsg,
        client_rx: &mut Inbox,
    ) -> Result<bool, SshError> {
        let t = self.target_tx;
        match msg {
            ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                pix_width,
                pix_height,
                terminal_modes,
                ..
            } => {
                if let Some(r) = self.session.recording() {
                    let _ = r.terminal_resize(None, clamp(col_width), clamp(row_height));
                }
                t.request_pty(
                    false,
                    &term,
                    col_width,
                    row_height,
                    pix_width,
                    pix_height,
                    &terminal_modes,
                )
                .await?;
            }
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                pix_width,
                pix_height,
            } => {
                if let Some(r) = self.session.recording() {
                    let n = lock(self.state).n();
                    let _ = r.terminal_resize(n, clamp(col_width), clamp(row_height));
                }
                t.window_change(col_width, row_height, pix_width, pix_height)
                    .await?;
            }
            ChannelMsg::SetEnv {
                variable_name,
                variable_value,
                ..
            } => {
                let open = channel_facts(
                    ChannelType::Env,
                    None,
                    None,
                    None,
                    Some(variable_name.clone()),
                );
                let request = Request::Channel { channel: &open };
                if let Verdict::Allowed { permit, sealed } =
                    decide_now(self.session, request, &summary(&open)).await?
                {
                    drop(sealed);
                    t.set_env(false, variable_name, variable_value).await?;
                    self.session.finish(permit, Outcome::ok("set", None));
                }
            }
            ChannelMsg::Signal { signal } => t.signal(signal).await?,
            ChannelMsg::RequestShell { .. } => {
                let open = channel_facts(ChannelType::Shell, None, None, None, None);
                let text = summary(&open);
                let verdict = self
                    .decide_waiting(Request::Channel { channel: &open }, &text, client_rx)
                    .await?;
                let Some(permit) = self.admitted(verdict) else {
                    return Ok(false);
                };
                {
                    let mut state = lock(self.state);
                    state.request = Some(permit);
                    state.mode = Mode::Shell(LineTracker::default());
                }
                t.request_shell(true).await?;
            }
            ChannelMsg::Exec { command, .. } => return self.exec(command, client_rx).await,
            ChannelMsg::RequestSubsystem { name, .. } => {
                let open =
                    channel_facts(ChannelType::Subsystem, None, None, None, Some(name.clone()));
                let text = summary(&open);
                let verdict = self
                    .decide_waiting(Request::Channel { channel: &open }, &text, client_rx)
                    .await?;
                let Some(permit) = self.admitted(verdict) else {
                    return Ok(false);
                };
                {
                    let mut state = lock(self.state);
                    let n = permit.number();
                    state.request = Some(permit);
                    state.mode = if name == "sftp" {
                        let mut relay = Box::<SftpRelay>::default();
                        relay.n = n;
                        Mode::Sftp(relay)
                    } else {
                        Mode::Opaque
                    };
                }
                t.request_subsystem(true, name).await?;
            }
            ChannelMsg::Data { data } => {
                self.counters.add_from_client(data.len());
                lock(self.state).sent += data.len() as u64;
                self.data(data).await?;
            }
            ChannelMsg::Eof => t.eof().await?,
            ChannelMsg::Close => return Ok(false),
            _ => {}
        }
        Ok(true)
    }

    async fn exec(&mut self, command: Vec<u8>, client_rx: &mut Inbox) -> Result<bool, SshError> {
        let text = String::from_utf8_lossy(&command).into_owned();
        let facts = match std::str::from_utf8(&command) {
            Ok(t) => command::facts(t, false),
            // A line that is not text is not parsed: what it runs is unknown.
            Err(_) => command::unparsed(&text, false),
        };
        let mut verdict = self
            .decide_waiting(Request::Command { command: &facts }, &text, client_rx)
            .await?;
        let mut files = Vec::new();
        // scp's own protocol names its files on the command line: each is decided as a file
        // operation too.
        if let (Verdict::Allowed { .. }, Some(wanted)) = (&verdict, scp::files(&facts.argv)) {
            for file in &wanted {
                let summary = format!("{} {} (scp)", file.operation.as_str(), file.path);
                match decide_now(self.session, Request::File { file }, &summary).await? {
                    Verdict::Allowed { permit, sealed } => {
                        drop(sealed);
                        files.push(permit);
                    }
                    refused @ Verdict::Refused(_) => {
                        verdict = refused;
                        break;
                    }
                }
            }
        }
        let Some(permit) = self.admitted(verdict) else {
            for permit in files {
                self.session
                    .finish(permit, Outcome::not_executed("the command was refused"));
            }
            return Ok(false);
        };
        {
            let mut state = lock(self.state);
            state.request = Some(permit);
            state.files = files;
            state.mode = if transfers_files(&facts.argv) {
                Mode::Transfer
            } else {
                Mode::Exec
            };
        }
        self.target_tx.exec(true, command).await?;
        Ok(true)
    }

    /// Decides a request the client may wait for: a hold tells the client on its error
    /// stream and waits for reviewers, or until the client closes the channel. What the
    /// client sends meanwhile (input, an end of input, window changes) is kept and replayed
    /// once the request is answered.
    async fn decide_waiting(
        &mut self,
        request: Request<'_>,
        text: &str,
        client_rx: &mut Inbox,
    ) -> Result<Verdict, SshError> {
        let to_client = self.to_client.clone();
        let notice = |words: String| async move {
            let _ = to_client.send(ToClient::Stderr(Bytes::from(format!("{words}\r\n"))));
        };
        let backlog = &mut self.backlog;
        let abandoned = async {
            loop {
                match client_rx.recv().await {
                    None | Some(ChannelMsg::Close) => break,
                    Some(msg) => backlog.push_back(msg),
                }
            }
        };
        decide(self.session, request, text, notice, abandoned).await
    }

    /// The permit of an allowed request; a refused one is answered (the client learns why on
    /// its error stream, the exit status is [`REFUSED_STATUS`]) and yields `None`.
    fn admitted(&mut self, verdict: Verdict) -> Option<StatementPermit> {
        match verdict {
            Verdict::Allowed { permit, sealed } => {
                // The request goes to the target through russh's typed calls right after.
                drop(sealed);
                Some(permit)
            }
            Verdict::Refused(why) => {
                lock(self.state).refused = true;
                if let Some(r) = self.session.recording() {
                    let _ = r.terminal_marker(None, &why);
                    r.flush();
                }
                let _ = self.to_client.send(ToClient::Refuse(why));
                None
            }
        }
    }

    async fn data(&mut self, data: Bytes) -> Result<(), SshError> {
        enum Do {
            Forward,
            Sftp(Vec<Step>),
            Line(String, usize),
        }
        let todo = {
            let mut state = lock(self.state);
            match &mut state.mode {
                Mode::Sftp(sftp) => Do::Sftp(sftp.client_data(self.session, &data)?),
                Mode::Shell(lines) => match lines.input(&data) {
                    Typed::Editing => Do::Forward,
                    Typed::Line { text, at } => Do::Line(text, at),
                },
                Mode::Idle | Mode::Exec | Mode::Transfer | Mode::Opaque => Do::Forward,
            }
        };
        match todo {
            Do::Forward => forward(self.session, &mut self.writer, &data).await,
            Do::Sftp(steps) => self.sftp(steps).await,
            Do::Line(text, at) => self.typed_line(&data, text, at).await,
        }
    }

    async fn sftp(&mut self, steps: Vec<Step>) -> Result<(), SshError> {
        for step in steps {
            let (req, packet, facts) = match step {
                Step::Answer(bytes) => {
                    let _ = self.to_client.send(ToClient::Data(bytes));
                    continue;
                }
                Step::Forward(req, packet) => (req, packet, Vec::new()),
                Step::Decide(req, packet, facts) => (req, packet, facts),
            };
            let mut permits = Vec::new();
            let mut refused = None;
            for file in &facts {
                let summary = match &file.target_path {
                    Some(to) => format!("{} {} -> {to} (sftp)", file.operation.as_str(), file.path),
                    None => format!("{} {} (sftp)", file.operation.as_str(), file.path),
                };
                match decide_now(self.session, Request::File { file }, &summary).await? {
                    Verdict::Allowed { permit, sealed } => {
                        drop(sealed);
                        permits.push(permit);
                    }
                    Verdict::Refused(why) => {
                        refused = Some(why);
                        break;
                    }
                }
            }
            if let Some(why) = refused {
                for permit in permits {
                    self.session.finish(
                        permit,
                        Outcome::not_executed("another part of the operation was refused"),
                    );
                }
                let answer = match &mut lock(self.state).mode {
                    Mode::Sftp(sftp) => sftp.refused(self.session, &req, &why),
                    _ => continue,
                };
                let _ = self.to_client.send(ToClient::Data(answer));
                continue;
            }
            let probe = match &mut lock(self.state).mode {
                Mode::Sftp(sftp) => sftp.forwarded(&req, permits)?,
                _ => None,
            };
            // Decided above (its records are durable) or carried by an admitted open.
            let mut batch = AuditBatch::default();
            batch.carries_no_request();
            let sealed = self.session.seal(&mut batch).await?;
            let mut forwarding = self.writer.forwarding(sealed);
            forwarding.write(packet.raw()).await?;
            if let Some(probe) = probe {
                forwarding.write(&probe).await?;
            }
            forwarding.finish().await?;
        }
        Ok(())
    }

    async fn typed_line(&mut self, data: &[u8], text: String, at: usize) -> Result<(), SshError> {
        forward(self.session, &mut self.writer, &data[..at]).await?;
        let facts = command::facts(&text, true);
        let n = lock(self.state).n();
        match decide_now(self.session, Request::Command { command: &facts }, &text).await? {
            Verdict::Allowed { permit, sealed } => {
                if let Some(r) = self.session.recording() {
                    let _ = r.terminal_marker(n, &text);
                }
                let mut forwarding = self.writer.forwarding(sealed);
                forwarding.write(&data[at..]).await?;
                forwarding.finish().await?;
                self.session.finish(permit, Outcome::ok("typed", None));
            }
            Verdict::Refused(why) => {
                // The line is erased at the target (Ctrl-U) and an empty line entered for a
                // fresh prompt; the client sees why.
                forward(self.session, &mut self.writer, b"\x15\r").await?;
                if let Some(r) = self.session.recording() {
                    let _ = r.terminal_marker(n, &why);
                }
                let _ = self
                    .to_client
                    .send(ToClient::Data(Bytes::from(format!("\r\n{why}\r\n"))));
            }
        }
        Ok(())
    }
}

/// The target's direction: output masked, recorded and sent to the client, with the
/// client-bound words of the other direction.
struct Down<'a> {
    session: &'a Session,
    handle: &'a russh::server::Handle,
    counters: &'a Counters,
    state: &'a Mutex<State>,
    id: ChannelId,
    client_tx: &'a ChannelWriteHalf<russh::server::Msg>,
}

impl Down<'_> {
    async fn run(
        self,
        mut target_rx: Inbox,
        mut answers: mpsc::UnboundedReceiver<ToClient>,
        stop: &Notify,
    ) {
        let mut out = self.client_tx.make_writer();
        let mut answers_open = true;
        let ended = async {
            loop {
                let holding = lock(self.state).masker.holding();
                tokio::select! {
                    msg = target_rx.recv() => {
                        let Some(msg) = msg else { break };
                        if !self.on_message(msg, &mut out).await? {
                            break;
                        }
                    }
                    answer = answers.recv(), if answers_open => match answer {
                        Some(answer) => self.answer(answer, &mut out).await?,
                        None => answers_open = false,
                    },
                    () = tokio::time::sleep(HOLD_FOR_LINE), if holding => {
                        self.flush_masked(&mut out).await?;
                    }
                }
            }
            // What the other direction still had for the client goes before the close.
            while let Ok(answer) = answers.try_recv() {
                self.answer(answer, &mut out).await?;
            }
            self.flush_masked(&mut out).await
        }
        .await;
        if let Err(e) = ended {
            let mut state = lock(self.state);
            state.failed.get_or_insert(e.to_string());
        }
        let _ = out.flush().await;
        if !lock(self.state).refused {
            let _ = self.client_tx.close().await;
        }
        stop.notify_one();
    }

    /// Handles one message from the target; `false` when it closed the channel.
    async fn on_message(
        &self,
        msg: ChannelMsg,
        out: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<bool, SshError> {
        match msg {
            ChannelMsg::Data { data } => {
                lock(self.state).received += data.len() as u64;
                let shown = self.output(data)?;
                self.show(&shown, out, true).await?;
            }
            ChannelMsg::ExtendedData { data, ext } => {
                lock(self.state).received += data.len() as u64;
                let shown = self.mask_whole(&data);
                self.counters.add_to_client(shown.len());
                self.record(&shown)?;
                let _ = self.client_tx.extended_data(ext, &shown[..]).await;
            }
            ChannelMsg::Success => {
                let _ = self.handle.channel_success(self.id).await;
            }
            ChannelMsg::Failure => {
                let _ = self.handle.channel_failure(self.id).await;
            }
            ChannelMsg::ExitStatus { exit_status } => {
                self.flush_masked(out).await?;
                out.flush().await?;
                lock(self.state).exit = Some(exit_status);
                let _ = self.client_tx.exit_status(exit_status).await;
            }
            ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                error_message,
                lang_tag,
            } => {
                self.flush_masked(out).await?;
                out.flush().await?;
                let _ = self
                    .handle
                    .exit_signal_request(self.id, signal_name, core_dumped, error_message, lang_tag)
                    .await;
            }
            ChannelMsg::Eof => {
                self.flush_masked(out).await?;
                out.flush().await?;
                let _ = self.client_tx.eof().await;
            }
            ChannelMsg::Close => return Ok(false),
            _ => {}
        }
        Ok(true)
    }

    async fn answer(
        &self,
        answer: ToClient,
        out: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<(), SshError> {
        match answer {
            ToClient::Data(bytes) => {
                self.counters.add_to_client(bytes.len());
                out.write_all(&bytes).await?;
                out.flush().await?;
            }
            ToClient::Stderr(bytes) => {
                let _ = self.client_tx.extended_data(1, &bytes[..]).await;
            }
            ToClient::Refuse(why) => {
                // The client waits for the answer to its request before anything else.
                let _ = self.handle.channel_success(self.id).await;
                let _ = self
                    .client_tx
                    .extended_data(1, format!("{why}\r\n").as_bytes())
                    .await;
                let _ = self.client_tx.exit_status(REFUSED_STATUS).await;
                let _ = self.client_tx.eof().await;
                let _ = self.client_tx.close().await;
            }
        }
        Ok(())
    }

    /// What of the target's output goes to the client now, masked and followed as the mode
    /// needs.
    fn output(&self, data: Bytes) -> Result<Bytes, SshError> {
        let mut state = lock(self.state);
        let state = &mut *state;
        match &mut state.mode {
            Mode::Sftp(sftp) => {
                return sftp.target_data(self.session, &data).map(Bytes::from);
            }
            // Passed on as received: no copy.
            Mode::Transfer => return Ok(data),
            Mode::Shell(lines) => lines.output(&data),
            Mode::Idle | Mode::Exec | Mode::Opaque => {}
        }
        Ok(
            match state.request.as_mut().and_then(StatementPermit::masking) {
                Some((plan, tally)) => Bytes::from(state.masker.feed(plan, tally, &data)),
                None => data,
            },
        )
    }

    /// Sends output to the client, recording it first unless the mode carries no terminal.
    async fn show(
        &self,
        shown: &[u8],
        out: &mut (impl tokio::io::AsyncWrite + Unpin),
        terminal: bool,
    ) -> Result<(), SshError> {
        if shown.is_empty() {
            return Ok(());
        }
        self.counters.add_to_client(shown.len());
        let recorded = terminal
            && matches!(
                lock(self.state).mode,
                Mode::Idle | Mode::Exec | Mode::Shell(_) | Mode::Opaque
            );
        if recorded {
            self.record(shown)?;
        }
        out.write_all(shown).await?;
        out.flush().await?;
        Ok(())
    }

    /// Records output before the client sees it. A recording that reached a cap the session
    /// must end at, or whose store failed, ends the channel: nothing goes on unrecorded.
    fn record(&self, shown: &[u8]) -> Result<(), SshError> {
        let Some(r) = self.session.recording() else {
            return Ok(());
        };
        let n = lock(self.state).n();
        let capped = r.terminal_output(n, shown);
        r.flush();
        if let Err(cap) = capped {
            return Err(SshError::Refused(cap.to_string()));
        }
        if r.failed() {
            return Err(SshError::Refused(
                "the session recording could not be written".into(),
            ));
        }
        Ok(())
    }

    async fn flush_masked(
        &self,
        out: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<(), SshError> {
        let shown = {
            let mut state = lock(self.state);
            let state = &mut *state;
            match state.request.as_mut().and_then(StatementPermit::masking) {
                Some((plan, tally)) => state.masker.flush(plan, tally),
                None => return Ok(()),
            }
        };
        self.show(&shown, out, true).await
    }

    /// Error output, masked whole (it is not line-buffered).
    fn mask_whole(&self, data: &[u8]) -> Vec<u8> {
        let mut state = lock(self.state);
        match state.request.as_mut().and_then(StatementPermit::masking) {
            Some((plan, tally)) => super::terminal::mask(plan, tally, data),
            None => data.to_vec(),
        }
    }
}

/// Bytes of a request already admitted (keystrokes, a command's input): its record is
/// durable, so they carry no request of their own.
async fn forward(
    session: &Session,
    writer: &mut TargetWriter,
    data: &[u8],
) -> Result<(), SshError> {
    if data.is_empty() {
        return Ok(());
    }
    let mut batch = AuditBatch::default();
    batch.carries_no_request();
    let sealed = session.seal(&mut batch).await?;
    let mut forwarding = writer.forwarding(sealed);
    forwarding.write(data).await?;
    forwarding.finish().await?;
    Ok(())
}

/// Whether a command line runs a file transfer program over its standard streams.
fn transfers_files(argv: &[String]) -> bool {
    let name = argv.first().map(|p| p.rsplit('/').next().unwrap_or(p));
    matches!(name, Some("scp" | "rsync" | "sftp-server"))
}

fn clamp(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}
