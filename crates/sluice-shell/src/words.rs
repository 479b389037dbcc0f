//! A word of the line as the shell would see it after quote removal, and what in it is only
//! known at run time.

use brush_parser::word::{self, Parameter, ParameterExpr, WordPiece, WordPieceWithSource};
use brush_parser::ParserOptions;

/// A word after quote removal. Expansions are kept as their source text, so that a fact
/// still shows where the run-time value goes.
#[derive(Debug, Default, Clone)]
pub struct Word {
    pub text: String,
    /// Holds a parameter expansion, a command substitution or arithmetic.
    pub dynamic: bool,
    /// Holds an unquoted glob or brace pattern: the shell would replace the word.
    pub pattern: bool,
    /// The code of every command substitution in it, outermost only, in order.
    pub substitutions: Vec<String>,
    /// Did not parse as a word; `text` is then the raw word.
    pub malformed: bool,
}

/// Analyses one raw word of the AST.
pub fn analyse(raw: &str, options: &ParserOptions) -> Word {
    let mut out = Word::default();
    let parsed = if refused(raw) {
        None
    } else {
        std::panic::catch_unwind(|| word::parse(raw, options))
            .ok()
            .and_then(Result::ok)
    };
    match parsed {
        Some(pieces) => pieces_into(&pieces, false, options, &mut out),
        None => {
            out.text = raw.to_owned();
            out.malformed = true;
            out.dynamic = raw.contains('$') || raw.contains('`');
            if looks_like_substitution(raw) {
                out.substitutions.push(raw.to_owned());
            }
        }
    }
    out
}

/// Analyses the text of a here-document that the shell expands.
pub fn analyse_heredoc(raw: &str, options: &ParserOptions) -> Word {
    let mut out = Word::default();
    let parsed = if refused(raw) {
        None
    } else {
        std::panic::catch_unwind(|| word::parse_heredoc(raw, options))
            .ok()
            .and_then(Result::ok)
    };
    match parsed {
        Some(pieces) => pieces_into(&pieces, true, options, &mut out),
        None => {
            out.text = raw.to_owned();
            out.malformed = true;
            out.dynamic = raw.contains('$') || raw.contains('`');
            if looks_like_substitution(raw) {
                out.substitutions.push(raw.to_owned());
            }
        }
    }
    out
}

/// Words the word parser is not given: it backtracks at every bracket of an expansion when
/// what is inside does not parse (found by fuzzing: 173 bytes of unterminated `$(`, `${` and
/// `$[` took 43 seconds), and unwraps some numbers. Such a word is kept raw, and whatever
/// substitution it may hold is analysed (and flagged) as a script.
fn refused(raw: &str) -> bool {
    raw.chars()
        .filter(|c| matches!(c, '(' | '{' | '[' | '`'))
        .count()
        > crate::limits::MAX_PARENS
        || crate::parse::overflows_parser(raw)
}

/// Text that could not be parsed but may still hold a substitution: it is counted as one
/// rather than missed.
pub fn looks_like_substitution(raw: &str) -> bool {
    raw.contains("$(") || raw.contains('`') || raw.contains("<(") || raw.contains(">(")
}

fn pieces_into(
    pieces: &[WordPieceWithSource],
    quoted: bool,
    options: &ParserOptions,
    out: &mut Word,
) {
    for p in pieces {
        match &p.piece {
            WordPiece::Text(t) => {
                if !quoted && is_pattern(t) {
                    out.pattern = true;
                }
                out.text.push_str(t);
            }
            WordPiece::SingleQuotedText(t) => out.text.push_str(t),
            WordPiece::AnsiCQuotedText(t) => out.text.push_str(&ansi_c(t)),
            WordPiece::DoubleQuotedSequence(inner)
            | WordPiece::GettextDoubleQuotedSequence(inner) => {
                pieces_into(inner, true, options, out);
            }
            WordPiece::TildeExpansion(_) => out.text.push('~'),
            WordPiece::ParameterExpansion(expr) => {
                out.dynamic = true;
                out.text.push_str(&parameter_text(expr));
                for inner in parameter_words(expr) {
                    nested(inner, options, out);
                }
            }
            WordPiece::CommandSubstitution(code) => {
                out.dynamic = true;
                out.text.push_str("$(");
                out.text.push_str(code);
                out.text.push(')');
                out.substitutions.push(code.clone());
            }
            WordPiece::BackquotedCommandSubstitution(code) => {
                out.dynamic = true;
                out.text.push('`');
                out.text.push_str(code);
                out.text.push('`');
                out.substitutions.push(code.clone());
            }
            WordPiece::EscapeSequence(seq) => out.text.push_str(&escape(seq, quoted)),
            WordPiece::ArithmeticExpression(expr) => {
                out.dynamic = true;
                out.text.push_str("$((");
                out.text.push_str(&expr.value);
                out.text.push_str("))");
                nested(&expr.value, options, out);
            }
        }
    }
}

