//! What the audit trail says about the signals, read record by record.
//!
//! The gateway feeds its own trail as it grows; `sluice report` feeds whole trails (one or
//! several gateways'). Either way each gateway's records arrive in their chain's order, which
//! is all the pairing below needs (a session's start before its end, a statement before its
//! result). What is kept is bounded: findings older than the window are pruned, lists of
//! examples are capped, and activity is kept per minute.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};

use sluice_audit::{AuditEvent, AuditRecord, Masked, RecordingSeal};

use crate::facts::RecordingCheck;
use crate::sample::{is_sampled, Sampled};
use crate::time::parse_ms;

/// The most findings of one kind kept; beyond it only the counts grow.
const KEEP: usize = 10_000;

/// The rule name the example policy's `default` decision carries. A policy without a rule of
/// its own for a request falls back to it, so a statement decided by it matched no rule.
pub(crate) const DEFAULT_DENY_RULE: &str = "default_deny";

/// Reads audit records and keeps what the signals need.
#[derive(Debug, Default)]
pub struct Observer {
    sample_fraction: f64,
    pub(crate) gateways: BTreeMap<String, GatewayLife>,
    /// Every rule seen deciding something, with the last time.
    pub(crate) rules_seen: HashMap<String, i64>,
    /// Statements decided by the default deny: when, on what, by whom.
    pub(crate) default_denied: VecDeque<(i64, DeniedStatement)>,
    open_sessions: HashMap<String, OpenSession>,
    /// Sessions that did not end with a record, classified when their gateway restarted.
    pub(crate) cut_sessions: VecDeque<(i64, CutSession)>,
    pub(crate) statements_without_result: VecDeque<(i64, (String, u64))>,
    /// Sessions that ended without a recording seal.
    pub(crate) unsealed: VecDeque<(i64, String)>,
    /// Sampled sessions' recordings waiting for the caller to read and check.
    pending_checks: Vec<RecordingToCheck>,
    pub(crate) recording_problems: VecDeque<(i64, (String, RecordingCheck))>,
    pub(crate) sampled: VecDeque<(i64, Sampled)>,
    pub(crate) sessions_sampled: u64,
    /// Minutes (Unix ms / 60,000) in which an identity did something allowed on a target.
    pub(crate) activity: HashMap<(String, String), VecDeque<i64>>,
    pub(crate) records: u64,
    pub(crate) last_record_ms: i64,
}

/// One gateway as its records tell it.
#[derive(Debug, Default, Clone)]
pub(crate) struct GatewayLife {
    pub started_ms: Option<i64>,
    pub stopped_ms: Option<i64>,
    pub policy: Option<String>,
    pub policy_loaded_ms: Option<i64>,
    pub last_checkpoint_ms: Option<i64>,
    pub last_record_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeniedStatement {
    pub target: String,
    pub identity: String,
    /// The statement's first words: enough to see which rule is missing, not the whole text.
    pub shape: String,
}

#[derive(Debug, Clone)]
struct OpenSession {
    gateway: String,
    identity: String,
    target: String,
    started_ms: i64,
    /// Statements decided whose result record has not come yet, by number.
    pending: HashMap<u64, i64>,
    /// The last minute this session's activity was noted in, so that a busy session costs
    /// one activity update a minute rather than one per statement.
    active_minute: i64,
    /// Per statement, what masking replaced (sampled sessions only).
    masked: Option<BTreeMap<u64, Option<Masked>>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CutSession {
    pub session: String,
    pub gateway: String,
    pub identity: String,
    pub target: String,
    pub started_ms: i64,
    /// Its gateway crashed (restarted without a clean stop) while it was open.
    pub crash: bool,
}

/// A sampled session's recording, for the caller to read, check against its seal and sample.
#[derive(Debug, Clone)]
pub struct RecordingToCheck {
    pub session: String,
    pub target: String,
    pub seal: RecordingSeal,
    /// Per statement, what masking replaced; `None` for a statement not masked at all.
    pub masked: BTreeMap<u64, Option<Masked>>,
    ended_ms: i64,
}

impl Observer {
    pub fn new(sample_fraction: f64) -> Observer {
        Observer {
            sample_fraction,
            ..Observer::default()
        }
    }

