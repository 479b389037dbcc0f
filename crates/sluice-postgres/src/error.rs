//! Every way a PostgreSQL session can fail, tagged by side, and the one place that decides what
//! the client is told about each.

use sluice_pgwire::encode::Report;
use sluice_pgwire::WireError;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The client sent bytes that are not valid protocol.
    #[error("invalid message from client: {0}")]
    ClientProtocol(#[from] WireError),
    /// Valid bytes, wrong place (e.g. a password message after authentication).
    #[error("unexpected message from client: {0}")]
    ClientUnexpected(String),
    #[error("client did not finish the handshake in time")]
    HandshakeTimeout,
    #[error("{0}")]
    ClientRefused(Refusal),
    #[error("authentication failed for identity \"{0}\"")]
    AuthFailed(String),
    #[error("target unreachable: {0}")]
    UpstreamConnect(String),
    #[error("target refused the gateway's credential: {0}")]
    UpstreamAuth(String),
    /// The target answered the gateway's login with an error: its SQLSTATE reaches the client,
    /// so retry logic keyed on it (53300, 57P03) works; its message, which may name the
    /// gateway's role, stays in the log.
    #[error("target refused the connection: {code} {message}")]
    UpstreamRefused { code: String, message: String },
    #[error("invalid message from target: {0}")]
    UpstreamProtocol(String),
    /// The gateway's own machinery failed: the audit trail or the store.
    #[error("{0}")]
    Core(#[from] sluice_core::CoreError),
    #[error("tls: {0}")]
    Tls(String),
    /// Results that must be masked could not be: the session ends rather than relay them.
    #[error("sluice: masking failed: {0}")]
    Masking(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<sluice_net::NetError> for PgError {
    fn from(e: sluice_net::NetError) -> PgError {
        match e {
            sluice_net::NetError::Tls(m) => PgError::Tls(m),
            sluice_net::NetError::Io(e) => PgError::Io(e),
        }
    }
}

/// A refusal with the SQLSTATE the client should see.
#[derive(Debug)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl PgError {
    pub fn refused(code: &'static str, message: impl Into<String>) -> PgError {
        PgError::ClientRefused(Refusal {
            code,
            message: message.into(),
        })
    }

    /// The FATAL ErrorResponse fields for this error. Upstream details stay in the gateway's
    /// log: the client learns that the target failed, not how the gateway reaches it.
    pub fn report(&self) -> (std::borrow::Cow<'static, str>, String) {
        if let PgError::UpstreamRefused { code, .. } = self {
            return (code.clone().into(), upstream_refusal(code));
        }
        let (code, message) = self.static_fields();
        (code.into(), message)
    }

    fn static_fields(&self) -> (&'static str, String) {
        match self {
            PgError::ClientProtocol(e) => ("08P01", format!("sluice: invalid message: {e}")),
            PgError::ClientUnexpected(m) => ("08P01", format!("sluice: {m}")),
            PgError::HandshakeTimeout => ("08P01", "sluice: handshake timed out".into()),
            PgError::ClientRefused(r) => (r.code, format!("sluice: {}", r.message)),
            PgError::AuthFailed(identity) => (
                "28P01",
                format!("password authentication failed for user \"{identity}\""),
            ),
            PgError::UpstreamConnect(_) => {
                ("08006", "sluice: the target database is unreachable".into())
            }
            PgError::UpstreamAuth(_) => (
                "08006",
                "sluice: the gateway could not log in to the target database".into(),
            ),
            PgError::UpstreamRefused { .. } => ("08006", String::new()),
            PgError::UpstreamProtocol(_) => (
                "08P01",
                "sluice: the target database sent an invalid message".into(),
            ),
            PgError::Core(sluice_core::CoreError::Store(_)) => (
                "58000",
                "sluice: the gateway's store is unavailable; try again later".into(),
            ),
            // PostgreSQL's own class for "too many connections"-like refusals; psql prints
            // the message.
            PgError::Core(e @ sluice_core::CoreError::Throttled { .. }) => {
                ("53300", format!("sluice: {e}"))
            }
            PgError::Core(sluice_core::CoreError::RecordingCap(m)) => {
                ("54000", format!("sluice: {m}"))
            }
            PgError::Core(sluice_core::CoreError::Recording(_)) => (
                "58000",
                "sluice: the session recording cannot be written; the session is ended".into(),
            ),
            PgError::Core(_) => (
                "58000",
                "sluice: the audit trail is unavailable; the request was not forwarded".into(),
            ),
            PgError::Tls(_) => ("08006", "sluice: TLS failure".into()),
            PgError::Masking(m) => ("XX000", m.clone()),
            PgError::Io(e) => match sluice_core::tunnel::LinkLost::behind(e) {
                Some(lost) => ("08006", format!("sluice: {lost}; the session is ended")),
                None => ("08006", "sluice: connection failure".into()),
            },
        }
    }

    /// Encodes this error as the FATAL ErrorResponse sent before closing.
    pub fn write_fatal(&self, out: &mut bytes::BytesMut) {
        let (code, message) = self.report();
        sluice_pgwire::encode::error_response(
            out,
            Report {
                severity: "FATAL",
                code: &code,
                message: &message,
                position: None,
            },
        );
    }
}

/// What the client is told when the target refused the gateway's login with `code`.
fn upstream_refusal(code: &str) -> String {
    let what = match code {
        "53300" => "the target database has too many connections; try again later",
        "57P03" => {
            "the target database is not accepting connections now (starting up, \
                    shutting down or in recovery); try again later"
        }
        "3D000" => "the database does not exist on the target",
        c if c.starts_with("28") => "the target database refused the gateway's credential",
        "42501" => "the gateway's role may not connect to that database on the target",
        _ => "the target database refused the connection",
    };
    format!("sluice: {what}")
}
