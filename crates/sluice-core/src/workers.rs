//! Thread-per-core session workers: each worker thread runs its own single-threaded tokio
//! runtime, and a session lives on one worker from accept to end.
//!
//! A work-stealing runtime moves tasks between threads and wakes parked threads through
//! futexes; on a proxy, whose tasks are short and I/O-bound, those wakeups cost more than the
//! work itself (measured: see docs/benchmarks.md). Pinning each session to one thread keeps a
//! request's whole path (client read, decision, audit, upstream write) on one core.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::CoreError;

pub struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
    stop: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` workers; 0 means one per two cores, at least one.
    pub fn start(count: usize) -> Result<Workers, CoreError> {
        let count = match count {
            // Half the cores: the kernel's TCP work for both legs of every session, the target
            // and (on shared hosts) the clients need the rest. Measured in docs/benchmarks.md.
            0 => (std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                / 2)
            .max(1),
            n => n,
        };
        let (stop, _) = watch::channel(false);
        let mut handles = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for i in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let mut stopped = stop.subscribe();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("sluice-worker-{i}"))
                    .spawn(move || {
                        runtime.block_on(async move {
                            let _ = stopped.wait_for(|s| *s).await;
                        })
                    })?,
            );
        }
        Ok(Workers {
            handles,
            next: AtomicUsize::new(0),
            stop,
            threads,
        })
    }

    /// The worker for the next session, round robin.
    pub fn pick(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
