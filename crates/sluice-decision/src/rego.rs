//! Deciding with a Rego policy bundle (regorus).
//!
//! Every decision is one query, `data.sluice.decision`, evaluated by regorus' interpreter and
//! read as the decision document (`allow`, `rule`, `reasons`). The interpreter, not regorus'
//! bytecode VM, is used because the VM (0.14.1) turns evaluation errors inside rule bodies,
//! conflicting complete rules and functions, and complete rules that produce several values
//! into "undefined" instead of errors. A deny rule whose body fails would then silently not deny,
//! so the VM can allow what the interpreter (and OPA) refuse.
//!
//! Builtin errors are strict (an error, not undefined) for the same reason: a failing
//! `regex.match` inside a deny rule must not let the request through.

use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, LimitError, Value};
use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::document::{read_decision, ERROR_RULE, TIMEOUT_RULE};
use crate::input_value::InputBuilder;
use crate::{introspect, local, Bundle, Decision, DecisionError, Input, Policy};

/// The one query the gateway asks.
pub const DECISION_QUERY: &str = "data.sluice.decision";

/// How many interpreter steps pass between two looks at the clock for the timeout. Reading
/// the clock every step would cost more than many steps; 32 steps take well under a
/// millisecond, so timeouts still land within about a millisecond.
pub(crate) const TIMER_CHECK_INTERVAL: NonZeroU32 = match NonZeroU32::new(32) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

static NEXT_POLICY_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Clone)]
pub struct RegoOptions {
    /// Longest a single decision may evaluate before it is denied with `sluice.timeout`.
    pub eval_timeout: Duration,
    /// The commit the policy directory is checked out at, if it is a git work tree.
    pub git_commit: Option<String>,
}

impl Default for RegoOptions {
    fn default() -> Self {
        Self {
            eval_timeout: Duration::from_millis(100),
            git_commit: None,
        }
    }
}

/// A compiled bundle. Cheap to clone; clones share their per-thread engines.
#[derive(Clone)]
pub struct RegoPolicy {
    shared: Arc<Shared>,
}

struct Shared {
    /// Keys this policy's per-thread engines.
    id: u64,
    /// Dropped with the last clone of the policy, which tells threads to drop their engines.
    alive: Arc<()>,
    /// Parsed, analysed and ready to evaluate; threads clone it.
    template: Engine,
    version: String,
    digest: String,
    eval_timeout: Duration,
    uses_parameters: bool,
    cacheable: bool,
    tests: Vec<TestRule>,
}

/// A `test_*` rule found at compile time.
#[derive(Debug, Clone)]
pub(crate) struct TestRule {
    pub path: String,
    pub package: String,
    pub name: String,
    pub file: Option<String>,
}

/// A decision together with what produced it, for `sluice policy eval`.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    pub decision: Decision,
    /// The value of `data.sluice.decision`; `None` when it was undefined or evaluation failed.
    pub document: Option<serde_json::Value>,
    /// What the policy printed with `print(...)`, as `file:line: text`.
    pub prints: Vec<String>,
}

impl RegoPolicy {
    /// Parses and analyses every file of the bundle and checks that it answers
    /// `data.sluice.decision`.
    pub fn compile(bundle: &Bundle, options: RegoOptions) -> Result<Self, DecisionError> {
        let mut engine = Engine::new();
        engine.set_strict_builtin_errors(true);
        // Prints are collected and dropped: the decision crate never writes to stderr.
        engine.set_gather_prints(true);
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit: options.eval_timeout,
            check_interval: TIMER_CHECK_INTERVAL,
        });
        for file in bundle.files() {
            engine
                .add_policy(file.path.clone(), file.text.clone())
                .map_err(|e| compile_error(&format!("{e}")))?;
        }
        if !declares_decision(&engine) {
            return Err(DecisionError::NoDecisionRule);
        }
        // Analyses the whole bundle (unsafe variables, the order statements must run in) now
        // rather than on the first request, and leaves `engine` prepared so that per-thread
        // clones start ready. regorus finds unknown functions only when it calls them, which
        // is one reason to run the bundle's tests.
        let compiled = engine
            .compile_with_entrypoint(&DECISION_QUERY.into())
            .map_err(|e| {
                let text = format!("{e}");
                if text.trim() == "not a valid rule path" {
                    compile_error(&format!(
                        "data.sluice.decision must be one rule (`decision := {{...}} if ...`), \
                         not assembled from `decision.<key>` rules: {text}"
                    ))
                } else {
                    compile_error(&text)
                }
            })?;
        let tests = crate::tests::find_tests(&compiled);

        let found = introspect::introspect(bundle.files().iter().map(|f| f.text.as_str()));
        let digest = bundle.digest().to_owned();
        let version = match &options.git_commit {
            Some(commit) => {
                let short: String = commit.chars().take(12).collect();
                format!("{digest} git:{short}")
            }
            None => digest.clone(),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                id: NEXT_POLICY_ID.fetch_add(1, Ordering::Relaxed),
                alive: Arc::new(()),
                template: engine,
                version,
                digest,
                eval_timeout: options.eval_timeout,
                uses_parameters: found.uses_parameters,
                cacheable: found.cacheable,
                tests,
            }),
        })
    }

    /// The version recorded with every decision: the digest, and ` git:<12 hex>` when the
    /// commit was given.
    pub fn version(&self) -> &str {
        &self.shared.version
    }

    /// The bundle's content digest, `sha256:<16 hex>`.
    pub fn digest(&self) -> &str {
        &self.shared.digest
    }

    /// Whether a decision may depend on bound parameter values, so that the gateway must
    /// decide again at Execute with them. Read conservatively from the source text: it may
    /// say yes for a policy that does not, never no for one that does.
    pub fn uses_parameters(&self) -> bool {
        self.shared.uses_parameters
    }

    /// Whether decisions may be cached per subject, clock bucket and statement (the policy
    /// reads neither the clock, nor randomness, nor the session's id or start). Read
    /// conservatively from the source text, like [`RegoPolicy::uses_parameters`].
    pub fn cacheable(&self) -> bool {
        self.shared.cacheable
    }

    /// Decides an input document given as JSON, and returns the decision document and the
    /// policy's prints with the decision. Only the JSON can fail; evaluation failures are
    /// denials as in [`Policy::decide`].
    pub fn evaluate_json(&self, input_json: &str) -> Result<Explained, DecisionError> {
        let input = Value::from_json_str(input_json)
            .map_err(|e| DecisionError::InvalidInput(format!("{e}")))?;
        let (outcome, prints) = self.shared.run(|_| input.clone());
        let document = match &outcome {
            Ok(Value::Undefined) | Err(_) => None,
            Ok(value) => serde_json::to_value(value).ok(),
        };
        Ok(Explained {
            decision: self.shared.decision_from(outcome),
            document,
            prints,
        })
    }

    pub(crate) fn test_rules(&self) -> &[TestRule] {
        &self.shared.tests
    }

    /// A fresh, unshared copy of the prepared engine.
    pub(crate) fn fresh_engine(&self) -> Engine {
        self.shared.template.clone()
    }
}

