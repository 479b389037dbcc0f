//! One client connection, start to end. The order of the steps here is the enforcement
//! sequence for PostgreSQL: handshake → authenticate → open session (policy + audit) →
//! connect upstream → greet → relay (decide + audit + forward per request) → end (audit).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::TlsAcceptor;
use tracing::{field, Instrument};

use sluice_core::{Gateway, RejectionKind, SessionRequest, Traffic};
use sluice_pgwire::cstr::lossy;
use sluice_pgwire::encode;

use crate::cancel::CancelRegistry;
use crate::error::PgError;
use crate::handshake::{self, Opening};
use crate::relay::{self, RelaySettings};
use crate::startup_options::startup_settings;
use crate::stream::{ClientStream, MaybeTls};
use crate::{client_auth, upstream, ShutdownPhase};

pub struct Context {
    pub tls: Option<TlsAcceptor>,
    pub cancels: CancelRegistry,
    pub gateway: Gateway,
    pub catalog: Arc<crate::catalog::CatalogCache>,
}

/// A session ready to relay, with what must live as long as it does.
struct Established {
    session: sluice_core::Session,
    stream: ClientStream,
    upstream: upstream::Upstream,
    /// Forgotten (and so unusable) when the session ends.
    cancel_key: crate::cancel::CancelKey,
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
    // The span is entered for the handshake, where most log lines are; the relay logs through
    // `parent: &span` instead, so its hot loop does not enter and exit a span on every poll.
    let established = establish(&context, tcp, peer)
        .instrument(span.clone())
        .await;
    let result = match established {
        Ok(Some(e)) => {
            let settings = RelaySettings {
                max_message_bytes: context.gateway.config().gateway.max_message_bytes,
                shutdown,
                catalog: context.catalog.clone(),
                hold_cancel: e.cancel_key.hold.clone(),
            };
            let result = relay::run(&e.session, e.stream, e.upstream, settings).await;
            drop(e.cancel_key);
            result
        }
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => tracing::info!(parent: &span, "connection closed"),
        Err(e) => tracing::info!(parent: &span, error = %e, "connection ended with an error"),
    }
}

/// Steps from accept to a greeted client; `None` when the connection needed no session (a
/// cancel request).
async fn establish(
    context: &Context,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Result<Option<Established>, PgError> {
    let gateway = &context.gateway;
    let config = gateway.config();
    let deadline = Instant::now() + config.gateway.handshake_timeout;
    let client_addr = peer.to_string();

    let mut slot = Some(MaybeTls::Plain(tcp));
    let negotiated = timeout_at(
        deadline,
        handshake::negotiate(&mut slot, context.tls.as_ref(), config.postgres.require_tls),
    )
    .await
    .unwrap_or(Err(PgError::HandshakeTimeout));
    let mut hello = match negotiated {
        Ok(Opening::Hello(hello)) => hello,
        Ok(Opening::Cancel { pid, secret }) => {
            // The client's connection (in `slot`) closes when this returns, after the target
            // closed its own.
            context.cancels.cancel(pid, &secret).await;
            return Ok(None);
        }
        Err(e) => {
            if let Some(stream) = slot.as_mut() {
                send_fatal(stream, &e).await;
            }
            return Err(e);
        }
    };

    let identity = match hello.param("user") {
        Some(u) if !u.is_empty() => lossy(u).into_owned(),
        _ => {
            return refuse(
                &mut hello.stream,
                PgError::refused(
                    "28000",
                    "no user name given: connect with the identity as user",
                ),
            )
            .await
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
        client_addr: &client_addr,
        identity: &identity,
        target: &target,
    };
    let settings = match startup_settings(&hello.params) {
        Ok(s) => s,
        Err(e) => return refuse_audited(gateway, &claimed, &mut hello.stream, e).await,
    };

    let authenticated = timeout_at(
        deadline,
        client_auth::authenticate(
            gateway,
            &mut hello.stream,
            &identity,
            config.postgres.client_auth,
        ),
    )
    .await
    .unwrap_or(Err(PgError::HandshakeTimeout));
    let authenticated = match authenticated {
        Ok(a) => a,
        Err(e) => return refuse_audited(gateway, &claimed, &mut hello.stream, e).await,
    };

    let request = SessionRequest {
        client_addr: client_addr.clone(),
        target: &target,
        protocol: "postgres",
        tls: hello.is_tls(),
        application_name: settings.get("application_name").cloned(),
        settings: settings.clone(),
    };
    let session = match gateway.open_session(authenticated, request).await {
        Ok(s) => s,
        Err(rejection) => {
            let code = match rejection.kind {
                RejectionKind::UnknownTarget => "3D000",
                RejectionKind::Denied => "42501",
                RejectionKind::Internal => "58000",
            };
            return refuse(&mut hello.stream, PgError::refused(code, rejection.reason)).await;
        }
    };
    span.record("session", session.id());

    let params: Vec<(&[u8], &[u8])> = settings
        .iter()
        .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
        .collect();
    let upstream = timeout_at(deadline, upstream::connect(&session, &params))
        .await
        .unwrap_or_else(|_| {
            Err(PgError::UpstreamConnect(
                "login to the target timed out".into(),
            ))
        });
    let upstream = match upstream {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "could not connect to the target");
            gateway.metrics().session_errors.inc();
            session.end(&e.to_string(), Traffic::default()).await;
            return refuse(&mut hello.stream, e).await;
        }
    };

    let cancel_key = context.cancels.register(
        Arc::new(session.target().clone()),
        upstream.backend_pid,
        &upstream.backend_secret,
        if hello.version.minor >= 2 { 32 } else { 4 },
    );
    let mut greeting = BytesMut::new();
    encode::authentication_ok(&mut greeting);
    greeting.extend_from_slice(&upstream.announcements);
    encode::backend_key_data(&mut greeting, cancel_key.pid, &cancel_key.secret);
    encode::ready_for_query(&mut greeting, b'I');
    if let Err(e) = hello.stream.write_all(&greeting).await {
        session
            .end("client disconnected during login", Traffic::default())
            .await;
        return Err(e.into());
    }
    tracing::info!(tls = hello.is_tls(), "session open");
    Ok(Some(Established {
        session,
        stream: hello.stream,
        upstream,
        cancel_key,
    }))
}

/// Who a refused client claimed to be and what it asked for, for the audit record.
struct Claimed<'a> {
    client_addr: &'a str,
    identity: &'a str,
    target: &'a str,
}

/// Refuses a client that named an identity and a target, and audits the refusal.
async fn refuse_audited<T>(
    gateway: &Gateway,
    claimed: &Claimed<'_>,
    stream: &mut ClientStream,
    e: PgError,
) -> Result<T, PgError> {
    let reason = e.to_string();
    gateway
        .reject(
            claimed.client_addr,
            Some(claimed.identity),
            Some(claimed.target),
            "postgres",
            &reason,
        )
        .await;
    refuse(stream, e).await
}

async fn refuse<T>(stream: &mut ClientStream, e: PgError) -> Result<T, PgError> {
    send_fatal(stream, &e).await;
    Err(e)
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
