//! Credentials beyond a protocol's own login: bearer tokens on the admin API, credentials
//! issued to people who signed in, to workloads that exchanged their own identity provider's
//! token and to agents a person starts (per-task tokens); the limits on failed checks; and
//! revocations, which end the sessions that run under a revoked token.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sluice_audit::AuditEvent;
use sluice_decision::{AdminRequest, Request, TokenRequest};
use sluice_store::{DynamicIdentity, TokenRecord, TokenScope};

use super::{principal, unix_now, Authenticated, Gateway};
use crate::config::{IdentityConfig, IdentityKind};
use crate::secret::Secret;
use crate::token::{self, ScramKeys, SALT_LEN};
use crate::{CoreError, RefusalKind};

/// A live token a client proved, and what it is limited to.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub id: String,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// `operator`, `login`, `exchange` or `task`.
    pub purpose: String,
    /// The only targets it reaches; `None`: any the policy allows.
    pub targets: Option<Vec<String>>,
    pub task: Option<String>,
    pub provider: Option<String>,
    pub(crate) claims: Option<String>,
    pub(crate) groups: Option<Vec<String>>,
}

impl TokenGrant {
    pub(crate) fn from_record(r: &TokenRecord) -> TokenGrant {
        TokenGrant {
            id: r.id.clone(),
            expires_at: r.expires_at,
            purpose: r.scope.purpose.clone(),
            targets: r.scope.targets.clone(),
            task: r.scope.task.clone(),
            provider: r.scope.provider.clone(),
            claims: r.scope.claims.clone(),
            groups: r.scope.groups.clone(),
        }
    }

    /// Whether the token may open a session on `target`.
    pub fn reaches(&self, target: &str) -> bool {
        self.targets
            .as_ref()
            .is_none_or(|t| t.iter().any(|name| name == target))
    }
}

/// What an identity provider vouched for, once its token checked out.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The provider's configured name.
    pub provider: String,
    pub subject: String,
    /// The identity name the provider's claims map to.
    pub name: String,
    pub groups: Vec<String>,
    pub kind: IdentityKind,
    /// Every claim, for the policy (`input.identity.claims`).
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Whether a name the configuration does not declare becomes an identity.
    pub dynamic: bool,
}

/// What a caller asks for.
#[derive(Debug, Clone)]
pub struct CredentialAsk {
    /// `login`, `exchange` or `task`.
    pub purpose: &'static str,
    pub client_addr: String,
    /// Targets asked for; empty leaves them to the policy.
    pub targets: Vec<String>,
    /// Lifetime asked for; `None` takes the configured default.
    pub ttl: Option<Duration>,
    pub task: Option<String>,
}

/// A credential just issued. The secret is shown to its holder once.
#[derive(Debug)]
pub struct IssuedCredential {
    pub secret: Secret,
    pub token_id: String,
    pub identity: String,
    pub kind: &'static str,
    pub groups: Vec<String>,
    /// Unix seconds.
    pub expires_at: i64,
    pub targets: Option<Vec<String>>,
    pub task: Option<String>,
}

/// Longest task description kept; it is the caller's words, shown in every audit record.
const MAX_TASK_CHARS: usize = 200;

/// Why an identity provider's token bought no credential.
#[derive(Debug)]
pub enum ExchangeError {
    /// The token did not verify (signature, issuer, audience, expiry, ...).
    Token(sluice_identity::Rejected),
    /// The token verified and the credential was refused (policy, an unknown identity) or
    /// could not be issued.
    Credential(CoreError),
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::Token(rejected) => rejected.fmt(f),
            ExchangeError::Credential(e) => e.fmt(f),
        }
    }
}

