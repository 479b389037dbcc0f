//! A session of the HTTPS listener: one per client connection, caller credential and target,
//! opened at the connection's first request for that pair and ended when the connection
//! closes (or the credential ends). It runs core's sequence like every protocol: the bearer
//! credential is `identify`, `connect` prepares the way to the target, and `relay` takes the
//! connection's requests for it, each through `exchange::run` in a task of its own so that
//! HTTP/2 streams, watches and exec streams run side by side.

pub(crate) mod exchange;

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use hyper::StatusCode;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use sluice_core::gateway::{CredentialAsk, ExchangeError};
use sluice_core::secret::Secret;
use sluice_core::sequence::{Identified, Opening, Protocol, Refusal, Relayed};
use sluice_core::session::Traffic;
use sluice_core::{CoreError, Gateway, RejectionKind, Session};

use crate::reply::{self, Audience};
use crate::upstream::Upstream;
use crate::HttpError;
use exchange::{Exchange, Limits};

/// What a target kind gives the relay: its protocol name and how it answers.
pub(crate) trait Kind: Send + Sync + 'static {
    const NAME: &'static str;
    const AUDIENCE: Audience;
}

pub(crate) struct HttpKind;
pub(crate) struct KubeKind;

impl Kind for HttpKind {
    const NAME: &'static str = "http";
    const AUDIENCE: Audience = Audience::Http;
}

impl Kind for KubeKind {
    const NAME: &'static str = "kubernetes";
    const AUDIENCE: Audience = Audience::Kube;
}

/// The protocol, for one kind of target.
pub(crate) struct Relay<K> {
    limits: Limits,
    kind: PhantomData<K>,
}

impl<K> Relay<K> {
    pub(crate) fn new(limits: Limits) -> Relay<K> {
        Relay {
            limits,
            kind: PhantomData,
        }
    }
}

/// A session asked for by a connection's first request with this credential and target.
pub(crate) struct Accepted {
    pub token: Secret,
    pub target: String,
    pub client_addr: String,
    pub user_agent: Option<String>,
    pub exchanges: mpsc::Receiver<Exchange>,
}

/// The connection's requests for the session.
pub(crate) struct Client {
    exchanges: mpsc::Receiver<Exchange>,
}

impl<K: Kind> Protocol for Relay<K> {
    type Accepted = Accepted;
    type Client = Client;
    type Upstream = Arc<Upstream>;
    type Closing = ();
    type Error = HttpError;

    const NAME: &'static str = K::NAME;

    async fn identify(&self, gateway: &Gateway, accepted: Accepted) -> Opening<Client, HttpError> {
        let client = Client {
            exchanges: accepted.exchanges,
        };
        let refused = |client, error| Opening::Refused {
            client: Some(client),
            claimed: None,
            error,
        };
        let authenticated = if sluice_core::token::looks_like_jwt(accepted.token.expose()) {
            // An identity provider's token (a CI job's OIDC token): traded for a sluice
            // credential for this target, decided and audited as `/v1/token/exchange` does,
            // once per connection.
            let ask = CredentialAsk {
                purpose: "exchange",
                client_addr: accepted.client_addr.clone(),
                targets: vec![accepted.target.clone()],
                ttl: None,
                task: None,
            };
            match gateway.exchange(accepted.token.expose(), ask, None).await {
                Ok(issued) => {
                    gateway
                        .authenticate_bearer(issued.secret.expose(), &accepted.client_addr)
                        .await
                }
                Err(ExchangeError::Token(_)) => Ok(None),
                Err(ExchangeError::Credential(e @ CoreError::Refused { .. })) => {
                    return refused(client, HttpError::Refused(e.to_string()));
                }
                Err(ExchangeError::Credential(e)) => Err(e),
            }
        } else {
            gateway
                .authenticate_bearer(accepted.token.expose(), &accepted.client_addr)
                .await
        };
        match authenticated {
            Ok(Some(auth)) => Opening::Session(Box::new(Identified {
                client,
                auth,
                client_addr: accepted.client_addr,
                target: accepted.target,
                tls: true,
                application_name: accepted.user_agent,
                settings: BTreeMap::new(),
            })),
            Ok(None) => refused(client, HttpError::Unauthorized),
            Err(e @ CoreError::Throttled { .. }) => {
                refused(client, HttpError::Throttled(e.to_string()))
            }
            Err(e) => refused(client, HttpError::Upstream(e.to_string())),
        }
    }

    async fn refuse(&self, client: &mut Client, refusal: Refusal<HttpError>) -> HttpError {
        let (status, error) = match refusal {
            Refusal::Failed(e) => (
                match &e {
                    HttpError::Unauthorized => StatusCode::UNAUTHORIZED,
                    HttpError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                    HttpError::Refused(_) => StatusCode::FORBIDDEN,
                    HttpError::Upstream(_) => StatusCode::BAD_GATEWAY,
                    _ => StatusCode::BAD_REQUEST,
                },
                e,
            ),
            Refusal::Rejected(r) => (
                match r.kind {
                    RejectionKind::Denied => StatusCode::FORBIDDEN,
                    RejectionKind::UnknownTarget => StatusCode::NOT_FOUND,
                    RejectionKind::Internal => StatusCode::SERVICE_UNAVAILABLE,
                },
                HttpError::Upstream(r.reason),
            ),
        };
        // Everything the connection queued for this session gets the refusal; later
        // requests open a session of their own and are checked again.
        client.exchanges.close();
        while let Ok(exchange) = client.exchanges.try_recv() {
            let _ = exchange.respond.send(reply::error(
                K::AUDIENCE,
                status,
                &format!("sluice: {error}"),
            ));
        }
        error
    }

    async fn connect(
        &self,
        session: &Session,
        _client: &Client,
    ) -> Result<Arc<Upstream>, HttpError> {
        Upstream::new(session).map(Arc::new)
    }

    async fn greet(
        &self,
        _session: &Session,
        _client: &mut Client,
        _upstream: &mut Arc<Upstream>,
    ) -> Result<(), HttpError> {
        Ok(())
    }

    async fn relay(
        &self,
        session: &Session,
        mut client: Client,
        upstream: Arc<Upstream>,
    ) -> Relayed<(), HttpError> {
        let mut tasks = JoinSet::new();
        let mut traffic = Traffic::default();
        let ended = session.credential_ended();
        tokio::pin!(ended);
        let reason = loop {
            tokio::select! {
                exchange = client.exchanges.recv() => match exchange {
                    Some(exchange) => {
                        tasks.spawn(exchange::run(
                            session.clone(),
                            upstream.clone(),
                            exchange,
                            K::AUDIENCE,
                            self.limits,
                        ));
                    }
                    None => break None,
                },
                Some(done) = tasks.join_next() => {
                    if let Ok(moved) = done {
                        traffic.from_client += moved.from_client;
                        traffic.to_client += moved.to_client;
                    }
                }
                why = &mut ended => break Some(why),
            }
        };
        let reason = match reason {
            // The credential ended: requests in flight stop now (each audits itself as
            // interrupted).
            Some(why) => {
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                why
            }
            None => {
                while let Some(done) = tasks.join_next().await {
                    if let Ok(moved) = done {
                        traffic.from_client += moved.from_client;
                        traffic.to_client += moved.to_client;
                    }
                }
                "the client closed the connection".to_owned()
            }
        };
        Relayed {
            reason,
            traffic,
            closing: (),
            error: None,
        }
    }

    async fn close(&self, _closing: ()) {}
}