    /// Takes in one record. Records it cannot place (a result without its statement, an end
    /// without its start, as at the start of a trail read from its middle) are counted where
    /// they can be and otherwise ignored.
    pub fn observe(&mut self, record: &AuditRecord) {
        let Some(at) = parse_ms(&record.time) else {
            return;
        };
        let gateway = record.gateway.as_deref().unwrap_or_default();
        self.seen_record(gateway, at);
        match &record.event {
            AuditEvent::GatewayStarted { .. } => {
                let life = self.life(gateway);
                life.started_ms = Some(at);
                let stopped = life.stopped_ms.take();
                self.gateway_restarted(gateway, stopped, at);
            }
            AuditEvent::GatewayStopped { .. } => self.life(gateway).stopped_ms = Some(at),
            AuditEvent::PolicyLoaded { version, .. } => {
                let life = self.life(gateway);
                life.policy = Some(version.clone());
                life.policy_loaded_ms = Some(at);
            }
            AuditEvent::Checkpoint { .. } => self.life(gateway).last_checkpoint_ms = Some(at),
            AuditEvent::SessionStarted {
                session,
                identity,
                target,
                rule,
                ..
            } => {
                if let Some(rule) = rule {
                    self.rule_seen(rule, at);
                }
                self.active(identity, target, at);
                let masked = is_sampled(session, self.sample_fraction).then(BTreeMap::new);
                self.open_sessions.insert(
                    session.clone(),
                    OpenSession {
                        gateway: gateway.to_owned(),
                        identity: identity.clone(),
                        target: target.clone(),
                        started_ms: at,
                        pending: HashMap::new(),
                        active_minute: at / 60_000,
                        masked,
                    },
                );
            }
            AuditEvent::Statement {
                session,
                identity,
                target,
                statement,
                text,
                decision,
                ..
            } => self.on_statement(
                &Statement {
                    session,
                    number: *statement,
                    identity,
                    target,
                    text,
                    verdict: &decision.verdict,
                    rule: &decision.rule,
                },
                at,
            ),
            AuditEvent::StatementResult {
                session,
                statement,
                masked,
                ..
            } => self.on_result(session, *statement, || masked.clone()),
            AuditEvent::SessionEnded {
                session, recording, ..
            } => self.session_ended(session, recording.as_ref(), at),
            // Retention deleted it, on the record: not missing. A check still queued for it
            // would only find it gone.
            AuditEvent::RecordingDeleted { session, .. } => {
                self.pending_checks.retain(|c| c.session != *session);
            }
            AuditEvent::ReviewRequested { rule, .. }
            | AuditEvent::CredentialIssued { rule, .. }
            | AuditEvent::AdminRefused { rule, .. }
            | AuditEvent::AccessRefused { rule, .. } => self.rule_seen(rule, at),
            _ => {}
        }
    }

    /// Takes in one record as the trail holds it. The two records a busy gateway writes most
    /// (a statement and its result) are read in place, only the fields the signals use; the
    /// others, and a hot record that does not read that way, through [`AuditRecord`]. Lines
    /// that are not records are ignored (`audit verify` is what judges the chain).
    pub fn observe_line(&mut self, line: &[u8]) {
        if let Ok(hot) = serde_json::from_slice::<Hot>(line) {
            let at = parse_ms(&hot.time);
            match (hot.kind.as_ref(), at, hot.statement, hot.session.as_deref()) {
                ("statement", Some(at), Some(number), Some(session)) => {
                    if let (Some(identity), Some(target), Some(text), Some(decision)) =
                        (&hot.identity, &hot.target, &hot.text, &hot.decision)
                    {
                        self.seen_record(hot.gateway.as_deref().unwrap_or_default(), at);
                        self.on_statement(
                            &Statement {
                                session,
                                number,
                                identity,
                                target,
                                text,
                                verdict: &decision.verdict,
                                rule: &decision.rule,
                            },
                            at,
                        );
                        return;
                    }
                }
                ("statement_result", Some(at), Some(number), Some(session)) => {
                    self.seen_record(hot.gateway.as_deref().unwrap_or_default(), at);
                    let masked = hot.masked;
                    self.on_result(session, number, || {
                        masked.and_then(|raw| serde_json::from_str(raw.get()).ok())
                    });
                    return;
                }
                _ => {}
            }
        }
        if let Ok(record) = AuditRecord::from_line(line) {
            self.observe(&record);
        }
    }

