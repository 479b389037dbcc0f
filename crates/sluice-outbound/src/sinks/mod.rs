//! Getting the audit trail out of the gateway: sinks that stream every record to a file, an
//! HTTP endpoint or a syslog receiver.
//!
//! A sink only reads the audit file, as a separate reader ([`crate::tail`]), never through the
//! gateway's audit log: a slow or dead receiver can therefore never delay a statement or fill
//! memory; its records simply wait in the file. Each sink keeps a cursor, the seq of the last
//! record its destination accepted, in `<data_dir>/audit-sinks/<name>.cursor`. A batch is
//! delivered first and the cursor moved after, so a crash in between sends that batch again
//! after the restart: delivery is at least once and never loses a record, and a receiver drops
//! duplicates by `seq`. Records go out as the exact bytes of their lines, so a receiver can
//! still check the chain.
//!
//! # Layout
//! - `config`: [`AuditSinkConfig`] and its kinds, validated when the file is loaded;
//! - `cursor`: the crash-safe cursor file ([`Cursor`]);
//! - this module: the run loop shared by every kind ([`AuditSinks`]);
//! - `destination`: which kind a sink delivers to, then one small module per kind: `file`,
//!   `http`, `syslog`.

mod config;
mod cursor;
mod destination;
mod file;
mod http;
mod syslog;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

pub use config::{
    deserialize_sinks, AuditSinkConfig, FileSinkConfig, HttpSinkConfig, SyslogSinkConfig,
    SyslogTransport,
};
pub use cursor::Cursor;

use crate::retry::backoff;
use crate::tail::{AuditTail, TailRecord};
use crate::OutboundError;
use destination::Destination;

/// How often a sink that has caught up looks at the file again.
const POLL: Duration = Duration::from_millis(200);

/// A batch, shared with the blocking file writes.
type Batch = Arc<Vec<TailRecord>>;

/// Sinks built from the configuration and ready to run. Everything that can be wrong with one
/// (a token file that cannot be read, a cursor that holds no seq, a file sink writing into the
/// audit file itself) is found here, at start.
pub struct AuditSinks {
    sinks: Vec<(Sink, AuditTail)>,
}

/// The running sinks; dropping this stops them (what they have not delivered is sent after the
/// next start, from their cursors).
#[derive(Default)]
pub struct AuditSinkTasks(Vec<JoinHandle<()>>);

impl AuditSinkTasks {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn abort(&mut self) {
        for task in self.0.drain(..) {
            task.abort();
        }
    }
}

impl Drop for AuditSinkTasks {
    fn drop(&mut self) {
        self.abort();
    }
}

impl AuditSinks {
    /// The sinks of `configs`, reading the audit file at `audit_path` and keeping their cursors
    /// under `data_dir`.
    pub fn prepare(
        configs: &[AuditSinkConfig],
        audit_path: &Path,
        data_dir: &Path,
    ) -> Result<AuditSinks, OutboundError> {
        let sinks = configs
            .iter()
            .map(|c| {
                let bad = |why: String| {
                    OutboundError::Config(format!("audit_sinks {:?}: {why}", c.name()))
                };
                let cursor = Cursor::new(data_dir, c.name());
                let after = cursor.load().map_err(|e| bad(e.to_string()))?;
                std::fs::create_dir_all(&cursor.dir)
                    .map_err(|e| bad(format!("creating {}: {e}", cursor.dir.display())))?;
                let sink = Sink {
                    name: c.name().to_owned(),
                    batch_size: c.batch_size(),
                    cursor,
                    destination: Destination::new(c, audit_path).map_err(bad)?,
                };
                Ok((sink, AuditTail::new(audit_path, after)))
            })
            .collect::<Result<Vec<_>, OutboundError>>()?;
        Ok(AuditSinks { sinks })
    }

    pub fn spawn(self) -> AuditSinkTasks {
        AuditSinkTasks(
            self.sinks
                .into_iter()
                .map(|(sink, tail)| tokio::spawn(sink.run(tail)))
                .collect(),
        )
    }
}

struct Sink {
    name: String,
    batch_size: usize,
    cursor: Cursor,
    destination: Destination,
}

