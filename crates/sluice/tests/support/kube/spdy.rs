//! SPDY/3.1 (server side, as kubectl's spdystream client drives it): framing, header blocks
//! compressed with zlib and the SPDY/3 dictionary (one context per direction for the whole
//! connection), and exec's stream protocol (`v4.channel.k8s.io`) on top.
//!
//! The client opens every stream (SYN_STREAM, with a `streamtype` header) and waits for our
//! SYN_REPLY; we never open streams. Flow control is not enforced by kubectl's side, so
//! WINDOW_UPDATE and SETTINGS are read and ignored.

use std::collections::HashMap;
use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::api::{full, Body};
use super::exec::{self, Process, Spec};
use super::spdy_dictionary::dictionary;

pub const SYN_STREAM: u16 = 1;
pub const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
pub const FLAG_FIN: u8 = 0x01;

/// The first of `supported` among the request's `X-Stream-Protocol-Version` values.
pub fn choose(req: &Request<Incoming>, supported: &[&'static str]) -> Option<&'static str> {
    let offered: Vec<String> = req
        .headers()
        .get_all("x-stream-protocol-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_owned()))
        .collect();
    supported
        .iter()
        .find(|p| offered.iter().any(|o| o == *p))
        .copied()
}

pub fn switching(protocol: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "Upgrade")
        .header("upgrade", "SPDY/3.1")
        .header("x-stream-protocol-version", protocol)
        .body(full(""))
        .unwrap()
}

/// What the client did, as the session loop reports it.
#[derive(Debug)]
pub enum Event {
    /// A new stream (already answered with SYN_REPLY); `fin` if it is half-closed already.
    Open {
        stream: u32,
        headers: Vec<(String, String)>,
        fin: bool,
    },
    Data {
        stream: u32,
        data: Vec<u8>,
        fin: bool,
    },
    Reset {
        stream: u32,
    },
}

pub fn data_frame(stream: u32, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
    out.push(if fin { FLAG_FIN } else { 0 });
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

pub fn control_frame(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80, 3];
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

/// One SPDY connection: frames in from `r`, frames out through a writer task.
pub struct Session<R> {
    r: R,
    codec: HeaderCodec,
    pub frames: mpsc::UnboundedSender<Vec<u8>>,
}

/// One frame as read off the wire.
#[derive(Debug)]
pub enum Frame {
    Control {
        kind: u16,
        flags: u8,
        payload: Vec<u8>,
    },
    Data {
        stream: u32,
        flags: u8,
        payload: Vec<u8>,
    },
}

/// The next frame; `None` at end of stream or on a read error.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Option<Frame> {
    let mut head = [0u8; 8];
    r.read_exact(&mut head).await.ok()?;
    let flags = head[4];
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await.ok()?;
    Some(if head[0] & 0x80 == 0 {
        Frame::Data {
            stream: u32::from_be_bytes([head[0], head[1], head[2], head[3]]),
            flags,
            payload,
        }
    } else {
        Frame::Control {
            kind: u16::from_be_bytes([head[2], head[3]]),
            flags,
            payload,
        }
    })
}

/// A SYN_STREAM opening `stream` with an already compressed header block (a client's frame).
pub fn syn_stream(stream: u32, fin: bool, block: &[u8]) -> Vec<u8> {
    let mut payload = stream.to_be_bytes().to_vec();
    payload.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    payload.extend_from_slice(block);
    control_frame(SYN_STREAM, if fin { FLAG_FIN } else { 0 }, &payload)
}

/// One direction's header compression and the other's decompression, each a single zlib
/// context for the whole connection, primed with the SPDY/3 dictionary.
pub struct HeaderCodec {
    inflate: Decompress,
    deflate: Compress,
}

impl HeaderCodec {
    /// Inflates one header block (the context carries over from earlier blocks).
    pub fn decode(&mut self, block: &[u8]) -> Option<Vec<(String, String)>> {
        let mut out = Vec::with_capacity(block.len() * 4 + 256);
        let mut input = block;
        for _ in 0..1000 {
            let before = self.inflate.total_in();
            out.reserve(1024);
            match self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync)
            {
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate.set_dictionary(dictionary()).ok()?;
                }
                Err(_) => return None,
            }
            input = &input[(self.inflate.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        let mut pairs = Vec::new();
        let mut rest = &out[..];
        let count = u32::from_be_bytes(take(&mut rest, 4)?.try_into().ok()?);
        for _ in 0..count {
            let n = u32::from_be_bytes(take(&mut rest, 4)?.try_into().ok()?) as usize;
            let name = String::from_utf8_lossy(take(&mut rest, n)?).to_lowercase();
            let n = u32::from_be_bytes(take(&mut rest, 4)?.try_into().ok()?) as usize;
            let value = String::from_utf8_lossy(take(&mut rest, n)?).into_owned();
            // Several values of one name are joined with NULs.
            for v in value.split('\0') {
                pairs.push((name.clone(), v.to_owned()));
            }
        }
        Some(pairs)
    }

    /// Deflates one header block with a sync flush, so the peer can inflate it on its own.
    pub fn encode(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = (headers.len() as u32).to_be_bytes().to_vec();
        for (n, v) in headers {
            raw.extend_from_slice(&(n.len() as u32).to_be_bytes());
            raw.extend_from_slice(n.as_bytes());
            raw.extend_from_slice(&(v.len() as u32).to_be_bytes());
            raw.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            let before = self.deflate.total_in();
            out.reserve(256);
            self.deflate
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .expect("deflate");
            input = &input[(self.deflate.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                return out;
            }
        }
    }
}

impl Default for HeaderCodec {
    fn default() -> Self {
        let mut deflate = Compress::new(Compression::default(), true);
        deflate
            .set_dictionary(dictionary())
            .expect("zlib accepts a preset dictionary");
        HeaderCodec {
            inflate: Decompress::new(true),
            deflate,
        }
    }
}

impl<R: AsyncRead + Unpin> Session<R> {
    pub fn new<W: AsyncWrite + Unpin + Send + 'static>(
        r: R,
        mut w: W,
    ) -> (Session<R>, tokio::task::JoinHandle<()>) {
        let (frames, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let writer = tokio::spawn(async move {
            while let Some(f) = rx.recv().await {
                if w.write_all(&f).await.is_err() || w.flush().await.is_err() {
                    break;
                }
            }
            let _ = w.shutdown().await;
        });
        let session = Session {
            r,
            codec: HeaderCodec::default(),
            frames,
        };
        (session, writer)
    }

    pub fn send(&self, frame: Vec<u8>) {
        let _ = self.frames.send(frame);
    }

    /// The next event; `None` once the client is gone (end of stream, GOAWAY, bad framing).
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            let (kind, flags, payload) = match read_frame(&mut self.r).await? {
                Frame::Data {
                    stream,
                    flags,
                    payload,
                } => {
                    return Some(Event::Data {
                        stream,
                        data: payload,
                        fin: flags & FLAG_FIN != 0,
                    })
                }
                Frame::Control {
                    kind,
                    flags,
                    payload,
                } => (kind, flags, payload),
            };
            match kind {
                SYN_STREAM if payload.len() >= 10 => {
                    let stream =
                        u32::from_be_bytes(payload[0..4].try_into().unwrap()) & 0x7fff_ffff;
                    let headers = self.codec.decode(&payload[10..])?;
                    let mut reply = stream.to_be_bytes().to_vec();
                    reply.extend_from_slice(&self.codec.encode(&[]));
                    self.send(control_frame(SYN_REPLY, 0, &reply));
                    return Some(Event::Open {
                        stream,
                        headers,
                        fin: flags & FLAG_FIN != 0,
                    });
                }
                RST_STREAM if payload.len() >= 4 => {
                    let stream =
                        u32::from_be_bytes(payload[0..4].try_into().unwrap()) & 0x7fff_ffff;
                    return Some(Event::Reset { stream });
                }
                // A client's ping is answered with the same frame.
                PING => self.send(control_frame(PING, 0, &payload)),
                GOAWAY => return None,
                // SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do.
                _ => {}
            }
        }
    }
}

/// The next `n` bytes of `rest`, advancing it.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (a, b) = rest.split_at(n);
    *rest = b;
    Some(a)
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// An exec over SPDY: kubectl opens error, stdin, stdout, stderr and resize streams as the
/// request asked for them; the exit goes on the error stream (v4: Status JSON; v3, v2: a
/// message, only on failure), then every stream we write is finished.
pub async fn exec<IO: AsyncRead + AsyncWrite + Send + 'static>(io: IO, protocol: &str, spec: Spec) {
    let v4 = protocol.starts_with("v4.");
    let (r, w) = tokio::io::split(io);
    let (mut session, writer) = Session::new(r, w);
    let expected = 1
        + usize::from(spec.stdin)
        + usize::from(spec.stdout)
        + usize::from(spec.stderr && !spec.tty)
        + usize::from(spec.tty && !protocol.starts_with("v2."));
    let mut streams: HashMap<String, u32> = HashMap::new();
    let (stdin_tx, stdin_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let mut stdin_tx = Some(stdin_tx);
    let mut early_stdin: Vec<Event> = Vec::new();
    // Streams come one by one (kubectl waits for each reply); the process starts once all
    // are open, or after a grace period if the client opened fewer than the query implied.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while streams.len() < expected {
        match tokio::time::timeout_at(deadline, session.next()).await {
            Ok(Some(Event::Open {
                stream, headers, ..
            })) => {
                let kind = header(&headers, "streamtype").unwrap_or("").to_owned();
                streams.insert(kind, stream);
            }
            Ok(Some(other)) => early_stdin.push(other),
            Ok(None) => return,
            Err(_) => break,
        }
    }
    let stdin_id = streams.get("stdin").copied();
    let stdout_id = streams.get("stdout").copied();
    let stderr_id = streams.get("stderr").copied().or(stdout_id);
    let error_id = streams.get("error").copied();
    if stdin_id.is_none() {
        stdin_tx = None;
    }
    let resize_id = streams.get("resize").copied();
    let record = spec.record.clone();
    let frames = session.frames.clone();
    let reader = tokio::spawn(async move {
        let mut pending = early_stdin.into_iter();
        loop {
            let event = match pending.next() {
                Some(e) => e,
                None => match session.next().await {
                    Some(e) => e,
                    None => break,
                },
            };
            match event {
                Event::Data { stream, data, fin } if Some(stream) == stdin_id => {
                    if let Some(tx) = &stdin_tx {
                        if !data.is_empty() {
                            record.lock().unwrap().stdin.extend_from_slice(&data);
                            let _ = tx.send(data);
                        }
                    }
                    if fin {
                        stdin_tx = None;
                    }
                }
                Event::Data { stream, data, .. } if Some(stream) == resize_id => {
                    record.lock().unwrap().resized(&data)
                }
                Event::Reset { stream } if Some(stream) == stdin_id => stdin_tx = None,
                _ => {}
            }
        }
    });
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<(u8, Vec<u8>)>();
    let out_frames = frames.clone();
    let forward = tokio::spawn(async move {
        while let Some((channel, data)) = out_rx.recv().await {
            let target = if channel == 2 { stderr_id } else { stdout_id };
            if let Some(id) = target {
                let _ = out_frames.send(data_frame(id, false, &data));
            }
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
    let _ = forward.await;
    for id in [stdout_id, streams.get("stderr").copied()]
        .into_iter()
        .flatten()
    {
        let _ = frames.send(data_frame(id, true, &[]));
    }
    if let Some(id) = error_id {
        let report = if v4 {
            serde_json::to_vec(&exec::exit_status(code)).unwrap()
        } else if code != 0 {
            format!(
                "command terminated with non-zero exit code: error executing command {:?}, exit code {code}",
                spec.command
            )
            .into_bytes()
        } else {
            Vec::new()
        };
        if !report.is_empty() {
            let _ = frames.send(data_frame(id, false, &report));
        }
        let _ = frames.send(data_frame(id, true, &[]));
    }
    // kubectl closes the connection once it has read everything; then we let go.
    let reader_abort = reader.abort_handle();
    if tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .is_err()
    {
        reader_abort.abort();
    }
    drop(frames);
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
}