/// Strings inside an expansion (defaults, patterns, indexes) are words themselves and may
/// hold substitutions of their own.
fn nested(raw: &str, options: &ParserOptions, out: &mut Word) {
    if !looks_like_substitution(raw) {
        return;
    }
    let inner = analyse(raw, options);
    out.substitutions.extend(inner.substitutions);
}

fn parameter_text(expr: &ParameterExpr) -> String {
    match expr {
        ParameterExpr::Parameter {
            parameter,
            indirect: false,
        } => parameter.to_string(),
        _ => format!("${{{}}}", parameter_name(expr)),
    }
}

fn parameter_name(expr: &ParameterExpr) -> String {
    let parameter = match expr {
        ParameterExpr::Parameter { parameter, .. }
        | ParameterExpr::UseDefaultValues { parameter, .. }
        | ParameterExpr::AssignDefaultValues { parameter, .. }
        | ParameterExpr::IndicateErrorIfNullOrUnset { parameter, .. }
        | ParameterExpr::UseAlternativeValue { parameter, .. }
        | ParameterExpr::ParameterLength { parameter, .. }
        | ParameterExpr::RemoveSmallestSuffixPattern { parameter, .. }
        | ParameterExpr::RemoveLargestSuffixPattern { parameter, .. }
        | ParameterExpr::RemoveSmallestPrefixPattern { parameter, .. }
        | ParameterExpr::RemoveLargestPrefixPattern { parameter, .. }
        | ParameterExpr::Substring { parameter, .. }
        | ParameterExpr::Transform { parameter, .. }
        | ParameterExpr::UppercaseFirstChar { parameter, .. }
        | ParameterExpr::UppercasePattern { parameter, .. }
        | ParameterExpr::LowercaseFirstChar { parameter, .. }
        | ParameterExpr::LowercasePattern { parameter, .. }
        | ParameterExpr::ReplaceSubstring { parameter, .. } => parameter,
        ParameterExpr::VariableNames { prefix, .. } => return format!("!{prefix}*"),
        ParameterExpr::MemberKeys { variable_name, .. } => return format!("!{variable_name}[@]"),
    };
    match parameter {
        Parameter::Positional(n) => n.to_string(),
        Parameter::Special(s) => s.to_string(),
        Parameter::Named(n) => n.clone(),
        Parameter::NamedWithIndex { name, index } => format!("{name}[{index}]"),
        Parameter::NamedWithAllIndices { name, concatenate } => {
            format!("{name}[{}]", if *concatenate { '*' } else { '@' })
        }
    }
}

