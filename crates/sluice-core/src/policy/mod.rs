//! The policy in force: loaded from a directory of Rego files at start, replaced atomically on
//! reload, never replaced by a bundle that fails to compile or fails its own tests.
//!
//! # Layout
//! - [`source`]: reading a policy directory (the only place its files are read).
//! - [`repository`]: the git repository it lives in, read with gix: the commit checked out and
//!   whether the directory differs from it.
//! - `verdict`: deciding a statement string: parse, evaluate each statement, cache.

pub mod repository;
pub mod source;
mod verdict;

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;
use sluice_audit::AuditEvent;
use sluice_decision::{
    BuiltinPolicy, CacheSubject, DecisionCache, GrantFacts, IdentityFacts, Policy, PostgresSession,
    RegoOptions, RegoPolicy, SessionFacts, SessionSection, TargetFacts, TestReport,
};
use sluice_sql::{Dialect, NameContext};

use crate::config::{IdentityConfig, PolicyConfig, TargetConfig};
use crate::CoreError;
pub use repository::{repository_state, RepositoryState};
pub use source::PolicySource;
pub use verdict::{Verdicted, RULE_EMPTY, RULE_LEXING, RULE_PARSE};

/// One identity's grants on one target, as the policy sees them, and until when that holds.
pub(crate) struct GrantSnapshot {
    pub facts: Vec<GrantFacts>,
    pub generation: u64,
    /// The earliest expiry among them: after it, the snapshot is stale whatever the generation.
    pub valid_until_ms: i64,
}

/// Everything the policy sees about who asks, where, and over which connection. Immutable: a
/// session replaces its subject when a fact changes (a new search path, a grant issued,
/// revoked or expired).
#[derive(Debug)]
pub struct Subject {
    pub identity: IdentityFacts,
    pub target: TargetFacts,
    pub session: SessionFacts,
    /// How the session's SQL is read, and where its unqualified names resolve.
    pub dialect: &'static dyn Dialect,
    pub names: NameContext,
    /// The identity's live grants on the target.
    pub grants: Vec<GrantFacts>,
    /// The grant book's generation the grants were read at, and the first of their expiries:
    /// past either, they are read again before the next decision.
    pub(crate) grants_generation: u64,
    pub(crate) grants_valid_until_ms: i64,
    cache_key: Arc<CacheSubject>,
}

impl Subject {
    pub(crate) fn new(
        identity: IdentityFacts,
        target: TargetFacts,
        mut session: SessionFacts,
        dialect: &'static dyn Dialect,
        names: NameContext,
        grants: GrantSnapshot,
    ) -> Subject {
        if let (Some(postgres), NameContext::SearchPath(path)) = (session.postgres_mut(), &names) {
            postgres.search_path = path.schemas().to_vec();
        }
        let cache_key = Arc::new(CacheSubject::new(
            &identity,
            &target,
            &session,
            &grants.facts,
        ));
        Subject {
            identity,
            target,
            session,
            dialect,
            names,
            grants: grants.facts,
            grants_generation: grants.generation,
            grants_valid_until_ms: grants.valid_until_ms,
            cache_key,
        }
    }

    /// The facts for a request for access made outside any session (`sluice access request`).
    pub(crate) fn for_access(
        identity: &IdentityConfig,
        target: &TargetConfig,
        grants: GrantSnapshot,
    ) -> Subject {
        Subject::new(
            identity_facts(identity),
            target_facts(target, &target.database),
            SessionFacts {
                id: String::new(),
                client_address: String::new(),
                application_name: None,
                started_at: String::new(),
                protocol: "api".to_owned(),
                // Version 1 showed a request for access PostgreSQL's session defaults.
                section: SessionSection::Postgres(PostgresSession::default()),
            },
            target.kind.dialect(),
            NameContext::SearchPath(sluice_sql::SearchPath::default()),
            grants,
        )
    }

