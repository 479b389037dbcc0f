// Shared by the integration tests (included with `mod common;`).
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sluice_record::{Header, Limits, RecordedDecision, Recorder, TerminalHeader, KIND_SQL};

pub fn header(session: &str) -> Header {
    Header {
        session: session.to_owned(),
        identity: "ada@example.com".to_owned(),
        target: "shop".to_owned(),
        database: "shop".to_owned(),
        protocol: "postgres".to_owned(),
        client_addr: "127.0.0.1:50000".to_owned(),
        started_at: "2025-01-02T03:04:05.678Z".to_owned(),
        kind: KIND_SQL.to_owned(),
    }
}

pub fn allow() -> RecordedDecision {
    RecordedDecision {
        verdict: "allow".to_owned(),
        rule: "allow_reads".to_owned(),
        policy: "v1".to_owned(),
    }
}

/// A clock the test moves by hand, in microseconds.
#[derive(Clone, Default)]
pub struct Clock(Arc<AtomicU64>);

impl Clock {
    pub fn set_ms(&self, ms: u64) {
        self.0.store(ms * 1000, Ordering::SeqCst);
    }

    pub fn recorder(&self, header: &Header, limits: Limits) -> Recorder {
        let micros = self.0.clone();
        Recorder::with_clock(header, limits, move || {
            Duration::from_micros(micros.load(Ordering::SeqCst))
        })
    }

    pub fn recorder_terminal(
        &self,
        header: &Header,
        terminal: &TerminalHeader,
        limits: Limits,
    ) -> Recorder {
        let micros = self.0.clone();
        Recorder::terminal_with_clock(header, terminal, limits, move || {
            Duration::from_micros(micros.load(Ordering::SeqCst))
        })
    }
}

pub fn text(values: &[Option<&str>]) -> Vec<Option<Vec<u8>>> {
    values
        .iter()
        .map(|v| v.map(|s| s.as_bytes().to_vec()))
        .collect()
}

/// Records a row of text values.
pub fn row(recorder: &mut Recorder, n: u64, values: &[Option<&str>]) -> sluice_record::CapHit {
    let owned = text(values);
    let borrowed: Vec<Option<&[u8]>> = owned.iter().map(|v| v.as_deref()).collect();
    recorder.row(n, &borrowed, &[])
}
