//! What the gateway needs to know about a bundle before deciding with it, read from the
//! source text once at compile time.
//!
//! These are conservative text checks, not an analysis of the policy: they may say "uses
//! parameters" or "not cacheable" for a policy that does not, which only costs speed (an
//! extra decision at Execute, a cache miss), but they must never say the opposite for a
//! policy that does. Comments and string literals are blanked first so that a reason text
//! such as "not now" does not count, and every way of reaching a sensitive field that does
//! not spell its name (`input.session` passed whole, `input["session"]`, `some k, v in
//! input.time`, `x := input`) counts as reading it.
//!
//! Only files that can contribute to `data.sluice.decision` are read: those of package
//! `sluice` (and below), and those of any package such a file names (`data.helpers`, an
//! import), repeated until nothing new is named; all of them as soon as one reads `data`
//! other than by name. Tests live in their own packages, which the decision does not name,
//! so test documents that spell out `parameters` or a `session` do not count.

/// What [`introspect`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Introspection {
    pub uses_parameters: bool,
    pub cacheable: bool,
}

pub(crate) fn introspect<'a>(sources: impl IntoIterator<Item = &'a str>) -> Introspection {
    let files: Vec<(&str, String)> = sources
        .into_iter()
        .map(|text| (text, blank_comments_and_strings(text)))
        .collect();
    let relevant = contributing(&files);
    let relevant = || {
        files
            .iter()
            .zip(&relevant)
            .filter(|(_, r)| **r)
            .map(|(f, _)| f)
    };
    Introspection {
        uses_parameters: relevant().any(|(text, code)| uses_parameters(text, code)),
        cacheable: !relevant().any(|(_, code)| reads_unstable_facts(code)),
    }
}

/// Which files may contribute to `data.sluice.decision` (see the module documentation).
fn contributing(files: &[(&str, String)]) -> Vec<bool> {
    let roots: Vec<Option<&str>> = files.iter().map(|(_, code)| package_root(code)).collect();
    // A file whose package cannot be read is assumed to contribute.
    let mut relevant: Vec<bool> = roots
        .iter()
        .map(|r| r.is_none_or(|r| r == "sluice"))
        .collect();
    loop {
        let named = |root: &str| {
            files.iter().zip(&relevant).any(|((_, code), r)| {
                *r && words(code, "data").any(|end| match field_after(code, end) {
                    Some(field) => field == root,
                    // `data[x]`, `walk(data)`: anything may be read.
                    None => true,
                })
            })
        };
        let newly: Vec<usize> = (0..files.len())
            .filter(|&i| !relevant[i] && roots[i].is_some_and(named))
            .collect();
        if newly.is_empty() {
            return relevant;
        }
        for i in newly {
            relevant[i] = true;
        }
    }
}

/// The first component of the file's package: `sluice` for `package sluice.sql`.
fn package_root(code: &str) -> Option<&str> {
    let end = words(code, "package").next()?;
    let rest = code[end..].trim_start();
    let len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (len > 0).then(|| &rest[..len])
}

/// `session` fields that stay fixed for every decision with the same cache subject.
const STABLE_SESSION_FIELDS: [&str; 6] = [
    "client_address",
    "application_name",
    "protocol",
    "postgres",
    "search_path",
    "settings",
];

/// `time` fields that stay fixed within the caller's clock bucket (an hour of the zone).
const STABLE_TIME_FIELDS: [&str; 3] = ["timezone", "weekday", "hour"];

/// Whether a decision may depend on bound parameter values (`input.request.parameters`):
/// the file mentions `parameters` anywhere (strings and comments included), or reads `input`
/// or `input.request` whole.
fn uses_parameters(text: &str, code: &str) -> bool {
    text.contains("parameters")
        || reads_input_whole(code)
        || words(code, "request").any(|end| field_after(code, end).is_none())
}

/// Whether the file may read what a cache key leaves out: the clock (`time.now_ns`, `now`),
/// randomness (`rand.intn`), the session's id or start time, or `input`, `input.session` or
/// `input.time` other than field by field.
fn reads_unstable_facts(code: &str) -> bool {
    words(code, "now").next().is_some()
        || words(code, "intn").next().is_some()
        || words(code, "now_ns").next().is_some()
        || words(code, "started_at").next().is_some()
        || reads_input_whole(code)
        || words(code, "session")
            .any(|end| !field_after(code, end).is_some_and(|f| STABLE_SESSION_FIELDS.contains(&f)))
        || words(code, "time").any(|end| match field_after(code, end) {
            // `time.parse_rfc3339_ns(...)` and friends are builtins, not input fields; the
            // one that reads the clock is caught by `now_ns` above.
            Some(field) => !(STABLE_TIME_FIELDS.contains(&field) || is_call(code, end, field)),
            None => true,
        })
}

/// `input` not followed by `.field`: passed whole, indexed by a computed key, or aliased.
/// `with input as {...}` (tests) replaces the document instead of reading it.
fn reads_input_whole(code: &str) -> bool {
    words(code, "input").any(|end| {
        let rest = code[end..].trim_start();
        field_after(code, end).is_none() && !rest.starts_with("as ")
    })
}