    /// The bookkeeping every record gets, for the hot path that skips [`Observer::observe`].
    fn seen_record(&mut self, gateway: &str, at: i64) {
        self.records += 1;
        self.last_record_ms = self.last_record_ms.max(at);
        // By reference: the name is allocated once per gateway, not once per record.
        match self.gateways.get_mut(gateway) {
            Some(life) => life.last_record_ms = at,
            None => self.life(gateway).last_record_ms = at,
        }
    }

    fn life(&mut self, gateway: &str) -> &mut GatewayLife {
        self.gateways.entry(gateway.to_owned()).or_default()
    }

    fn rule_seen(&mut self, rule: &str, at: i64) {
        match self.rules_seen.get_mut(rule) {
            Some(last) => *last = at,
            None => {
                self.rules_seen.insert(rule.to_owned(), at);
            }
        }
    }

    fn on_statement(&mut self, s: &Statement<'_>, at: i64) {
        self.rule_seen(s.rule, at);
        if s.rule == DEFAULT_DENY_RULE {
            push(
                &mut self.default_denied,
                at,
                DeniedStatement {
                    target: s.target.to_owned(),
                    identity: s.identity.to_owned(),
                    shape: shape(s.text),
                },
            );
        }
        let minute = at / 60_000;
        let allowed = s.verdict == "allow";
        let mut note_activity = allowed;
        if let Some(open) = self.open_sessions.get_mut(s.session) {
            open.pending.insert(s.number, at);
            if allowed && open.active_minute == minute {
                note_activity = false;
            } else if allowed {
                open.active_minute = minute;
            }
        }
        if note_activity {
            self.active(s.identity, s.target, at);
        }
    }

    fn on_result(&mut self, session: &str, number: u64, masked: impl FnOnce() -> Option<Masked>) {
        if let Some(open) = self.open_sessions.get_mut(session) {
            open.pending.remove(&number);
            if let Some(map) = open.masked.as_mut() {
                map.insert(number, masked());
            }
        }
    }

    fn active(&mut self, identity: &str, target: &str, at: i64) {
        let minute = at / 60_000;
        let minutes = self
            .activity
            .entry((identity.to_owned(), target.to_owned()))
            .or_default();
        if minutes.back() != Some(&minute) {
            minutes.push_back(minute);
        }
    }

    fn session_ended(&mut self, session: &str, seal: Option<&RecordingSeal>, at: i64) {
        let open = self.open_sessions.remove(session);
        if let Some(open) = &open {
            let mut waiting: Vec<u64> = open.pending.keys().copied().collect();
            waiting.sort_unstable();
            for n in waiting {
                push(
                    &mut self.statements_without_result,
                    at,
                    (session.to_owned(), n),
                );
            }
        }
        match seal {
            None => push(&mut self.unsealed, at, session.to_owned()),
            Some(seal) => {
                if let Some(OpenSession {
                    target,
                    masked: Some(masked),
                    ..
                }) = open
                {
                    if self.pending_checks.len() < KEEP {
                        self.pending_checks.push(RecordingToCheck {
                            session: session.to_owned(),
                            target,
                            seal: seal.clone(),
                            masked,
                            ended_ms: at,
                        });
                    }
                }
            }
        }
    }

