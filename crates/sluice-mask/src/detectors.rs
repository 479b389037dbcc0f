//! A compiled set of detectors and the one-pass search over a value.
//!
//! All patterns are compiled into one multi-pattern regex, so a value is scanned once however
//! many detectors there are. A candidate that fails its check is not the end of that position:
//! the other detectors are tried anchored at the same start (a number that fails Luhn may
//! still be a phone). If none passes, the scan resumes one character later, not after the
//! candidate: a greedy candidate that fails (`1234 123-45-6789` as a card) may hide a real
//! match inside it, and missing one leaks a value while an extra match only masks too much.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use regex_automata::meta::{self, Regex};
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, Match, PatternID};

use crate::screen::Screen;
use crate::validate::{accept, Check};
use crate::{escape, Builtin, CustomDetector, MaskError};

/// Which detector found something: an index into its [`Detectors`], usable as an array index
/// for per-detector tables (strategies, counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DetectorId(u32);

impl DetectorId {
    pub fn index(self) -> usize {
        self.0 as usize
    }

    pub(crate) fn from_index(index: usize) -> Option<DetectorId> {
        u32::try_from(index).ok().map(DetectorId)
    }

    fn pattern(self) -> PatternID {
        PatternID::new_unchecked(self.index())
    }
}

/// One validated match: `range` is a byte range of the searched text, on char boundaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub detector: DetectorId,
    pub range: Range<usize>,
}

/// A compiled set of detectors. Build it once (at configuration load or when a policy decision
/// names the detectors); it is `Send + Sync`, and cloning it is cheap (shared, not copied).
#[derive(Debug, Clone)]
pub struct Detectors {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Every detector, custom ones first.
    regex: Regex,
    /// The custom detectors alone (same pattern ids), for texts the screen clears of
    /// built-ins; absent when there are no custom detectors or no built-ins.
    custom_only: Option<Regex>,
    /// Absent when there are no built-ins.
    screen: Option<Screen>,
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    name: String,
    builtin: Option<Builtin>,
    check: Check,
}

impl Detectors {
    /// Compiles the given built-in and custom detectors. Custom detectors come first in
    /// priority (the configuration is more specific than the defaults), then the built-ins in
    /// [`Builtin::ALL`] order whatever order they were given in; duplicates among `builtins`
    /// are ignored. A custom detector may not reuse a built-in's name, even one not enabled.
    pub fn new(builtins: &[Builtin], custom: &[CustomDetector]) -> Result<Detectors, MaskError> {
        let mut entries = Vec::with_capacity(custom.len() + builtins.len());
        let mut patterns: Vec<&str> = Vec::with_capacity(entries.capacity());
        let mut names = HashSet::new();
        for detector in custom {
            let taken = detector.name.parse::<Builtin>().is_ok();
            if taken || !names.insert(detector.name.as_str()) {
                return Err(MaskError::DuplicateDetector(detector.name.clone()));
            }
            check_pattern(detector)?;
            patterns.push(&detector.pattern);
            entries.push(Entry {
                name: detector.name.clone(),
                builtin: None,
                check: Check::Custom(detector.validate),
            });
        }
        for builtin in Builtin::ALL.into_iter().filter(|b| builtins.contains(b)) {
            patterns.push(builtin.pattern());
            entries.push(Entry {
                name: builtin.name().to_owned(),
                builtin: Some(builtin),
                check: Check::Builtin(builtin),
            });
        }
        let enabled: Vec<Builtin> = entries.iter().filter_map(|e| e.builtin).collect();
        let (screen, custom_only) = if enabled.is_empty() {
            (None, None)
        } else {
            let custom_only = match &patterns[..custom.len()] {
                [] => None,
                custom_patterns => Some(compile(custom_patterns)?),
            };
            (Some(Screen::new(&enabled)), custom_only)
        };
        Ok(Detectors {
            inner: Arc::new(Inner {
                regex: compile(&patterns)?,
                custom_only,
                screen,
                entries,
            }),
        })
    }

    /// Every built-in detector and nothing else. It only fails if a built-in pattern does not
    /// compile, which the tests rule out; it returns an error rather than an empty set
    /// because masking nothing must never be the quiet outcome.
    pub fn all_builtin() -> Result<Detectors, MaskError> {
        Detectors::new(&Builtin::ALL, &[])
    }

