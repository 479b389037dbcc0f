//! Applying strategies: to a whole value (a column rule) or to the spans detectors find.

use std::fmt;

use crate::json::JsonStrings;
use crate::render::{email_domain, keep_last};
use crate::token::TokenKey;
use crate::{Builtin, Counts, DetectorId, Detectors, Found, Strategy, REDACTED};

/// Applies masking strategies. Holds the token key, so its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct Masker {
    token: TokenKey,
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Masker { key: <redacted> }")
    }
}

impl Masker {
    /// `key` keys the HMAC behind [`Strategy::Token`]; tokens are stable for as long as it is.
    pub fn new(key: [u8; 32]) -> Masker {
        Masker {
            token: TokenKey::new(&key),
        }
    }

    /// Masks a whole value: the replacement text, or `None` for SQL NULL.
    pub fn mask_value(&self, value: &str, strategy: &Strategy) -> Option<String> {
        if *strategy == Strategy::Null {
            return None;
        }
        let mut out = String::with_capacity(value.len().max(REDACTED.len()) + 4);
        self.write(value, strategy, true, &mut out);
        Some(out)
    }

    /// Replaces every span `detectors` find in `text` by the output of its detector's
    /// strategy, and counts the spans per detector into `counts`. A detector without a
    /// strategy (`strategy_for` gives `None`) leaves its spans as they are. `None` when
    /// nothing was replaced: the caller keeps the original bytes.
    ///
    /// Inside a text [`Strategy::Null`] redacts the span, and [`Strategy::EmailDomain`] keeps
    /// a domain only for spans of the built-in email detector. In a text that opens like JSON
    /// (`{` or `[`), a span that is a bare number outside any string is replaced by a quoted
    /// string, the only way to keep the document valid.
    pub fn mask_content<'s>(
        &self,
        detectors: &Detectors,
        text: &str,
        strategy_for: impl Fn(DetectorId) -> Option<&'s Strategy>,
        counts: &mut Counts,
    ) -> Option<String> {
        let mut found: Vec<Found> = Vec::new();
        detectors.find(text, &mut found);
        found.retain(|f| strategy_for(f.detector).is_some());
        if found.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len() + 8 * found.len());
        let mut json = JsonStrings::new(text);
        let mut copied = 0;
        for Found { detector, range } in found {
            out.push_str(text.get(copied..range.start).unwrap_or(""));
            let span = text.get(range.clone()).unwrap_or("");
            let is_email = detectors.builtin(detector) == Some(Builtin::Email);
            let quote = json.is_bare_number(range.clone());
            if quote {
                out.push('"');
            }
            let strategy = strategy_for(detector).unwrap_or(&Strategy::Redact);
            self.write(span, strategy, is_email, &mut out);
            if quote {
                out.push('"');
            }
            counts.add(detector);
            copied = range.end;
        }
        out.push_str(text.get(copied..).unwrap_or(""));
        Some(out)
    }

    fn write(&self, value: &str, strategy: &Strategy, may_be_email: bool, out: &mut String) {
        match strategy {
            Strategy::Redact | Strategy::Null => out.push_str(REDACTED),
            Strategy::KeepLast(keep) => keep_last(value, *keep, out),
            Strategy::EmailDomain if may_be_email => email_domain(value, out),
            Strategy::EmailDomain => out.push_str(REDACTED),
            Strategy::Token => self.token.write(value, out),
        }
    }
}
