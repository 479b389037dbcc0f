//! Who calls, and the credential their tool calls log in to the gateway's listeners with.
//!
//! Everything over MCP runs as an agent: a per-task credential (kind `agent`, the task named
//! in every record). A caller who already holds one (`sluice token create --task`, or one an
//! identity provider's token was exchanged for) uses it as it is. A person's own credential is
//! never used directly: a per-task credential is minted from it for each target, decided by the
//! policy like every other (`request.token.purpose = "task"`), and kept until shortly before
//! it expires, so a busy agent does not mint one per call.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::Digest;
use sluice_core::gateway::{CredentialAsk, CredentialView, ExchangeError};
use sluice_core::secret::Secret;
use sluice_core::{Authenticated, CoreError, Gateway};

/// A caller, authenticated.
pub(crate) struct Caller {
    pub auth: Authenticated,
    pub view: CredentialView,
    /// The bearer credential (a JWT already traded for a sluice one).
    bearer: Secret,
    digest: [u8; 32],
    pub client_addr: String,
}

/// What a tool call logs in with.
pub(crate) struct Login {
    pub identity: String,
    pub secret: Secret,
}

/// Minted credentials are dropped this long before they expire.
const MARGIN_SECONDS: i64 = 60;
/// Bounds the cache; the oldest half goes when it is full.
const MAX_CACHED: usize = 4096;

#[derive(Default)]
pub(crate) struct Callers {
    /// By the bearer's SHA-256 and, for minted ones, the target and the task (which names the
    /// MCP client): (secret, expiry).
    minted: Mutex<HashMap<MintedKey, (Secret, i64)>>,
}

type MintedKey = ([u8; 32], String);

/// Why a caller gets nothing.
pub(crate) enum Refused {
    /// No usable bearer credential: HTTP 401.
    Unauthorized(String),
    /// Too many failures from this address: 429.
    Throttled(String),
    /// Anything else: 503.
    Unavailable(String),
}

impl Callers {
    pub(crate) async fn authenticate(
        &self,
        gateway: &Gateway,
        token: &str,
        client_addr: &str,
    ) -> Result<Caller, Refused> {
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let bearer = if sluice_core::token::looks_like_jwt(token) {
            self.exchanged(gateway, token, digest, client_addr).await?
        } else {
            Secret::new(token.to_owned())
        };
        match gateway
            .authenticate_bearer(bearer.expose(), client_addr)
            .await
        {
            Ok(Some(auth)) => Ok(Caller {
                view: auth.principal_view(),
                auth,
                bearer,
                digest,
                client_addr: client_addr.to_owned(),
            }),
            Ok(None) => Err(Refused::Unauthorized(
                "the bearer credential is missing, unknown, expired or revoked".into(),
            )),
            Err(e @ CoreError::Throttled { .. }) => Err(Refused::Throttled(e.to_string())),
            Err(e) => Err(Refused::Unavailable(e.to_string())),
        }
    }

    /// An identity provider's token, traded once for a sluice credential (decided and audited
    /// as `/v1/token/exchange` does) and reused until shortly before it expires.
    async fn exchanged(
        &self,
        gateway: &Gateway,
        jwt: &str,
        digest: [u8; 32],
        client_addr: &str,
    ) -> Result<Secret, Refused> {
        if let Some(secret) = self.cached(digest, "") {
            return Ok(secret);
        }
        let ask = CredentialAsk {
            purpose: "exchange",
            client_addr: client_addr.to_owned(),
            targets: Vec::new(),
            ttl: None,
            task: None,
        };
        match gateway.exchange(jwt, ask, Some("mcp")).await {
            Ok(issued) => {
                self.keep(digest, "", issued.secret.clone(), issued.expires_at);
                Ok(issued.secret)
            }
            Err(ExchangeError::Token(rejected)) => Err(Refused::Unauthorized(format!(
                "the identity provider's token was refused: {rejected}"
            ))),
            Err(ExchangeError::Credential(e @ CoreError::Refused { .. })) => {
                Err(Refused::Unauthorized(e.to_string()))
            }
            Err(ExchangeError::Credential(e)) => Err(Refused::Unavailable(e.to_string())),
        }
    }

    /// The credential `caller`'s calls to `target` log in with.
    pub(crate) async fn login(
        &self,
        gateway: &Gateway,
        caller: &Caller,
        target: &str,
        client_name: Option<&str>,
    ) -> Result<Login, CoreError> {
        let identity = caller.auth.identity().to_owned();
        if caller.view.task.is_some() {
            // Already an agent's credential: the task it names is the one on record.
            return Ok(Login {
                identity,
                secret: caller.bearer.clone(),
            });
        }
        let task: String = format!("mcp: {}", client_name.unwrap_or("an MCP client"))
            .chars()
            .take(120)
            .collect();
        let key = format!("{target}\n{task}");
        if let Some(secret) = self.cached(caller.digest, &key) {
            return Ok(Login { identity, secret });
        }
        let ask = CredentialAsk {
            purpose: "task",
            client_addr: caller.client_addr.clone(),
            targets: vec![target.to_owned()],
            ttl: None,
            task: Some(task),
        };
        let issued = gateway.issue_task(&caller.auth, ask).await?;
        self.keep(
            caller.digest,
            &key,
            issued.secret.clone(),
            issued.expires_at,
        );
        Ok(Login {
            identity,
            secret: issued.secret,
        })
    }

    fn cached(&self, digest: [u8; 32], key: &str) -> Option<Secret> {
        let now = sluice_core::gateway::unix_now();
        let minted = sluice_core::sync::lock(&self.minted);
        minted
            .get(&(digest, key.to_owned()))
            .filter(|(_, expires)| *expires - MARGIN_SECONDS > now)
            .map(|(secret, _)| secret.clone())
    }

    fn keep(&self, digest: [u8; 32], key: &str, secret: Secret, expires_at: i64) {
        let mut minted = sluice_core::sync::lock(&self.minted);
        if minted.len() >= MAX_CACHED {
            let now = sluice_core::gateway::unix_now();
            minted.retain(|_, (_, expires)| *expires - MARGIN_SECONDS > now);
            if minted.len() >= MAX_CACHED {
                minted.clear();
            }
        }
        minted.insert((digest, key.to_owned()), (secret, expires_at));
    }
}