    /// The gateway started again: its sessions still open were cut, by a crash unless it had
    /// stopped cleanly after they began (then their missing ends are a finding).
    fn gateway_restarted(&mut self, gateway: &str, stopped_ms: Option<i64>, at: i64) {
        let cut: Vec<String> = self
            .open_sessions
            .iter()
            .filter(|(_, s)| s.gateway == gateway)
            .map(|(id, _)| id.clone())
            .collect();
        for id in cut {
            let Some(s) = self.open_sessions.remove(&id) else {
                continue;
            };
            let crash = stopped_ms.is_none_or(|stopped| stopped < s.started_ms);
            push(
                &mut self.cut_sessions,
                at,
                CutSession {
                    session: id,
                    gateway: s.gateway,
                    identity: s.identity,
                    target: s.target,
                    started_ms: s.started_ms,
                    crash,
                },
            );
        }
    }

    /// The sampled sessions' recordings ended since the last call, for the caller to read
    /// and hand back through [`Observer::recording_checked`].
    pub fn take_recordings_to_check(&mut self) -> Vec<RecordingToCheck> {
        std::mem::take(&mut self.pending_checks)
    }

    /// A recording the caller read back: whether it matched its seal and, when intact, what
    /// the sampler found in it.
    pub fn recording_checked(
        &mut self,
        checked: &RecordingToCheck,
        check: RecordingCheck,
        found: Vec<Sampled>,
    ) {
        let at = checked.ended_ms;
        self.sessions_sampled += 1;
        if check != RecordingCheck::Intact {
            push(
                &mut self.recording_problems,
                at,
                (checked.session.clone(), check),
            );
        }
        for f in found {
            push(&mut self.sampled, at, f);
        }
    }

    /// Sessions open now, with their gateway and start.
    pub(crate) fn open_sessions(&self) -> impl Iterator<Item = (&str, &str, &str, &str, i64)> {
        self.open_sessions.iter().map(|(id, s)| {
            (
                id.as_str(),
                s.gateway.as_str(),
                s.identity.as_str(),
                s.target.as_str(),
                s.started_ms,
            )
        })
    }

    /// Forgets what is older than `since_ms` (the window's start).
    pub fn prune(&mut self, since_ms: i64) {
        prune(&mut self.default_denied, since_ms);
        prune(&mut self.cut_sessions, since_ms);
        prune(&mut self.statements_without_result, since_ms);
        prune(&mut self.unsealed, since_ms);
        prune(&mut self.recording_problems, since_ms);
        prune(&mut self.sampled, since_ms);
        let since_minute = since_ms / 60_000;
        self.activity.retain(|_, minutes| {
            while minutes.front().is_some_and(|m| *m < since_minute) {
                minutes.pop_front();
            }
            !minutes.is_empty()
        });
    }

    /// Whether `identity` did anything allowed on `target` between the two times.
    pub(crate) fn was_active(
        &self,
        identity: &str,
        target: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> bool {
        let Some(minutes) = self.activity.get(&(identity.to_owned(), target.to_owned())) else {
            return false;
        };
        // Minute resolution: a statement in the grant's first or last minute counts.
        let (from, to) = (from_ms / 60_000, to_ms / 60_000);
        minutes.iter().any(|m| (from..=to).contains(m))
    }
}

/// A statement record's fields the signals use, wherever they were read from.
struct Statement<'a> {
    session: &'a str,
    number: u64,
    identity: &'a str,
    target: &'a str,
    text: &'a str,
    verdict: &'a str,
    rule: &'a str,
}

/// The fields of a `statement` or `statement_result` line the signals use, borrowed from the
/// line where no escape forces a copy. Everything else in the line is skipped unread.
#[derive(serde::Deserialize)]
struct Hot<'a> {
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow, default)]
    gateway: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    session: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    identity: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    target: Option<Cow<'a, str>>,
    #[serde(default)]
    statement: Option<u64>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    decision: Option<HotDecision<'a>>,
    /// Read only for sampled sessions.
    #[serde(borrow, default)]
    masked: Option<&'a serde_json::value::RawValue>,
}

#[derive(serde::Deserialize)]
struct HotDecision<'a> {
    #[serde(borrow)]
    verdict: Cow<'a, str>,
    #[serde(borrow)]
    rule: Cow<'a, str>,
}

fn push<T>(list: &mut VecDeque<(i64, T)>, at: i64, item: T) {
    if list.len() >= KEEP {
        list.pop_front();
    }
    list.push_back((at, item));
}

