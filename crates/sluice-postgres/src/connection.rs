//! One client connection: PostgreSQL's part of the enforcement sequence, whose order
//! `sluice_core::sequence::serve` owns. Here: the handshake and authentication (identify),
//! refusals as FATAL ErrorResponses, the target's login and cancel key (connect), the greeting
//! (AuthenticationOk, the target's ParameterStatus messages, BackendKeyData, ReadyForQuery),
//! and the relay.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::TlsAcceptor;
use tracing::{field, Instrument};

use sluice_core::sequence::{self, Claimed, Identified, Opening, Protocol, Refusal, Relayed};
use sluice_core::{Gateway, RejectionKind, Session};
use sluice_pgwire::cstr::lossy;
use sluice_pgwire::encode;

use crate::cancel::CancelRegistry;
use crate::error::PgError;
use crate::handshake;
use crate::relay::{self, RelaySettings};
use crate::startup_options::startup_settings;
use crate::{client_auth, upstream, ShutdownPhase};
use sluice_net::stream::{ClientStream, MaybeTls};

pub struct Context {
    pub tls: Option<TlsAcceptor>,
    pub cancels: CancelRegistry,
    pub gateway: Gateway,
    pub catalog: Arc<crate::catalog::CatalogCache>,
}

pub async fn serve(
    context: Arc<Context>,
    tcp: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<ShutdownPhase>,
) {
    let _ = tcp.set_nodelay(true);
    let span = tracing::info_span!(
        "session",
        protocol = "postgres",
        client = %peer,
        session = field::Empty,
        identity = field::Empty,
        target = field::Empty,
    );
    let deadline = Instant::now() + context.gateway.config().gateway.handshake_timeout;
    let connection = Connection {
        context: &context,
        peer,
        deadline,
        shutdown,
        span: span.clone(),
    };
    // The span is entered for the steps before the relay, where most log lines are; the relay
    // logs through `parent: &span` instead, so its hot loop does not enter and exit a span on
    // every poll.
    match sequence::serve(&connection, &context.gateway, tcp).await {
        Ok(()) => tracing::info!(parent: &span, "connection closed"),
        Err(e) => tracing::info!(parent: &span, error = %e, "connection ended with an error"),
    }
}

/// One client connection, as the enforcement sequence drives it.
struct Connection<'c> {
    context: &'c Context,
    peer: SocketAddr,
    /// For the whole login: handshake, authentication and the target's login.
    deadline: Instant,
    shutdown: watch::Receiver<ShutdownPhase>,
    span: tracing::Span,
}

/// An authenticated client.
struct Client {
    stream: ClientStream,
    /// The protocol's minor version, which sets the cancel key's length.
    minor_version: u16,
    /// The startup settings, passed on to the target.
    settings: std::collections::BTreeMap<String, String>,
}

/// The target's connection and the cancel key the client got for it.
struct Connected {
    upstream: upstream::Upstream,
    /// Forgotten (and so unusable) when the session ends.
    cancel_key: crate::cancel::CancelKey,
}

impl Protocol for Connection<'_> {
    type Accepted = TcpStream;
    type Client = Client;
    type Upstream = Connected;
    type Closing = relay::Closing;
    type Error = PgError;
    const NAME: &'static str = "postgres";

    async fn identify(&self, _gateway: &Gateway, tcp: TcpStream) -> Opening<Client, PgError> {
        self.opening(tcp).instrument(self.span.clone()).await
    }

    async fn refuse(&self, client: &mut Client, refusal: Refusal<PgError>) -> PgError {
        let e = match refusal {
            Refusal::Failed(e) => e,
            Refusal::Rejected(rejection) => {
                let code = match rejection.kind {
                    RejectionKind::UnknownTarget => "3D000",
                    RejectionKind::Denied => "42501",
                    RejectionKind::Internal => "58000",
                };
                PgError::refused(code, rejection.reason)
            }
        };
        send_fatal(&mut client.stream, &e).await;
        e
    }

    async fn connect(&self, session: &Session, client: &Client) -> Result<Connected, PgError> {
        self.span.record("session", session.id());
        let params: Vec<(&[u8], &[u8])> = client
            .settings
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        let upstream = timeout_at(self.deadline, upstream::connect(session, &params))
            .instrument(self.span.clone())
            .await
            .unwrap_or_else(|_| {
                Err(PgError::UpstreamConnect(
                    "login to the target timed out".into(),
                ))
            });
        let upstream = match upstream {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(parent: &self.span, error = %e, "could not connect to the target");
                return Err(e);
            }
        };
        let cancel_key = self.context.cancels.register(
            Arc::new(session.target().clone()),
            upstream.backend_pid,
            &upstream.backend_secret,
            if client.minor_version >= 2 { 32 } else { 4 },
        );
        Ok(Connected {
            upstream,
            cancel_key,
        })
    }

    async fn greet(
        &self,
        _session: &Session,
        client: &mut Client,
        connected: &mut Connected,
    ) -> Result<(), PgError> {
        let mut greeting = BytesMut::new();
        encode::authentication_ok(&mut greeting);
        greeting.extend_from_slice(&connected.upstream.announcements);
        let key = &connected.cancel_key;
        encode::backend_key_data(&mut greeting, key.pid, &key.secret);
        encode::ready_for_query(&mut greeting, b'I');
        client.stream.write_all(&greeting).await?;
        tracing::info!(parent: &self.span, tls = client.stream.is_tls(), "session open");
        Ok(())
    }

    async fn relay(
        &self,
        session: &Session,
        client: Client,
        connected: Connected,
    ) -> Relayed<relay::Closing, PgError> {
        let settings = RelaySettings {
            max_message_bytes: self.context.gateway.config().gateway.max_message_bytes,
            shutdown: self.shutdown.clone(),
            catalog: self.context.catalog.clone(),
            hold_cancel: connected.cancel_key.hold.clone(),
        };
        let mut relayed = relay::run(session, client.stream, connected.upstream, settings).await;
        relayed.closing.cancel_key = Some(connected.cancel_key);
        relayed
    }

    async fn close(&self, closing: relay::Closing) {
        closing.close().await;
    }
}

