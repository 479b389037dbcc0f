//! Deciding SQL: analyse a string with PostgreSQL's parser, decide each statement, combine.
//! Decisions are cached per policy, so a repeated statement skips both parse and evaluation.

use std::sync::Arc;

use sluice_decision::{
    ApprovalRequirement, CacheKey, Decision, Input, MaskRules, Request, SqlStatement, Verdict,
};
use sluice_sql::{Lexing, SqlError};

use super::{ActivePolicy, Subject};
use crate::clock::Tick;

/// Rules sluice itself applies before or instead of the policy; audit names them like policy
/// rules so every decision has one.
pub const RULE_PARSE: &str = "sluice.parse";
pub const RULE_EMPTY: &str = "sluice.empty";
pub const RULE_SEARCH_PATH: &str = "sluice.search_path";
pub const RULE_PARAMETERS: &str = "sluice.parameters";
/// The text reads differently under the lexing settings it may run under.
pub const RULE_LEXING: &str = "sluice.lexing";

/// A statement string as the policy saw it: what it does, and whether it may run.
#[derive(Debug)]
pub struct Verdicted {
    /// The statements, or why the parser rejected the string.
    pub analysis: Result<Vec<SqlStatement>, SqlError>,
    pub decision: Decision,
    /// The latest masking lineage of the text (crate::lineage).
    pub(crate) traced: crate::lineage::TraceMemo,
}

impl Verdicted {
    /// Where in the text the parser stopped, for a string it rejected.
    pub fn parse_position(&self) -> Option<u32> {
        match &self.analysis {
            Err(SqlError::Rejected(e)) => e.position,
            _ => None,
        }
    }

    /// Whether any statement takes `$n` parameters, so a policy reading `parameters` must see
    /// the bound values.
    pub fn takes_parameters(&self) -> bool {
        self.analysis
            .as_ref()
            .is_ok_and(|s| s.iter().any(|s| s.parameter_count > 0))
    }
}

impl ActivePolicy {
    /// Decides `text` for `subject`: from the cache when this policy already decided the same
    /// text, or a text of the same shape (equal but for its constants), for equal facts in the
    /// same hour; else by parsing and evaluating. The flag says whether it came from the cache.
    ///
    /// Sharing a decision between texts that differ only in constants is sound because no
    /// fact the policy sees depends on a constant: statement texts reach the policy
    /// normalized (constants as `$n`), and the one fact that holds a value, a session
    /// setting's new value, keeps its entry under the exact text.
    ///
    /// `lexing` is how the server will read the text. A text it reads as the default does
    /// (no backslash, or `standard_conforming_strings` on) is cached as above; any other is
    /// analysed every time, since a shape is always taken with the default lexing.
    pub fn decide_text(
        &self,
        subject: &Subject,
        tick: &Tick,
        text: &str,
        lexing: Lexing,
    ) -> (Arc<Verdicted>, bool) {
        if !lexing.reads_as_standard(text) {
            return (
                Arc::new(self.analyze_and_decide(subject, tick, text, lexing)),
                false,
            );
        }
        let key = |text| CacheKey {
            policy: &self.info.version,
            subject: &subject.cache_key,
            clock: tick.bucket,
            text,
            // The whole string the client sent, not one statement of it.
            index: 0,
            count: 0,
        };
        let Some(cache) = &self.cache else {
            return (
                Arc::new(self.analyze_and_decide(subject, tick, text, lexing)),
                false,
            );
        };
        if let Some(hit) = cache.get(&key(text)) {
            return (hit, true);
        }
        let shape = subject.dialect.shape(text);
        if let Some(hit) = shape.as_deref().and_then(|s| cache.get(&key(s))) {
            return (hit, true);
        }
        let verdicted = Arc::new(self.analyze_and_decide(subject, tick, text, lexing));
        let by_shape = verdicted
            .analysis
            .as_ref()
            .is_ok_and(|s| s.iter().all(|s| s.session_change.is_none()));
        match shape.as_deref() {
            Some(shape) if by_shape => cache.insert(&key(shape), verdicted.clone()),
            _ => cache.insert(&key(text), verdicted.clone()),
        }
        (verdicted, false)
    }

    fn analyze_and_decide(
        &self,
        subject: &Subject,
        tick: &Tick,
        text: &str,
        lexing: Lexing,
    ) -> Verdicted {
        let analysis = subject.dialect.analyze(text, &subject.names, lexing);
        let decision = match &analysis {
            Ok(statements) => self.decide_statements(subject, tick, statements, None),
            // The parser's own message, as the server would have given it.
            Err(SqlError::Rejected(e)) => self.sluice_denial(RULE_PARSE, e.message.clone()),
            Err(e @ SqlError::Ambiguous) => self.sluice_denial(RULE_LEXING, e.to_string()),
            Err(e) => self.sluice_denial(RULE_PARSE, e.to_string()),
        };
        Verdicted {
            analysis,
            decision,
            traced: Default::default(),
        }
    }

