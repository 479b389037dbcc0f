//! The built-in detectors: their names and the patterns that find candidates.
//!
//! A pattern only proposes; `validate` decides. Patterns use ASCII classes and ASCII word
//! boundaries (`(?-u:\b)`) so that the whole set stays within the lazy DFA: one Unicode word
//! boundary anywhere would send every search over non-ASCII text to a slower engine.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use crate::MaskError;

/// A detector that ships with sluice. Names (`name()`, `FromStr`, serde) are snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    Email,
    UsSsn,
    PaymentCard,
    Iban,
    Phone,
    Ipv4,
    Ipv6,
    Jwt,
    PrivateKey,
    AwsAccessKey,
    GithubToken,
    SlackToken,
    Password,
}

impl Builtin {
    /// Every built-in detector, in priority order: when two candidates start at the same
    /// place, the earlier one here is tried first. Long, specific formats come first so that a
    /// key block or a token is masked whole rather than in fragments.
    pub const ALL: [Builtin; 13] = [
        Builtin::PrivateKey,
        Builtin::Jwt,
        Builtin::AwsAccessKey,
        Builtin::GithubToken,
        Builtin::SlackToken,
        Builtin::Password,
        Builtin::Email,
        Builtin::Iban,
        Builtin::PaymentCard,
        Builtin::UsSsn,
        Builtin::Phone,
        Builtin::Ipv4,
        Builtin::Ipv6,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Email => "email",
            Builtin::UsSsn => "us_ssn",
            Builtin::PaymentCard => "payment_card",
            Builtin::Iban => "iban",
            Builtin::Phone => "phone",
            Builtin::Ipv4 => "ipv4",
            Builtin::Ipv6 => "ipv6",
            Builtin::Jwt => "jwt",
            Builtin::PrivateKey => "private_key",
            Builtin::AwsAccessKey => "aws_access_key",
            Builtin::GithubToken => "github_token",
            Builtin::SlackToken => "slack_token",
            Builtin::Password => "password",
        }
    }

    /// The candidate pattern; the lib.rs documentation states each one in words.
    pub(crate) fn pattern(self) -> &'static str {
        match self {
            // Only the BEGIN line: `validate` extends the span to the END line, or to the end
            // of the text. A pattern spanning the block would need `[\s\S]*`, which keeps the
            // engine's backward pass (finding where any match starts) alive all the way back
            // to the start of the text, for every match of every detector.
            Builtin::PrivateKey => r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
            // Both header and payload are JSON objects, whose base64url always starts `eyJ`
            // for `{"`; the signature may be empty (`alg: none`).
            Builtin::Jwt => r"(?-u:\b)eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*",
            Builtin::AwsAccessKey => r"(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}(?-u:\b)",
            Builtin::GithubToken => {
                r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})(?-u:\b)"
            }
            Builtin::SlackToken => r"(?-u:\b)xox[abposr]-[A-Za-z0-9-]{10,}",
            // No leading boundary, so `db_password=` and `PGPASSWORD=` are found too. The
            // optional quotes cover JSON (`"password": "x"`) and quoted config values.
            Builtin::Password => {
                r#"(?i-u:password|passwd|pwd)"?[ \t]*[=:][ \t]*["']?[^ \t\r\n"'\\&;,]+"#
            }
            // `*` is allowed in the local part (it is legal there) so that an email masked
            // with `email_domain` still reads as an email.
            Builtin::Email => {
                r"[A-Za-z0-9._%+*-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?-u:\b)"
            }
            Builtin::Iban => r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}(?-u:\b)",
            Builtin::PaymentCard => r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)",
            Builtin::UsSsn => {
                r"(?-u:\b)(?:[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4})(?-u:\b)"
            }
            // International (`+` and a country code), North American (3-3-4), an area code in
            // parentheses, or a national number with a trunk `0` (then a non-zero digit: `00`
            // is the international prefix). Bare digit runs are not phones: they are ids,
            // amounts and timestamps far more often.
            Builtin::Phone => concat!(
                r"(?:\+[0-9]{1,3}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{1,4}(?:[ .-]?[0-9]{1,4}){1,5}",
                r"|(?-u:\b)[0-9]{3}[ .-][0-9]{3}[ .-][0-9]{4}",
                r"|\([0-9]{2,5}\)[ .-]?[0-9]{3,4}[ .-]?[0-9]{3,4}",
                r"|(?-u:\b)0[1-9][0-9]{0,3}[ .-][0-9]{3,4}[ .-]?[0-9]{3,4})(?-u:\b)",
            ),
            Builtin::Ipv4 => r"(?-u:\b)[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?-u:\b)",
            // Eight groups, or fewer around one `::`, with an optional dotted IPv4 tail; the
            // address parser decides. Requiring `::` or all eight groups keeps times of day
            // (`10:30:00`) from ever being candidates, which would cost a parse each.
            Builtin::Ipv6 => concat!(
                r"(?:(?-u:\b)[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){7}",
                r"|(?:(?-u:\b)[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?::",
                r"(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)",
                r"(?:\.[0-9]{1,3}){0,3}",
            ),
        }
    }
}

/// What every candidate of a detector contains, so that a text without it needs no regex scan.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trigger {
    /// A digit, `:`, `=` or `@` (the screen tests one byte class that holds them all).
    Byte,
    /// One of these strings.
    Literal(&'static [&'static str]),
}

impl Builtin {
    /// Keep in step with `pattern`: a trigger that a candidate can lack makes detection miss.
    pub(crate) fn trigger(self) -> Trigger {
        match self {
            Builtin::PrivateKey => Trigger::Literal(&["-----BEGIN "]),
            Builtin::Jwt => Trigger::Literal(&["eyJ"]),
            Builtin::AwsAccessKey => Trigger::Literal(&["AKIA", "ASIA"]),
            Builtin::GithubToken => {
                Trigger::Literal(&["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"])
            }
            Builtin::SlackToken => Trigger::Literal(&["xox"]),
            // `@`; `=` or `:`; `:`; digits.
            Builtin::Email
            | Builtin::Password
            | Builtin::Ipv6
            | Builtin::Iban
            | Builtin::PaymentCard
            | Builtin::UsSsn
            | Builtin::Phone
            | Builtin::Ipv4 => Trigger::Byte,
        }
    }
}

impl fmt::Display for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Builtin {
    type Err = MaskError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Builtin::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| MaskError::UnknownDetector(s.to_owned()))
    }
}
