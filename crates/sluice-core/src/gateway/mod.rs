//! Identification and session admission: the first half of the enforcement sequence.

use std::collections::HashMap;
use std::sync::Arc;

use sluice_audit::{AuditEvent, AuditLog};
use sluice_store::Store;

mod cluster;
mod credential;
mod grants;
mod preview;
mod principal;
mod reviews;
mod signals;
mod ssh;
mod stats;

pub use cluster::{ClusterView, GatewaySeen, Messages, NotReady};
pub use credential::{CredentialAsk, ExchangeError, IssuedCredential, TokenGrant, Verified};

pub use preview::ColumnsPreview;
pub use ssh::{HostKeyCheck, SshPublicKey};

use crate::approvals::{AccessRequest, ApprovalState};
use crate::clock::PolicyClock;
use crate::config::{Config, IdentityConfig, TargetConfig};
use crate::masking::MaskEngine;
use crate::metrics::Metrics;
use crate::policy::{PolicyState, ReloadOutcome};
use crate::secret::Secret;
use crate::token::{self, ScramKeys, SALT_LEN, SCRAM_ITERATIONS};
use crate::CoreError;

/// Everything a protocol needs to serve connections. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// The agents that carry `via` targets' connections; installed once at start.
    tunnels: std::sync::OnceLock<Arc<dyn crate::tunnel::Tunnels>>,
    /// This gateway's name among those sharing the store (`Config::gateway_name`).
    name: String,
    /// Set on SIGTERM: `/readyz` then says so while the listeners still serve.
    draining: std::sync::atomic::AtomicBool,
    /// Unix seconds up to which the store's revocations have been read (a second's overlap).
    revocations_read: std::sync::atomic::AtomicI64,
    store: Arc<dyn Store>,
    audit: AuditLog,
    policy: PolicyState,
    clock: PolicyClock,
    metrics: Metrics,
    masking: Arc<MaskEngine>,
    approvals: ApprovalState,
    /// Where session recordings go; `None` when recording is off.
    recordings: Option<Arc<dyn sluice_record::RecordingStore>>,
    /// Sessions whose recordings are being written, which retention must leave alone.
    open_recordings: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Bearer tokens already verified: SHA-256 of the token to its record id, so the admin
    /// API checks a token's key once and afterwards only whether it is still live.
    api_tokens: std::sync::Mutex<HashMap<[u8; 32], String>>,
    /// Failed authentications per client address and per identity.
    limiter: crate::identity::AuthLimiter,
    /// The identity providers this gateway trusts (`[[identity_providers]]`).
    providers: sluice_identity::Providers,
    /// The port each protocol's listener is bound to, for sign-in's connection lines.
    listeners: std::sync::Mutex<std::collections::BTreeMap<&'static str, u16>>,
    /// Tokens revoked since the gateway started (by anyone sharing the store), watched by
    /// the sessions that run under them.
    revoked: tokio::sync::watch::Sender<Arc<std::collections::HashSet<String>>>,
    /// Verifiers protocols derived from tokens they saw in clear (MySQL's caching_sha2 and
    /// native hashes), by identity: a later login proves the same token without sending it.
    /// In memory only, like MySQL's own cache: a restart empties it.
    derived: std::sync::Mutex<HashMap<String, Vec<Derived>>>,
    /// Keys the fake salts of unknown identities, so probing names reveals nothing.
    gateway_key: [u8; 32],
    target_passwords: HashMap<String, Secret>,
    /// The self-reflection signals' observer and last report.
    signals: std::sync::Mutex<signals::SignalsState>,
    /// One refresh of the signals at a time.
    signals_refresh: tokio::sync::Mutex<()>,
}

/// What the client must prove knowledge of: the SCRAM salt and the verifiers of the identity's
/// live tokens. An unknown identity gets a stable fake salt and no verifiers, so it fails
/// exactly like a wrong token.
pub struct Credentials {
    pub salt: Vec<u8>,
    pub iterations: u32,
    identity: String,
    /// The identity as configured or as an identity provider made it; `None` when unknown.
    principal: Option<Arc<IdentityConfig>>,
    verifiers: Vec<(TokenGrant, ScramKeys)>,
    /// Derived verifiers of the live tokens among `verifiers`.
    derived: Vec<Derived>,
    /// Where failed checks are counted.
    limits: FailureCounter,
}