impl Sink {
    async fn run(mut self, mut tail: AuditTail) {
        tracing::info!(sink = %self.name, to = %self.destination.describe(), after_seq = tail.after(), "audit sink started");
        let mut read_error = None;
        loop {
            let batch_size = self.batch_size;
            // File reads block; off the async workers.
            let read = tokio::task::spawn_blocking(move || {
                let batch = tail.read_batch(batch_size);
                (tail, batch)
            })
            .await;
            let batch = match read {
                Ok((back, batch)) => {
                    tail = back;
                    batch
                }
                Err(e) => {
                    tracing::error!(sink = %self.name, error = %e, "audit sink stopped");
                    return;
                }
            };
            match batch {
                Ok(batch) if !batch.is_empty() => {
                    read_error = None;
                    let batch = Arc::new(batch);
                    self.deliver(&batch).await;
                    self.advance(&batch).await;
                }
                Ok(_) => tokio::time::sleep(POLL).await,
                Err(e) => {
                    self.read_failed(&mut read_error, e);
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    /// Logged when the problem changes, not on every poll.
    fn read_failed(&self, last: &mut Option<String>, error: io::Error) {
        let error = error.to_string();
        if last.as_deref() != Some(error.as_str()) {
            tracing::error!(sink = %self.name, error = %error, "audit sink cannot read the audit file; waiting");
            *last = Some(error);
        }
    }

    /// Until the destination accepts the batch: a record is never skipped. The backoff keeps a
    /// dead receiver from costing more than an attempt now and then.
    async fn deliver(&mut self, batch: &Batch) {
        let mut attempt: u32 = 0;
        loop {
            attempt = attempt.saturating_add(1);
            match self.attempt(batch).await {
                Ok(()) if attempt > 1 => {
                    tracing::info!(sink = %self.name, attempts = attempt, "audit sink delivering again");
                    return;
                }
                Ok(()) => return,
                Err(error) => {
                    // The first failure and every tenth after: an outage of hours logs a few lines.
                    if attempt % 10 == 1 {
                        tracing::warn!(sink = %self.name, to = %self.destination.describe(), attempt, error = %error, "audit sink cannot deliver; retrying (the records wait in the audit file)");
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
    }

    async fn attempt(&mut self, batch: &Batch) -> Result<(), String> {
        match self.destination.timeout() {
            Some(limit) => tokio::time::timeout(limit, self.destination.deliver(batch))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "not done within {}",
                        humantime::format_duration(limit)
                    ))
                }),
            None => self.destination.deliver(batch).await,
        }
    }

    /// After delivery, never before. A cursor that cannot be saved only means re-sending after
    /// a restart, so the sink carries on.
    async fn advance(&self, batch: &Batch) {
        let Some(seq) = batch.last().map(|r| r.seq) else {
            return;
        };
        let cursor = self.cursor.clone();
        let stored = tokio::task::spawn_blocking(move || cursor.store(seq)).await;
        let error = match stored {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(sink = %self.name, seq, error = %error, "audit sink cannot save its cursor; after a restart it sends again from the last one saved");
    }
}

/// The records' lines, each with its `\n`.
fn ndjson(batch: &[TailRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(batch.iter().map(|r| r.line.len() + 1).sum());
    for record in batch {
        out.extend_from_slice(&record.line);
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::test_support::prepare_sinks;

    #[test]
    fn prepare_refuses_what_cannot_work() {
        let dir = tempfile::tempdir().unwrap();
        let refusal = |sinks: &str| prepare_sinks(dir.path(), sinks).err().unwrap().to_string();
        let audit = dir.path().join("audit.jsonl");
        let into_itself = format!(
            "[[audit_sinks]]\nname = \"loop\"\nkind = \"file\"\npath = \"{}\"\n",
            audit.display()
        );
        let err = refusal(&into_itself);
        assert!(err.contains("audit file itself"), "{err}");

        let token = dir.path().join("token");
        std::fs::write(&token, "\n").unwrap();
        let empty_token = format!(
            "[[audit_sinks]]\nname = \"h\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9/\"\ntoken_file = \"{}\"\n",
            token.display()
        );
        let err = refusal(&empty_token);
        assert!(err.contains("is empty"), "{err}");
    }
}
