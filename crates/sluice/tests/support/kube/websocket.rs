//! WebSocket (RFC 6455, server side): the handshake, framing, the Kubernetes channel protocol
//! for exec (`v5.channel.k8s.io` / `v4.channel.k8s.io`), and a byte-stream tunnel for
//! port-forward's `SPDY/3.1+portforward.k8s.io`.

use base64::Engine as _;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::api::{full, Body};
use super::exec::{self, Process, Spec};

pub const OP_CONTINUATION: u8 = 0;
pub const OP_TEXT: u8 = 1;
pub const OP_BINARY: u8 = 2;
pub const OP_CLOSE: u8 = 8;
pub const OP_PING: u8 = 9;
pub const OP_PONG: u8 = 10;

/// The first of our protocols (in our order of preference) that the client offered.
pub fn choose(offered: &str, supported: &[&str]) -> Option<String> {
    let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
    supported
        .iter()
        .find(|p| offered.contains(p))
        .map(|p| (*p).to_owned())
}

pub fn key(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The 101 answer to a WebSocket upgrade with `key`, agreeing to `protocol`.
pub fn switching(key: &str, protocol: &str) -> Response<Body> {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(sha.finalize());
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", accept)
        .header("sec-websocket-protocol", protocol)
        .body(full(""))
        .unwrap()
}

/// One unmasked (server-to-client) frame.
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xffff => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// The next message (fragments joined), or a control frame; `None` at end of stream.
pub async fn read_message<R: AsyncRead + Unpin>(
    r: &mut R,
) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut message: Option<(u8, Vec<u8>)> = None;
    loop {
        let mut head = [0u8; 2];
        match r.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let fin = head[0] & 0x80 != 0;
        let opcode = head[0] & 0x0f;
        let masked = head[1] & 0x80 != 0;
        let len = match head[1] & 0x7f {
            126 => u64::from(r.read_u16().await?),
            127 => r.read_u64().await?,
            n => u64::from(n),
        };
        if len > 16 << 20 {
            return Err(std::io::Error::other("WebSocket frame too large"));
        }
        let mut mask = [0u8; 4];
        if masked {
            r.read_exact(&mut mask).await?;
        }
        let mut payload = vec![0u8; len as usize];
        r.read_exact(&mut payload).await?;
        if masked {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        if opcode >= OP_CLOSE {
            return Ok(Some((opcode, payload)));
        }
        match (&mut message, opcode) {
            (Some((_, data)), OP_CONTINUATION) => data.extend_from_slice(&payload),
            (None, OP_CONTINUATION) => {
                return Err(std::io::Error::other("continuation without a message"))
            }
            (_, op) => message = Some((op, payload)),
        }
        if fin {
            return Ok(message);
        }
    }
}

/// Writes queued frames in order; stops after a close frame.
fn spawn_writer<W: AsyncWrite + Unpin + Send + 'static>(
    mut w: W,
) -> (mpsc::UnboundedSender<Vec<u8>>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let task = tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            if w.write_all(&f).await.is_err() || w.flush().await.is_err() {
                break;
            }
            if f[0] & 0x0f == OP_CLOSE {
                break;
            }
        }
        let _ = w.shutdown().await;
    });
    (tx, task)
}

/// An exec over the channel protocol: byte 0 of each binary message names the stream
/// (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize; v5's 255 closes the stream named by
/// the next byte). The exit Status goes out on 3, then a close frame.
pub async fn exec<IO: AsyncRead + AsyncWrite + Send + 'static>(io: IO, protocol: &str, spec: Spec) {
    let v5 = protocol.starts_with("v5.");
    let (mut r, w) = tokio::io::split(io);
    let (frames, writer) = spawn_writer(w);
    let (stdin_tx, stdin_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let mut stdin_tx = spec.stdin.then_some(stdin_tx);
    let pongs = frames.clone();
    let record = spec.record.clone();
    let reader = tokio::spawn(async move {
        while let Ok(Some((op, payload))) = read_message(&mut r).await {
            match op {
                OP_BINARY | OP_TEXT => match payload.split_first() {
                    Some((&0, data)) => {
                        if let Some(tx) = &stdin_tx {
                            record.lock().unwrap().stdin.extend_from_slice(data);
                            let _ = tx.send(data.to_vec());
                        }
                    }
                    Some((&4, data)) => record.lock().unwrap().resized(data),
                    Some((&255, &[0])) if v5 => stdin_tx = None,
                    _ => {}
                },
                OP_PING => {
                    let _ = pongs.send(frame(OP_PONG, &payload));
                }
                OP_CLOSE => break,
                _ => {}
            }
        }
    });
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<(u8, Vec<u8>)>();
    let forward_frames = frames.clone();
    let (want_out, want_err) = (spec.stdout, spec.stderr || spec.tty);
    let forward = tokio::spawn(async move {
        while let Some((channel, data)) = out_rx.recv().await {
            if (channel == 1 && !want_out) || (channel == 2 && !want_err) {
                continue;
            }
            let mut m = vec![channel];
            m.extend_from_slice(&data);
            let _ = forward_frames.send(frame(OP_BINARY, &m));
        }
    });
    let code = exec::run(
        &spec,
        Process {
            stdin: stdin_rx,
            out: out_tx,
            tty: spec.tty,
        },
    )
    .await;
    // Every output byte is queued before the status, which kubectl takes as the end.
    let _ = forward.await;
    let mut status = vec![3];
    status.extend_from_slice(&serde_json::to_vec(&exec::exit_status(code)).unwrap());
    let _ = frames.send(frame(OP_BINARY, &status));
    let _ = frames.send(frame(OP_CLOSE, &1000u16.to_be_bytes()));
    let _ = writer.await;
    // The client answers the close; give it a moment, then let go of the connection.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), reader).await;
}

/// Carries a byte stream over binary messages (port-forward's tunnelled SPDY): returns the
/// other end of an in-memory pipe whose bytes are the messages' payloads, both ways.
pub fn tunnel<IO: AsyncRead + AsyncWrite + Send + 'static>(io: IO) -> tokio::io::DuplexStream {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let (mut r, w) = tokio::io::split(io);
    let (frames, writer) = spawn_writer(w);
    let (mut pipe_r, mut pipe_w) = tokio::io::split(ours);
    let pongs = frames.clone();
    tokio::spawn(async move {
        while let Ok(Some((op, payload))) = read_message(&mut r).await {
            match op {
                OP_BINARY | OP_TEXT if pipe_w.write_all(&payload).await.is_err() => break,
                OP_PING => {
                    let _ = pongs.send(frame(OP_PONG, &payload));
                }
                OP_CLOSE => break,
                _ => {}
            }
        }
        let _ = pipe_w.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match pipe_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if frames.send(frame(OP_BINARY, &buf[..n])).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = frames.send(frame(OP_CLOSE, &1000u16.to_be_bytes()));
        let _ = writer.await;
    });
    theirs
}
