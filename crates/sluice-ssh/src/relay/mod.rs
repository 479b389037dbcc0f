//! The relay of an admitted SSH session: every channel the client opens and every forward it
//! asks for is decided first; session channels, forwards and remote forwards then run in
//! tasks of their own, each relaying between the client's channel and the target's.
//!
//! - `session`: a session channel: shell, exec or subsystem, with its requests decided.
//! - `terminal`: a terminal's output masked and recorded; its typed lines found.
//! - `sftp`: the SFTP subsystem decided per file operation.
//! - `forward`: port forwarding, counted and recorded by size.
//! - `intake`: each channel read promptly, so russh never waits on the relay.
//! - `scp`: the files an scp command line (its own protocol, `scp -O`) names.

mod forward;
mod intake;
mod scp;
mod session;
mod sftp;
mod terminal;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use russh::ChannelOpenFailure;
use sluice_core::sequence::Relayed;
use sluice_core::{Outcome, Session, Traffic};
use sluice_decision::{ChannelOpen, ChannelType, Request};
use tokio::task::JoinSet;

use crate::connection::Client;
use crate::decide::{decide_now, Verdict};
use crate::error::SshError;
use crate::frontend::Event;
use crate::upstream::Upstream;

/// Bytes each way over all of a session's channels.
#[derive(Default)]
pub(crate) struct Counters {
    pub from_client: AtomicU64,
    pub to_client: AtomicU64,
}

impl Counters {
    pub fn add_from_client(&self, n: usize) {
        self.from_client.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn add_to_client(&self, n: usize) {
        self.to_client.fetch_add(n as u64, Ordering::Relaxed);
    }
}

pub(crate) async fn run(
    session: &Session,
    mut client: Client,
    mut upstream: Upstream,
) -> Relayed<Client, SshError> {
    let counters = Arc::new(Counters::default());
    let mut channels = JoinSet::new();
    // Remote forwards the policy allowed and the target bound: connections back from the
    // target are carried only for these.
    let mut forwards: HashSet<(String, u32)> = HashSet::new();
    let mut error = None;
    let credential_end = session.credential_ended();
    tokio::pin!(credential_end);
    let reason = loop {
        tokio::select! {
            ended = &mut credential_end => {
                // Said before the channels are drained, so the person at the terminal reads
                // why; the disconnect that follows names it too.
                client.disconnect(&format!("sluice: the session ends because {ended}")).await;
                break ended;
            }
            event = client.events.recv() => {
                let Some(event) = event else { break "client disconnected".to_owned() };
                let step = on_event(session, &client, &upstream, &counters, &mut channels, &mut forwards, event).await;
                if let Err(e) = step {
                    let why = e.to_string();
                    error = Some(e);
                    break why;
                }
            }
            opened = upstream.forwarded.recv() => {
                let Some(opened) = opened else { break "the target closed the connection".to_owned() };
                forward::remote(session, &client, opened, &forwards, &counters, &mut channels).await;
            }
            _ = &mut client.running => {
                client.finished = true;
                break "client disconnected".to_owned();
            }
            Some(_) = channels.join_next(), if !channels.is_empty() => {}
            _ = client.shutdown.changed() => {
                if *client.shutdown.borrow() != sluice_net::ShutdownPhase::Running {
                    break "the gateway is shutting down".to_owned();
                }
            }
        }
        if session.recording().is_some_and(|r| r.failed()) {
            break "the session recording could not be written".to_owned();
        }
    };
    // Channels still open end with the connection; each finishes its own audit record, given
    // a moment to relay what the target sent last, then stopped (a stopped channel's permits
    // audit themselves as interrupted).
    let drained = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while channels.join_next().await.is_some() {}
    });
    let _ = drained.await;
    channels.shutdown().await;
    let _ = upstream
        .handle
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    Relayed {
        reason,
        traffic: Traffic {
            from_client: counters.from_client.load(Ordering::Relaxed),
            to_client: counters.to_client.load(Ordering::Relaxed),
        },
        closing: client,
        error,
    }
}

fn channel_facts(
    channel_type: ChannelType,
    host: Option<String>,
    port: Option<u32>,
    originator: Option<String>,
    name: Option<String>,
) -> ChannelOpen {
    ChannelOpen {
        channel_type,
        host,
        port: port.and_then(|p| u16::try_from(p).ok()),
        originator,
        name,
    }
}

/// One line for the audit record, the recording and reviewers.
pub(crate) fn summary(open: &ChannelOpen) -> String {
    let mut text = open.channel_type.as_str().to_owned();
    if let Some(name) = &open.name {
        text.push(' ');
        text.push_str(name);
    }
    if let (Some(host), Some(port)) = (&open.host, open.port) {
        text.push_str(&format!(" {host}:{port}"));
    }
    text
}

