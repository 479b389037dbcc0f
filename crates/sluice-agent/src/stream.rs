//! One HTTP/2 stream of the link as a byte stream, on either side: what the gateway's
//! protocols read and write as if it were TCP to the target, and what the agent copies to
//! the target's socket.
//!
//! Flow control is HTTP/2's, per stream: data is taken from h2 only when the reader has
//! consumed what it holds, and its window is released as it is taken, so a stream whose
//! reader is slow stops its sender at one window without holding up the link's other streams.
//! Writes wait for window the peer granted.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use h2::{RecvStream, SendStream};
use sluice_core::tunnel::LinkLost;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest piece one write hands to h2 (h2 splits it into frames).
const MAX_WRITE: usize = 64 * 1024;

pub(crate) struct H2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// Received and not yet read.
    pending: Bytes,
    /// Who is at the other end, for errors: "agent dc1" or "the gateway".
    peer: String,
    shut_down: bool,
}

impl H2Stream {
    pub(crate) fn new(send: SendStream<Bytes>, recv: RecvStream, peer: String) -> H2Stream {
        H2Stream {
            send,
            recv,
            pending: Bytes::new(),
            peer,
            shut_down: false,
        }
    }

    fn error(&self, e: h2::Error) -> io::Error {
        tracing::debug!(peer = %self.peer, error = %e, "stream failed");
        io::Error::new(
            io::ErrorKind::ConnectionAborted,
            LinkLost {
                peer: self.peer.clone(),
            },
        )
    }
}

impl AsyncRead for H2Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.pending.is_empty() {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Releasing as it is taken: what bounds this stream is that nothing more
                    // is taken until the reader has had this.
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    this.pending = data;
                }
                Some(Err(e)) if e.reason() == Some(h2::Reason::NO_ERROR) => {
                    return Poll::Ready(Ok(()))
                }
                Some(Err(e)) => return Poll::Ready(Err(this.error(e))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending[..n]);
        this.pending.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        this.send.reserve_capacity(buf.len().min(MAX_WRITE));
        loop {
            match ready!(this.send.poll_capacity(cx)) {
                Some(Ok(0)) => continue,
                Some(Ok(granted)) => {
                    let n = granted.min(buf.len());
                    return match this
                        .send
                        .send_data(Bytes::copy_from_slice(&buf[..n]), false)
                    {
                        Ok(()) => Poll::Ready(Ok(n)),
                        Err(e) => Poll::Ready(Err(this.error(e))),
                    };
                }
                Some(Err(e)) => return Poll::Ready(Err(this.error(e))),
                None => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        LinkLost {
                            peer: this.peer.clone(),
                        },
                    )))
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // h2's connection task writes what was sent; there is nothing held here.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.shut_down {
            this.shut_down = true;
            if let Err(e) = this.send.send_data(Bytes::new(), true) {
                return Poll::Ready(Err(this.error(e)));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for H2Stream {
    fn drop(&mut self) {
        // A stream dropped before its end (a session cut short) is reset, so the other side
        // closes its socket too instead of waiting for bytes that will not come.
        if !self.shut_down {
            self.send.send_reset(h2::Reason::CANCEL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A client and a server connection over an in-memory pipe, with the link's windows.
    async fn link() -> (
        h2::client::SendRequest<Bytes>,
        h2::server::Connection<tokio::io::DuplexStream, Bytes>,
    ) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            h2::server::Builder::new()
                .initial_window_size(crate::STREAM_WINDOW)
                .initial_connection_window_size(crate::CONNECTION_WINDOW)
                .handshake::<_, Bytes>(b)
                .await
                .unwrap()
        });
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(crate::STREAM_WINDOW)
            .initial_connection_window_size(crate::CONNECTION_WINDOW)
            .handshake::<_, Bytes>(a)
            .await
            .unwrap();
        tokio::spawn(connection);
        (send, server.await.unwrap())
    }

    async fn open(
        send: &h2::client::SendRequest<Bytes>,
    ) -> (SendStream<Bytes>, h2::client::ResponseFuture) {
        let mut send = send.clone().ready().await.unwrap();
        let request = http::Request::post("https://agent/connect")
            .body(())
            .unwrap();
        let (response, body) = send.send_request(request, false).unwrap();
        (body, response)
    }

    #[tokio::test]
    async fn a_stream_nobody_reads_does_not_stall_the_others() {
        let (send, mut server) = link().await;
        // The server side: every stream echoes, except the first FLOODED, which send as much
        // as they may to a client that never reads them: more, together, than a connection
        // window of 16 MiB would hold.
        const FLOODED: usize = 24;
        let served = tokio::spawn(async move {
            let mut accepted = 0;
            while let Some(Ok((request, mut respond))) = server.accept().await {
                let sender = respond
                    .send_response(http::Response::new(()), false)
                    .unwrap();
                let mut stream = H2Stream::new(sender, request.into_body(), "test".into());
                accepted += 1;
                let flood = accepted <= FLOODED;
                tokio::spawn(async move {
                    if flood {
                        // Blocks at the stream's window: nobody reads the other end.
                        let chunk = vec![7u8; 64 * 1024];
                        loop {
                            if stream.write_all(&chunk).await.is_err() {
                                return;
                            }
                        }
                    }
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let mut flooded = Vec::new();
        for _ in 0..FLOODED {
            let (body, response) = open(&send).await;
            let response = response.await.unwrap();
            flooded.push(H2Stream::new(body, response.into_body(), "test".into()));
        }
        // Let the floods fill their windows.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        for i in 0..20u8 {
            let (body, response) = open(&send).await;
            let response = response.await.unwrap();
            let mut echo = H2Stream::new(body, response.into_body(), "test".into());
            let message = [i; 100];
            let round_trip = async {
                echo.write_all(&message).await.unwrap();
                let mut back = [0u8; 100];
                echo.read_exact(&mut back).await.unwrap();
                back
            };
            let back = tokio::time::timeout(std::time::Duration::from_secs(5), round_trip)
                .await
                .expect("a stream stalled behind one nobody reads");
            assert_eq!(back, message);
        }
        served.abort();
    }
}
