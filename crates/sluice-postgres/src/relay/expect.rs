//! What the client half tells the server half to expect, in order. PostgreSQL answers requests
//! in the order it received them, so one FIFO is enough to pair every response with its
//! request, including pipelined extended-protocol batches.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use bytes::Bytes;
use sluice_core::{MaskPlan, StatementPermit};

use super::settings::ServerSettings;

#[derive(Debug)]
pub enum Expect {
    /// A Query message: any number of results, finished by ReadyForQuery.
    SimpleQuery(StatementPermit),
    Parse,
    Bind,
    /// Finished by RowDescription or NoData.
    Describe,
    /// A Describe of the portal about to run that the gateway sent itself, to learn the
    /// columns (and their formats) of the rows it must mask or record; its answer is consumed,
    /// not relayed.
    GatewayDescribe(Option<MaskPlan>),
    Execute(StatementPermit),
    Close,
    /// Finished by ReadyForQuery; also ends the error state of a failed pipeline.
    Sync,
    /// A request sluice refused. The target got [`encode::refused_query`] or
    /// [`encode::refused_parse`] in its place, so its transaction fails as it would have had
    /// the request failed there; the target's error is replaced by `message`. A `simple`
    /// refusal (a Query) is finished by the target's ReadyForQuery, relayed as it is.
    ///
    /// A text the gateway's parser rejected went to the target as [`encode::rejected_text`]:
    /// while `explained`, the target's own error for it is relayed (with the gateway's
    /// prefix); if the target parsed the text after all, its ParseComplete is swallowed and
    /// the stand-in's error replaced by `message`, as for any refusal.
    ///
    /// [`encode::refused_query`]: sluice_pgwire::encode::refused_query
    /// [`encode::refused_parse`]: sluice_pgwire::encode::refused_parse
    /// [`encode::rejected_text`]: sluice_pgwire::encode::rejected_text
    Refused {
        message: Bytes,
        simple: bool,
        explained: bool,
    },
    /// Bytes sluice sends the client itself (a held request's notice) once every earlier
    /// response has been relayed.
    Inject(Bytes),
}

/// How many requests may await their responses before the client half stops reading: bounds
/// memory for a client that pipelines without reading, through ordinary backpressure.
const MAX_IN_FLIGHT: usize = 4096;

/// The FIFO between the halves. Both halves run in one task, so the lock is never contended
/// (it exists because the session future must be `Send`); and no wakeup is needed for ordinary
/// expectations, because the target's response, which is what the server half waits for,
/// cannot arrive before the expectation is queued. Only the notices sluice sends itself, which
/// have no response to wait for, wake the server half.
#[derive(Clone, Default)]
pub struct ExpectQueue {
    shared: Arc<Mutex<Shared>>,
}

#[derive(Default)]
struct Shared {
    queue: VecDeque<Expect>,
    /// What the target last reported of the settings that change how it reads text.
    settings: ServerSettings,
    /// Queued plus taken by the server half and not yet answered.
    in_flight: usize,
    inject_queued: bool,
    server_half: Option<Waker>,
    client_half: Option<Waker>,
}

impl ExpectQueue {
    /// A queue for a session whose target announced `settings` at login.
    pub fn new(settings: ServerSettings) -> ExpectQueue {
        let queue = ExpectQueue::default();
        queue.lock().settings = settings;
        queue
    }

    /// The target reported a setting (a ParameterStatus body).
    pub fn report_setting(&self, body: &[u8]) {
        self.lock().settings.report(body);
    }

    /// What the target last reported, and whether every request forwarded so far has been
    /// answered, so that nothing in flight can change it any more.
    pub fn settings(&self) -> (ServerSettings, bool) {
        let s = self.lock();
        (s.settings, s.in_flight == 0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        sluice_core::sync::lock(&self.shared)
    }

    pub fn push(&self, expects: impl IntoIterator<Item = Expect>) {
        let wake = {
            let mut s = self.lock();
            for e in expects {
                s.inject_queued |= matches!(e, Expect::Inject(_));
                s.in_flight += 1;
                s.queue.push_back(e);
            }
            if s.inject_queued {
                s.server_half.take()
            } else {
                None
            }
        };
        if let Some(w) = wake {
            w.wake();
        }
    }

    /// Moves everything queued to the server half's own deque.
    pub fn take_into(&self, dst: &mut VecDeque<Expect>) {
        let mut s = self.lock();
        dst.extend(s.queue.drain(..));
        s.inject_queued = false;
    }

    /// The server half finished `n` expectations; wakes a client half waiting for room.
    pub fn answered(&self, n: usize) {
        if n == 0 {
            return;
        }
        let wake = {
            let mut s = self.lock();
            s.in_flight = s.in_flight.saturating_sub(n);
            if s.in_flight < MAX_IN_FLIGHT {
                s.client_half.take()
            } else {
                None
            }
        };
        if let Some(w) = wake {
            w.wake();
        }
    }

    /// Resolves once a notice sluice sends itself is queued.
    pub fn inject_queued(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            let mut s = self.lock();
            if s.inject_queued {
                Poll::Ready(())
            } else {
                remember(&mut s.server_half, cx.waker());
                Poll::Pending
            }
        })
    }

    /// Resolves once fewer than the maximum requests await responses.
    pub fn room(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            let mut s = self.lock();
            if s.in_flight < MAX_IN_FLIGHT {
                Poll::Ready(())
            } else {
                remember(&mut s.client_half, cx.waker());
                Poll::Pending
            }
        })
    }
}

/// Stores the waker unless the same task's is already there: these futures are polled on
/// every turn of the session's loop, and cloning a waker each time is measurable.
fn remember(slot: &mut Option<Waker>, waker: &Waker) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
        *slot = Some(waker.clone());
    }
}