/// Byte offsets just past each occurrence of `word` that is a whole identifier.
fn words<'a>(code: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    code.match_indices(word).filter_map(move |(at, _)| {
        let end = at + word.len();
        let before = code[..at].chars().next_back();
        let after = code[end..].chars().next();
        let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        (boundary(before) && boundary(after)).then_some(end)
    })
}

/// The identifier after `.` following position `end`, if that is what comes next.
fn field_after(code: &str, end: usize) -> Option<&str> {
    let rest = code[end..].trim_start().strip_prefix('.')?.trim_start();
    let len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (len > 0).then(|| &rest[..len])
}

/// Whether `field` after position `end` is called: `time.weekday(...)`.
fn is_call(code: &str, end: usize, field: &str) -> bool {
    code[end..]
        .find(field)
        .is_some_and(|at| code[end + at + field.len()..].trim_start().starts_with('('))
}

/// The text with comments and the contents of string literals replaced by spaces, so that
/// byte offsets still line up.
fn blank_comments_and_strings(text: &str) -> String {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Code,
        Comment,
        Quoted { escaped: bool },
        Raw,
    }
    let mut out = String::with_capacity(text.len());
    let mut state = State::Code;
    for c in text.chars() {
        let (next, keep) = match state {
            State::Code => match c {
                '#' => (State::Comment, false),
                '"' => (State::Quoted { escaped: false }, true),
                '`' => (State::Raw, true),
                _ => (State::Code, true),
            },
            State::Comment if c == '\n' => (State::Code, true),
            State::Comment => (State::Comment, false),
            State::Quoted { escaped: true } => (State::Quoted { escaped: false }, false),
            State::Quoted { escaped: false } => match c {
                '\\' => (State::Quoted { escaped: true }, false),
                '"' => (State::Code, true),
                _ => (state, false),
            },
            State::Raw if c == '`' => (State::Code, true),
            State::Raw => (State::Raw, false),
        };
        state = next;
        if keep {
            out.push(c);
        } else {
            // Same byte length, so offsets into `out` match offsets into `text`.
            out.extend(std::iter::repeat_n(' ', c.len_utf8()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cacheable_one(text: &str) -> bool {
        introspect([format!("package sluice\n{text}").as_str()]).cacheable
    }

    fn uses_parameters_one(text: &str) -> bool {
        introspect([format!("package sluice\n{text}").as_str()]).uses_parameters
    }

    #[test]
    fn field_by_field_reads_are_cacheable() {
        assert!(cacheable_one(
            r#"# the clock is not read now
            deny contains "not now, not in this session" if input.session.client_address == "x"
            deny contains "late" if input.time.hour > 18
            deny contains "path" if "evil" in input.session.postgres.search_path
            deny contains "weekend" if time.weekday(time.parse_rfc3339_ns("2024-01-01T00:00:00Z")) == "Sunday"
            test_x if { decision with input as {"a": 1} }
            "#
        ));
    }

    #[test]
    fn clock_and_session_identity_are_not_cacheable() {
        for text in [
            "x := time.now_ns()",
            "x := rand.intn(\"k\", 10)",
            "x := input.time.now",
            "x := input.time[\"now\"]",
            "x := input.session.id",
            "x := input.session.started_at",
            "x := input.session[\"id\"]",
            "x := count(input.session)",
            "x := json.marshal(input)",
            "x := input[\"session\"].id",
            "s := input.session\ny := s.client_address",
            "some k, v in input.time",
            "import input.session",
        ] {
            assert!(!cacheable_one(text), "{text}");
        }
    }

    #[test]
    fn parameters_are_found_even_when_not_named() {
        assert!(uses_parameters_one("x := input.request.parameters[0]"));
        assert!(uses_parameters_one("# parameters"));
        assert!(uses_parameters_one("x := json.marshal(input.request)"));
        assert!(uses_parameters_one("x := input"));
        assert!(!uses_parameters_one(
            "x := input.request.statement.kind\ny := input.request.action"
        ));
    }

    #[test]
    fn only_files_the_decision_can_reach_count() {
        let decision = "package sluice\nimport data.helpers\ndecision := helpers.d";
        let helpers = "package helpers\nd := input.request.parameters";
        let tests = "package sluice_test\nsession := {\"id\": 1, \"parameters\": []}";
        let found = introspect([decision, helpers, tests]);
        assert!(found.uses_parameters);
        assert!(found.cacheable);
        let found = introspect([decision, tests]);
        assert!(!found.uses_parameters);
        assert!(found.cacheable);
        // A test file that adds to package sluice counts.
        let sneaky = "package sluice\nsession_rule := input.session.id";
        assert!(!introspect([decision, sneaky]).cacheable);
        // Reading `data` by a computed key reaches every package.
        let dynamic = "package sluice\nx := data[input.identity.name]";
        assert!(!introspect([dynamic, tests]).cacheable);
        // Subpackages of sluice count.
        assert!(!introspect(["package sluice.sql\nx := time.now_ns()"]).cacheable);
        // So does a file whose package cannot be read.
        assert!(!introspect(["x := time.now_ns()"]).cacheable);
    }

    #[test]
    fn blanking_keeps_offsets() {
        let text = "a \"ß#\" # c\n`raw`";
        let code = blank_comments_and_strings(text);
        assert_eq!(code.len(), text.len());
        assert!(code.starts_with("a \""));
        assert!(!code.contains('#'));
        assert!(code.ends_with('`'));
    }
}
