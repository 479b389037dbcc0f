//! Port forwarding: bytes carried both ways between a client channel and a target channel,
//! counted, and audited by size when the channel ends (never by content: a forwarded
//! connection is another protocol's traffic, possibly encrypted end to end).

use std::collections::HashSet;
use std::sync::Arc;

use russh::{Channel, ChannelMsg, ChannelOpenFailure};
use sluice_core::{AuditBatch, Outcome, Session, StatementPermit};
use sluice_decision::{ChannelType, Request};
use tokio::io::AsyncWriteExt as _;
use tokio::task::JoinSet;

use super::intake::intake;
use super::{channel_facts, summary, Counters};
use crate::connection::Client;
use crate::decide::{decide_now, Verdict};
use crate::upstream::ForwardedOpen;

/// Carries one forwarded connection until both sides close it, then finishes its permit with
/// the byte counts. Each direction runs on its own, blocked only by its own writes (see
/// `session.rs` for why).
pub(crate) async fn pump(
    session: Session,
    permit: StatementPermit,
    client: Channel<russh::server::Msg>,
    target: Channel<russh::client::Msg>,
    counters: Arc<Counters>,
) {
    let (client_rx, client_tx) = client.split();
    let (target_rx, target_tx) = target.split();
    let (client_feed, mut client_rx) = intake(client_rx);
    let stop = tokio::sync::Notify::new();
    let (target_feed, mut target_rx) = intake(target_rx);
    let up = async {
        let mut writer = session.upstream_writer(target_tx.make_writer());
        let mut sent = 0u64;
        let result: Result<(), String> = async {
            loop {
                // The target's close ends the forward; OpenSSH answers a close without
                // necessarily having sent one.
                let msg = tokio::select! {
                    msg = client_rx.recv() => msg,
                    () = stop.notified() => break,
                };
                let Some(msg) = msg else { break };
                match msg {
                    ChannelMsg::Data { data } => {
                        counters.add_from_client(data.len());
                        sent += data.len() as u64;
                        // Bytes of an admitted forward: its record is already durable.
                        let mut batch = AuditBatch::default();
                        batch.carries_no_request();
                        let sealed = session.seal(&mut batch).await.map_err(|e| e.to_string())?;
                        let mut forwarding = writer.forwarding(sealed);
                        forwarding.write(&data).await.map_err(|e| e.to_string())?;
                        forwarding.finish().await.map_err(|e| e.to_string())?;
                    }
                    ChannelMsg::Eof => {
                        let _ = target_tx.eof().await;
                    }
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            Ok(())
        }
        .await;
        let _ = target_tx.close().await;
        (sent, result)
    };
    let down = async {
        let mut out = client_tx.make_writer();
        let mut received = 0u64;
        let result: Result<(), String> = async {
            while let Some(msg) = target_rx.recv().await {
                match msg {
                    ChannelMsg::Data { data } => {
                        counters.add_to_client(data.len());
                        received += data.len() as u64;
                        out.write_all(&data).await.map_err(|e| e.to_string())?;
                    }
                    ChannelMsg::Eof => {
                        let _ = out.flush().await;
                        let _ = client_tx.eof().await;
                    }
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            Ok(())
        }
        .await;
        let _ = out.flush().await;
        let _ = client_tx.close().await;
        stop.notify_one();
        (received, result)
    };
    let relayed = async { tokio::join!(up, down) };
    let ((sent, up), (received, down)) = tokio::select! {
        both = relayed => both,
        () = async { tokio::join!(client_feed, target_feed); std::future::pending::<()>().await } => return,
    };
    let outcome = match up.and(down) {
        Ok(()) => Outcome::ok(
            format!("{sent} bytes to the target, {received} bytes to the client"),
            Some(sent + received),
        ),
        Err(e) => Outcome::interrupted(format!(
            "{e} (after {sent} bytes to the target, {received} bytes to the client)"
        )),
    };
    session.finish(permit, outcome);
}

/// A connection the target accepted on a remote forward: carried to the client only if the
/// client asked for that forward and the policy allows the connection.
pub(crate) async fn remote(
    session: &Session,
    client: &Client,
    opened: ForwardedOpen,
    forwards: &HashSet<(String, u32)>,
    counters: &Arc<Counters>,
    channels: &mut JoinSet<()>,
) {
    if !forwards.contains(&(opened.address.clone(), opened.port)) {
        opened
            .reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        return;
    }
    let open = channel_facts(
        ChannelType::ForwardedTcpip,
        Some(opened.address.clone()),
        Some(opened.port),
        Some(opened.originator.clone()),
        None,
    );
    let verdict = decide_now(
        session,
        Request::Channel { channel: &open },
        &summary(&open),
    )
    .await;
    let Ok(Verdict::Allowed { permit, sealed }) = verdict else {
        opened
            .reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        return;
    };
    drop(sealed);
    let towards_client = client
        .handle
        .channel_open_forwarded_tcpip(
            opened.address.clone(),
            opened.port,
            opened.originator.clone(),
            opened.originator_port,
        )
        .await;
    match towards_client {
        Ok(channel) => {
            opened.reply.accept().await;
            channels.spawn(pump(
                session.clone(),
                permit,
                channel,
                opened.channel,
                counters.clone(),
            ));
        }
        Err(e) => {
            session.finish(permit, Outcome::error("open", e.to_string()));
            opened.reply.reject(ChannelOpenFailure::ConnectFailed).await;
        }
    }
}