/// Counts a failed check against the client's address and the identity.
#[derive(Clone)]
struct FailureCounter {
    gateway: Gateway,
    client: Option<std::net::IpAddr>,
}

/// A verifier a protocol derived from a token it saw in clear.
#[derive(Clone)]
struct Derived {
    token_id: String,
    /// The protocol's name for the kind of verifier (`mysql_sha2`).
    kind: &'static str,
    verifier: Vec<u8>,
}

/// Proof that a client showed a live token of `identity`. Only this crate creates it, and
/// [`Session::open`](crate::Session::open) requires it.
#[derive(Debug)]
pub struct Authenticated {
    identity: String,
    /// The identity the session runs as: declared or made by an identity provider, with the
    /// claims, groups and task of the credential shown merged in.
    principal: Arc<IdentityConfig>,
    /// The token shown; `None` when the client proved a key instead (SSH public keys).
    token: Option<TokenGrant>,
}

impl Authenticated {
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The token the client proved, for its last-use bookkeeping.
    pub(crate) fn token_id(&self) -> Option<&str> {
        self.token.as_ref().map(|t| t.id.as_str())
    }

    pub(crate) fn token(&self) -> Option<&TokenGrant> {
        self.token.as_ref()
    }

    pub(crate) fn principal(&self) -> &Arc<IdentityConfig> {
        &self.principal
    }

    /// This caller as a reviewer: the groups that count are the ones the credential carries
    /// (an identity provider's, merged with the configured ones).
    pub fn reviewer(&self) -> crate::approvals::Reviewer {
        crate::approvals::Reviewer {
            name: self.identity.clone(),
            groups: self.principal.groups.clone(),
        }
    }

    /// What the caller is and holds, for `GET /v1/whoami`.
    pub fn principal_view(&self) -> CredentialView {
        let token = self.token.as_ref();
        CredentialView {
            kind: self.principal.kind.as_str(),
            groups: self.principal.groups.clone(),
            provider: self.principal.provider.clone(),
            token_id: token.map(|t| t.id.clone()),
            expires_at: token.and_then(|t| t.expires_at),
            task: token.and_then(|t| t.task.clone()),
            targets: token.and_then(|t| t.targets.clone()),
        }
    }
}

/// An authenticated caller as it may be shown to itself.
#[derive(Debug, Clone)]
pub struct CredentialView {
    pub kind: &'static str,
    pub groups: Vec<String>,
    pub provider: Option<String>,
    pub token_id: Option<String>,
    pub expires_at: Option<i64>,
    pub task: Option<String>,
    pub targets: Option<Vec<String>>,
}

impl Credentials {
    /// Checks a SCRAM client proof; on success also returns the server signature to send back.
    pub fn verify_scram(
        &self,
        auth_message: &[u8],
        proof: &[u8],
    ) -> Option<(Authenticated, [u8; 32])> {
        let found = self.verifiers.iter().find_map(|(grant, keys)| {
            keys.accepts_proof(auth_message, proof)
                .then(|| (grant, keys.server_signature(auth_message)))
        });
        match found {
            Some((grant, signature)) => Some((self.authenticated(grant)?, signature)),
            None => self.failed(),
        }
    }

    /// Checks a cleartext token (sent only inside TLS).
    pub fn verify_password(&self, password: &[u8]) -> Option<Authenticated> {
        // A token that names its id is checked against that verifier alone; one from before
        // ids against all of the identity's (they share the salt, so it is one derivation).
        let named = std::str::from_utf8(password).ok().and_then(token::token_id);
        let candidates: Vec<&(TokenGrant, ScramKeys)> = match &named {
            Some(id) => self.verifiers.iter().filter(|(g, _)| g.id == *id).collect(),
            None => self.verifiers.iter().collect(),
        };
        if candidates.is_empty() {
            return self.failed();
        }
        let keys = ScramKeys::derive(password, &self.salt, self.iterations);
        match candidates.into_iter().find(|(_, v)| v.same_as(&keys)) {
            Some((grant, _)) => self.authenticated(grant),
            None => self.failed(),
        }
    }