fn parameter_words(expr: &ParameterExpr) -> Vec<&str> {
    let mut words: Vec<&str> = Vec::new();
    let parameter = match expr {
        ParameterExpr::Parameter { parameter, .. }
        | ParameterExpr::ParameterLength { parameter, .. }
        | ParameterExpr::Transform { parameter, .. } => parameter,
        ParameterExpr::UseDefaultValues {
            parameter,
            default_value: value,
            ..
        }
        | ParameterExpr::AssignDefaultValues {
            parameter,
            default_value: value,
            ..
        }
        | ParameterExpr::IndicateErrorIfNullOrUnset {
            parameter,
            error_message: value,
            ..
        }
        | ParameterExpr::UseAlternativeValue {
            parameter,
            alternative_value: value,
            ..
        }
        | ParameterExpr::RemoveSmallestSuffixPattern {
            parameter,
            pattern: value,
            ..
        }
        | ParameterExpr::RemoveLargestSuffixPattern {
            parameter,
            pattern: value,
            ..
        }
        | ParameterExpr::RemoveSmallestPrefixPattern {
            parameter,
            pattern: value,
            ..
        }
        | ParameterExpr::RemoveLargestPrefixPattern {
            parameter,
            pattern: value,
            ..
        }
        | ParameterExpr::UppercaseFirstChar {
            parameter,
            pattern: value,
            ..
        }
        | ParameterExpr::UppercasePattern {
            parameter,
            pattern: value,
            ..
        }
        | ParameterExpr::LowercaseFirstChar {
            parameter,
            pattern: value,
            ..
        }
        | ParameterExpr::LowercasePattern {
            parameter,
            pattern: value,
            ..
        } => {
            words.extend(value.as_deref());
            parameter
        }
        ParameterExpr::Substring {
            parameter,
            offset,
            length,
            ..
        } => {
            words.push(&offset.value);
            words.extend(length.as_ref().map(|l| l.value.as_str()));
            parameter
        }
        ParameterExpr::ReplaceSubstring {
            parameter,
            pattern,
            replacement,
            ..
        } => {
            words.push(pattern);
            words.extend(replacement.as_deref());
            parameter
        }
        ParameterExpr::VariableNames { .. } | ParameterExpr::MemberKeys { .. } => return words,
    };
    if let Parameter::NamedWithIndex { index, .. } = parameter {
        words.push(index);
    }
    words
}

/// Characters that make an unquoted word a pattern the shell expands: globs, extended
/// globs and brace expansion.
fn is_pattern(text: &str) -> bool {
    text.contains(['*', '?', '['])
        || (text.contains('{') && text.contains('}') && (text.contains(',') || text.contains("..")))
}

/// A backslash outside quotes keeps the next character literally; inside double quotes only
/// before the characters that are special there. A backslash-newline joins lines.
fn escape(seq: &str, quoted: bool) -> String {
    let escaped = seq.strip_prefix('\\').unwrap_or(seq);
    if escaped == "\n" {
        return String::new();
    }
    if !quoted || matches!(escaped, "$" | "`" | "\"" | "\\") {
        escaped.to_owned()
    } else {
        seq.to_owned()
    }
}

/// Decodes `$'...'` the way bash does, so that `$'\x72m'` is seen as `rm`.
pub fn ansi_c(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'e' | 'E' => out.push('\u{1b}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' | '\'' | '"' | '?' => out.push(e),
            'x' => push_code(&mut out, digits(&mut chars, 16, 2)),
            'u' => push_code(&mut out, digits(&mut chars, 16, 4)),
            'U' => push_code(&mut out, digits(&mut chars, 16, 8)),
            '0'..='7' => {
                let rest = digits(&mut chars, 8, 2);
                let first = e.to_digit(8).unwrap_or(0);
                let value = match rest {
                    Some((v, n)) => first * 8u32.pow(n) + v,
                    None => first,
                };
                push_code(&mut out, Some((value, 1)));
            }
            'c' => {
                if let Some(ctl) = chars.next() {
                    push_code(&mut out, Some((u32::from(ctl) & 0x1f, 1)));
                }
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}

fn digits(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    radix: u32,
    max: u32,
) -> Option<(u32, u32)> {
    let mut value: u32 = 0;
    let mut n = 0;
    while n < max {
        let Some(d) = chars.peek().and_then(|c| c.to_digit(radix)) else {
            break;
        };
        value = value.saturating_mul(radix).saturating_add(d);
        n += 1;
        chars.next();
    }
    (n > 0).then_some((value, n))
}

fn push_code(out: &mut String, code: Option<(u32, u32)>) {
    if let Some(c) = code.and_then(|(v, _)| char::from_u32(v)) {
        out.push(c);
    }
}
