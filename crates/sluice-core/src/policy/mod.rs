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
            cache: None,
            request_cache: None,
            uses_parameters: false,
            declared_rules: Vec::new(),
        }
    }

    fn rego(compiled: Compiled, source: &PolicySource, cache_entries: usize) -> ActivePolicy {
        let Compiled { policy, tests } = compiled;
        let cacheable = cache_entries > 0 && policy.cacheable();
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
            policy: Arc::new(policy),
            cache,
            request_cache,
        }
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

/// The policy in force, swapped atomically: a statement is decided entirely under one version.
pub struct PolicyState {
    active: ArcSwap<ActivePolicy>,
    config: PolicyConfig,
    /// Reloads from SIGHUP and the watcher run one at a time.
    reloading: std::sync::Mutex<()>,
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
        })
    }

    pub fn current(&self) -> arc_swap::Guard<Arc<ActivePolicy>> {
        self.active.load()
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Reads the directory again and enforces it if it changed, compiles, and passes its
    /// tests. Blocking: compilation and tests take milliseconds, so callers run it off the
    /// session workers.
    pub fn reload(&self) -> ReloadOutcome {
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