    /// Counts a failed check that is final for this login (the protocol offers no other way
    /// to prove the token), for the per-address and per-identity limits.
    pub fn note_failure(&self) {
        self.limits
            .gateway
            .auth_failed(self.limits.client, &self.identity);
    }

    fn failed<T>(&self) -> Option<T> {
        self.note_failure();
        None
    }

    /// Checks a proof against the verifiers of `kind` derived from this identity's live tokens
    /// ([`Gateway::remember_derived`]); `check` says whether the proof fits a verifier.
    pub fn verify_derived(
        &self,
        kind: &str,
        check: impl Fn(&[u8]) -> bool,
    ) -> Option<Authenticated> {
        let d = self
            .derived
            .iter()
            .find(|d| d.kind == kind && check(&d.verifier))?;
        let grant = self.verifiers.iter().find(|(g, _)| g.id == d.token_id)?;
        self.authenticated(&grant.0)
    }

    fn authenticated(&self, grant: &TokenGrant) -> Option<Authenticated> {
        let base = self.principal.as_ref()?;
        Some(Authenticated {
            identity: self.identity.clone(),
            principal: Arc::new(principal::merge(base, Some(grant))),
            token: Some(grant.clone()),
        })
    }
}

/// What a client asked for besides its identity.
pub struct SessionRequest<'a> {
    pub client_addr: String,
    /// `TARGET` or `TARGET/DATABASE`, as given in the client's dbname.
    pub target: &'a str,
    pub protocol: &'static str,
    pub tls: bool,
    pub application_name: Option<String>,
    /// The server settings the client asks for at connect (names lower-cased): decided with
    /// the session, audited, and passed to the target by the protocol. Its `search_path` is
    /// what unqualified names resolve against.
    pub settings: std::collections::BTreeMap<String, String>,
}

/// Why a connection was refused, in words fit for the client.
#[derive(Debug)]
pub struct Rejection {
    pub reason: String,
    pub kind: RejectionKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    UnknownTarget,
    Denied,
    Internal,
}