    /// For requests to the gateway itself (credentials, the admin API): no target, so
    /// `target.kind` is `gateway` and its name empty; `session.protocol` is `api`.
    pub(crate) fn for_gateway(identity: &IdentityConfig, client_addr: &str) -> Subject {
        Subject::new(
            identity_facts(identity),
            TargetFacts {
                name: String::new(),
                kind: "gateway".to_owned(),
                tags: Default::default(),
                database: String::new(),
            },
            SessionFacts {
                id: String::new(),
                client_address: crate::identity::client_ip(client_addr)
                    .map(|ip| ip.to_string())
                    .unwrap_or_default(),
                application_name: None,
                started_at: String::new(),
                protocol: "api".to_owned(),
                section: SessionSection::None,
            },
            crate::config::TargetKind::Postgres.dialect(),
            NameContext::SearchPath(sluice_sql::SearchPath::default()),
            GrantSnapshot {
                facts: Vec::new(),
                generation: 0,
                valid_until_ms: i64::MAX,
            },
        )
    }

    /// The subject as the decision cache keys it.
    pub(crate) fn cache_key(&self) -> &Arc<CacheSubject> {
        &self.cache_key
    }

    /// The same subject after the session moved its name context (a new search path).
    pub fn with_names(&self, names: NameContext) -> Subject {
        Subject::new(
            self.identity.clone(),
            self.target.clone(),
            self.session.clone(),
            self.dialect,
            names,
            self.grant_snapshot(),
        )
    }

    /// The same subject with the grants as they are now.
    pub(crate) fn with_grants(&self, grants: GrantSnapshot) -> Subject {
        Subject::new(
            self.identity.clone(),
            self.target.clone(),
            self.session.clone(),
            self.dialect,
            self.names.clone(),
            grants,
        )
    }

    fn grant_snapshot(&self) -> GrantSnapshot {
        GrantSnapshot {
            facts: self.grants.clone(),
            generation: self.grants_generation,
            valid_until_ms: self.grants_valid_until_ms,
        }
    }

    /// Whether the grants were read before the last change or have run out since.
    pub(crate) fn grants_stale(&self, generation: u64, now_ms: i64) -> bool {
        self.grants_generation != generation || now_ms >= self.grants_valid_until_ms
    }
}

impl PolicyInfo {
    /// The audit record saying this policy is now enforced.
    pub fn loaded_event(&self, trigger: &str, previous: Option<String>) -> AuditEvent {
        AuditEvent::PolicyLoaded {
            version: self.version.clone(),
            dir: self
                .dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            trigger: trigger.to_owned(),
            files: self.files.len(),
            tests_passed: self.tests_passed,
            previous,
        }
    }
}

/// What `/policy`, `sluice policy status` and the start-up log say when no policy is enforced.
pub const AUDIT_ONLY: &str = "AUDIT-ONLY: [policy] builtin = \"allow-all\": no policy is \
    enforced; every request is allowed and audited";

/// What is enforced, as `sluice policy status` and the admin API show it.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyInfo {
    pub version: String,
    /// Content digest of the bundle; `None` for the builtin policy.
    pub digest: Option<String>,
    pub git_commit: Option<String>,
    pub dir: Option<PathBuf>,
    /// Each file's path and SHA-256, so drift can be shown file by file.
    pub files: Vec<PolicyFile>,
    pub tests_passed: usize,
    /// RFC 3339, UTC.
    pub loaded_at: String,
    /// Set when no policy is enforced (`[policy] builtin = "allow-all"`), saying so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct PolicyFile {
    pub path: String,
    pub sha256: String,
}