impl Shared {
    /// Evaluates on this thread's engine with the input `input` builds, and returns what the
    /// policy printed.
    fn run(
        &self,
        mut input: impl FnMut(&mut InputBuilder) -> Value,
    ) -> (Result<Value, Failure>, Vec<String>) {
        local::with_engine(self.id, &self.alive, &self.template, |ws| {
            let outcome = evaluate(ws.engine, input(ws.inputs));
            // Taken every time: left in the engine they would pile up.
            let prints = ws.engine.take_prints().unwrap_or_default();
            // A failed evaluation may leave state behind; the next decision starts clean.
            if outcome.is_err() {
                *ws.engine = self.template.clone();
            }
            (outcome, prints)
        })
    }

    fn decision_from(&self, outcome: Result<Value, Failure>) -> Decision {
        let deny = |rule: &str, reason: String| Decision::deny(rule, &self.version, reason);
        match outcome {
            Ok(value) => read_decision(&value, &self.version),
            Err(Failure::Timeout) => deny(
                TIMEOUT_RULE,
                format!("policy evaluation took longer than {:?}", self.eval_timeout),
            ),
            Err(Failure::Error(text)) => deny(ERROR_RULE, format!("policy error: {text}")),
        }
    }
}

enum Failure {
    Timeout,
    Error(String),
}

/// Evaluates the decision query for `input`. The caller replaces the engine after a failure.
fn evaluate(engine: &mut Engine, input: Value) -> Result<Value, Failure> {
    engine.set_input(input);
    // regorus is written not to panic; should it anyway, this request is denied like any
    // other failure instead of taking the caller's thread down with it.
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        engine.eval_rule(DECISION_QUERY.to_owned())
    }))
    .map_err(|_| Failure::Error("the policy engine panicked".to_owned()))?;
    result.map_err(|e| {
        let timed_out = e.chain().any(|cause| {
            matches!(
                cause.downcast_ref::<LimitError>(),
                Some(LimitError::TimeLimitExceeded { .. })
            )
        });
        if timed_out {
            Failure::Timeout
        } else {
            Failure::Error(Diagnostic::parse(&format!("{e}")).one_line())
        }
    })
}

impl Policy for RegoPolicy {
    fn version(&self) -> &str {
        &self.shared.version
    }

    fn decide(&self, input: &Input<'_>) -> Decision {
        let (outcome, _prints) = self.shared.run(|inputs| inputs.build(input));
        self.shared.decision_from(outcome)
    }

    fn uses_parameters(&self) -> bool {
        self.shared.uses_parameters
    }

    fn cacheable(&self) -> bool {
        self.shared.cacheable
    }
}

impl std::fmt::Debug for RegoPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegoPolicy")
            .field("version", &self.shared.version)
            .field("uses_parameters", &self.shared.uses_parameters)
            .field("cacheable", &self.shared.cacheable)
            .finish_non_exhaustive()
    }
}

/// Whether some module of package `sluice` declares a rule named `decision`.
fn declares_decision(engine: &Engine) -> bool {
    let Ok(modules) = engine.get_policy_package_components() else {
        return false;
    };
    modules
        .iter()
        .filter(|m| m.components == ["sluice"])
        .any(|m| {
            engine
                .has_declared_rule_rooted_at(&m.source_file, "decision")
                .unwrap_or(false)
        })
}

fn compile_error(text: &str) -> DecisionError {
    DecisionError::Compile {
        message: Diagnostic::parse(text).long(),
    }
}
