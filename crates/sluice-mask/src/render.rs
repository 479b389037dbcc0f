//! The text of a partial mask: which characters of the original stay.

use crate::{escape, REDACTED};

/// Writes `value` with all but its last `keep` letters and digits turned into `*`. Separators
/// stay, so the shape (and any JSON or CSV structure inside the span) survives. A backslash
/// escape is masked whole and never kept: keeping only one half of `\n` or `\"` would break
/// the JSON the span sits in.
pub(crate) fn keep_last(value: &str, keep: usize, out: &mut String) {
    let total = classify(value).filter(|&(_, c)| c == Class::Alnum).count();
    let mut left_to_mask = total.saturating_sub(keep);
    for (ch, class) in classify(value) {
        match class {
            Class::Escape => out.push('*'),
            Class::Alnum if left_to_mask > 0 => {
                left_to_mask -= 1;
                out.push('*');
            }
            Class::Alnum | Class::Separator => out.push(ch),
        }
    }
}

/// Writes `****@domain` when `value` ends in `@` and a plausible domain, else the redaction
/// marker: a stray `@` in something else (`p@ss.word`) must not leak what follows it.
pub(crate) fn email_domain(value: &str, out: &mut String) {
    out.push_str(REDACTED);
    if let Some((local, domain)) = value.rsplit_once('@') {
        if !local.is_empty() && is_domain(domain) {
            out.push('@');
            out.push_str(domain);
        }
    }
}

/// At least two dot-separated labels of letters, digits and hyphens: nothing that could
/// close a quote or start an escape.
fn is_domain(s: &str) -> bool {
    let mut labels = 0;
    for label in s.split('.') {
        if label.is_empty() || !label.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return false;
        }
        labels += 1;
    }
    labels >= 2
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Alnum,
    Separator,
    Escape,
}

fn classify(value: &str) -> impl Iterator<Item = (char, Class)> + '_ {
    let mut escape_end = 0;
    value.char_indices().map(move |(i, ch)| {
        if i < escape_end {
            return (ch, Class::Escape);
        }
        if ch == '\\' {
            escape_end = i + escape::len_at(value, i);
            (ch, Class::Escape)
        } else if ch.is_alphanumeric() {
            (ch, Class::Alnum)
        } else {
            (ch, Class::Separator)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(value: &str, keep: usize) -> String {
        let mut out = String::new();
        keep_last(value, keep, &mut out);
        out
    }

    #[test]
    fn keep_last_keeps_separators_and_the_tail() {
        assert_eq!(kept("4111-1111-1111-1111", 4), "****-****-****-1111");
        assert_eq!(kept("+1 202 555 0143", 4), "+* *** *** 0143");
        assert_eq!(kept("abc", 10), "abc");
        assert_eq!(kept("abc", 0), "***");
        assert_eq!(kept("Zoë", 1), "**ë");
    }

    #[test]
    fn keep_last_masks_escapes_whole() {
        assert_eq!(kept(r#"ab\"cd"#, 4), "ab**cd");
        assert_eq!(kept(r"x\u00e9y", 1), "*******y");
    }

    #[test]
    fn email_domain_needs_an_email() {
        let mut out = String::new();
        email_domain("ada@example.com", &mut out);
        assert_eq!(out, "****@example.com");
        out.clear();
        email_domain("p@ssword", &mut out);
        assert_eq!(out, "****");
        out.clear();
        email_domain("@example.com", &mut out);
        assert_eq!(out, "****");
    }
}