impl Gateway {
    /// Trades a workload's own identity-provider token (a CI job's OIDC token) for a
    /// credential: verified, failures counted against the caller's address and audited, the
    /// task named after the provider's run (`jti`, else the subject) with `task_words` before
    /// it, the lifetime capped by the provider's `max_credential_ttl`, and the credential
    /// decided by the policy like every other (`purpose` of `ask`: `exchange`).
    pub async fn exchange(
        &self,
        subject_token: &str,
        mut ask: CredentialAsk,
        task_words: Option<&str>,
    ) -> Result<IssuedCredential, ExchangeError> {
        let token = match self.inner.providers.verify(subject_token, None).await {
            Ok(token) => token,
            Err(rejected) => {
                self.client_failed(&ask.client_addr);
                self.refuse_credential_for(&ask, None, None, rejected.reason(), &rejected)
                    .await;
                return Err(ExchangeError::Token(rejected));
            }
        };
        ask.task = Some(task_reference(&token, task_words));
        if let Some(cap) = self.provider_cap(&token.provider) {
            ask.ttl = Some(ask.ttl.unwrap_or(cap).min(cap));
        }
        self.issue_verified(&self.vouched(&token), ask)
            .await
            .map_err(ExchangeError::Credential)
    }

    /// What a provider's verified token says about its holder, as issuing reads it.
    pub fn vouched(&self, token: &sluice_identity::VerifiedToken) -> Verified {
        let dynamic = self
            .inner
            .providers
            .get(&token.provider)
            .is_some_and(|p| p.identities == sluice_identity::Identities::Dynamic);
        Verified {
            provider: token.provider.clone(),
            subject: token.subject.clone(),
            name: token.name.clone(),
            groups: token.groups.clone(),
            kind: IdentityKind::parse(token.kind.as_str()).unwrap_or(IdentityKind::Service),
            claims: token.claims.clone(),
            dynamic,
        }
    }

    /// The lifetime a provider's configuration caps credentials issued on its word at.
    pub fn provider_cap(&self, provider: &str) -> Option<Duration> {
        self.inner
            .providers
            .get(provider)
            .and_then(|p| p.max_credential_ttl)
    }

    /// Who holds the bearer `token` (the admin API, sign-in's follow-up calls). A token names
    /// its id, so a check costs one key derivation (off the async workers) the first time a
    /// token is shown and a store read afterwards; failures count against `client_addr`.
    pub async fn authenticate_bearer(
        &self,
        token: &str,
        client_addr: &str,
    ) -> Result<Option<Authenticated>, CoreError> {
        use sha2::Digest;
        let client = crate::identity::client_ip(client_addr);
        let Some(id) = token::token_id(token) else {
            self.check_auth_limits(client, "")?;
            self.auth_failed(client, "");
            return Ok(None);
        };
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let record = self.inner.store.token(&id).await?;
        let now = unix_now();
        let live =
            record.filter(|r| r.revoked_at.is_none() && r.expires_at.is_none_or(|e| e > now));
        let Some(record) = live else {
            crate::sync::lock(&self.inner.api_tokens).remove(&digest);
            self.check_auth_limits(client, "")?;
            self.auth_failed(client, "");
            return Ok(None);
        };
        self.check_auth_limits(client, &record.identity)?;
        let known = crate::sync::lock(&self.inner.api_tokens).get(&digest) == Some(&record.id);
        if !known {
            let Some(salt) = self
                .inner
                .store
                .find_identity_salt(&record.identity)
                .await?
            else {
                return Ok(None);
            };
            let Some(stored) = ScramKeys::from_record(&record) else {
                return Ok(None);
            };
            let secret = Secret::new(token.to_owned());
            let iterations = record.iterations;
            let matches = tokio::task::spawn_blocking(move || {
                ScramKeys::derive(secret.expose().as_bytes(), &salt, iterations).same_as(&stored)
            })
            .await
            .map_err(|e| CoreError::Config(format!("token check failed: {e}")))?;
            if !matches {
                self.auth_failed(client, &record.identity);
                return Ok(None);
            }
            let mut known = crate::sync::lock(&self.inner.api_tokens);
            // Bounded: forgetting them all only costs a derivation each.
            if known.len() >= 10_000 {
                known.clear();
            }
            known.insert(digest, record.id.clone());
            // First use since the gateway started: enough for "created and never used"
            // (access churn) without a store write per API call.
            let store = self.inner.store.clone();
            let id = record.id.clone();
            tokio::spawn(async move {
                let _ = store.mark_token_used(&id, unix_now()).await;
            });
        }
        let Some(base) = self.principal(&record.identity).await? else {
            return Ok(None);
        };
        let grant = TokenGrant::from_record(&record);
        Ok(Some(Authenticated {
            identity: record.identity.clone(),
            principal: Arc::new(principal::merge(&base, Some(&grant))),
            token: Some(grant),
        }))
    }