    /// Finds the validated, non-overlapping matches in `text`, leftmost first, replacing the
    /// contents of `out`. Where several detectors match at the same place the one earlier in
    /// priority wins; see [`Detectors::new`].
    pub fn find(&self, text: &str, out: &mut Vec<Found>) {
        out.clear();
        let inner = &*self.inner;
        let regex = match (&inner.screen, &inner.custom_only) {
            (Some(screen), custom_only) if !screen.may_match(text) => match custom_only {
                Some(custom_only) => custom_only,
                None => return,
            },
            _ => &inner.regex,
        };
        let mut pos = 0;
        while pos < text.len() {
            let Some(m) = regex.search(&Input::new(text).range(pos..)) else {
                break;
            };
            if let Some(escape) = escape::around(text, m.start()) {
                pos = escape.end;
                continue;
            }
            match self.accept_at(regex, text, m) {
                Some(found) => {
                    pos = found.range.end;
                    out.push(found);
                }
                None => pos = next_char(text, m.start()),
            }
        }
    }

    /// The first detector of `regex`, in priority order from `m`'s own, whose match at
    /// `m.start()` passes its check. Detectors before `m`'s cannot match there: the search
    /// would have chosen them.
    fn accept_at(&self, regex: &Regex, text: &str, m: Match) -> Option<Found> {
        let first = m.pattern().as_usize();
        if let Some(found) = self.check(text, first, m.range()) {
            return Some(found);
        }
        (first + 1..regex.pattern_len()).find_map(|index| {
            let input = Input::new(text)
                .range(m.start()..)
                .anchored(Anchored::Pattern(PatternID::new_unchecked(index)));
            let other = regex.search(&input)?;
            self.check(text, index, other.range())
        })
    }

    fn check(&self, text: &str, index: usize, span: Range<usize>) -> Option<Found> {
        let entry = self.inner.entries.get(index)?;
        let range = accept(entry.check, text, span)?;
        let end = escape::clip_end(text, range.end);
        if range.start >= end {
            return None;
        }
        Some(Found {
            detector: DetectorId::from_index(index)?,
            range: range.start..end,
        })
    }

    /// Whether `text` is, as a whole, one validated match of detector `id`: for example,
    /// whether a masked email still reads as an email.
    pub fn matches_whole(&self, id: DetectorId, text: &str) -> bool {
        let input = Input::new(text).anchored(Anchored::Pattern(id.pattern()));
        self.inner.regex.search(&input).is_some_and(|m| {
            self.check(text, id.index(), m.range()).map(|f| f.range) == Some(0..text.len())
        })
    }

    /// The detector's name: a built-in's snake_case name or the configured one.
    pub fn name(&self, id: DetectorId) -> &str {
        self.inner.entries.get(id.index()).map_or("", |e| &e.name)
    }

    /// The built-in behind `id`, or `None` for a custom detector.
    pub fn builtin(&self, id: DetectorId) -> Option<Builtin> {
        self.inner.entries.get(id.index())?.builtin
    }

    /// The detector named `name`, if it is in this set.
    pub fn id(&self, name: &str) -> Option<DetectorId> {
        self.ids().find(|&id| self.name(id) == name)
    }

    /// Every detector in the set, in priority order.
    pub fn ids(&self) -> impl Iterator<Item = DetectorId> + '_ {
        (0..self.inner.entries.len()).filter_map(DetectorId::from_index)
    }

    pub fn len(&self) -> usize {
        self.inner.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.entries.is_empty()
    }
}

fn compile(patterns: &[&str]) -> Result<Regex, MaskError> {
    Regex::builder()
        .configure(meta::Config::new().which_captures(WhichCaptures::Implicit))
        .build_many(patterns)
        .map_err(|e| MaskError::Build(Box::new(e)))
}

/// Reports a bad custom pattern under its detector's name, which the combined build could not.
fn check_pattern(detector: &CustomDetector) -> Result<(), MaskError> {
    let hir = syntax::parse(&detector.pattern).map_err(|e| MaskError::Pattern {
        name: detector.name.clone(),
        message: e.to_string(),
    })?;
    if hir.properties().minimum_len() == Some(0) {
        return Err(MaskError::EmptyMatch(detector.name.clone()));
    }
    Ok(())
}

fn next_char(text: &str, pos: usize) -> usize {
    pos + text
        .get(pos..)
        .and_then(|rest| rest.chars().next())
        .map_or(1, char::len_utf8)
}
