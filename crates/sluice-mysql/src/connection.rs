//! One client connection: MySQL's part of the enforcement sequence, whose order
//! `sluice_core::sequence::serve` owns. Here: the greeting, TLS and authentication
//! (identify), refusals as ERR packets, the target's login (connect), the OK that tells the
//! client it is in (greet), and the relay.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::TlsAcceptor;
use tracing::{field, Instrument};

use bytes::BytesMut;
use sluice_core::sequence::{self, Claimed, Identified, Opening, Protocol, Refusal, Relayed};
use sluice_core::{Gateway, RejectionKind, Session};
use sluice_mywire::frame;
use sluice_mywire::response::encode_ok;
use sluice_net::stream::{ClientStream, MaybeTls};
use sluice_net::ShutdownPhase;

use crate::client_auth::{self, AuthContext};
use crate::error::MyError;
use crate::handshake::{self, Greeting, Response};
use crate::kill::{Registered, Registry};
use crate::relay::{self, RelaySettings};
use crate::rsa_key::RsaKey;
use crate::upstream;

pub struct Context {
    pub tls: Option<TlsAcceptor>,
    pub gateway: Gateway,
    pub rsa: RsaKey,
    pub registry: Arc<Registry>,
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
        protocol = "mysql",
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
        registered: context.registry.register(),
    };
    match sequence::serve(&connection, &context.gateway, tcp).await {
        Ok(()) => tracing::info!(parent: &span, "connection closed"),
        Err(e) => tracing::info!(parent: &span, error = %e, "connection ended with an error"),
    }
}

struct Connection<'c> {
    context: &'c Context,
    peer: SocketAddr,
    deadline: Instant,
    shutdown: watch::Receiver<ShutdownPhase>,
    span: tracing::Span,
    /// This connection's id, as the client sees it.
    registered: Registered,
}

/// An authenticated client, or one still to be told why not.
struct Client {
    stream: ClientStream,
    /// The sequence id of the next packet to the client.
    seq: u8,
    response: Option<Response>,
}

struct Connected {
    upstream: upstream::Upstream,
    no_backslash_escapes: bool,
    ansi_quotes: bool,
}

impl Protocol for Connection<'_> {
    type Accepted = TcpStream;
    type Client = Client;
    type Upstream = Connected;
    type Closing = relay::Closing;
    type Error = MyError;
    const NAME: &'static str = "mysql";

    async fn identify(&self, _gateway: &Gateway, tcp: TcpStream) -> Opening<Client, MyError> {
        self.opening(tcp).instrument(self.span.clone()).await
    }

    async fn refuse(&self, client: &mut Client, refusal: Refusal<MyError>) -> MyError {
        let e = match refusal {
            Refusal::Failed(e) => e,
            Refusal::Rejected(rejection) => {
                let (code, state) = match rejection.kind {
                    RejectionKind::UnknownTarget => (1049, "42000"),
                    RejectionKind::Denied => (1045, "28000"),
                    RejectionKind::Internal => (1105, "HY000"),
                };
                MyError::refused(code, state, rejection.reason)
            }
        };
        send_error(&mut client.stream, client.seq, &e).await;
        e
    }

    async fn connect(&self, session: &Session, client: &Client) -> Result<Connected, MyError> {
        self.span.record("session", session.id());
        let (caps, charset) = client
            .response
            .as_ref()
            .map(|r| (r.capabilities, r.charset))
            .unwrap_or_default();
        let connected = timeout_at(self.deadline, async {
            let mut upstream = upstream::connect(session, caps, charset).await?;
            let (no_backslash_escapes, ansi_quotes) = upstream::sql_mode(&mut upstream).await?;
            Ok::<_, MyError>(Connected {
                upstream,
                no_backslash_escapes,
                ansi_quotes,
            })
        })
        .instrument(self.span.clone())
        .await
        .unwrap_or_else(|_| {
            Err(MyError::UpstreamConnect(
                "login to the target timed out".into(),
            ))
        });
        match connected {
            Ok(c) => {
                self.registered.connected(
                    &session.identity().name,
                    &session.target().name,
                    c.upstream.thread_id,
                );
                Ok(c)
            }
            Err(e) => {
                tracing::warn!(parent: &self.span, error = %e, "could not connect to the target");
                Err(e)
            }
        }
    }

    async fn greet(
        &self,
        _session: &Session,
        client: &mut Client,
        _c: &mut Connected,
    ) -> Result<(), MyError> {
        let mut ok = BytesMut::new();
        encode_ok(&mut ok, 0, sluice_mywire::caps::SERVER_STATUS_AUTOCOMMIT, 0);
        let mut out = BytesMut::new();
        client.seq = frame::put(&mut out, client.seq, &ok);
        client.stream.write_all(&out).await?;
        client.stream.flush().await?;
        tracing::info!(parent: &self.span, tls = client.stream.is_tls(), "session open");
        Ok(())
    }

    async fn relay(
        &self,
        session: &Session,
        client: Client,
        connected: Connected,
    ) -> Relayed<relay::Closing, MyError> {
        let gateway = &self.context.gateway;
        let settings = RelaySettings {
            max_packet: gateway.config().gateway.max_message_bytes,
            shutdown: self.shutdown.clone(),
            hold: self.registered.hold.clone(),
            registry: self.context.registry.clone(),
            capabilities: connected.upstream.capabilities,
            no_backslash_escapes: connected.no_backslash_escapes,
            ansi_quotes: connected.ansi_quotes,
        };
        relay::run(session, client.stream, connected.upstream.stream, settings).await
    }

    async fn close(&self, closing: relay::Closing) {
        closing.close().await;
    }
}