    /// For callers outside the protocols (token exchange, sign-in, the agents' listener):
    /// refuses an attempt from `client_addr` while it has failed too often.
    pub fn check_client(&self, client_addr: &str) -> Result<(), CoreError> {
        self.check_auth_limits(crate::identity::client_ip(client_addr), "")
    }

    /// Counts a failed attempt (a token that did not verify) against `client_addr`.
    pub fn client_failed(&self, client_addr: &str) {
        self.auth_failed(crate::identity::client_ip(client_addr), "");
    }

    /// Refuses an attempt from `client` for `identity` while either has failed too often.
    pub(crate) fn check_auth_limits(
        &self,
        client: Option<std::net::IpAddr>,
        identity: &str,
    ) -> Result<(), CoreError> {
        self.inner.limiter.check(client, identity).map_err(|t| {
            self.inner.metrics.auth_rate_limited.inc();
            CoreError::Throttled {
                by: if t.by == "address" {
                    "from this address"
                } else {
                    "for this identity"
                },
                retry_after_secs: t.retry_after.as_secs().max(1),
            }
        })
    }

    pub(crate) fn auth_failed(&self, client: Option<std::net::IpAddr>, identity: &str) {
        self.inner.metrics.auth_failures.inc();
        self.inner.limiter.failed(client, identity);
    }

    /// Issues a credential to someone an identity provider vouched for: a person signing in
    /// (`login`) or a workload trading its own token (`exchange`). The identity is the
    /// declared one of that name, or for a provider with dynamic identities one made (or
    /// refreshed) from the claims; the policy decides with `request.action = "token"` and may
    /// narrow the targets and the lifetime.
    pub async fn issue_verified(
        &self,
        verified: &Verified,
        ask: CredentialAsk,
    ) -> Result<IssuedCredential, CoreError> {
        let base = match self.inner.config.identity(&verified.name) {
            Some(declared) => declared.clone(),
            None if verified.dynamic => {
                let now = unix_now();
                let record = DynamicIdentity {
                    name: verified.name.clone(),
                    kind: verified.kind.as_str().to_owned(),
                    groups: verified.groups.clone(),
                    claims: serde_json::Value::Object(verified.claims.clone()).to_string(),
                    provider: verified.provider.clone(),
                    subject: verified.subject.clone(),
                    created_at: now,
                    last_seen_at: now,
                };
                if let Err(e) = self.inner.store.upsert_dynamic_identity(&record).await {
                    let refusal = CoreError::refused(
                        RefusalKind::Forbidden,
                        format!("identity {:?} cannot be used: {e}", verified.name),
                    );
                    self.refuse_credential(&ask, Some(verified), "identity_taken", &refusal)
                        .await;
                    return Err(refusal);
                }
                principal::from_dynamic(&record)
            }
            None => {
                let refusal = CoreError::refused(
                    RefusalKind::Forbidden,
                    format!(
                        "{:?} is not an identity this gateway declares, and provider {} does \
                         not create identities (identities = \"declared\")",
                        verified.name, verified.provider
                    ),
                );
                self.refuse_credential(&ask, Some(verified), "undeclared_identity", &refusal)
                    .await;
                return Err(refusal);
            }
        };
        let scope = TokenScope {
            purpose: ask.purpose.to_owned(),
            targets: None,
            task: ask.task.clone(),
            provider: Some(verified.provider.clone()),
            claims: Some(serde_json::Value::Object(verified.claims.clone()).to_string()),
            groups: Some(verified.groups.clone()),
        };
        self.issue(&base, scope, ask, Some(&verified.subject), None)
            .await
    }

