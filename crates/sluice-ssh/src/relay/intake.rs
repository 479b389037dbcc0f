//! Reading a channel promptly. russh delivers a channel's messages over a bounded queue and
//! its connection task waits when that queue is full, without reading anything else, window
//! adjustments included. A relay that stops reading one channel while it waits for window on
//! another can so close a cycle through both connections (seen with `cat` echoing a large
//! input). So each channel is read by an intake of its own into a buffer the relay works
//! through; the buffer is bounded in bytes, and a channel over the bound waits for the relay
//! (by then the relay is writing, not waiting for this side).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use russh::{ChannelMsg, ChannelReadHalf};
use tokio::sync::Notify;

/// Channel data buffered ahead of the relay, per channel and direction.
const LIMIT: usize = 16 * 1024 * 1024;

#[derive(Default)]
struct Buffer {
    queue: VecDeque<ChannelMsg>,
    bytes: usize,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    buffer: Mutex<Buffer>,
    /// Signalled when a message arrives or the channel ends.
    arrived: Notify,
    /// Signalled when the relay took data out.
    drained: Notify,
}

/// The relay's end: messages in the order they arrived.
pub(crate) struct Inbox {
    shared: Arc<Shared>,
}

/// Reads `rx` into the returned inbox until the channel ends; run the future beside the relay.
pub(crate) fn intake(mut rx: ChannelReadHalf) -> (impl std::future::Future<Output = ()>, Inbox) {
    let shared = Arc::new(Shared::default());
    let feeder = {
        let shared = shared.clone();
        async move {
            loop {
                loop {
                    let full = lock(&shared.buffer).bytes >= LIMIT;
                    if !full {
                        break;
                    }
                    shared.drained.notified().await;
                }
                let msg = rx.wait().await;
                let mut buffer = lock(&shared.buffer);
                match msg {
                    Some(msg) => {
                        buffer.bytes += size(&msg);
                        buffer.queue.push_back(msg);
                    }
                    None => buffer.closed = true,
                }
                let closed = buffer.closed;
                drop(buffer);
                shared.arrived.notify_one();
                if closed {
                    break;
                }
            }
        }
    };
    (feeder, Inbox { shared })
}

impl Inbox {
    /// The next message; `None` once the channel ended and everything was taken.
    pub async fn recv(&mut self) -> Option<ChannelMsg> {
        loop {
            {
                let mut buffer = lock(&self.shared.buffer);
                if let Some(msg) = buffer.queue.pop_front() {
                    buffer.bytes -= size(&msg);
                    drop(buffer);
                    self.shared.drained.notify_one();
                    return Some(msg);
                }
                if buffer.closed {
                    return None;
                }
            }
            self.shared.arrived.notified().await;
        }
    }
}

fn size(msg: &ChannelMsg) -> usize {
    match msg {
        ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => data.len(),
        _ => 0,
    }
}

fn lock(buffer: &Mutex<Buffer>) -> std::sync::MutexGuard<'_, Buffer> {
    buffer
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