fn prune<T>(list: &mut VecDeque<(i64, T)>, since_ms: i64) {
    while list.front().is_some_and(|(at, _)| *at < since_ms) {
        list.pop_front();
    }
}

/// A statement's first three words, upper-cased: `SELECT * FROM`, `DROP TABLE orders`. The
/// signal says which kinds of request no rule covers; the whole text stays in the audit trail.
fn shape(text: &str) -> String {
    text.split_whitespace()
        .take(3)
        .map(|w| w.chars().take(40).collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{ended, record, result, started, statement, START};

    #[test]
    fn a_restart_after_a_crash_classifies_the_open_sessions() {
        let mut o = Observer::new(0.0);
        o.observe(&record(
            0,
            "gw",
            AuditEvent::GatewayStarted {
                version: "v".into(),
                config_digest: "d".into(),
            },
        ));
        o.observe(&record(1, "gw", started("s1", "alice", "shop")));
        o.observe(&record(
            2,
            "gw",
            statement("s1", 1, "alice", "shop", "allow", "r1", "SELECT 1"),
        ));
        o.observe(&record(3, "gw", started("s2", "bob", "shop")));
        o.observe(&record(4, "gw", result("s2", 1)));
        o.observe(&record(5, "gw", ended("s2", false)));
        // Crash: started again without a stop.
        o.observe(&record(
            9,
            "gw",
            AuditEvent::GatewayStarted {
                version: "v".into(),
                config_digest: "d".into(),
            },
        ));
        assert_eq!(o.cut_sessions.len(), 1);
        assert!(o.cut_sessions[0].1.crash);
        assert!(o.statements_without_result.is_empty());
        assert_eq!(o.unsealed.len(), 1);
        assert_eq!(o.open_sessions().count(), 0);
        assert!(o.was_active("alice", "shop", START, START + 10_000));
        assert!(!o.was_active("alice", "other", START, START + 10_000));
    }

    #[test]
    fn lines_read_in_place_observe_as_whole_records_do() {
        let records = [
            record(0, "gw", started("s1", "alice", "shop")),
            record(
                1,
                "gw",
                statement("s1", 1, "alice", "shop", "allow", "r1", "SELECT \"x\""),
            ),
            record(2, "gw", result("s1", 1)),
            record(
                3,
                "gw",
                statement(
                    "s1",
                    2,
                    "alice",
                    "shop",
                    "deny",
                    DEFAULT_DENY_RULE,
                    "VACUUM",
                ),
            ),
            record(4, "gw", ended("s1", true)),
        ];
        let mut whole = Observer::new(1.0);
        let mut in_place = Observer::new(1.0);
        for r in &records {
            whole.observe(r);
            in_place.observe_line(serde_json::to_string(r).unwrap().as_bytes());
        }
        assert_eq!(whole.records, in_place.records);
        assert_eq!(whole.rules_seen, in_place.rules_seen);
        assert_eq!(whole.default_denied, in_place.default_denied);
        assert_eq!(
            whole.statements_without_result,
            in_place.statements_without_result
        );
        assert_eq!(whole.activity, in_place.activity);
        let (a, b) = (
            whole.take_recordings_to_check(),
            in_place.take_recordings_to_check(),
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].masked, b[0].masked);
        // Not a record at all: ignored.
        in_place.observe_line(b"{not json");
    }

    #[test]
    fn a_session_ended_before_its_statements_result_leaves_a_finding() {
        let mut o = Observer::new(0.0);
        o.observe(&record(1, "gw", started("s1", "alice", "shop")));
        o.observe(&record(
            2,
            "gw",
            statement(
                "s1",
                1,
                "alice",
                "shop",
                "deny",
                DEFAULT_DENY_RULE,
                "drop  table orders",
            ),
        ));
        o.observe(&record(3, "gw", ended("s1", true)));
        assert_eq!(o.statements_without_result.len(), 1);
        assert_eq!(o.default_denied[0].1.shape, "DROP TABLE ORDERS");
        o.prune(START + 10_000);
        assert!(o.statements_without_result.is_empty());
    }
}
