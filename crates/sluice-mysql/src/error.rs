//! Every way a MySQL connection fails, and what the client is told about it.

use sluice_mywire::WireError;

#[derive(Debug, thiserror::Error)]
pub enum MyError {
    #[error("invalid packet from client: {0}")]
    ClientProtocol(WireError),
    /// Refused with the MySQL error the client sees (code, SQLSTATE, message).
    #[error("{message}")]
    Refused {
        code: u16,
        state: &'static str,
        message: String,
    },
    #[error("authentication failed for identity {0:?}")]
    AuthFailed(String),
    #[error("the client did not finish the handshake in time")]
    HandshakeTimeout,
    #[error("could not connect to the target: {0}")]
    UpstreamConnect(String),
    /// The target refused the gateway's login. Its code reaches the client (retry logic keys
    /// on it); its message, which may name the gateway's account, stays in the log.
    #[error("target refused the connection: {code} {message}")]
    UpstreamRefused { code: u16, message: String },
    #[error("invalid packet from target: {0}")]
    UpstreamProtocol(String),
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

impl From<sluice_net::NetError> for MyError {
    fn from(e: sluice_net::NetError) -> MyError {
        match e {
            sluice_net::NetError::Tls(m) => MyError::Tls(m),
            sluice_net::NetError::Io(e) => MyError::Io(e),
        }
    }
}

impl MyError {
    pub fn refused(code: u16, state: &'static str, message: impl Into<String>) -> MyError {
        MyError::Refused {
            code,
            state,
            message: message.into(),
        }
    }

    pub fn upstream(e: WireError) -> MyError {
        MyError::UpstreamProtocol(e.to_string())
    }

    /// The ERR packet the client is sent, framed at sequence id `seq`.
    pub fn put_for_client(&self, out: &mut bytes::BytesMut, seq: u8) {
        let (code, state, message) = self.for_client();
        sluice_mywire::response::put_err(out, seq, code, state, &message);
    }

    /// The error packet fields the client sees: never the target's own words on login, never
    /// a secret.
    pub fn for_client(&self) -> (u16, &'static str, String) {
        match self {
            MyError::ClientProtocol(e) => (1835, "08S01", format!("sluice: malformed packet: {e}")),
            MyError::Refused {
                code,
                state,
                message,
            } => (*code, state, format!("sluice: {message}")),
            MyError::AuthFailed(identity) => (
                1045,
                "28000",
                format!("sluice: access denied for identity '{identity}' (the password is a sluice token)"),
            ),
            MyError::HandshakeTimeout => (1159, "08S01", "sluice: handshake timed out".into()),
            MyError::UpstreamConnect(_) => (
                2003,
                "HY000",
                "sluice: could not connect to the target".into(),
            ),
            MyError::UpstreamRefused { code, .. } => (
                *code,
                "28000",
                "sluice: the target refused the gateway's login".into(),
            ),
            MyError::UpstreamProtocol(_) => (2027, "HY000", "sluice: the target sent an invalid packet".into()),
            // ER_CON_COUNT_ERROR's neighbour ER_HOST_IS_BLOCKED (1129) says the same to clients.
            MyError::Core(e @ sluice_core::CoreError::Throttled { .. }) => {
                (1129, "HY000", format!("sluice: {e}"))
            }
            MyError::Core(_) => (1105, "HY000", "sluice: internal error; the session ends".into()),
            MyError::Tls(_) => (2026, "HY000", "sluice: TLS failure".into()),
            MyError::Masking(m) => (1105, "HY000", format!("sluice: masking failed: {m}")),
            MyError::Io(e) => match sluice_core::tunnel::LinkLost::behind(e) {
                Some(lost) => (2013, "HY000", format!("sluice: {lost}; the session is ended")),
                None => (2013, "HY000", "sluice: connection failure".into()),
            },
        }
    }
}
