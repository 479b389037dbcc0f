//! One session channel: its requests (a terminal, environment, a shell, a command, a
//! subsystem) decided before the target sees them, then its data relayed: a shell's typed
//! lines decided as they are entered, output masked and recorded, SFTP decided per file
//! operation. The channel's outcome (exit status, bytes) finishes its audit record.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use russh::{Channel, ChannelId, ChannelMsg};
use sluice_core::{AuditBatch, Outcome, Session, StatementPermit, UpstreamWriter};
use sluice_decision::{ChannelType, Request};
use tokio::io::AsyncWriteExt as _;

use super::scp;
use super::sftp::SftpRelay;
use super::terminal::{LineTracker, OutputMasker, Typed};
use super::{channel_facts, summary, Counters};
use crate::command;
use crate::decide::{decide, decide_now, Verdict};
use crate::error::SshError;

type ClientChannel = Channel<russh::server::Msg>;
type TargetChannel = Channel<russh::client::Msg>;
pub(crate) type TargetWriter = UpstreamWriter<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>;

/// The exit status a refused command or shell ends with, as a shell's "permission denied".
const REFUSED_STATUS: u32 = 126;

/// How long masked output may wait for the end of its line.
const HOLD_FOR_LINE: Duration = Duration::from_millis(100);

enum Mode {
    /// No shell, command or subsystem yet.
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

pub(crate) struct SessionChannel {
    session: Session,
    handle: russh::server::Handle,
    counters: Arc<Counters>,
    /// The channel's own admission; finished with the bytes it carried.
    open: Option<StatementPermit>,
    /// The shell, command or subsystem running in it.
    request: Option<StatementPermit>,
    mode: Mode,
    exit: Option<u32>,
    /// The shell, command or subsystem was refused and the client's channel closed.
    refused: bool,
    /// The file operations an scp command line names, finished with the command.
    files: Vec<StatementPermit>,
    masker: OutputMasker,
    sent: u64,
    received: u64,
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
            open: Some(open),
            request: None,
            mode: Mode::Idle,
            exit: None,
            refused: false,
            files: Vec::new(),
            masker: OutputMasker::default(),
            sent: 0,
            received: 0,
        }
    }

    fn n(&self) -> Option<u64> {
        self.request.as_ref().map(StatementPermit::number)
    }

    pub async fn run(mut self, client: ClientChannel, target: TargetChannel) {
        let id = client.id();
        let (mut client_rx, client_tx) = client.split();
        let (mut target_rx, target_tx) = target.split();
        let boxed: Box<dyn tokio::io::AsyncWrite + Send + Unpin> =
            Box::new(target_tx.make_writer());
        let mut writer = self.session.upstream_writer(boxed);
        let mut client_out = client_tx.make_writer();
        let mut client_done = false;
        let mut target_done = false;
        let ended: Result<(), SshError> = async {
            loop {
                let hold = self.masker.holding();
                tokio::select! {
                    msg = client_rx.wait(), if !client_done => {
                        let Some(msg) = msg else {
                            client_done = true;
                            let _ = target_tx.close().await;
                            continue;
                        };
                        match msg {
                            ChannelMsg::RequestPty { term, col_width, row_height, pix_width, pix_height, terminal_modes, .. } => {
                                if let Some(r) = self.session.recording() {
                                    let _ = r.terminal_resize(None, clamp(col_width), clamp(row_height));
                                }
                                target_tx.request_pty(false, &term, col_width, row_height, pix_width, pix_height, &terminal_modes).await?;
                            }
                            ChannelMsg::WindowChange { col_width, row_height, pix_width, pix_height } => {
                                if let Some(r) = self.session.recording() {
                                    let _ = r.terminal_resize(self.n(), clamp(col_width), clamp(row_height));
                                }
                                target_tx.window_change(col_width, row_height, pix_width, pix_height).await?;
                            }
                            ChannelMsg::SetEnv { variable_name, variable_value, .. } => {
                                let open = channel_facts(ChannelType::Env, None, None, None, Some(variable_name.clone()));
                                if let Verdict::Allowed { permit, sealed } = decide_now(&self.session, Request::Channel { channel: &open }, &summary(&open)).await? {
                                    drop(sealed);
                                    target_tx.set_env(false, variable_name, variable_value).await?;
                                    self.session.finish(permit, Outcome::ok("set", None));
                                }
                            }
                            ChannelMsg::Signal { signal } => target_tx.signal(signal).await?,
                            ChannelMsg::RequestShell { .. } => {
                                let open = channel_facts(ChannelType::Shell, None, None, None, None);
                                let text = summary(&open);
                                let verdict = self.decide_waiting(Request::Channel { channel: &open }, &text, id, &client_tx, &mut client_rx).await?;
                                if let Some(permit) = self.admitted(verdict, id, &client_tx).await? {
                                    self.request = Some(permit);
                                    self.mode = Mode::Shell(LineTracker::default());
                                    target_tx.request_shell(true).await?;
                                } else {
                                    break;
                                }
                            }
                            ChannelMsg::Exec { command, .. } => {
                                let text = String::from_utf8_lossy(&command).into_owned();
                                let facts = match std::str::from_utf8(&command) {
                                    Ok(t) => command::facts(t, false),
                                    // A line that is not text is not parsed: its commands are unknown.
                                    Err(_) => { let mut f = command::facts("", false); f.text = text.clone(); f.parsed = false; f }
                                };
                                let mut verdict = self.decide_waiting(Request::Command { command: &facts }, &text, id, &client_tx, &mut client_rx).await?;
                                let transfer = transfers_files(&facts.argv);
                                // scp's own protocol names its files on the command line: each
                                // is decided as a file operation too.
                                if let (Verdict::Allowed { .. }, Some(files)) = (&verdict, scp::files(&facts.argv)) {
                                    for file in &files {
                                        let summary = format!("{} {} (scp)", file.operation.as_str(), file.path);
                                        match decide_now(&self.session, Request::File { file }, &summary).await? {
                                            Verdict::Allowed { permit, sealed } => {
                                                drop(sealed);
                                                self.files.push(permit);
                                            }
                                            refused @ Verdict::Refused(_) => {
                                                verdict = refused;
                                                break;
                                            }
                                        }
                                    }
                                }
                                if let Some(permit) = self.admitted(verdict, id, &client_tx).await? {
                                    self.request = Some(permit);
                                    self.mode = if transfer { Mode::Transfer } else { Mode::Exec };
                                    target_tx.exec(true, command).await?;
                                } else {
                                    break;
                                }
                            }
                            ChannelMsg::RequestSubsystem { name, .. } => {
                                let open = channel_facts(ChannelType::Subsystem, None, None, None, Some(name.clone()));
                                let text = summary(&open);
                                let verdict = self.decide_waiting(Request::Channel { channel: &open }, &text, id, &client_tx, &mut client_rx).await?;
                                if let Some(permit) = self.admitted(verdict, id, &client_tx).await? {
                                    self.request = Some(permit);
                                    self.mode = if name == "sftp" {
                                        let mut relay = Box::<SftpRelay>::default();
                                        relay.n = self.n().unwrap_or_default();
                                        Mode::Sftp(relay)
                                    } else {
                                        Mode::Opaque
                                    };
                                    target_tx.request_subsystem(true, name).await?;
                                } else {
                                    break;
                                }
                            }
                            ChannelMsg::Data { data } => {
                                self.counters.add_from_client(data.len());
                                self.sent += data.len() as u64;
                                self.client_data(data, &mut writer, &mut client_out).await?;
                            }
                            ChannelMsg::ExtendedData { .. } => {}
                            ChannelMsg::Eof => target_tx.eof().await?,
                            ChannelMsg::Close => {
                                client_done = true;
                                let _ = target_tx.close().await;
                            }
                            _ => {}
                        }
                    }
                    msg = target_rx.wait() => {
                        let Some(msg) = msg else {
                            target_done = true;
                            break;
                        };
                        match msg {
                            ChannelMsg::Data { data } => {
                                self.received += data.len() as u64;
                                self.target_data(&data, &mut client_out).await?;
                            }
                            ChannelMsg::ExtendedData { data, ext } => {
                                self.received += data.len() as u64;
                                let shown = self.mask_whole(&data);
                                self.counters.add_to_client(shown.len());
                                if let Some(r) = self.session.recording() {
                                    let _ = r.terminal_output(self.n(), &shown);
                                }
                                let _ = client_tx.extended_data(ext, &shown[..]).await;
                            }
                            ChannelMsg::Success => { let _ = self.handle.channel_success(id).await; }
                            ChannelMsg::Failure => { let _ = self.handle.channel_failure(id).await; }
                            ChannelMsg::ExitStatus { exit_status } => {
                                self.flush_masked(&mut client_out).await?;
                                self.exit = Some(exit_status);
                                let _ = client_tx.exit_status(exit_status).await;
                            }
                            ChannelMsg::ExitSignal { signal_name, core_dumped, error_message, lang_tag } => {
                                self.flush_masked(&mut client_out).await?;
                                let _ = self.handle.exit_signal_request(id, signal_name, core_dumped, error_message, lang_tag).await;
                            }
                            ChannelMsg::Eof => {
                                self.flush_masked(&mut client_out).await?;
                                let _ = client_out.flush().await;
                                let _ = client_tx.eof().await;
                            }
                            ChannelMsg::Close => {
                                target_done = true;
                                self.flush_masked(&mut client_out).await?;
                                let _ = client_out.flush().await;
                                break;
                            }
                            _ => {}
                        }
                    }
                    () = tokio::time::sleep(HOLD_FOR_LINE), if hold => {
                        self.flush_masked(&mut client_out).await?;
                    }
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = &ended {
            // The client learns why on its error stream.
            let _ = client_tx
                .extended_data(1, format!("sluice: {e}\r\n").as_bytes())
                .await;
        }
        // Whichever side has not closed its half is closed now; a refusal closed the
        // client's already.
        if !target_done {
            let _ = target_tx.close().await;
        }
        if !client_done && !self.refused {
            let _ = client_tx.close().await;
        }
        if let Mode::Sftp(sftp) = &mut self.mode {
            sftp.end(&self.session);
        }
        let outcome = match (&ended, self.exit) {
            (Err(e), _) => Outcome::interrupted(e.to_string()),
            (Ok(()), Some(0)) => Outcome::ok("exit 0", None),
            (Ok(()), Some(code)) => {
                Outcome::error(code.to_string(), format!("exited with status {code}"))
            }
            (Ok(()), None) => Outcome::ok("closed", None),
        };
        for permit in self.files.drain(..) {
            let bytes = self.sent.max(self.received);
            let file_outcome = match self.exit {
                Some(0) => Outcome::ok(format!("{bytes} bytes"), Some(bytes)),
                _ => Outcome::error("scp", "the transfer did not complete"),
            };
            self.session.finish(permit, file_outcome);
        }
        if let Some(permit) = self.request.take() {
            self.session.finish(permit, outcome);
        }
        if let Some(permit) = self.open.take() {
            let carried = format!(
                "{} bytes from the client, {} bytes from the target",
                self.sent, self.received
            );
            self.session.finish(
                permit,
                Outcome::ok(carried, Some(self.sent + self.received)),
            );
        }
        if let Some(r) = self.session.recording() {
            r.flush();
        }
    }

    /// Decides a request the client may wait for: a hold tells the client on its error stream
    /// and waits for reviewers, or until the client gives up.
    async fn decide_waiting(
        &self,
        request: Request<'_>,
        text: &str,
        id: ChannelId,
        client_tx: &russh::ChannelWriteHalf<russh::server::Msg>,
        client_rx: &mut russh::ChannelReadHalf,
    ) -> Result<Verdict, SshError> {
        let _ = id;
        let notice = |words: String| async move {
            let _ = client_tx
                .extended_data(1, format!("{words}\r\n").as_bytes())
                .await;
        };
        let abandoned = async {
            loop {
                match client_rx.wait().await {
                    None | Some(ChannelMsg::Close) | Some(ChannelMsg::Eof) => break,
                    Some(_) => {}
                }
            }
        };
        decide(&self.session, request, text, notice, abandoned).await
    }

    /// The permit of an allowed request; a refused one is answered (the client learns why on
    /// its error stream, the exit status is [`REFUSED_STATUS`]) and yields `None`.
    async fn admitted(
        &mut self,
        verdict: Verdict,
        id: ChannelId,
        client_tx: &russh::ChannelWriteHalf<russh::server::Msg>,
    ) -> Result<Option<StatementPermit>, SshError> {
        match verdict {
            Verdict::Allowed { permit, sealed } => {
                // The request goes to the target through russh's typed calls right after.
                drop(sealed);
                Ok(Some(permit))
            }
            Verdict::Refused(why) => {
                self.refused = true;
                if let Some(r) = self.session.recording() {
                    let _ = r.terminal_marker(None, &why);
                    r.flush();
                }
                let _ = self.handle.channel_success(id).await;
                let _ = client_tx
                    .extended_data(1, format!("{why}\r\n").as_bytes())
                    .await;
                let _ = client_tx.exit_status(REFUSED_STATUS).await;
                let _ = client_tx.eof().await;
                let _ = client_tx.close().await;
                Ok(None)
            }
        }
    }

    async fn client_data(
        &mut self,
        data: Bytes,
        writer: &mut TargetWriter,
        client_out: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<(), SshError> {
        match &mut self.mode {
            Mode::Sftp(sftp) => {
                let answers = sftp.client_data(&self.session, &data, writer).await?;
                if !answers.is_empty() {
                    client_out.write_all(&answers).await?;
                }
                Ok(())
            }
            Mode::Shell(lines) => {
                let typed = lines.input(&data);
                match typed {
                    Typed::Editing => forward(&self.session, writer, &data).await,
                    Typed::Line { text, at } => {
                        forward(&self.session, writer, &data[..at]).await?;
                        let facts = command::facts(&text, true);
                        match decide_now(&self.session, Request::Command { command: &facts }, &text)
                            .await?
                        {
                            Verdict::Allowed { permit, sealed } => {
                                if let Some(r) = self.session.recording() {
                                    let _ = r.terminal_marker(self.n(), &text);
                                }
                                let mut forwarding = writer.forwarding(sealed);
                                forwarding.write(&data[at..]).await?;
                                forwarding.finish().await?;
                                self.session.finish(permit, Outcome::ok("typed", None));
                                Ok(())
                            }
                            Verdict::Refused(why) => {
                                // The line is erased at the target (Ctrl-U) and an empty line
                                // entered for a fresh prompt; the client sees why.
                                forward(&self.session, writer, b"\x15\r").await?;
                                if let Some(r) = self.session.recording() {
                                    let _ = r.terminal_marker(self.n(), &why);
                                }
                                client_out
                                    .write_all(format!("\r\n{why}\r\n").as_bytes())
                                    .await?;
                                client_out.flush().await?;
                                Ok(())
                            }
                        }
                    }
                }
            }
            Mode::Idle | Mode::Exec | Mode::Transfer | Mode::Opaque => {
                forward(&self.session, writer, &data).await
            }
        }
    }

    async fn target_data(
        &mut self,
        data: &[u8],
        client_out: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<(), SshError> {
        if let Mode::Sftp(sftp) = &mut self.mode {
            let out = sftp.target_data(&self.session, data)?;
            self.counters.add_to_client(out.len());
            client_out.write_all(&out).await?;
            return Ok(());
        }
        if let Mode::Shell(lines) = &mut self.mode {
            lines.output(data);
        }
        if let Mode::Transfer = self.mode {
            self.counters.add_to_client(data.len());
            client_out.write_all(data).await?;
            return Ok(());
        }
        let shown = match self.request.as_mut().and_then(StatementPermit::masking) {
            Some((plan, tally)) => self.masker.feed(plan, tally, data),
            None => data.to_vec(),
        };
        self.show(&shown, client_out).await
    }

    async fn show(
        &mut self,
        shown: &[u8],
        client_out: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<(), SshError> {
        if shown.is_empty() {
            return Ok(());
        }
        self.counters.add_to_client(shown.len());
        if let Some(r) = self.session.recording() {
            if r.terminal_output(self.n(), shown).is_err() {
                return Err(SshError::Refused(
                    "the session reached its recording cap, and recording.on_cap ends the session"
                        .into(),
                ));
            }
        }
        if let Some(r) = self.session.recording() {
            r.flush();
        }
        client_out.write_all(shown).await?;
        client_out.flush().await?;
        Ok(())
    }

    async fn flush_masked(
        &mut self,
        client_out: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<(), SshError> {
        let shown = match self.request.as_mut().and_then(StatementPermit::masking) {
            Some((plan, tally)) => self.masker.flush(plan, tally),
            None => return Ok(()),
        };
        self.show(&shown, client_out).await
    }

    /// Error output, masked whole (it is not line-buffered).
    fn mask_whole(&mut self, data: &[u8]) -> Vec<u8> {
        match self.request.as_mut().and_then(StatementPermit::masking) {
            Some((plan, tally)) => {
                let text = String::from_utf8_lossy(data);
                plan.mask_content(&text, tally)
                    .map(String::into_bytes)
                    .unwrap_or_else(|| data.to_vec())
            }
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
