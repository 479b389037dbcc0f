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

/// How often each worker's lag is sampled ([`Workers::probe_lag`]).
pub const LAG_PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

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

    /// Runs a probe on every worker that sets a timer every [`LAG_PROBE_INTERVAL`] and hands
    /// `record` how late the worker woke it. Whatever held the worker meanwhile (a long poll,
    /// a blocking call, a slow write) held every session on it, and shows here as lag; the
    /// timer's own 1 ms granularity is the floor. Costs one wakeup per interval per worker.
    pub fn probe_lag(&self, record: impl Fn(std::time::Duration) + Clone + Send + 'static) {
        for handle in &self.handles {
            let record = record.clone();
            handle.spawn(async move {
                loop {
                    let due = tokio::time::Instant::now() + LAG_PROBE_INTERVAL;
                    tokio::time::sleep_until(due).await;
                    record(tokio::time::Instant::now().saturating_duration_since(due));
                }
            });
        }
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
