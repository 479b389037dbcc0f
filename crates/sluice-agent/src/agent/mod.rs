//! The agent's side (`sluice agent --server HOST:PORT --enroll TOKEN`): it runs inside the
//! private network, dials out to the gateway, enrolls once, and from then on keeps one
//! mutual-TLS link up, reconnecting with backoff and answering (and sending) PINGs. Each
//! stream the gateway opens is one TCP connection the agent makes to a target and copies
//! bytes to and from; it reads none of them.

mod credentials;
mod login;
mod state;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use rand::Rng;
use sluice_net::stream::MaybeTls;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::enrollment::EnrollmentToken;
use crate::hello::{self, Answer, Hello};
use crate::stream::H2Stream;
use crate::{
    AgentError, ADDRESS_HEADER, ALPN, CONNECTION_WINDOW, ERROR_HEADER, STREAM_WINDOW, TARGET_HEADER,
};
use credentials::Credentials;
use state::{Enrolled, State};
use std::sync::Arc;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a TCP connect (to the gateway or to a target) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct AgentOptions {
    /// The gateway's agent listener, `HOST:PORT`.
    pub server: String,
    /// The enrollment token, the first time (ignored once redeemed; a different one enrolls
    /// again).
    pub enroll: Option<String>,
    /// Where the agent keeps its key, certificate and enrollment.
    pub state_dir: PathBuf,
    /// How often the agent PINGs the gateway; three missed answers and it reconnects.
    pub heartbeat: Duration,
    /// Targets whose credential the agent holds (PostgreSQL logins it performs itself).
    pub targets: Option<PathBuf>,
    /// The addresses the agent connects to for the gateway (`host:port`, `host:*`, `*:port`);
    /// empty: any. A gateway taken over could otherwise use the agent to reach anything in its
    /// network.
    pub allow: Vec<String>,
}

/// Whether `address` (`host:port`, as the gateway sent it) matches one of `allow`.
fn allowed(allow: &[String], address: &str) -> bool {
    if allow.is_empty() {
        return true;
    }
    let Some((host, port)) = address.rsplit_once(':') else {
        return false;
    };
    allow.iter().any(|pattern| match pattern.rsplit_once(':') {
        Some((h, p)) => (h == "*" || h.eq_ignore_ascii_case(host)) && (p == "*" || p == port),
        None => false,
    })
}