/// A policy with its description and its own decision cache: a cache dies with its policy, so
/// no decision can outlive the version that made it.
pub struct ActivePolicy {
    policy: Arc<dyn Policy>,
    /// The same policy when it is a Rego bundle: what a hand-written input is evaluated on.
    rego: Option<Arc<RegoPolicy>>,
    pub info: PolicyInfo,
    cache: Option<DecisionCache<Arc<Verdicted>>>,
    /// Decisions of requests that are not SQL text (HTTP, Kubernetes, commands, ...), keyed by
    /// their facts as JSON.
    request_cache: Option<DecisionCache<sluice_decision::Decision>>,
    /// The bundle reads `parameters`: executions with bound values are decided with them.
    pub uses_parameters: bool,
    /// The rules its files (tests left out) declare, for the dead-rule signal.
    pub declared_rules: Vec<String>,
}

impl Drop for ActivePolicy {
    /// The last reference to a replaced policy is often a session's (a prepared statement's
    /// memo of its last decision), dropped on a session worker, and freeing a compiled bundle
    /// with its two caches takes milliseconds that every session on that worker would wait
    /// for: it is freed on a thread of its own instead (issue 23: a reload every second).
    fn drop(&mut self) {
        if self.rego.is_none() {
            return;
        }
        let parts = (
            std::mem::replace(&mut self.policy, Arc::new(BuiltinPolicy)),
            self.rego.take(),
            self.cache.take(),
            self.request_cache.take(),
        );
        // Should the thread not start, the closure and so the parts are freed here.
        let _ = std::thread::Builder::new()
            .name("sluice-policy-free".into())
            .spawn(move || drop(parts));
    }
}

impl ActivePolicy {
    fn builtin() -> ActivePolicy {
        let policy = BuiltinPolicy;
        ActivePolicy {
            info: PolicyInfo {
                version: policy.version().to_owned(),
                digest: None,
                git_commit: None,
                dir: None,
                files: Vec::new(),
                tests_passed: 0,
                loaded_at: now_rfc3339(),
                warning: Some(AUDIT_ONLY.to_owned()),
            },
            policy: Arc::new(policy),
            rego: None,
            cache: None,
            request_cache: None,
            uses_parameters: false,
            declared_rules: Vec::new(),
        }
    }

    fn rego(compiled: Compiled, source: &PolicySource, cache_entries: usize) -> ActivePolicy {
        let Compiled { policy, tests } = compiled;
        let cacheable = cache_entries > 0 && policy.cacheable();
        let policy = Arc::new(policy);
        let cache = cacheable.then(|| DecisionCache::new(cache_entries));
        let request_cache = cacheable.then(|| DecisionCache::new(cache_entries));
        ActivePolicy {
            info: PolicyInfo {
                version: policy.version().to_owned(),
                digest: Some(policy.digest().to_owned()),
                git_commit: source.git_commit.clone(),
                dir: Some(source.dir.clone()),
                files: source
                    .files
                    .iter()
                    .map(|(path, sha256)| PolicyFile {
                        path: path.clone(),
                        sha256: sha256.clone(),
                    })
                    .collect(),
                tests_passed: tests.passed.len(),
                loaded_at: now_rfc3339(),
                warning: None,
            },
            uses_parameters: policy.uses_parameters(),
            declared_rules: sluice_signals::declared_rules(
                source
                    .bundle
                    .files()
                    .iter()
                    .filter(|f| !f.path.ends_with("_test.rego"))
                    .map(|f| f.text.as_str()),
            ),
            policy: policy.clone(),
            rego: Some(policy),
            cache,
            request_cache,
        }
    }
}

impl ActivePolicy {
    /// What this policy decides for an input document given as JSON (docs/policy.md), as
    /// `sluice policy eval` shows it: nothing is recorded, cached or held. Blocking for up to
    /// the evaluation timeout. The builtin policy decides by the request's kind, not a
    /// document, so there is nothing to evaluate.
    pub fn evaluate_json(&self, input: &str) -> Result<sluice_decision::Explained, CoreError> {
        let Some(rego) = &self.rego else {
            return Err(CoreError::Policy(
                "no Rego policy is enforced ([policy] builtin): there is no policy to evaluate \
                 a document with"
                    .into(),
            ));
        };
        rego.evaluate_json(input)
            .map_err(|e| CoreError::Policy(e.to_string()))
    }
}

