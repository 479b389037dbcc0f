//! SSH's part of the enforcement sequence (sluice-core's `sequence`): russh runs the client's
//! transport in a task of its own; the first login that proves an identity is held while the
//! gateway admits its session and logs in to the target, and only then does the client learn
//! that its login succeeded. A refused session is told why in the disconnect message, which
//! OpenSSH prints.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::server::{Handle, RunningSession};
use russh::Disconnect;
use sluice_core::sequence::{self, Claimed, Identified, Opening, Protocol, Refusal, Relayed};
use sluice_core::{Gateway, Session};
use sluice_net::ShutdownPhase;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::field;

use crate::error::SshError;
use crate::frontend::{Event, Frontend, Login};
use crate::relay;
use crate::upstream::{self, Upstream};

/// What every connection of the listener shares.
pub(crate) struct Context {
    pub gateway: Gateway,
    pub russh: Arc<russh::server::Config>,
    pub password_auth: bool,
    pub default_target: Option<String>,
}

/// How long a client has from its first byte to a successful login: people type passwords
/// here, so longer than the database listeners' handshake timeout (OpenSSH allows 120 s).
const LOGIN_GRACE: Duration = Duration::from_secs(60);

pub(crate) async fn serve(
    context: Arc<Context>,
    tcp: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<ShutdownPhase>,
) {
    let _ = tcp.set_nodelay(true);
    let span = tracing::info_span!(
        "session",
        protocol = "ssh",
        client = %peer,
        session = field::Empty,
        identity = field::Empty,
        target = field::Empty,
    );
    let connection = Connection {
        context: &context,
        peer,
        shutdown,
    };
    match sequence::serve(&connection, &context.gateway, tcp).await {
        Ok(()) => tracing::info!(parent: &span, "connection closed"),
        Err(e) => tracing::info!(parent: &span, error = %e, "connection ended with an error"),
    }
}

struct Connection<'c> {
    context: &'c Context,
    peer: SocketAddr,
    shutdown: watch::Receiver<ShutdownPhase>,
}

/// A client whose login waits for the gateway's verdict.
pub(crate) struct Client {
    pub handle: Handle,
    /// russh's task for the client's transport; it ends when the client is gone.
    pub running: JoinHandle<Result<(), russh::Error>>,
    /// `running` was awaited to its end (a finished task must not be awaited again).
    pub finished: bool,
    pub events: mpsc::UnboundedReceiver<Event>,
    verdict: Option<oneshot::Sender<Result<(), String>>>,
    pub shutdown: watch::Receiver<ShutdownPhase>,
}

impl Client {
    /// Gives the transport a moment to send what is queued (a disconnect message), then
    /// stops it.
    async fn wind_down(&mut self) {
        if !self.finished {
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.running).await;
            self.finished = true;
        }
        self.running.abort();
    }

    pub(crate) async fn disconnect(&self, message: &str) {
        let _ = self
            .handle
            .disconnect(
                Disconnect::ByApplication,
                message.to_owned(),
                "en".to_owned(),
            )
            .await;
    }
}

impl Protocol for Connection<'_> {
    type Accepted = TcpStream;
    type Client = Client;
    type Upstream = Upstream;
    type Closing = Client;
    type Error = SshError;

    const NAME: &'static str = "ssh";

    async fn identify(&self, gateway: &Gateway, tcp: TcpStream) -> Opening<Client, SshError> {
        let (logins_tx, logins) = oneshot::channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let attempted = Arc::new(std::sync::Mutex::new(None));
        let frontend = Frontend {
            gateway: gateway.clone(),
            client_addr: self.peer.to_string(),
            password_auth: self.context.password_auth,
            default_target: self.context.default_target.clone(),
            logins: Some(logins_tx),
            events: events_tx,
            failures: 0,
            attempted: attempted.clone(),
        };
        let started = tokio::time::timeout(
            LOGIN_GRACE,
            russh::server::run_stream(self.context.russh.clone(), tcp, frontend),
        )
        .await;
        let running: RunningSession<Frontend> = match started {
            Ok(Ok(running)) => running,
            Ok(Err(e)) => return refused_silently(SshError::Protocol(e)),
            Err(_) => {
                return refused_silently(SshError::ClientGone("no SSH greeting in time".into()))
            }
        };
        let handle = running.handle();
        let mut running = tokio::spawn(running);
        let login = tokio::select! {
            login = logins => login.ok(),
            _ = &mut running => None,
            () = tokio::time::sleep(LOGIN_GRACE) => None,
        };
        let Some(Login {
            auth,
            target,
            verdict,
        }) = login
        else {
            running.abort();
            // A client that named an identity and failed its check is on record.
            let claimed = attempted.lock().ok().and_then(|mut a| a.take());
            return match claimed {
                Some((identity, target)) => Opening::Refused {
                    client: None,
                    claimed: Some(Claimed {
                        client_addr: self.peer.to_string(),
                        identity,
                        target,
                    }),
                    error: SshError::Refused("authentication failed".into()),
                },
                None => refused_silently(SshError::ClientGone("the client did not log in".into())),
            };
        };
        let application_name = None;
        Opening::Session(Box::new(Identified {
            client: Client {
                handle,
                running,
                events,
                verdict: Some(verdict),
                finished: false,
                shutdown: self.shutdown.clone(),
            },
            auth,
            client_addr: self.peer.to_string(),
            target,
            // The transport is encrypted and the server authenticated, as TLS would be.
            tls: true,
            application_name,
            settings: Default::default(),
        }))
    }

    async fn refuse(&self, client: &mut Client, refusal: Refusal<SshError>) -> SshError {
        let message = match &refusal {
            Refusal::Failed(e) => format!("sluice: {e}"),
            Refusal::Rejected(r) => format!("sluice: {}", r.reason),
        };
        // The login is answered first (accepted, see `frontend`), then the disconnect with
        // the reason goes out behind it; the transport gets a moment to send both.
        if let Some(verdict) = client.verdict.take() {
            let _ = verdict.send(Err(message.clone()));
        }
        client.disconnect(&message).await;
        client.wind_down().await;
        match refusal {
            Refusal::Failed(e) => e,
            Refusal::Rejected(r) => SshError::Refused(r.reason),
        }
    }

    async fn connect(&self, session: &Session, _client: &Client) -> Result<Upstream, SshError> {
        upstream::connect(session).await
    }

    async fn greet(
        &self,
        _session: &Session,
        client: &mut Client,
        _upstream: &mut Upstream,
    ) -> Result<(), SshError> {
        let sent = client.verdict.take().map(|v| v.send(Ok(())).is_ok());
        match sent {
            Some(true) => Ok(()),
            _ => Err(SshError::ClientGone("the client left during login".into())),
        }
    }

    async fn relay(
        &self,
        session: &Session,
        client: Client,
        upstream: Upstream,
    ) -> Relayed<Client, SshError> {
        relay::run(session, client, upstream).await
    }

    async fn close(&self, mut client: Client) {
        client.disconnect("sluice: session ended").await;
        client.wind_down().await;
    }
}

fn refused_silently(error: SshError) -> Opening<Client, SshError> {
    Opening::Refused {
        client: None,
        claimed: None,
        error,
    }
}
