use std::path::Path;
use std::time::Duration;

use super::config::AuditSinkConfig;
use super::file::FileDestination;
use super::http::HttpDestination;
use super::syslog::SyslogDestination;
use super::Batch;

/// Where a sink's records go: one small type per kind behind the shared loop.
pub(super) enum Destination {
    File(FileDestination),
    Http(HttpDestination),
    Syslog(SyslogDestination),
}

impl Destination {
    pub(super) fn new(config: &AuditSinkConfig, audit_path: &Path) -> Result<Destination, String> {
        Ok(match config {
            AuditSinkConfig::File(c) => Destination::File(FileDestination::new(c, audit_path)?),
            AuditSinkConfig::Http(c) => Destination::Http(HttpDestination::new(c)?),
            AuditSinkConfig::Syslog(c) => Destination::Syslog(SyslogDestination::new(c)?),
        })
    }

    /// For logs: never a URL's path or a token.
    pub(super) fn describe(&self) -> String {
        match self {
            Destination::File(d) => d.path.display().to_string(),
            Destination::Http(d) => d.describe(),
            Destination::Syslog(d) => format!("{} ({:?})", d.address, d.transport),
        }
    }

    /// A local file has no timeout: a write that hangs is the disk's problem, and a timed-out
    /// write would still finish later. An HTTP sink's client keeps its own deadline.
    pub(super) fn timeout(&self) -> Option<Duration> {
        match self {
            Destination::File(_) | Destination::Http(_) => None,
            Destination::Syslog(d) => Some(d.timeout),
        }
    }

    pub(super) async fn deliver(&mut self, batch: &Batch) -> Result<(), String> {
        match self {
            Destination::File(d) => d.deliver(batch).await,
            Destination::Http(d) => d.deliver(batch).await,
            Destination::Syslog(d) => d.deliver(batch).await,
        }
    }
}