/// Compiles a bundle, naming its git commit in the version when it has one.
pub fn compile(
    source: &PolicySource,
    eval_timeout: std::time::Duration,
) -> Result<RegoPolicy, CoreError> {
    RegoPolicy::compile(
        &source.bundle,
        RegoOptions {
            eval_timeout,
            git_commit: source.git_commit.clone(),
        },
    )
    .map_err(|e| CoreError::Policy(e.to_string()))
}

/// A bundle that compiled and passed its tests.
pub struct Compiled {
    pub policy: RegoPolicy,
    pub tests: TestReport,
}

/// Compiles a bundle and runs its tests: the gate every bundle passes before it is enforced,
/// at start, on reload, and in `sluice policy check|test`.
pub fn compile_checked(
    source: &PolicySource,
    eval_timeout: std::time::Duration,
) -> Result<Compiled, CoreError> {
    let policy = compile(source, eval_timeout)?;
    let tests = policy.run_tests();
    if !tests.failed.is_empty() {
        let names: Vec<String> = tests
            .failed
            .iter()
            .map(|t| format!("{}.{}", t.package, t.name))
            .collect();
        return Err(CoreError::Policy(format!(
            "{} of {} policy tests failed: {}",
            tests.failed.len(),
            tests.failed.len() + tests.passed.len(),
            names.join(", ")
        )));
    }
    Ok(Compiled { policy, tests })
}

/// How a reload went.
pub enum ReloadOutcome {
    /// The directory holds the bundle already enforced.
    Unchanged,
    Loaded {
        previous: String,
        info: PolicyInfo,
    },
    Rejected {
        digest: Option<String>,
        reason: String,
        enforced: String,
    },
}

/// A reload that was refused, kept so that operators can see why the directory is not
/// enforced without searching logs or the trail.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadRejection {
    /// RFC 3339, UTC.
    pub at: String,
    pub digest: Option<String>,
    pub reason: String,
}

/// The policy in force, swapped atomically: a statement is decided entirely under one version.
pub struct PolicyState {
    active: ArcSwap<ActivePolicy>,
    config: PolicyConfig,
    /// Reloads from SIGHUP and the watcher run one at a time.
    reloading: std::sync::Mutex<()>,
    /// The newest rejected reload since start, if any.
    last_rejection: std::sync::Mutex<Option<ReloadRejection>>,
}

impl PolicyState {
    /// The policy to enforce at start. A configured directory that does not compile or fails
    /// its tests is an error: the gateway does not start without the policy it was given.
    pub fn load(config: &PolicyConfig) -> Result<PolicyState, CoreError> {
        let active = match &config.dir {
            None => ActivePolicy::builtin(),
            Some(dir) => {
                let source = PolicySource::read(dir)?;
                let compiled = compile_checked(&source, config.eval_timeout)?;
                ActivePolicy::rego(compiled, &source, config.cache_entries)
            }
        };
        Ok(PolicyState {
            active: ArcSwap::from_pointee(active),
            config: config.clone(),
            reloading: std::sync::Mutex::new(()),
            last_rejection: std::sync::Mutex::new(None),
        })
    }

