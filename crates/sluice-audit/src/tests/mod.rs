//! Crate tests; inside the crate so they can reach the fault-injection seam.

// A failed unwrap is how a test reports failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bench;
mod chain;
mod checkpoints;
mod concurrency;
mod failure;
mod gateway;
mod search;
mod trails;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{AuditEvent, AuditLog, Decision, Durability};

pub(crate) fn buffered() -> Durability {
    Durability::Buffered {
        sync_interval: Duration::from_millis(20),
    }
}

pub(crate) fn log_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("audit").join("audit.jsonl")
}

pub(crate) fn open(path: &Path) -> AuditLog {
    AuditLog::open(path, buffered()).unwrap()
}

pub(crate) fn statement(identity: &str, target: &str, n: u64) -> AuditEvent {
    AuditEvent::Statement {
        session: format!("s-{identity}"),
        identity: identity.into(),
        client_addr: "127.0.0.1:5555".into(),
        target: target.into(),
        database: "app".into(),
        statement: n,
        text: format!("SELECT {n}"),
        parameters: Some(vec![Some("1".into()), None]),
        decision: Decision {
            verdict: "allow".into(),
            reason: None,
            rule: "r1".into(),
            policy: "p1".into(),
        },
        task: None,
    }
}

pub(crate) fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}
