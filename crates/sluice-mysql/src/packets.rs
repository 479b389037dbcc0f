//! Reading and writing packets on a stream: buffered reads of whole logical packets (under a
//! size limit), and exact reads during the handshake, where TLS may start right after a
//! packet and no byte beyond it may be consumed.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use sluice_mywire::frame::{self, Packet, Split};
use sluice_mywire::WireError;

const READ_CHUNK: usize = 16 * 1024;

/// Packets read from one side.
pub struct PacketReader<R> {
    pub inner: R,
    buf: BytesMut,
    limit: usize,
    /// Bytes read so far, for the session's traffic counts.
    pub bytes: u64,
}

/// Why a read produced no packet.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection between packets.
    Closed,
    Wire(WireError),
    Io(std::io::Error),
}

impl<R: AsyncRead + Unpin> PacketReader<R> {
    pub fn new(inner: R, limit: usize) -> PacketReader<R> {
        PacketReader {
            inner,
            buf: BytesMut::with_capacity(READ_CHUNK),
            limit,
            bytes: 0,
        }
    }

    pub async fn read(&mut self) -> Result<Packet, ReadError> {
        loop {
            match frame::split(&mut self.buf, self.limit).map_err(ReadError::Wire)? {
                Split::Packet(p) => return Ok(p),
                Split::Incomplete(missing) => {
                    self.buf.reserve(missing.max(READ_CHUNK));
                    let n = self
                        .inner
                        .read_buf(&mut self.buf)
                        .await
                        .map_err(ReadError::Io)?;
                    if n == 0 {
                        return Err(if self.buf.is_empty() {
                            ReadError::Closed
                        } else {
                            ReadError::Io(std::io::ErrorKind::UnexpectedEof.into())
                        });
                    }
                    self.bytes += n as u64;
                }
            }
        }
    }

    /// Completes once something (bytes, or the peer's close) is waiting to be read, leaving
    /// it there for [`PacketReader::read`].
    pub async fn readable(&mut self) {
        if self.buf.is_empty() {
            self.buf.reserve(READ_CHUNK);
            // An error shows again at the next read.
            if let Ok(n) = self.inner.read_buf(&mut self.buf).await {
                self.bytes += n as u64;
            }
        }
    }

    /// Reads into the buffer without taking a packet; `false` once the peer has closed. Used
    /// to notice a client leaving while its request is held.
    pub async fn fill(&mut self) -> bool {
        if self.buf.len() >= self.limit {
            return std::future::pending().await;
        }
        self.buf.reserve(READ_CHUNK);
        match self.inner.read_buf(&mut self.buf).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.bytes += n as u64;
                true
            }
        }
    }
}

/// Reads exactly one packet (not split: handshake packets are small), consuming nothing
/// beyond it.
pub async fn read_exact_packet<R: AsyncRead + Unpin>(
    stream: &mut R,
    limit: usize,
) -> Result<Packet, ReadError> {
    let mut header = [0u8; 4];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(ReadError::Closed),
        Err(e) => return Err(ReadError::Io(e)),
    }
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if len > limit || len >= frame::MAX_CHUNK {
        return Err(ReadError::Wire(WireError::TooLarge { size: len, limit }));
    }
    let mut payload = vec![0u8; len];
    stream
        .read_exact(&mut payload)
        .await
        .map_err(ReadError::Io)?;
    Ok(Packet {
        seq: header[3],
        chunks: 1,
        payload: Bytes::from(payload),
    })
}

/// Writes one packet and flushes.
pub async fn write_packet<W: AsyncWrite + Unpin>(
    stream: &mut W,
    seq: u8,
    payload: &[u8],
) -> std::io::Result<u8> {
    let mut out = BytesMut::with_capacity(payload.len() + 4);
    let next = frame::put(&mut out, seq, payload);
    stream.write_all(&out).await?;
    stream.flush().await?;
    Ok(next)
}
