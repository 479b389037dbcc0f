//! Running a bundle's own tests, like `opa test`: every rule named `test_*` in every package
//! is evaluated without input, and passes only when it is exactly `true`.
//!
//! Tests run on a private copy of the prepared engine, so running them never disturbs
//! decisions, and with a longer time limit than decisions, since a test may evaluate the
//! decision several times.

use std::time::Duration;

use regorus::unstable::{Rule, RuleHead};
use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{CompiledPolicy, Engine, Value};

use crate::diagnostic::Diagnostic;
use crate::rego::{RegoPolicy, TestRule, TIMER_CHECK_INTERVAL};

/// The time limit of one test.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// The package, without `data.`, e.g. `sluice.sql`.
    pub package: String,
    /// The rule name, e.g. `test_analysts_read`.
    pub name: String,
    /// The file that defines the test.
    pub file: Option<String>,
    /// Why it failed (what it evaluated to, or the error), and what it printed; empty for a
    /// pass.
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestReport {
    pub passed: Vec<TestCase>,
    pub failed: Vec<TestCase>,
}

impl TestReport {
    pub fn passed_count(&self) -> usize {
        self.passed.len()
    }

    pub fn failed_count(&self) -> usize {
        self.failed.len()
    }

    pub fn total(&self) -> usize {
        self.passed.len() + self.failed.len()
    }

    /// True when no test failed (also when there are none).
    pub fn success(&self) -> bool {
        self.failed.is_empty()
    }
}

impl RegoPolicy {
    /// Evaluates every `test_*` rule of the bundle, in package and name order.
    pub fn run_tests(&self) -> TestReport {
        let mut engine = self.test_engine();
        let mut report = TestReport::default();
        for test in self.test_rules() {
            let result = engine.eval_rule(test.path.clone());
            let prints = engine.take_prints().unwrap_or_default();
            let failure = match result {
                Ok(Value::Bool(true)) => None,
                Ok(Value::Undefined) => Some("undefined".to_owned()),
                Ok(other) => Some(format!("evaluated to {other}")),
                Err(e) => {
                    // Nothing the failed evaluation left behind may reach the next test.
                    engine = self.test_engine();
                    Some(Diagnostic::parse(&format!("{e}")).one_line())
                }
            };
            let case = |message: String| TestCase {
                package: test.package.clone(),
                name: test.name.clone(),
                file: test.file.clone(),
                message,
            };
            match failure {
                None => report.passed.push(case(String::new())),
                Some(mut message) => {
                    for line in prints {
                        message.push_str("\n  ");
                        message.push_str(&line);
                    }
                    report.failed.push(case(message));
                }
            }
        }
        report
    }

    fn test_engine(&self) -> Engine {
        let mut engine = self.fresh_engine();
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit: TEST_TIMEOUT,
            // Every step once read the clock: an eighth of a reload's CPU (the gate runs
            // each bundle's tests), for a 10 s limit that needs no such precision.
            check_interval: TIMER_CHECK_INTERVAL,
        });
        engine
    }
}

/// The `test_*` rules of a compiled bundle, sorted by path. Functions named `test_*` take
/// arguments and cannot be run on their own, so they are not tests.
pub(crate) fn find_tests(compiled: &CompiledPolicy) -> Vec<TestRule> {
    let mut tests: Vec<TestRule> = compiled
        .get_rules()
        .iter()
        .filter_map(|(path, definitions)| {
            let (package, name) = path.rsplit_once('.')?;
            if !name.starts_with("test_") {
                return None;
            }
            let is_function = definitions.iter().any(|rule| {
                matches!(
                    rule.as_ref(),
                    Rule::Spec {
                        head: RuleHead::Func { .. },
                        ..
                    }
                )
            });
            if is_function {
                return None;
            }
            Some(TestRule {
                path: path.clone(),
                package: package.strip_prefix("data.").unwrap_or(package).to_owned(),
                name: name.to_owned(),
                file: definitions
                    .first()
                    .map(|rule| rule.span().source.file().clone()),
            })
        })
        .collect();
    tests.sort_by(|a, b| a.path.cmp(&b.path));
    tests
}