#[allow(clippy::too_many_arguments)]
async fn on_event(
    session: &Session,
    client: &Client,
    upstream: &Upstream,
    counters: &Arc<Counters>,
    channels: &mut JoinSet<()>,
    forwards: &mut HashSet<(String, u32)>,
    event: Event,
) -> Result<(), SshError> {
    match event {
        Event::Session { channel, reply } => {
            let open = channel_facts(ChannelType::Session, None, None, None, None);
            match decide_now(
                session,
                Request::Channel { channel: &open },
                &summary(&open),
            )
            .await?
            {
                Verdict::Allowed { permit, sealed } => {
                    let target = match upstream.handle.channel_open_session().await {
                        Ok(c) => c,
                        Err(e) => {
                            session.finish(permit, Outcome::error("open", e.to_string()));
                            reply.reject(ChannelOpenFailure::ConnectFailed).await;
                            return Ok(());
                        }
                    };
                    drop(sealed);
                    reply.accept().await;
                    let task = session::SessionChannel::new(
                        session.clone(),
                        client.handle.clone(),
                        counters.clone(),
                        permit,
                    );
                    channels.spawn(task.run(channel, target));
                }
                Verdict::Refused(why) => {
                    tracing::info!(%why, "session channel refused");
                    reply
                        .reject(ChannelOpenFailure::Other {
                            code: 1,
                            reason: why,
                        })
                        .await;
                }
            }
        }
        Event::DirectTcpip {
            channel,
            host,
            port,
            originator,
            reply,
        } => {
            let open = channel_facts(
                ChannelType::DirectTcpip,
                Some(host.clone()),
                Some(port),
                Some(originator.clone()),
                None,
            );
            match decide_now(
                session,
                Request::Channel { channel: &open },
                &summary(&open),
            )
            .await?
            {
                Verdict::Allowed { permit, sealed } => {
                    drop(sealed);
                    match upstream
                        .handle
                        .channel_open_direct_tcpip(host, port, originator, 0)
                        .await
                    {
                        Ok(target) => {
                            reply.accept().await;
                            channels.spawn(forward::pump(
                                session.clone(),
                                permit,
                                channel,
                                target,
                                counters.clone(),
                            ));
                        }
                        Err(e) => {
                            session.finish(permit, Outcome::error("open", e.to_string()));
                            reply.reject(ChannelOpenFailure::ConnectFailed).await;
                        }
                    }
                }
                Verdict::Refused(why) => {
                    reply
                        .reject(ChannelOpenFailure::Other {
                            code: 1,
                            reason: why,
                        })
                        .await;
                }
            }
        }
        Event::TcpipForward {
            address,
            port,
            reply,
        } => {
            let open = channel_facts(
                ChannelType::TcpipForward,
                Some(address.clone()),
                Some(port),
                None,
                None,
            );
            match decide_now(
                session,
                Request::Channel { channel: &open },
                &summary(&open),
            )
            .await?
            {
                Verdict::Allowed { permit, sealed } => {
                    drop(sealed);
                    match upstream.handle.tcpip_forward(address.clone(), port).await {
                        Ok(bound) => {
                            let bound = if port == 0 { bound } else { port };
                            forwards.insert((address, bound));
                            session.finish(
                                permit,
                                Outcome::ok(format!("listening on port {bound}"), None),
                            );
                            let _ = reply.send(Some(bound));
                        }
                        Err(e) => {
                            session.finish(permit, Outcome::error("forward", e.to_string()));
                            let _ = reply.send(None);
                        }
                    }
                }
                Verdict::Refused(_) => {
                    let _ = reply.send(None);
                }
            }
        }
        Event::CancelTcpipForward { address, port } => {
            if forwards.remove(&(address.clone(), port)) {
                let _ = upstream.handle.cancel_tcpip_forward(address, port).await;
            }
        }
        Event::Guarded { channel_type } => {
            let open = channel_facts(channel_type, None, None, None, None);
            // Decided and audited so the attempt is on record; sluice carries neither X11
            // nor agent forwarding, so the client was refused whatever the policy says.
            if let Verdict::Allowed { permit, sealed } = decide_now(
                session,
                Request::Channel { channel: &open },
                &summary(&open),
            )
            .await?
            {
                drop(sealed);
                session.finish(
                    permit,
                    Outcome::not_executed(format!(
                        "sluice does not carry {} forwarding",
                        channel_type.as_str()
                    )),
                );
            }
        }
    }
    Ok(())
}
