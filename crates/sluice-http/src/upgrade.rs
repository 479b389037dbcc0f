//! After a `101 Switching Protocols`: the client's connection and the target's carried both
//! ways as bytes (an exec, attach or port-forward was decided before the upgrade; what flows
//! inside is its data). Bytes towards the target still pass the session's sealed writer, each
//! batch declared request-free. A WebSocket exec or attach is recorded as a terminal session
//! (stdin as input, stdout and stderr as output, resizes); SPDY's streams and port-forward
//! data are carried and counted but not recorded.

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use sluice_core::{AuditBatch, Session};

use crate::upstream::Conn;
use crate::websocket::FrameReader;

/// What is recorded of an upgraded stream.
pub(crate) enum Recording {
    /// A Kubernetes channel protocol over WebSocket (exec, attach).
    Channels {
        n: u64,
        to_target: FrameReader,
        to_client: FrameReader,
    },
    /// Carried and counted only.
    None,
}

/// Bytes carried each way, and why it ended.
pub(crate) struct Carried {
    pub from_client: u64,
    pub to_client: u64,
    pub reason: String,
}

/// Carries the upgraded connection until the target ends it (or the client does).
pub(crate) async fn carry(
    session: &Session,
    client: Upgraded,
    mut conn: Conn,
    mut recording: Recording,
) -> Carried {
    let (mut client_read, mut client_write) = tokio::io::split(TokioIo::new(client));
    let mut from_client = 0u64;
    let mut to_client = 0u64;
    let leftover = conn.buf.split().freeze();
    let Conn {
        mut reader,
        mut writer,
        ..
    } = conn;
    let recorder = session.recording();
    let on_input = |data: &[u8], rec: &mut Recording| {
        if let (Recording::Channels { n, to_target, .. }, Some(recorder)) = (rec, recorder) {
            let n = *n;
            to_target.feed(data, |message| match message.split_first() {
                Some((0, stdin)) if !stdin.is_empty() => {
                    let _ = recorder.terminal_input(Some(n), stdin);
                }
                Some((4, resize)) => {
                    if let Some((w, h)) = resize_of(resize) {
                        let _ = recorder.terminal_resize(Some(n), w, h);
                    }
                }
                _ => {}
            });
        }
    };
    let on_output = |data: &[u8], rec: &mut Recording| {
        if let (Recording::Channels { n, to_client, .. }, Some(recorder)) = (rec, recorder) {
            let n = *n;
            to_client.feed(data, |message| {
                if let Some((1 | 2, out)) = message.split_first() {
                    if !out.is_empty() {
                        let _ = recorder.terminal_output(Some(n), out);
                    }
                }
            });
        }
    };
    // Both directions share the recording, so they run in one loop rather than two tasks.
    let mut up_buf = vec![0u8; 16 * 1024];
    let mut down_buf = vec![0u8; 16 * 1024];
    if !leftover.is_empty() {
        on_output(&leftover, &mut recording);
        if client_write.write_all(&leftover).await.is_err() {
            return Carried {
                from_client,
                to_client,
                reason: "the client left".into(),
            };
        }
        to_client += leftover.len() as u64;
    }
    let reason = loop {
        tokio::select! {
            read = client_read.read(&mut up_buf) => match read {
                // Kubernetes' stream protocols close streams inside the connection; the
                // connection's own end means the client is gone.
                Ok(0) | Err(_) => break "the client closed the stream".to_owned(),
                Ok(n) => {
                    on_input(&up_buf[..n], &mut recording);
                    let mut batch = AuditBatch::default();
                    batch.carries_no_request();
                    let sent = match session.seal(&mut batch).await {
                        Ok(sealed) => {
                            let mut forwarding = writer.forwarding(sealed);
                            match forwarding.write(&up_buf[..n]).await {
                                Ok(()) => forwarding.finish().await.is_ok(),
                                Err(_) => false,
                            }
                        }
                        Err(_) => false,
                    };
                    if !sent {
                        break "the target's connection broke".to_owned();
                    }
                    from_client += n as u64;
                }
            },
            read = reader.read(&mut down_buf) => match read {
                Ok(0) => break "the target ended the stream".to_owned(),
                Err(e) => break format!("reading the target: {e}"),
                Ok(n) => {
                    on_output(&down_buf[..n], &mut recording);
                    if client_write.write_all(&down_buf[..n]).await.is_err() {
                        break "the client left".to_owned();
                    }
                    let _ = client_write.flush().await;
                    to_client += n as u64;
                }
            },
        }
    };
    let _ = client_write.shutdown().await;
    Carried {
        from_client,
        to_client,
        reason,
    }
}

/// The size a resize message asks for: `{"Width": 80, "Height": 24}`.
fn resize_of(message: &[u8]) -> Option<(u16, u16)> {
    let value: serde_json::Value = serde_json::from_slice(message).ok()?;
    let width = u16::try_from(value.get("Width")?.as_u64()?).ok()?;
    let height = u16::try_from(value.get("Height")?.as_u64()?).ok()?;
    Some((width, height))
}
