//! regorus reports errors as a rustc-style block:
//!
//! ```text
//!
//! --> policies/sql.rego:12:5
//!    |
//! 12 |     input.x ==
//!    |     ^
//! error: expecting expression
//! ```
//!
//! Operators read `file:line:col: message` faster, and audit records want one line, so the
//! block is rearranged here. Errors without a location (or in a shape this does not know) are
//! passed through trimmed rather than guessed at.

/// A regorus error, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diagnostic {
    /// `file:line:col`, when regorus named one.
    pub location: Option<String>,
    pub message: String,
    /// The source excerpt with the caret, when regorus printed one.
    pub excerpt: Option<String>,
}

impl Diagnostic {
    pub(crate) fn parse(text: &str) -> Self {
        let text = text.trim();
        let lines: Vec<&str> = text.lines().collect();
        let location_at = lines
            .iter()
            .position(|l| l.trim_start().starts_with("--> "));
        let message_at = lines.iter().rposition(|l| l.starts_with("error: "));
        match (location_at, message_at) {
            (Some(loc), Some(msg)) if loc < msg => {
                let location = lines[loc].trim_start().trim_start_matches("--> ").trim();
                let message = lines[msg..].join("\n");
                let message = message.trim_start_matches("error: ").trim().to_owned();
                let excerpt = lines[loc + 1..msg].join("\n");
                Self {
                    location: Some(location.to_owned()),
                    message,
                    excerpt: (!excerpt.trim().is_empty()).then_some(excerpt),
                }
            }
            _ => Self {
                location: None,
                message: text.to_owned(),
                excerpt: None,
            },
        }
    }

    /// `file:line:col: message`, then the excerpt on the following lines.
    pub(crate) fn long(&self) -> String {
        let mut out = self.one_line();
        if let Some(excerpt) = &self.excerpt {
            out.push('\n');
            out.push_str(excerpt);
        }
        out
    }

    /// `file:line:col: message` on one line, for audit records.
    pub(crate) fn one_line(&self) -> String {
        let message = self
            .message
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        match &self.location {
            Some(location) => format!("{location}: {message}"),
            None => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str =
        "\n--> policies/sql.rego:4:1\n  |\n4 | \n  | ^\nerror: expecting `}` while parsing object";

    #[test]
    fn rearranges_a_located_error() {
        let d = Diagnostic::parse(BLOCK);
        assert_eq!(d.location.as_deref(), Some("policies/sql.rego:4:1"));
        assert_eq!(d.message, "expecting `}` while parsing object");
        assert_eq!(
            d.one_line(),
            "policies/sql.rego:4:1: expecting `}` while parsing object"
        );
        assert!(d.long().starts_with("policies/sql.rego:4:1: expecting"));
        assert!(d.long().contains("4 | "));
    }

    #[test]
    fn passes_through_an_unlocated_error() {
        let d = Diagnostic::parse("  not a valid rule path \n");
        assert_eq!(d.location, None);
        assert_eq!(d.one_line(), "not a valid rule path");
    }
}
