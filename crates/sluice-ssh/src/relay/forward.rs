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

use super::{channel_facts, summary, Counters};
use crate::connection::Client;
use crate::decide::{decide_now, Verdict};
use crate::upstream::ForwardedOpen;

/// Carries one forwarded connection until either side closes it, then finishes its permit
/// with the byte counts.
pub(crate) async fn pump(
    session: Session,
    permit: StatementPermit,
    client: Channel<russh::server::Msg>,
    target: Channel<russh::client::Msg>,
    counters: Arc<Counters>,
) {
    let (mut client_rx, client_tx) = client.split();
    let (mut target_rx, target_tx) = target.split();
    let mut writer = session.upstream_writer(target_tx.make_writer());
    let mut client_writer = client_tx.make_writer();
    let (mut sent, mut received) = (0u64, 0u64);
    let (mut client_done, mut target_done) = (false, false);
    let outcome = loop {
        if client_done && target_done {
            break Outcome::ok("closed", None);
        }
        tokio::select! {
            msg = client_rx.wait(), if !client_done => match msg {
                Some(ChannelMsg::Data { data }) => {
                    counters.add_from_client(data.len());
                    sent += data.len() as u64;
                    // Bytes of an admitted forward: its record is already durable.
                    let mut batch = AuditBatch::default();
                    batch.carries_no_request();
                    let sealed = match session.seal(&mut batch).await {
                        Ok(s) => s,
                        Err(e) => break Outcome::interrupted(e.to_string()),
                    };
                    let mut forwarding = writer.forwarding(sealed);
                    if let Err(e) = forwarding.write(&data).await {
                        break Outcome::interrupted(e.to_string());
                    }
                    if let Err(e) = forwarding.finish().await {
                        break Outcome::interrupted(e.to_string());
                    }
                }
                Some(ChannelMsg::Eof) => {
                    let _ = target_tx.eof().await;
                }
                Some(ChannelMsg::Close) | None => {
                    client_done = true;
                    let _ = target_tx.close().await;
                    target_done = true;
                }
                Some(_) => {}
            },
            msg = target_rx.wait(), if !target_done => match msg {
                Some(ChannelMsg::Data { data }) => {
                    counters.add_to_client(data.len());
                    received += data.len() as u64;
                    if let Err(e) = client_writer.write_all(&data).await {
                        break Outcome::interrupted(e.to_string());
                    }
                }
                Some(ChannelMsg::Eof) => {
                    let _ = client_tx.eof().await;
                }
                Some(ChannelMsg::Close) | None => {
                    target_done = true;
                    let _ = client_tx.close().await;
                    client_done = true;
                }
                Some(_) => {}
            },
        }
    };
    let outcome = match outcome.status {
        sluice_core::Status::Ok => Outcome::ok(
            format!("{sent} bytes to the target, {received} bytes to the client"),
            Some(sent + received),
        ),
        _ => outcome,
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
