//! Response bodies towards the client: whole (errors, masked JSON) or streamed from the
//! exchange's task through a small channel, so a watch or `logs -f` reaches the client line by
//! line and a slow client slows the target's reads instead of filling memory.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use tokio::sync::mpsc;

/// The body type of every response the listener writes.
pub(crate) type ResBody = BoxBody<Bytes, std::io::Error>;

pub(crate) fn full(bytes: impl Into<Bytes>) -> ResBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub(crate) fn empty() -> ResBody {
    full(Bytes::new())
}

/// How many chunks may wait for the client before the exchange stops reading the target.
const CHANNEL_CHUNKS: usize = 4;

/// A streamed body and the sender that feeds it. An `Err` sent ends the body with that
/// error, so the client sees a broken response rather than a complete one.
pub(crate) fn channel() -> (mpsc::Sender<Result<Bytes, std::io::Error>>, ResBody) {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    (tx, ChannelBody { rx }.boxed())
}

struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|r| r.map(Frame::data)))
    }
}