impl Gateway {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        audit: AuditLog,
        policy: PolicyState,
        gateway_key: [u8; 32],
    ) -> Result<Gateway, CoreError> {
        let mut target_passwords = HashMap::new();
        for t in &config.targets {
            if let Some(p) = t.load_password()? {
                target_passwords.insert(t.name.clone(), p);
            }
        }
        let masking = Arc::new(MaskEngine::from_config(&config)?);
        // Delivery tasks need a runtime; a gateway without webhooks (most tests) needs none.
        let notifier = if config.webhooks.is_empty() {
            sluice_outbound::webhooks::Notifier::disabled()
        } else {
            sluice_outbound::webhooks::Notifier::start(&config.webhooks)?
        };
        let recordings = recording_store(&config)?;
        Ok(Gateway {
            inner: Arc::new(Inner {
                name: config.gateway_name(),
                tunnels: std::sync::OnceLock::new(),
                draining: std::sync::atomic::AtomicBool::new(false),
                // Revocations from before the start matter too: a session can only open with
                // a live token, so looking back one poll interval past the start is enough.
                revocations_read: std::sync::atomic::AtomicI64::new(
                    unix_now()
                        - i64::try_from(config.auth.revocation_poll.as_secs()).unwrap_or(0)
                        - 1,
                ),
                recordings,
                open_recordings: std::sync::Mutex::new(std::collections::HashSet::new()),
                approvals: ApprovalState::new(notifier),
                api_tokens: std::sync::Mutex::new(HashMap::new()),
                limiter: crate::identity::AuthLimiter::new(
                    config.auth.max_failures_per_address,
                    config.auth.max_failures_per_identity,
                    config.auth.failure_window,
                ),
                revoked: tokio::sync::watch::channel(Arc::default()).0,
                providers: sluice_identity::Providers::new(config.identity_providers.clone())
                    .map_err(|e| CoreError::Config(e.to_string()))?,
                listeners: std::sync::Mutex::new(Default::default()),
                derived: std::sync::Mutex::new(HashMap::new()),
                clock: PolicyClock::new(&config.policy.timezone),
                signals: std::sync::Mutex::new(signals::SignalsState::new(
                    config.signals.sample_fraction,
                )),
                signals_refresh: tokio::sync::Mutex::new(()),
                masking,
                config,
                store,
                audit,
                policy,
                metrics: Metrics::default(),
                gateway_key,
                target_passwords,
            }),
        })
    }

    /// Runs forever when `[recording] retention` is set: deletes recordings older than it,
    /// auditing each deletion (`recording::enforce_retention`).
    pub async fn enforce_recording_retention(&self) {
        let (Some(retention), Some(store)) = (
            self.config().recording.retention,
            self.recordings().cloned(),
        ) else {
            return std::future::pending().await;
        };
        let period = crate::recording::retention_period(retention);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Another gateway's open session may share this recording store; without knowing
            // which are open, nothing is deleted this time.
            let elsewhere = match self.sessions_open_elsewhere().await {
                Ok(open) => open,
                Err(e) => {
                    tracing::warn!(error = %e, "recording retention skipped: the store cannot say which sessions are open");
                    continue;
                }
            };
            crate::recording::retention_pass(
                retention,
                store.as_ref(),
                self.audit(),
                self.metrics(),
                |s| self.recording_open(s) || elsewhere.contains(s),
            )
            .await;
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The identity providers this gateway trusts.
    pub fn providers(&self) -> &sluice_identity::Providers {
        &self.inner.providers
    }

    /// Records the port `protocol`'s listener is bound to (known only once it is bound).
    pub fn announce_listener(&self, protocol: &'static str, port: u16) {
        crate::sync::lock(&self.inner.listeners).insert(protocol, port);
    }

    /// Each protocol's listener port.
    pub fn listeners(&self) -> std::collections::BTreeMap<&'static str, u16> {
        crate::sync::lock(&self.inner.listeners).clone()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Installs the agents that reach `via` targets. Only the first call counts: the hub
    /// lives as long as the gateway.
    pub fn set_tunnels(&self, tunnels: Arc<dyn crate::tunnel::Tunnels>) {
        let _ = self.inner.tunnels.set(tunnels);
    }

    /// The agents, when a hub is installed.
    pub fn tunnels(&self) -> Option<&dyn crate::tunnel::Tunnels> {
        self.inner.tunnels.get().map(|t| t.as_ref())
    }

    pub fn audit(&self) -> &AuditLog {
        &self.inner.audit
    }

    pub fn policy(&self) -> &PolicyState {
        &self.inner.policy
    }

    pub fn masking(&self) -> &Arc<MaskEngine> {
        &self.inner.masking
    }

    pub(crate) fn clock(&self) -> &PolicyClock {
        &self.inner.clock
    }

    /// The recording store, for replay, verification and retention; `None` when off.
    pub fn recordings(&self) -> Option<&Arc<dyn sluice_record::RecordingStore>> {
        self.inner.recordings.as_ref()
    }

    pub(crate) fn recording_opened(&self, session: &str) {
        crate::sync::lock(&self.inner.open_recordings).insert(session.to_owned());
        self.announce_open_session(session);
    }

    pub(crate) fn recording_closed(&self, session: &str) {
        crate::sync::lock(&self.inner.open_recordings).remove(session);
        self.announce_closed_session(session);
    }

    pub(crate) fn recording_open(&self, session: &str) -> bool {
        crate::sync::lock(&self.inner.open_recordings).contains(session)
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub(crate) fn approvals(&self) -> &ApprovalState {
        &self.inner.approvals
    }

    /// The webhooks, for their delivery counts on /metrics.
    pub fn notifier(&self) -> &sluice_outbound::webhooks::Notifier {
        &self.inner.approvals.notifier
    }

    pub(crate) fn review_base_url(&self) -> Option<String> {
        self.inner.config.review_base_url()
    }

    /// The policy's answer to a request for access, with the identity's current grants in view.
    pub(crate) fn decide_access(
        &self,
        identity: &IdentityConfig,
        target: &TargetConfig,
        request: &AccessRequest,
    ) -> sluice_decision::Decision {
        let grants = self.approvals().grants.snapshot(
            &identity.name,
            &target.name,
            crate::approvals::now_ms(),
        );
        let subject = crate::policy::Subject::for_access(identity, target, grants);
        self.inner.policy.current().decide_request(
            &subject,
            &self.inner.clock.now(),
            sluice_decision::Request::Access {
                scope: &request.scope,
                duration_seconds: request.duration.as_secs(),
                reason: &request.reason,
            },
        )
    }

    /// Re-reads the policy directory and enforces it if it changed and passes compilation and
    /// its tests; otherwise the current policy stays. Logged and audited either way a change
    /// was seen. `trigger` says why (`sighup`, `file_change`, `api`).
    pub async fn reload_policy(&self, trigger: &str) -> ReloadOutcome {
        let gateway = self.clone();
        let outcome = tokio::task::spawn_blocking(move || gateway.inner.policy.reload())
            .await
            .unwrap_or_else(|e| ReloadOutcome::Rejected {
                digest: None,
                reason: format!("the reload task failed: {e}"),
                enforced: self.inner.policy.current().info.version.clone(),
            });
        let dir = self
            .inner
            .config
            .policy
            .dir
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let event = match &outcome {
            ReloadOutcome::Unchanged => return outcome,
            ReloadOutcome::Loaded { previous, info } => {
                self.inner.metrics.policy_reloads.inc();
                tracing::info!(version = %info.version, %previous, trigger, "policy loaded");
                info.loaded_event(trigger, Some(previous.clone()))
            }
            ReloadOutcome::Rejected {
                digest,
                reason,
                enforced,
            } => {
                self.inner.metrics.policy_reload_failures.inc();
                tracing::error!(%reason, %enforced, trigger, "policy change rejected; the previous policy stays in force");
                AuditEvent::PolicyRejected {
                    dir,
                    trigger: trigger.to_owned(),
                    digest: digest.clone(),
                    reason: reason.clone(),
                    enforced: enforced.clone(),
                }
            }
        };
        if let Err(e) = self.inner.audit.record(&event).await {
            self.inner.metrics.audit_failures.inc();
            tracing::error!(error = %e, "could not audit a policy reload");
        }
        outcome
    }

    /// Polls the policy directory and reloads when a file's size or modification time
    /// changes. Polling rather than inotify: it also sees edits on network filesystems and
    /// through symlink swaps (a git checkout or a ConfigMap), and a stat per file per second
    /// costs nothing. Runs until the future is dropped.
    pub async fn watch_policy(&self) {
        let config = &self.inner.config.policy;
        let Some(dir) = config.dir.clone().filter(|_| config.watch) else {
            return std::future::pending().await;
        };
        let mut seen = crate::policy::PolicySource::stamp(&dir);
        let mut ticks = tokio::time::interval(config.watch_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let dir = dir.clone();
            let Ok(now) =
                tokio::task::spawn_blocking(move || crate::policy::PolicySource::stamp(&dir)).await
            else {
                continue;
            };
            if now != seen {
                seen = now;
                self.reload_policy("file_change").await;
            }
        }
    }

    pub(crate) fn target_password(&self, target: &str) -> Option<&Secret> {
        self.inner.target_passwords.get(target)
    }

    /// Step one, identify: the credentials a client named `identity` must prove, from
    /// `client_addr`. Refused while that address or identity has failed too often lately.
    pub async fn credentials(
        &self,
        identity: &str,
        client_addr: &str,
    ) -> Result<Credentials, CoreError> {
        let client = crate::identity::client_ip(client_addr);
        self.check_auth_limits(client, identity)?;
        let fake_salt =
            || token::hmac(&self.inner.gateway_key, identity.as_bytes())[..SALT_LEN].to_vec();
        let mut creds = Credentials {
            salt: fake_salt(),
            iterations: SCRAM_ITERATIONS,
            identity: identity.to_owned(),
            principal: None,
            verifiers: Vec::new(),
            derived: Vec::new(),
            limits: FailureCounter {
                gateway: self.clone(),
                client,
            },
        };
        let Some(principal) = self.principal(identity).await? else {
            return Ok(creds);
        };
        let store = &self.inner.store;
        let Some(salt) = store.find_identity_salt(identity).await? else {
            return Ok(creds);
        };
        let now = unix_now();
        for t in store.active_tokens(identity, now).await? {
            if let Some(keys) = ScramKeys::from_record(&t) {
                if t.iterations == SCRAM_ITERATIONS {
                    creds.verifiers.push((TokenGrant::from_record(&t), keys));
                }
            }
        }
        creds.salt = salt;
        creds.principal = Some(principal);
        if let Some(derived) = crate::sync::lock(&self.inner.derived).get_mut(identity) {
            // Tokens revoked or expired since drop out here, and with them their verifiers.
            derived.retain(|d| creds.verifiers.iter().any(|(g, _)| g.id == d.token_id));
            creds.derived = derived.clone();
        }
        Ok(creds)
    }

    /// Keeps a verifier a protocol derived from a token it just verified in clear, so that
    /// later logins with the same token can prove it without sending it (MySQL's
    /// caching_sha2_password fast path). One per token and kind.
    pub fn remember_derived(&self, auth: &Authenticated, kind: &'static str, verifier: Vec<u8>) {
        let Some(token_id) = auth.token_id().map(str::to_owned) else {
            return;
        };
        let mut all = crate::sync::lock(&self.inner.derived);
        let derived = all.entry(auth.identity.clone()).or_default();
        derived.retain(|d| !(d.token_id == token_id && d.kind == kind));
        derived.push(Derived {
            token_id,
            kind,
            verifier,
        });
    }

    /// `TARGET` or `TARGET/DATABASE` to the target's configuration and the database to use.
    pub(crate) fn resolve_target(
        &self,
        selector: &str,
    ) -> Result<(&TargetConfig, String), Rejection> {
        let (name, database) = match selector.split_once('/') {
            Some((t, d)) => (t, Some(d)),
            None => (selector, None),
        };
        let unknown = || Rejection {
            reason: format!("target \"{selector}\" does not exist or is not available to you"),
            kind: RejectionKind::UnknownTarget,
        };
        let target = self.inner.config.target(name).ok_or_else(unknown)?;
        match database {
            None => Ok((target, target.database.clone())),
            Some(d) if target.allows_database(d) => Ok((target, d.to_owned())),
            Some(_) => Err(unknown()),
        }
    }

    /// Audits a refused connection. The refusal stands whether or not the record could be written.
    pub async fn reject(
        &self,
        client_addr: &str,
        identity: Option<&str>,
        target: Option<&str>,
        protocol: &str,
        reason: &str,
    ) {
        self.inner.metrics.connections_rejected.inc();
        let event = AuditEvent::ConnectionRejected {
            client_addr: client_addr.to_owned(),
            identity: identity.map(str::to_owned),
            target: target.map(str::to_owned),
            protocol: protocol.to_owned(),
            reason: reason.to_owned(),
        };
        if let Err(e) = self.inner.audit.record(&event).await {
            self.inner.metrics.audit_failures.inc();
            tracing::error!(error = %e, "could not audit a rejected connection");
        }
    }
}

/// The recording store the configuration describes: files in the recording directory, and
/// with `[recording.s3]` those files as the spool of an object store.
pub fn recording_store(
    config: &Config,
) -> Result<Option<Arc<dyn sluice_record::RecordingStore>>, CoreError> {
    if !config.recording.enabled {
        return Ok(None);
    }
    let files = sluice_record::FileStore::new(config.recording_dir());
    Ok(Some(match &config.recording.s3 {
        None => Arc::new(files),
        Some(s3) => Arc::new(
            sluice_record::ObjectStoreArchive::s3(files, s3)
                .map_err(|e| CoreError::Config(format!("recording.s3: {e}")))?,
        ),
    }))
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