impl Connection<'_> {
    async fn opening(&self, tcp: TcpStream) -> Opening<Client, MyError> {
        let context = self.context;
        let gateway = &context.gateway;
        let Some(listener) = gateway.config().mysql.as_ref() else {
            return refused(
                None,
                None,
                MyError::refused(1105, "HY000", "no MySQL listener is configured"),
            );
        };
        let client_addr = self.peer.to_string();
        let nonce = nonce();
        let greeting = Greeting {
            server_version: &listener.server_version,
            connection_id: self.registered.id,
            nonce,
            tls: context.tls.is_some(),
        };
        let mut slot = Some((MaybeTls::Plain(tcp), 1u8));
        let negotiated = timeout_at(
            self.deadline,
            handshake::negotiate(
                &mut slot,
                &greeting,
                context.tls.as_ref(),
                listener.require_tls,
            ),
        )
        .await
        .unwrap_or(Err(MyError::HandshakeTimeout));
        let hello = match negotiated {
            Ok(h) => h,
            Err(e) => {
                let client = slot.map(|(stream, seq)| Client {
                    stream,
                    seq,
                    response: None,
                });
                return refused(client, None, e);
            }
        };
        let identity = hello.response.user.clone();
        let target = match (hello.response.database.as_str(), &listener.default_target) {
            ("", Some(default)) => default.clone(),
            (named, _) => named.to_owned(),
        };
        let span = tracing::Span::current();
        span.record("identity", identity.as_str());
        span.record("target", target.as_str());
        let mut stream = hello.stream;
        if identity.is_empty() || target.is_empty() {
            let e = MyError::refused(
                1045,
                "28000",
                "connect with the identity as user and the target as database (TARGET or TARGET/DATABASE); this listener has no default_target",
            );
            return refused(
                Some(Client {
                    stream,
                    seq: hello.seq,
                    response: None,
                }),
                None,
                e,
            );
        }
        let claimed = Claimed {
            client_addr: client_addr.clone(),
            identity: identity.clone(),
            target: target.clone(),
        };
        let auth_context = AuthContext {
            gateway,
            nonce: &nonce,
            allow_native: listener.allow_native_password,
            rsa: &context.rsa,
            client_addr: &client_addr,
        };
        let mut seq = hello.seq;
        let authenticated = timeout_at(
            self.deadline,
            client_auth::authenticate(&auth_context, &mut stream, &hello.response, &mut seq),
        )
        .await
        .unwrap_or(Err(MyError::HandshakeTimeout));
        let auth = match authenticated {
            Ok(a) => a,
            Err(e) => {
                let client = Client {
                    stream,
                    seq,
                    response: None,
                };
                return refused(Some(client), Some(claimed), e);
            }
        };
        let tls = stream.is_tls();
        let application_name = hello.response.attribute("program_name").map(str::to_owned);
        Opening::Session(Box::new(Identified {
            client: Client {
                stream,
                seq,
                response: Some(hello.response),
            },
            auth,
            client_addr,
            target,
            tls,
            application_name,
            settings: Default::default(),
        }))
    }
}

fn nonce() -> [u8; 20] {
    let mut nonce: [u8; 20] = sluice_core::token::random_bytes();
    // Printable, without NUL: some clients read the nonce as a C string.
    for b in &mut nonce {
        *b = b'!' + (*b % 90);
    }
    nonce
}

fn refused(
    client: Option<Client>,
    claimed: Option<Claimed>,
    error: MyError,
) -> Opening<Client, MyError> {
    Opening::Refused {
        client,
        claimed,
        error,
    }
}

async fn send_error(stream: &mut ClientStream, seq: u8, e: &MyError) {
    let mut out = BytesMut::new();
    e.put_for_client(&mut out, seq);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        let _ = stream.write_all(&out).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
