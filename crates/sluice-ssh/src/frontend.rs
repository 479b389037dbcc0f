//! The client-facing side of a connection, as russh calls it: logins are checked here and
//! handed to the connection's task, which admits the session (or refuses it) before the
//! login is answered; channel opens and forwarding requests are handed to the relay, which
//! decides each one. Nothing here decides policy.

use russh::keys::PublicKey;
use russh::server::{
    Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Response, Session as RusshSession,
    VerifiedPublicKey,
};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use sluice_core::secret::Secret;
use sluice_core::{Authenticated, Gateway, SshPublicKey};
use sluice_decision::ChannelType;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

/// A client that proved who it is, waiting for the gateway to admit its session.
pub(crate) struct Login {
    pub auth: Authenticated,
    pub target: String,
    /// `Ok` lets the login succeed; `Err` carries the refusal the client is shown.
    pub verdict: oneshot::Sender<Result<(), String>>,
}

/// What the client asks of an admitted session, for the relay to decide.
pub(crate) enum Event {
    /// A session channel: a shell, a command or a subsystem will be asked in it.
    Session {
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
    },
    /// Local port forwarding (`ssh -L`, `-W`, ProxyJump through the target).
    DirectTcpip {
        channel: Channel<Msg>,
        host: String,
        port: u32,
        originator: String,
        reply: ChannelOpenHandle,
    },
    /// Remote port forwarding (`ssh -R`): listen on the target.
    TcpipForward {
        address: String,
        port: u32,
        reply: oneshot::Sender<Option<u32>>,
    },
    CancelTcpipForward {
        address: String,
        port: u32,
    },
    /// X11 or agent forwarding, which sluice never carries: decided and audited so that the
    /// attempt is on record.
    Guarded {
        channel_type: ChannelType,
    },
}

/// The handler russh drives for one client connection.
pub(crate) struct Frontend {
    pub gateway: Gateway,
    /// Where the client connects from, for the failed-login limits.
    pub client_addr: String,
    pub password_auth: bool,
    pub default_target: Option<String>,
    /// Taken by the first login that proves its identity.
    pub logins: Option<oneshot::Sender<Login>>,
    pub events: mpsc::UnboundedSender<Event>,
    /// Failed attempts so far; the connection ends after [`MAX_ATTEMPTS`].
    pub failures: u32,
    /// The identity and target of the last login that failed its check, so that a client
    /// that gives up is audited as a refused connection of that identity.
    pub attempted: Arc<Mutex<Option<(String, String)>>>,
}

/// Logins a client may get wrong before it is disconnected.
const MAX_ATTEMPTS: u32 = 6;

/// `IDENTITY+TARGET` to its two halves; a name without `+` goes to the default target.
pub(crate) fn split_user<'a>(
    user: &'a str,
    default_target: Option<&'a str>,
) -> Option<(&'a str, &'a str)> {
    match user.split_once('+') {
        Some((identity, target)) if !identity.is_empty() && !target.is_empty() => {
            Some((identity, target))
        }
        Some(_) => None,
        None => default_target.map(|t| (user, t)),
    }
}

impl Frontend {
    fn methods(&self) -> MethodSet {
        let mut methods = vec![MethodKind::PublicKey];
        if self.password_auth {
            methods.push(MethodKind::KeyboardInteractive);
            methods.push(MethodKind::Password);
        }
        MethodSet::from(&methods[..])
    }

    /// A login whose credential did not check out, for the audit record if none succeeds.
    fn failed(&mut self, identity: &str, target: &str) -> Result<Auth, russh::Error> {
        if let Ok(mut attempted) = self.attempted.lock() {
            *attempted = Some((identity.to_owned(), target.to_owned()));
        }
        self.reject()
    }

    fn reject(&mut self) -> Result<Auth, russh::Error> {
        self.failures += 1;
        if self.failures >= MAX_ATTEMPTS {
            return Err(russh::Error::Disconnect);
        }
        Ok(Auth::Reject {
            proceed_with_methods: Some(self.methods()),
            partial_success: false,
        })
    }

    /// Hands a proven identity to the connection's task and waits for its session to be
    /// admitted: a refused session fails the login, and the task has already told the
    /// client why (a disconnect message).
    async fn admit(&mut self, auth: Authenticated, target: &str) -> Result<Auth, russh::Error> {
        let Some(logins) = self.logins.take() else {
            // A second login on one connection: OpenSSH never sends one after success.
            return Ok(Auth::reject());
        };
        let (verdict, answer) = oneshot::channel();
        let login = Login {
            auth,
            target: target.to_owned(),
            verdict,
        };
        if logins.send(login).is_err() {
            return Err(russh::Error::Disconnect);
        }
        match answer.await {
            Ok(Ok(())) => Ok(Auth::Accept),
            // A refused session: the login is accepted so that OpenSSH reads on and shows the
            // disconnect message that says why, queued behind this answer. Nothing can be
            // asked meanwhile: the relay is gone, so every channel open is refused.
            Ok(Err(_)) => Ok(Auth::Accept),
            Err(_) => Err(russh::Error::Disconnect),
        }
    }