impl Connection<'_> {
    /// From accept to an authenticated client.
    async fn opening(&self, tcp: TcpStream) -> Opening<Client, PgError> {
        let context = self.context;
        let gateway = &context.gateway;
        let config = gateway.config();
        let client_addr = self.peer.to_string();

        let mut slot = Some(MaybeTls::Plain(tcp));
        let negotiated = timeout_at(
            self.deadline,
            handshake::negotiate(&mut slot, context.tls.as_ref(), config.postgres.require_tls),
        )
        .await
        .unwrap_or(Err(PgError::HandshakeTimeout));
        let mut hello = match negotiated {
            Ok(handshake::Opening::Hello(hello)) => hello,
            Ok(handshake::Opening::Cancel { pid, secret }) => {
                // The client's connection (in `slot`) closes when this returns, after the
                // target closed its own.
                context.cancels.cancel(&context.gateway, pid, &secret).await;
                return Opening::Done;
            }
            Err(e) => {
                if let Some(stream) = slot.as_mut() {
                    send_fatal(stream, &e).await;
                }
                return refused(None, None, e);
            }
        };
        let minor_version = hello.version.minor;

        let identity = match hello.param("user") {
            Some(u) if !u.is_empty() => lossy(u).into_owned(),
            _ => {
                let e = PgError::refused(
                    "28000",
                    "no user name given: connect with the identity as user",
                );
                return refused(Some(client(hello.stream, minor_version)), None, e);
            }
        };
        let target = hello
            .param("database")
            .map(|d| lossy(d).into_owned())
            .unwrap_or_else(|| identity.clone());
        let span = tracing::Span::current();
        span.record("identity", identity.as_str());
        span.record("target", target.as_str());
        let claimed = Claimed {
            client_addr: client_addr.clone(),
            identity: identity.clone(),
            target: target.clone(),
        };
        let settings = match startup_settings(&hello.params) {
            Ok(s) => s,
            Err(e) => return refused(Some(client(hello.stream, minor_version)), Some(claimed), e),
        };

        let authenticated = timeout_at(
            self.deadline,
            client_auth::authenticate(
                gateway,
                &mut hello.stream,
                &identity,
                &client_addr,
                config.postgres.client_auth,
            ),
        )
        .await
        .unwrap_or(Err(PgError::HandshakeTimeout));
        let auth = match authenticated {
            Ok(a) => a,
            Err(e) => return refused(Some(client(hello.stream, minor_version)), Some(claimed), e),
        };
        let tls = hello.is_tls();
        Opening::Session(Box::new(Identified {
            client: Client {
                stream: hello.stream,
                minor_version,
                settings: settings.clone(),
            },
            auth,
            client_addr,
            target,
            tls,
            application_name: settings.get("application_name").cloned(),
            settings,
        }))
    }
}

fn client(stream: ClientStream, minor_version: u16) -> Client {
    Client {
        stream,
        minor_version,
        settings: Default::default(),
    }
}

fn refused(
    client: Option<Client>,
    claimed: Option<Claimed>,
    error: PgError,
) -> Opening<Client, PgError> {
    Opening::Refused {
        client,
        claimed,
        error,
    }
}

async fn send_fatal(stream: &mut ClientStream, e: &PgError) {
    let mut out = BytesMut::new();
    e.write_fatal(&mut out);
    // A client that stopped reading must not hold the task: one second, then give up.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        let _ = stream.write_all(&out).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