/// Runs until `stop` turns true. Returns an error only for what retrying cannot mend: no
/// enrollment, a refused token, a revoked key.
pub async fn run(options: AgentOptions, mut stop: watch::Receiver<bool>) -> Result<(), AgentError> {
    let state = State::open(&options.state_dir)?;
    let credentials = Arc::new(match &options.targets {
        Some(path) => Credentials::load(path)?,
        None => Credentials::default(),
    });
    let token = options
        .enroll
        .as_deref()
        .map(EnrollmentToken::parse)
        .transpose()?;
    let mut backoff = FIRST_BACKOFF;
    // Set once a redemption was refused: the token may have been redeemed by this very agent
    // before it could note so (a crash in between), its key registered; it then connects.
    let mut refused_enrollment: Option<String> = None;
    loop {
        let plan = match (state.enrolled(), &token) {
            (None, Some(t)) if refused_enrollment.is_some() => Plan::Resume(t.clone()),
            (Some(done), Some(t)) if done.token_id != t.id => Plan::Enroll(t.clone()),
            (Some(done), _) => Plan::Connect(done.gateway_sha256),
            (None, Some(t)) => Plan::Enroll(t.clone()),
            (None, None) => {
                return Err(AgentError::Enrollment(
                    "this agent is not enrolled: run it once with --enroll TOKEN (from \
                     `sluice agent enroll NAME` on the gateway)"
                        .into(),
                ))
            }
        };
        let enrolling = matches!(plan, Plan::Enroll(_));
        let attempt = tokio::select! {
            r = link(&options, &state, plan, &credentials) => r,
            _ = crate::stopped(&mut stop) => return Ok(()),
        };
        match attempt {
            Ok(Ended::After(reason)) => {
                tracing::warn!(%reason, "the link to the gateway ended; reconnecting");
                backoff = FIRST_BACKOFF;
            }
            Ok(Ended::Refused(reason)) if enrolling && state.enrolled().is_none() => {
                // Straight on to connecting with the key: no backoff, nothing else to wait for.
                refused_enrollment = Some(reason);
                continue;
            }
            // The redemption's refusal is the one to report, not the key's that followed it.
            Ok(Ended::Refused(reason)) => {
                return Err(AgentError::Enrollment(refused_enrollment.unwrap_or(reason)))
            }
            Err(e) => tracing::warn!(error = %e, retry_in = ?backoff, "cannot reach the gateway"),
        }
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        tokio::select! {
            _ = tokio::time::sleep(backoff.mul_f64(jitter)) => {}
            _ = crate::stopped(&mut stop) => return Ok(()),
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

enum Plan {
    Enroll(EnrollmentToken),
    /// Connect by key, pinning the token's gateway, after its redemption was refused.
    Resume(EnrollmentToken),
    Connect([u8; 32]),
}

enum Ended {
    /// The link was up and ended (the gateway restarted, the network failed).
    After(String),
    /// The gateway refused this agent; retrying will not change that.
    Refused(String),
}

/// One link: connect, hello, then serve the gateway's streams until it ends.
async fn link(
    options: &AgentOptions,
    state: &State,
    plan: Plan,
    credentials: &Arc<Credentials>,
) -> Result<Ended, AgentError> {
    let allow = Arc::new(options.allow.clone());
    let pin = match &plan {
        Plan::Enroll(t) | Plan::Resume(t) => t.gateway_sha256,
        Plan::Connect(pin) => *pin,
    };
    let config = sluice_net::pinned::client_config(pin, state.cert.clone(), state.key()?, &[ALPN])?;
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&options.server))
        .await
        .map_err(|_| AgentError::Link(format!("{} did not answer in time", options.server)))??;
    let _ = tcp.set_nodelay(true);
    let host = options
        .server
        .rsplit_once(':')
        .map_or(options.server.as_str(), |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = sluice_net::tls::server_name(host)?;
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    let version = env!("CARGO_PKG_VERSION").to_owned();
    let hello_message = match &plan {
        Plan::Enroll(t) => Hello::Enroll {
            id: t.id.clone(),
            secret: t.secret().to_owned(),
            version,
        },
        Plan::Resume(_) | Plan::Connect(_) => Hello::Connect { version },
    };
    hello::write(&mut tls, &hello_message).await?;
    let agent = match hello::read::<Answer>(&mut tls).await? {
        Answer::Welcome { agent } => agent,
        Answer::Refused { reason } => return Ok(Ended::Refused(reason)),
    };
    if let Plan::Enroll(t) | Plan::Resume(t) = &plan {
        state.note_enrolled(&Enrolled {
            gateway_sha256: t.gateway_sha256,
            token_id: t.id.clone(),
        })?;
        tracing::info!(%agent, "enrolled");
    }
    tracing::info!(%agent, server = %options.server, "connected to the gateway");
    let mut connection = h2::server::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .handshake::<_, Bytes>(tls)
        .await?;
    let mut ping = connection.ping_pong();
    let heartbeat = async {
        let Some(ping) = ping.as_mut() else {
            return "the link offers no PING".to_owned();
        };
        let mut tick = tokio::time::interval(options.heartbeat);
        loop {
            tick.tick().await;
            match tokio::time::timeout(options.heartbeat * 3, ping.ping(h2::Ping::opaque())).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return format!("heartbeat failed: {e}"),
                Err(_) => return "the gateway missed 3 heartbeats".to_owned(),
            }
        }
    };
    let serve = async {
        while let Some(accepted) = connection.accept().await {
            match accepted {
                Ok((request, respond)) => {
                    tokio::spawn(carry(request, respond, credentials.clone(), allow.clone()));
                }
                Err(e) => return format!("the link failed: {e}"),
            }
        }
        "the gateway closed the link".to_owned()
    };
    let reason = tokio::select! {
        why = serve => why,
        why = heartbeat => why,
    };
    Ok(Ended::After(reason))
}

/// One stream: connect to the target the gateway names, then copy both ways until either
/// side ends.
async fn carry(
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    credentials: Arc<Credentials>,
    allow: Arc<Vec<String>>,
) {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (target, address) = (header(TARGET_HEADER), header(ADDRESS_HEADER));
    if !allowed(&allow, &address) {
        let why = format!(
            "the agent does not connect to {address} (target {target}): not in its --allow"
        );
        tracing::warn!("{why}");
        refuse(&mut respond, &why);
        return;
    }
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&address)).await;
    let tcp = match connected {
        Ok(Ok(tcp)) => tcp,
        failed => {
            let why = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => format!("no answer within {CONNECT_TIMEOUT:?}"),
            };
            let why = format!("cannot reach target {target} at {address}: {why}");
            tracing::warn!("{why}");
            refuse(&mut respond, &why);
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    let send = match respond.send_response(http::Response::new(()), false) {
        Ok(send) => send,
        Err(e) => {
            tracing::warn!(error = %e, "the gateway dropped a stream before it opened");
            return;
        }
    };
    let mut stream = H2Stream::new(send, request.into_body(), "the gateway".to_owned());
    let mut upstream: MaybeTls<tokio_rustls::client::TlsStream<TcpStream>> = MaybeTls::Plain(tcp);
    if let Some(credential) = credentials.get(&target) {
        let failed = |e: String| tracing::warn!(%target, error = %e, "the agent's login to the target failed");
        if credential.tls.is_some() {
            let host = address
                .rsplit_once(':')
                .map_or(address.as_str(), |(h, _)| h);
            upstream = match login::tls(upstream, host, credential).await {
                Ok(upstream) => upstream,
                Err(e) => return failed(e),
            };
        }
        let password = credential.password.expose().as_bytes();
        if let Err(e) = login::postgres(&mut stream, &mut upstream, password).await {
            return failed(e);
        }
    }
    if let Err(e) = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await {
        tracing::debug!(%target, error = %e, "stream ended with an error");
    }
}

fn refuse(respond: &mut SendResponse<Bytes>, why: &str) {
    // A header value is visible ASCII; anything else in an OS error becomes '?'.
    let clean: String = why
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    let mut response = http::Response::new(());
    *response.status_mut() = http::StatusCode::BAD_GATEWAY;
    if let Ok(value) = http::HeaderValue::from_str(&clean) {
        response.headers_mut().insert(ERROR_HEADER, value);
    }
    let _ = respond.send_response(response, true);
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn allow_patterns_match_host_and_port() {
        let allow = [
            "db.internal:5432".to_owned(),
            "*:22".to_owned(),
            "web:*".to_owned(),
        ];
        assert!(allowed(&[], "anything:1"));
        assert!(allowed(&allow, "db.internal:5432"));
        assert!(allowed(&allow, "DB.internal:5432"));
        assert!(!allowed(&allow, "db.internal:5433"));
        assert!(allowed(&allow, "10.0.0.9:22"));
        assert!(allowed(&allow, "web:8080"));
        assert!(!allowed(&allow, "other:8080"));
        assert!(!allowed(&allow, "no-port"));
    }
}