    /// Decides statements already analysed (a prepared statement at Execute), with the bound
    /// parameter values when the policy reads them.
    pub fn decide_statements(
        &self,
        subject: &Subject,
        tick: &Tick,
        statements: &[SqlStatement],
        parameters: Option<&[Option<String>]>,
    ) -> Decision {
        if statements.is_empty() {
            return Decision::allow(RULE_EMPTY, self.policy.version());
        }
        let count = statements.len();
        // The whole string is analysed before any of it runs, so statements after a search
        // path change would be resolved against the old path.
        let early_change = statements[..count - 1].iter().any(|s| {
            s.session_change
                .as_ref()
                .is_some_and(|c| subject.dialect.moves_names(c))
        });
        if early_change {
            return self.sluice_denial(
                RULE_SEARCH_PATH,
                "change search_path in a statement of its own, so the statements after it are \
                 read with the new path"
                    .to_owned(),
            );
        }
        let mut rules: Vec<String> = Vec::new();
        let mut masks: Vec<Arc<MaskRules>> = Vec::new();
        let mut approval: Vec<ApprovalRequirement> = Vec::new();
        for (index, statement) in statements.iter().enumerate() {
            let decision = self.policy.decide(&Input {
                identity: &subject.identity,
                target: &subject.target,
                session: &subject.session,
                request: Request::Statement {
                    statement,
                    dialect: subject.dialect.name(),
                    index,
                    count,
                    parameters,
                },
                time: &tick.facts,
                grants: &subject.grants,
            });
            if let Verdict::Deny { reason } = decision.verdict {
                let reason = if count > 1 {
                    format!("statement {} of {count}: {reason}", index + 1)
                } else {
                    reason
                };
                return Decision {
                    verdict: Verdict::Deny { reason },
                    ..decision
                };
            }
            if let Verdict::Hold { approval: asked } = decision.verdict {
                // The string runs whole or not at all, so it waits for every requirement of
                // every statement in it.
                for requirement in asked {
                    if !approval.contains(&requirement) {
                        approval.push(requirement);
                    }
                }
            }
            if !rules.contains(&decision.rule) {
                rules.push(decision.rule);
            }
            masks.extend(decision.mask);
        }
        // The results of one string's statements arrive without saying which statement they
        // belong to, so every statement's masking applies to all of them.
        let mask = match masks.len() {
            0 | 1 => masks.pop(),
            _ => Some(Arc::new(MaskRules::union(masks.iter().map(|m| &**m)))),
        };
        let verdict = if approval.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Hold { approval }
        };
        Decision {
            verdict,
            mask,
            ..Decision::allow(rules.join(","), self.policy.version())
        }
    }

    /// May this subject open a session at all?
    pub fn decide_connect(&self, subject: &Subject, tick: &Tick) -> Decision {
        self.policy.decide(&Input {
            identity: &subject.identity,
            target: &subject.target,
            session: &subject.session,
            request: Request::Connect,
            time: &tick.facts,
            grants: &subject.grants,
        })
    }

    /// Decides one request that is not SQL text (a command, an HTTP or Kubernetes request,
    /// ...): from the request cache when this policy already decided the same facts for equal
    /// subject facts in the same hour (the facts, serialised, are the key's text: every fact
    /// the policy sees of the request is in them), else by evaluating. An HTTP service's
    /// clients repeat the same few requests, and an evaluation costs far more than the request.
    pub fn decide_request(&self, subject: &Subject, tick: &Tick, request: Request<'_>) -> Decision {
        let evaluate = || {
            self.policy.decide(&Input {
                identity: &subject.identity,
                target: &subject.target,
                session: &subject.session,
                request,
                time: &tick.facts,
                grants: &subject.grants,
            })
        };
        let (Some(cache), Ok(facts)) = (&self.request_cache, serde_json::to_string(&request))
        else {
            return evaluate();
        };
        // Never the SQL cache's: its keys have count 0 or more statements' positions.
        let key = CacheKey {
            policy: &self.info.version,
            subject: &subject.cache_key,
            clock: tick.bucket,
            text: &facts,
            index: u32::MAX,
            count: u32::MAX,
        };
        if let Some(hit) = cache.get(&key) {
            return hit;
        }
        let decision = evaluate();
        cache.insert(&key, decision.clone());
        decision
    }

    /// An execution bound before the policy began to read `parameters`: its values were not
    /// kept, and the policy must not decide without them.
    pub fn unavailable_parameters(&self) -> Decision {
        self.sluice_denial(
            RULE_PARAMETERS,
            "the policy reads bound parameter values, and this portal was bound before it did; \
             bind it again"
                .to_owned(),
        )
    }

    fn sluice_denial(&self, rule: &str, reason: String) -> Decision {
        Decision::deny(rule, self.policy.version(), reason)
    }
}