    pub fn current(&self) -> arc_swap::Guard<Arc<ActivePolicy>> {
        self.active.load()
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The newest reload rejected since this gateway started.
    pub fn last_rejection(&self) -> Option<ReloadRejection> {
        crate::sync::lock(&self.last_rejection).clone()
    }

    /// Reads the directory again and enforces it if it changed, compiles, and passes its
    /// tests. Blocking: compilation and tests take milliseconds, so callers run it off the
    /// session workers.
    pub fn reload(&self) -> ReloadOutcome {
        let outcome = self.reload_once();
        if let ReloadOutcome::Rejected { digest, reason, .. } = &outcome {
            *crate::sync::lock(&self.last_rejection) = Some(ReloadRejection {
                at: now_rfc3339(),
                digest: digest.clone(),
                reason: reason.clone(),
            });
        }
        outcome
    }

    fn reload_once(&self) -> ReloadOutcome {
        let _one_at_a_time = crate::sync::lock(&self.reloading);
        let current = self.active.load_full();
        let Some(dir) = &self.config.dir else {
            return ReloadOutcome::Unchanged;
        };
        let rejected = |digest: Option<String>, e: CoreError| ReloadOutcome::Rejected {
            digest,
            reason: e.to_string(),
            enforced: current.info.version.clone(),
        };
        let source = match PolicySource::read(dir) {
            Ok(s) => s,
            Err(e) => return rejected(None, e),
        };
        let digest = source.bundle.digest().to_owned();
        if current.info.digest.as_deref() == Some(digest.as_str())
            && current.info.git_commit == source.git_commit
        {
            return ReloadOutcome::Unchanged;
        }
        match compile_checked(&source, self.config.eval_timeout) {
            Ok(compiled) => {
                let next = ActivePolicy::rego(compiled, &source, self.config.cache_entries);
                let info = next.info.clone();
                self.active.store(Arc::new(next));
                ReloadOutcome::Loaded {
                    previous: current.info.version.clone(),
                    info,
                }
            }
            Err(e) => rejected(Some(digest), e),
        }
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) fn identity_facts(identity: &IdentityConfig) -> IdentityFacts {
    IdentityFacts {
        name: identity.name.clone(),
        kind: identity.kind.as_str().to_owned(),
        groups: identity.groups.clone(),
        attributes: identity.attributes.clone(),
        claims: identity.claims.clone(),
        provider: identity.provider.clone(),
        task: identity.task.clone(),
    }
}

pub(crate) fn target_facts(target: &TargetConfig, database: &str) -> TargetFacts {
    TargetFacts {
        name: target.name.clone(),
        kind: target.kind.as_str().to_owned(),
        tags: target.tags.clone(),
        database: database.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ALLOW: &str = "package sluice\n\ndecision := {\"allow\": input.ok == true, \
                         \"rule\": \"ok_flag\", \"reasons\": [\"not ok\"]}\n";

    #[test]
    fn a_rejected_reload_is_kept_and_a_document_is_evaluated_without_side_effects() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.rego"), ALLOW).unwrap();
        let config = PolicyConfig {
            dir: Some(dir.path().to_path_buf()),
            ..PolicyConfig::default()
        };
        let state = PolicyState::load(&config).unwrap();
        let active = state.current();
        let allowed = active.evaluate_json(r#"{"ok": true}"#).unwrap();
        assert!(allowed.decision.is_allowed());
        assert_eq!(allowed.decision.rule, "ok_flag");
        let denied = active.evaluate_json(r#"{"ok": false}"#).unwrap();
        assert!(denied.decision.deny_reason().is_some());
        assert!(active.evaluate_json("{nope").is_err());

        assert!(state.last_rejection().is_none());
        std::fs::write(dir.path().join("p.rego"), "package sluice\n\ndecision := {").unwrap();
        assert!(matches!(state.reload(), ReloadOutcome::Rejected { .. }));
        let rejection = state.last_rejection().unwrap();
        assert!(!rejection.reason.is_empty());
        assert!(rejection.digest.is_some());
        // The policy in force did not change.
        assert_eq!(state.current().info.version, active.info.version);
    }

    #[test]
    fn the_builtin_policy_has_no_document_to_evaluate() {
        let state = PolicyState::load(&PolicyConfig::default()).unwrap();
        let err = state.current().evaluate_json("{}").unwrap_err().to_string();
        assert!(err.contains("no Rego policy"), "{err}");
    }
}