    /// The answer to a login whose credential was checked: admitted when it proved the
    /// identity, a counted failure when not.
    async fn settle(
        &mut self,
        checked: Result<Option<Authenticated>, sluice_core::CoreError>,
        identity: &str,
        target: &str,
    ) -> Result<Auth, russh::Error> {
        match checked {
            Ok(Some(auth)) => self.admit(auth, target).await,
            Ok(None) => self.failed(identity, target),
            // Refused unchecked: too many failures from this address or for this identity.
            // SSH has no way to say so during authentication; the attempt counts as failed.
            Err(e @ sluice_core::CoreError::Throttled { .. }) => {
                tracing::info!(error = %e, identity, "login refused unchecked");
                self.failed(identity, target)
            }
            Err(e) => {
                tracing::error!(error = %e, "could not check a login's credential");
                self.reject()
            }
        }
    }

    async fn token_login(&mut self, user: &str, token: &[u8]) -> Result<Auth, russh::Error> {
        let Some((identity, target)) = split_user(user, self.default_target.as_deref()) else {
            return self.reject();
        };
        let token = Secret::new(String::from_utf8_lossy(token).into_owned());
        let (identity, target) = (identity.to_owned(), target.to_owned());
        let checked = self
            .gateway
            .verify_token(&identity, token, &self.client_addr)
            .await;
        self.settle(checked, &identity, &target).await
    }
}

fn public_key(key: &PublicKey) -> Option<SshPublicKey> {
    let blob = key.to_bytes().ok()?;
    Some(SshPublicKey::from_blob(key.algorithm().as_str(), blob))
}

impl russh::server::Handler for Frontend {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::Reject {
            proceed_with_methods: Some(self.methods()),
            partial_success: false,
        })
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let key = offer.public_key;
        let Some((identity, _)) = split_user(user, self.default_target.as_deref()) else {
            return self.reject();
        };
        let known = match public_key(key) {
            Some(k) => self.gateway.knows_ssh_key(identity, &k).await,
            None => false,
        };
        if known {
            Ok(Auth::Accept)
        } else {
            Ok(Auth::Reject {
                proceed_with_methods: Some(self.methods()),
                partial_success: false,
            })
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        verified: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let key = verified.public_key;
        // russh calls this only once the client's signature with the key checked out.
        let Some((identity, target)) = split_user(user, self.default_target.as_deref()) else {
            return self.reject();
        };
        let Some(key) = public_key(key) else {
            return self.reject();
        };
        let (identity, target) = (identity.to_owned(), target.to_owned());
        let checked = self.gateway.verify_ssh_key(&identity, &key).await;
        self.settle(checked, &identity, &target).await
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if !self.password_auth {
            return self.reject();
        }
        self.token_login(user, password.as_bytes()).await
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        if !self.password_auth {
            return self.reject();
        }
        let Some(mut response) = response else {
            return Ok(Auth::Partial {
                name: "sluice".into(),
                instructions: "Log in with a sluice token.".into(),
                prompts: vec![("Password (a sluice token): ".into(), false)].into(),
            });
        };
        let Some(token) = response.next() else {
            return self.reject();
        };
        self.token_login(user, &token).await
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut RusshSession,
    ) -> Result<(), Self::Error> {
        // Dropping the reply (the relay is gone) refuses the channel.
        let _ = self.events.send(Event::Session { channel, reply });
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host: &str,
        port: u32,
        originator: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut RusshSession,
    ) -> Result<(), Self::Error> {
        let _ = self.events.send(Event::DirectTcpip {
            channel,
            host: host.to_owned(),
            port,
            originator: originator.to_owned(),
            reply,
        });
        Ok(())
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        _session: &mut RusshSession,
    ) -> Result<bool, Self::Error> {
        let (reply, answer) = oneshot::channel();
        let asked = Event::TcpipForward {
            address: address.to_owned(),
            port: *port,
            reply,
        };
        if self.events.send(asked).is_err() {
            return Ok(false);
        }
        // The global request's answer carries the port the target bound, so it waits for
        // the decision and the target: the connection's other traffic pauses meanwhile.
        match answer.await {
            Ok(Some(bound)) => {
                *port = bound;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn cancel_tcpip_forward(
        &mut self,
        address: &str,
        port: u32,
        _session: &mut RusshSession,
    ) -> Result<bool, Self::Error> {
        let _ = self.events.send(Event::CancelTcpipForward {
            address: address.to_owned(),
            port,
        });
        Ok(true)
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _width: u32,
        _height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut RusshSession,
    ) -> Result<(), Self::Error> {
        // Answered here, in order with the requests around it (russh keeps one pending
        // reply flag per channel); the relay passes the terminal on to the target.
        session.channel_success(channel)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _protocol: &str,
        _cookie: &str,
        _screen: u32,
        session: &mut RusshSession,
    ) -> Result<(), Self::Error> {
        let _ = self.events.send(Event::Guarded {
            channel_type: ChannelType::X11,
        });
        session.channel_failure(channel)
    }

    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        _session: &mut RusshSession,
    ) -> Result<bool, Self::Error> {
        let _ = self.events.send(Event::Guarded {
            channel_type: ChannelType::AuthAgent,
        });
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::split_user;

    #[test]
    fn user_names_carry_identity_and_target() {
        assert_eq!(split_user("alice+db1", None), Some(("alice", "db1")));
        assert_eq!(split_user("alice+web+1", None), Some(("alice", "web+1")));
        assert_eq!(split_user("alice", Some("jump")), Some(("alice", "jump")));
        assert_eq!(split_user("alice", None), None);
        assert_eq!(split_user("+db1", None), None);
        assert_eq!(split_user("alice+", None), None);
    }
}
