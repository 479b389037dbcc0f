//! The SSH leg: russh's client logs in to the gateway's SSH listener as `IDENTITY+TARGET` with
//! the per-task credential as the password, runs one command on a session channel and gathers
//! its output. The listener's host key is pinned to the one this gateway serves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::client;
use russh::keys::{HashAlg, PublicKeyOrCertificate};
use russh::ChannelMsg;

use super::{cap_text, Progress};
use crate::McpError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Default)]
pub(crate) struct Ran {
    pub stdout: String,
    pub stderr: String,
    pub exit_status: Option<u32>,
    pub truncated: bool,
}

struct Pinned {
    fingerprint: Option<String>,
}

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = offered else {
            return Ok(false);
        };
        Ok(match &self.fingerprint {
            Some(pinned) => key.fingerprint(HashAlg::Sha256).to_string() == *pinned,
            None => false,
        })
    }
}

fn ssh_err(e: impl std::fmt::Display) -> McpError {
    McpError::Client(format!("SSH listener: {e}"))
}

/// Who logs in where, and what to run.
pub(crate) struct Command<'a> {
    pub addr: SocketAddr,
    /// The listener's host key; `None` refuses every key.
    pub fingerprint: Option<String>,
    pub identity: &'a str,
    pub target: &'a str,
    pub password: &'a str,
    pub line: &'a str,
    pub max_output: usize,
}

/// Runs the command; stderr lines of the gateway's own reach `progress` as they arrive (a
/// held command's notice is written there).
pub(crate) async fn run(c: Command<'_>, progress: &mut dyn Progress) -> Result<Ran, McpError> {
    let Command {
        addr,
        fingerprint,
        identity,
        target,
        password,
        line: command,
        max_output,
    } = c;
    let config = Arc::new(client::Config::default());
    let login = async {
        let mut handle = client::connect(config, addr, Pinned { fingerprint }).await?;
        let auth = handle
            .authenticate_password(format!("{identity}+{target}"), password)
            .await?;
        Ok::<_, russh::Error>((handle, auth.success()))
    };
    let (handle, ok) = tokio::time::timeout(CONNECT_TIMEOUT, login)
        .await
        .map_err(|_| ssh_err("the login timed out"))?
        .map_err(ssh_err)?;
    if !ok {
        return Err(ssh_err("the listener refused the credential"));
    }
    let mut channel = handle.channel_open_session().await.map_err(ssh_err)?;
    channel.exec(true, command).await.map_err(ssh_err)?;
    let mut ran = Ran::default();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => keep(&mut out, &data, max_output, &mut ran.truncated),
            ChannelMsg::ExtendedData { data, ext: 1 } => {
                let text = String::from_utf8_lossy(&data);
                for line in text.lines().filter(|l| l.starts_with("sluice:")) {
                    progress.say(line);
                }
                keep(&mut err, &data, max_output, &mut ran.truncated);
            }
            ChannelMsg::ExitStatus { exit_status } => ran.exit_status = Some(exit_status),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    ran.stdout = String::from_utf8_lossy(&out).into_owned();
    ran.stderr = String::from_utf8_lossy(&err).into_owned();
    ran.truncated |= cap_text(&mut ran.stdout, max_output) | cap_text(&mut ran.stderr, max_output);
    Ok(ran)
}

/// Keeps at most `max` bytes; the rest is drained and counted as cut.
fn keep(buf: &mut Vec<u8>, data: &[u8], max: usize, cut: &mut bool) {
    let room = max.saturating_sub(buf.len());
    if data.len() > room {
        *cut = true;
    }
    buf.extend_from_slice(&data[..data.len().min(room)]);
}
