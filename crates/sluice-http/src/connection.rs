//! One client connection of the HTTPS listener: TLS, then hyper serving HTTP/1.1 or HTTP/2
//! (by ALPN) with upgrades. Each request is routed to its target, its bearer credential read,
//! and handed to the session for that credential and target on this connection (opened on
//! first use); the answer comes back through a oneshot.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{HOST, UPGRADE, USER_AGENT};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use sha2::Digest;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_rustls::TlsAcceptor;

use sluice_core::config::{HttpRouting, TargetKind};
use sluice_core::secret::Secret;
use sluice_core::{sequence, Gateway};
use sluice_net::ShutdownPhase;

use crate::body::ResBody;
use crate::relay::exchange::{Exchange, Limits};
use crate::relay::{Accepted, HttpKind, KubeKind, Relay};
use crate::reply::{self, Audience};
use crate::route::route;
use crate::Endpoint;

/// What every connection of the listener shares.
pub(crate) struct Context {
    pub gateway: Gateway,
    pub tls: TlsAcceptor,
    pub routing: HttpRouting,
    pub domain: Option<String>,
    pub limits: Limits,
    pub idle_timeout: Duration,
    /// A service served at a path of its own beside the targets (the MCP endpoint).
    pub endpoint: Option<Arc<dyn Endpoint>>,
}

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests a session may have queued before the connection waits.
const QUEUE: usize = 64;

/// A session's key on its connection: the credential's SHA-256 and the target.
type SessionKey = ([u8; 32], String);

/// A connection's sessions, by credential digest and target.
struct Connection {
    context: Arc<Context>,
    peer: SocketAddr,
    sessions: Mutex<HashMap<SessionKey, mpsc::Sender<Exchange>>>,
}

pub(crate) async fn serve(
    context: Arc<Context>,
    tcp: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<ShutdownPhase>,
) {
    let _ = tcp.set_nodelay(true);
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, context.tls.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "https: TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "https: TLS handshake timed out");
            return;
        }
    };
    let idle_timeout = context.idle_timeout;
    let connection = Arc::new(Connection {
        context,
        peer,
        sessions: Mutex::new(HashMap::new()),
    });
    let service = service_fn(move |request| {
        let connection = connection.clone();
        async move { Ok::<_, Infallible>(connection.handle(request).await) }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let served = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
    tokio::pin!(served);
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "https connection ended with an error");
                }
                return;
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() != ShutdownPhase::Running {
                    served.as_mut().graceful_shutdown();
                    let _ = served.as_mut().await;
                    return;
                }
            }
        }
    }
}

impl Connection {
    async fn handle(&self, mut request: Request<Incoming>) -> Response<ResBody> {
        let context = &self.context;
        let path_and_query = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
        if let Some(endpoint) = &context.endpoint {
            if request.uri().path() == endpoint.path() {
                return endpoint.serve(request, self.peer).await;
            }
        }
        let Some(routed) = route(
            context.routing,
            context.domain.as_deref(),
            host.as_deref(),
            &path_and_query,
        ) else {
            return reply::error(
                Audience::Http,
                StatusCode::NOT_FOUND,
                "sluice: name a target: https://GATEWAY/TARGET/... (docs/http-request.md)",
            );
        };
        let kind = context
            .gateway
            .config()
            .targets
            .iter()
            .find(|t| t.name == routed.target)
            .map(|t| t.kind);
        let audience = match kind {
            Some(TargetKind::Kubernetes) => Audience::Kube,
            Some(TargetKind::Http) => Audience::Http,
            _ => {
                return reply::error(
                    Audience::Http,
                    StatusCode::NOT_FOUND,
                    &format!(
                        "sluice: there is no HTTP or Kubernetes target named {:?}",
                        routed.target
                    ),
                )
            }
        };
        let Some(token) = crate::bearer(request.headers()).map(str::to_owned) else {
            return reply::error(
                audience,
                StatusCode::UNAUTHORIZED,
                "sluice: send a sluice credential as `Authorization: Bearer TOKEN` \
                 (`sluice login`, or `sluice kubeconfig TARGET` for kubectl)",
            );
        };
        let on_upgrade = request
            .headers()
            .contains_key(UPGRADE)
            .then(|| hyper::upgrade::on(&mut request));
        let user_agent = request
            .headers()
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(200).collect());
        let (respond, answer) = oneshot::channel();
        let exchange = Exchange {
            request,
            on_upgrade,
            rest: routed.rest,
            respond,
        };
        let sessions = self.session_for(token, routed.target, audience, user_agent);
        if sessions.send(exchange).await.is_err() {
            return reply::error(
                audience,
                StatusCode::SERVICE_UNAVAILABLE,
                "sluice: the session for this request has ended; retry",
            );
        }
        answer.await.unwrap_or_else(|_| {
            reply::error(
                audience,
                StatusCode::SERVICE_UNAVAILABLE,
                "sluice: the session ended before the request was answered",
            )
        })
    }

    /// The queue of the session for `token` and `target` on this connection, opened now if
    /// there is none (or it has ended).
    fn session_for(
        &self,
        token: String,
        target: String,
        audience: Audience,
        user_agent: Option<String>,
    ) -> mpsc::Sender<Exchange> {
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let key = (digest, target);
        let mut sessions = sluice_core::sync::lock(&self.sessions);
        if let Some(open) = sessions.get(&key).filter(|s| !s.is_closed()) {
            return open.clone();
        }
        let (sender, exchanges) = mpsc::channel(QUEUE);
        sessions.insert(key.clone(), sender.clone());
        let accepted = Accepted {
            token: Secret::new(token),
            target: key.1,
            client_addr: self.peer.to_string(),
            user_agent,
            exchanges,
        };
        let gateway = self.context.gateway.clone();
        let limits = self.context.limits;
        tokio::spawn(async move {
            let result = match audience {
                Audience::Kube => {
                    sequence::serve(&Relay::<KubeKind>::new(limits), &gateway, accepted).await
                }
                Audience::Http => {
                    sequence::serve(&Relay::<HttpKind>::new(limits), &gateway, accepted).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "https session ended with an error");
            }
        });
        sender
    }
}