    /// Issues a per-task credential to an agent run by `caller`: the caller's identity, at
    /// most the caller's targets, and the task named in every audit record of its sessions.
    pub async fn issue_task(
        &self,
        caller: &Authenticated,
        ask: CredentialAsk,
    ) -> Result<IssuedCredential, CoreError> {
        let parent = caller.token.clone();
        if parent
            .as_ref()
            .is_some_and(|t| t.purpose == "task" || t.purpose == "exchange")
        {
            return Err(CoreError::refused(
                RefusalKind::Forbidden,
                "a per-task credential cannot issue further credentials",
            ));
        }
        let scope = TokenScope {
            purpose: ask.purpose.to_owned(),
            targets: parent.as_ref().and_then(|t| t.targets.clone()),
            task: ask.task.clone(),
            provider: parent.as_ref().and_then(|t| t.provider.clone()),
            claims: parent.as_ref().and_then(|t| t.claims.clone()),
            groups: parent.as_ref().and_then(|t| t.groups.clone()),
        };
        // Never outlives the credential it was made with.
        let cap = parent.and_then(|t| t.expires_at);
        let base = caller.principal.as_ref().clone();
        self.issue(&base, scope, ask, None, cap).await
    }

    async fn issue(
        &self,
        base: &IdentityConfig,
        mut scope: TokenScope,
        ask: CredentialAsk,
        subject: Option<&str>,
        expires_cap: Option<i64>,
    ) -> Result<IssuedCredential, CoreError> {
        let auth = &self.inner.config.auth;
        if let Some(task) = &ask.task {
            if task.chars().count() > MAX_TASK_CHARS || task.chars().any(char::is_control) {
                return Err(CoreError::refused(
                    RefusalKind::Invalid,
                    format!(
                        "a task description is one line of at most {MAX_TASK_CHARS} characters"
                    ),
                ));
            }
        }
        for t in &ask.targets {
            if self.inner.config.target(t).is_none() {
                return Err(CoreError::refused(
                    RefusalKind::Invalid,
                    format!("target {t:?} does not exist"),
                ));
            }
        }
        let (default_ttl, max_ttl) = match ask.purpose {
            "login" => (auth.login_ttl, auth.login_ttl),
            _ => (auth.task_ttl, auth.max_task_ttl),
        };
        let asked_ttl = ask.ttl.unwrap_or(default_ttl);
        if asked_ttl > max_ttl || asked_ttl.is_zero() {
            return Err(CoreError::refused(
                RefusalKind::Invalid,
                format!(
                    "a {} credential lives at most {}",
                    ask.purpose,
                    humantime::format_duration(max_ttl)
                ),
            ));
        }
        let mut identity = principal::merge(
            base,
            Some(&TokenGrant {
                id: String::new(),
                expires_at: None,
                purpose: scope.purpose.clone(),
                targets: None,
                task: scope.task.clone(),
                provider: scope.provider.clone(),
                claims: scope.claims.clone(),
                groups: scope.groups.clone(),
            }),
        );
        identity.task.clone_from(&ask.task);
        // Who asks is decided, not what the credential's sessions will be: a person minting a
        // per-task credential is still the person (its sessions are the agent's).
        identity.kind = base.kind;
        let request = TokenRequest {
            purpose: ask.purpose.to_owned(),
            targets: ask.targets.clone(),
            ttl_seconds: asked_ttl.as_secs(),
            task: ask.task.clone(),
            provider: scope.provider.clone(),
        };
        let subject_facts = crate::policy::Subject::for_gateway(&identity, &ask.client_addr);
        let decision = self.inner.policy.current().decide_request(
            &subject_facts,
            &self.inner.clock.now(),
            Request::Token { token: &request },
        );
        let refuse = |reason: String| {
            CoreError::refused(
                RefusalKind::Forbidden,
                format!(
                    "credential refused by policy rule {}: {reason}",
                    decision.rule
                ),
            )
        };
        let refusal = match (decision.deny_reason(), decision.approval()) {
            (Some(reason), _) => Some(refuse(reason.to_owned())),
            (None, Some(_)) => Some(refuse(
                "credentials cannot be held for approval; ask for access with `sluice access \
                 request` once signed in"
                    .to_owned(),
            )),
            (None, None) => None,
        };
        if let Some(refusal) = refusal {
            self.refuse_credential_for(
                &ask,
                scope.provider.clone(),
                Some(&identity.name),
                "denied",
                &refusal,
            )
            .await;
            return Err(refusal);
        }
        // The policy's scope narrows what was asked; it never widens it.
        let policy_scope = decision.token.clone().unwrap_or_default();
        let mut targets: Option<Vec<String>> = if ask.targets.is_empty() {
            policy_scope.targets.clone()
        } else {
            Some(match &policy_scope.targets {
                Some(allowed) => ask
                    .targets
                    .iter()
                    .filter(|t| allowed.contains(t))
                    .cloned()
                    .collect(),
                None => ask.targets.clone(),
            })
        };
        if let (Some(t), Some(parent)) = (&mut targets, &scope.targets) {
            t.retain(|name| parent.contains(name));
        } else if targets.is_none() {
            targets.clone_from(&scope.targets);
        }
        if ask.purpose != "login" && targets.as_ref().is_none_or(Vec::is_empty) {
            let refusal = refuse("the policy names no target this credential may reach".to_owned());
            self.refuse_credential_for(
                &ask,
                scope.provider.clone(),
                Some(&identity.name),
                "no_targets",
                &refusal,
            )
            .await;
            return Err(refusal);
        }
        let ttl = policy_scope
            .ttl_seconds
            .map_or(asked_ttl, |s| asked_ttl.min(Duration::from_secs(s)));
        scope.targets.clone_from(&targets);
        let now = unix_now();
        let expires_at = (now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2))
            .min(expires_cap.unwrap_or(i64::MAX));
        let store = &self.inner.store;
        let candidate: [u8; SALT_LEN] = rand::random();
        let salt = store.identity_salt(&identity.name, &candidate).await?;
        let name = identity.name.clone();
        let issued = tokio::task::spawn_blocking(move || {
            token::issue(&name, &salt, now, Some(expires_at), scope)
        })
        .await
        .map_err(|e| CoreError::Config(format!("issuing a token failed: {e}")))?;
        // Audited before the token exists: a credential is never live without its record.
        self.inner
            .audit
            .record(&AuditEvent::CredentialIssued {
                token_id: issued.record.id.clone(),
                identity: identity.name.clone(),
                identity_kind: identity.kind.as_str().to_owned(),
                purpose: ask.purpose.to_owned(),
                provider: issued.record.scope.provider.clone(),
                subject: subject.map(str::to_owned),
                task: ask.task.clone(),
                targets: targets.clone(),
                claims: issued
                    .record
                    .scope
                    .claims
                    .as_deref()
                    .and_then(|c| serde_json::from_str(c).ok()),
                expires_at,
                client_addr: ask.client_addr.clone(),
                rule: decision.rule.clone(),
                policy: decision.policy.clone(),
            })
            .await?;
        store.insert_token(&issued.record).await?;
        self.inner.metrics.credentials_issued.inc();
        Ok(IssuedCredential {
            secret: issued.secret,
            token_id: issued.record.id,
            identity: identity.name,
            kind: identity.kind.as_str(),
            groups: identity.groups,
            expires_at,
            targets,
            task: ask.task,
        })
    }

    /// Audits a refused credential: an identity provider token that did not verify (its
    /// `reason` code from the verifier) or a request the policy or configuration refused.
    pub async fn refuse_credential(
        &self,
        ask: &CredentialAsk,
        verified: Option<&Verified>,
        reason: &str,
        detail: &(dyn std::fmt::Display + Sync),
    ) {
        self.refuse_credential_for(
            ask,
            verified.map(|v| v.provider.clone()),
            verified.map(|v| v.name.as_str()),
            reason,
            detail,
        )
        .await;
    }

    /// [`Gateway::refuse_credential`] for a provider named without a verified token.
    pub async fn refuse_credential_for(
        &self,
        ask: &CredentialAsk,
        provider: Option<String>,
        identity: Option<&str>,
        reason: &str,
        detail: &(dyn std::fmt::Display + Sync),
    ) {
        self.inner.metrics.credentials_refused.inc();
        let event = AuditEvent::CredentialRefused {
            purpose: ask.purpose.to_owned(),
            provider,
            identity: identity.map(str::to_owned),
            client_addr: ask.client_addr.clone(),
            reason: reason.to_owned(),
            detail: detail.to_string(),
        };
        if let Err(e) = self.inner.audit.record(&event).await {
            self.inner.metrics.audit_failures.inc();
            tracing::error!(error = %e, "could not audit a refused credential");
        }
    }

    /// Revokes a token; open sessions under it end (after `[auth] session_grace`).
    pub async fn revoke_credential(&self, token_id: &str, by: &str) -> Result<bool, CoreError> {
        let Some(record) = self.inner.store.token(token_id).await? else {
            return Ok(false);
        };
        let revoked = self.inner.store.revoke_token(token_id, unix_now()).await?;
        if revoked {
            self.note_revoked([token_id.to_owned()]);
            self.inner
                .audit
                .record(&AuditEvent::CredentialRevoked {
                    token_id: token_id.to_owned(),
                    identity: record.identity,
                    by: by.to_owned(),
                })
                .await?;
        }
        Ok(revoked)
    }

    /// Adds revoked ids to what sessions watch; returns those not seen before.
    pub(crate) fn note_revoked(&self, ids: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut fresh = Vec::new();
        self.inner.revoked.send_if_modified(|set| {
            fresh = ids.into_iter().filter(|id| !set.contains(id)).collect();
            if fresh.is_empty() {
                return false;
            }
            let mut next: HashSet<String> = set.as_ref().clone();
            next.extend(fresh.iter().cloned());
            *set = Arc::new(next);
            true
        });
        fresh
    }

    /// Audits a revocation this gateway did not make (`sluice token revoke` on the store,
    /// another gateway): the trail of the gateway whose sessions it ends says so.
    pub(crate) async fn audit_revoked_elsewhere(&self, token_id: &str) {
        let identity = match self.inner.store.token(token_id).await {
            Ok(Some(record)) => record.identity,
            _ => String::new(),
        };
        let event = AuditEvent::CredentialRevoked {
            token_id: token_id.to_owned(),
            identity,
            by: "the store (another process)".to_owned(),
        };
        if let Err(e) = self.inner.audit.record(&event).await {
            self.inner.metrics.audit_failures.inc();
            tracing::error!(error = %e, "could not audit a revocation");
        }
    }

    /// Revocations made elsewhere (the CLI on the store, another gateway) reach this
    /// gateway's sessions by the store's notification (`cluster.rs`), or, while the store
    /// cannot tell us everything, within `[auth] revocation_poll`. Runs until dropped.
    pub async fn watch_revocations(&self) {
        let mut ticks = tokio::time::interval(self.inner.config.auth.revocation_poll);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if !self.store_tells_all() {
                self.check_revocations_once().await;
            }
        }
    }

    /// Reads the revocations made since the last successful read and ends their sessions.
    pub(crate) async fn check_revocations_once(&self) {
        let now = unix_now();
        let since = self.inner.revocations_read.load(Ordering::Acquire);
        match self.inner.store.revoked_since(since).await {
            Ok(ids) => {
                for id in self.note_revoked(ids) {
                    self.audit_revoked_elsewhere(&id).await;
                }
                // Overlapping by a second: the store's clock and ours may disagree.
                self.inner
                    .revocations_read
                    .fetch_max(now - 1, Ordering::AcqRel);
            }
            Err(e) => tracing::warn!(error = %e, "could not read token revocations"),
        }
    }

    pub(crate) fn revocations(&self) -> tokio::sync::watch::Receiver<Arc<HashSet<String>>> {
        self.inner.revoked.subscribe()
    }

    /// May `caller` use the admin API's `operation`? Refusals are audited.
    pub async fn authorize_admin(
        &self,
        caller: &Authenticated,
        client_addr: &str,
        operation: &str,
        method: &str,
        path: &str,
    ) -> Result<(), CoreError> {
        let (rule, policy, reason) =
            match self.admin_refusal(caller, client_addr, operation, method, path) {
                None => return Ok(()),
                Some(AdminRefusal::Credential(e)) => return Err(e),
                Some(AdminRefusal::Policy {
                    rule,
                    policy,
                    reason,
                }) => (rule, policy, reason),
            };
        let decision_rule = rule.clone();
        let event = AuditEvent::AdminRefused {
            identity: caller.identity.clone(),
            operation: operation.to_owned(),
            rule,
            policy,
            reason: reason.clone(),
        };
        if let Err(e) = self.inner.audit.record(&event).await {
            self.inner.metrics.audit_failures.inc();
            tracing::error!(error = %e, "could not audit a refused admin call");
        }
        Err(CoreError::refused(
            RefusalKind::Forbidden,
            format!("{operation} refused by policy rule {decision_rule}: {reason}"),
        ))
    }

    /// Whether `caller` may use `operation`, asked without auditing: for showing or hiding
    /// what a page offers. Acting still goes through `authorize_admin`, which audits a refusal.
    pub fn admin_allowed(
        &self,
        caller: &Authenticated,
        client_addr: &str,
        operation: &str,
        method: &str,
        path: &str,
    ) -> bool {
        self.admin_refusal(caller, client_addr, operation, method, path)
            .is_none()
    }

    fn admin_refusal(
        &self,
        caller: &Authenticated,
        client_addr: &str,
        operation: &str,
        method: &str,
        path: &str,
    ) -> Option<AdminRefusal> {
        if caller
            .token
            .as_ref()
            .is_some_and(|t| t.purpose == "task" || t.purpose == "exchange")
        {
            return Some(AdminRefusal::Credential(CoreError::refused(
                RefusalKind::Forbidden,
                "a per-task credential reaches targets only, not the admin API",
            )));
        }
        let request = AdminRequest {
            operation: operation.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
        };
        let subject = crate::policy::Subject::for_gateway(&caller.principal, client_addr);
        let decision = self.inner.policy.current().decide_request(
            &subject,
            &self.inner.clock.now(),
            Request::Admin { admin: &request },
        );
        let reason = match (decision.deny_reason(), decision.approval()) {
            (None, None) => return None,
            (Some(reason), _) => reason.to_owned(),
            (None, Some(_)) => "admin calls cannot be held for approval".to_owned(),
        };
        Some(AdminRefusal::Policy {
            rule: decision.rule.clone(),
            policy: decision.policy.clone(),
            reason,
        })
    }
}

/// Why an admin call is refused: the credential cannot make admin calls at all, or the
/// policy's rule said no.
enum AdminRefusal {
    Credential(CoreError),
    Policy {
        rule: String,
        policy: String,
        reason: String,
    },
}

/// What every audit record of an exchanged credential's sessions names: the caller's own words
/// when given, then the provider's name for this run (`jti`, else the subject).
fn task_reference(token: &sluice_identity::VerifiedToken, asked: Option<&str>) -> String {
    let run = token
        .claims
        .get("jti")
        .and_then(|v| v.as_str())
        .unwrap_or(&token.subject);
    let run = format!("{}:{run}", token.provider);
    match asked.map(str::trim).filter(|t| !t.is_empty()) {
        Some(words) => format!("{words} ({run})"),
        None => run,
    }
}
