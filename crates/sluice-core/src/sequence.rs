//! The order of the enforcement sequence for one connection, owned here so that no protocol
//! can reorder or skip a step: identify → admit the session (policy + audit) → connect to the
//! target → greet the client → relay → end (audit). A protocol implements [`Protocol`]: how
//! its clients say who they are, how it refuses, connects, greets and relays. [`serve`] calls
//! those in order, audits refusals and ends every admitted session exactly once.
//!
//! Within the relay the order per request (decide → seal → forward → finish) is held by
//! types rather than by a driver: the only writer towards the target is the session's
//! [`UpstreamWriter`](crate::UpstreamWriter), which needs a [`Sealed`](crate::Sealed) that
//! only [`Session::seal`] makes, and a permit that is never finished audits itself on drop.

use std::collections::BTreeMap;
use std::future::Future;

use crate::gateway::{Authenticated, Gateway, Rejection, SessionRequest};
use crate::session::{Session, Traffic};

/// What a protocol supplies to [`serve`].
pub trait Protocol: Sync {
    /// A connection as accepted, before anything was read from it.
    type Accepted: Send;
    /// The client's connection once it has said who it is.
    type Client: Send;
    /// The target's connection, logged in.
    type Upstream: Send;
    /// What the relay hands back to be closed after the session's end is audited (the
    /// client's write side), so that a client sees the connection close only once the end
    /// record is durable.
    type Closing: Send;
    type Error: std::fmt::Display + Send;

    /// Name in audit records and the policy input (`session.protocol`).
    const NAME: &'static str;

    /// Reads the client's opening and authenticates it.
    fn identify(
        &self,
        gateway: &Gateway,
        accepted: Self::Accepted,
    ) -> impl Future<Output = Opening<Self::Client, Self::Error>> + Send;

    /// Tells the client it may not go on; returns the error the connection ends with.
    fn refuse(
        &self,
        client: &mut Self::Client,
        refusal: Refusal<Self::Error>,
    ) -> impl Future<Output = Self::Error> + Send;

    /// Logs in to the target for an admitted session.
    fn connect(
        &self,
        session: &Session,
        client: &Self::Client,
    ) -> impl Future<Output = Result<Self::Upstream, Self::Error>> + Send;

    /// Tells the client the session is ready.
    fn greet(
        &self,
        session: &Session,
        client: &mut Self::Client,
        upstream: &mut Self::Upstream,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Carries the session's requests until either side ends it; every request inside goes
    /// through the session's admit → seal → forward → finish.
    fn relay(
        &self,
        session: &Session,
        client: Self::Client,
        upstream: Self::Upstream,
    ) -> impl Future<Output = Relayed<Self::Closing, Self::Error>> + Send;

    /// Closes what the relay handed back, after the end record is durable.
    fn close(&self, closing: Self::Closing) -> impl Future<Output = ()> + Send;
}

/// How a client's opening went.
pub enum Opening<C, E> {
    /// Authenticated, asking for a session.
    Session(Box<Identified<C>>),
    /// The connection needed no session (PostgreSQL's CancelRequest) and is done.
    Done,
    /// The opening failed; the client, if it can still be told, is refused with `error`.
    /// When it had named an identity and a target (`claimed`), the refusal is audited.
    Refused {
        client: Option<C>,
        claimed: Option<Claimed>,
        error: E,
    },
}

/// An authenticated client and the session it asks for.
pub struct Identified<C> {
    pub client: C,
    pub auth: Authenticated,
    pub client_addr: String,
    /// `TARGET` or `TARGET/DATABASE`.
    pub target: String,
    pub tls: bool,
    pub application_name: Option<String>,
    /// Server settings the client asks for, names lower-cased.
    pub settings: BTreeMap<String, String>,
}

/// Who a refused client claimed to be, for the audit record of its refusal.
pub struct Claimed {
    pub client_addr: String,
    pub identity: String,
    pub target: String,
}

/// Why [`serve`] refuses a client.
pub enum Refusal<E> {
    /// The protocol's own error (a failed opening, an unreachable target).
    Failed(E),
    /// The gateway refused the session: unknown target, policy, or its own failure.
    Rejected(Rejection),
}

/// How a relay ended.
pub struct Relayed<Closing, E> {
    /// Why, in words for the audit record.
    pub reason: String,
    pub traffic: Traffic,
    pub closing: Closing,
    /// The error the connection ends with, if any.
    pub error: Option<E>,
}

/// Serves one connection through the whole sequence. `Ok(())` when it ended normally.
pub async fn serve<P: Protocol>(
    protocol: &P,
    gateway: &Gateway,
    accepted: P::Accepted,
) -> Result<(), P::Error> {
    let identified = match protocol.identify(gateway, accepted).await {
        Opening::Session(identified) => *identified,
        Opening::Done => return Ok(()),
        Opening::Refused {
            client,
            claimed,
            error,
        } => {
            if let Some(c) = &claimed {
                gateway
                    .reject(
                        &c.client_addr,
                        Some(&c.identity),
                        Some(&c.target),
                        P::NAME,
                        &error.to_string(),
                    )
                    .await;
            }
            return Err(match client {
                Some(mut client) => protocol.refuse(&mut client, Refusal::Failed(error)).await,
                None => error,
            });
        }
    };
    let Identified {
        mut client,
        auth,
        client_addr,
        target,
        tls,
        application_name,
        settings,
    } = identified;
    let request = SessionRequest {
        client_addr,
        target: &target,
        protocol: P::NAME,
        tls,
        application_name,
        settings,
    };
    let session = match Session::open(gateway, auth, request).await {
        Ok(session) => session,
        Err(rejection) => {
            return Err(protocol
                .refuse(&mut client, Refusal::Rejected(rejection))
                .await)
        }
    };
    let mut upstream = match protocol.connect(&session, &client).await {
        Ok(upstream) => upstream,
        Err(e) => {
            gateway.metrics().session_errors.inc();
            session.end(&e.to_string(), Traffic::default()).await;
            return Err(protocol.refuse(&mut client, Refusal::Failed(e)).await);
        }
    };
    if let Err(e) = protocol.greet(&session, &mut client, &mut upstream).await {
        session
            .end("client disconnected during login", Traffic::default())
            .await;
        return Err(e);
    }
    let relayed = protocol.relay(&session, client, upstream).await;
    session.end(&relayed.reason, relayed.traffic).await;
    protocol.close(relayed.closing).await;
    match relayed.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
