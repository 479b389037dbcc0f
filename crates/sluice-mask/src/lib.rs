//! Masking sensitive values in query results: finding them in text and replacing them.
//!
//! Pure and I/O-free. The relay calls it for each field of each DataRow, so the common case,
//! a value with nothing to mask, costs one scan and no allocation: [`Masker::mask_content`]
//! returns `None` and the relay forwards the original bytes. Column types are the relay's
//! business; this crate works on text and says whether a masked text still has a shape
//! ([`Detectors::matches_whole`]).
//!
//! # Detection
//!
//! [`Detectors`] compiles every enabled detector into one multi-pattern regex
//! (`regex-automata`'s meta engine): a value is scanned once, however many detectors there
//! are. In front of it, a screen looks for what every built-in candidate contains (a digit,
//! `:`, `=`, `@`, or one of `eyJ`, `AKIA`, `ASIA`, `ghp_`-style prefixes, `github_pat_`, `xox`,
//! `-----BEGIN `) with a byte-class test and a SIMD literal search; a text with none of them
//! is searched for custom detectors only, or not at all. Each candidate is then validated; a
//! candidate that fails is retried as the other detectors (anchored at the same place), then
//! the scan moves on by one character (a failed candidate may contain a real match). Matches
//! do not overlap; the leftmost wins, and among candidates starting at the same place, the
//! first in priority: custom detectors, then the built-ins in [`Builtin::ALL`] order (the
//! order below).
//!
//! Detection works on any text: plain values, JSON (including escaped strings), PostgreSQL
//! arrays (`{a@b.co,c@d.org}`), concatenations and free-text notes. Where a pattern asks for a
//! word boundary, digits and letters glued to a word (`id4111111111111111`, `x_123-45-6789`)
//! are not found.
//!
//! | name | finds | validation |
//! |---|---|---|
//! | `private_key` | `-----BEGIN … PRIVATE KEY-----` through the matching `-----END … PRIVATE KEY-----` (RSA, EC, OPENSSH, ENCRYPTED, PGP `… KEY BLOCK`); without an END line, to the end of the text | — |
//! | `jwt` | `eyJ…` `.` payload `.` signature (signature may be empty) in base64url | the header decodes to a JSON object with `"alg"` |
//! | `aws_access_key` | `AKIA` or `ASIA` and 16 uppercase letters or digits | — |
//! | `github_token` | `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` and 36+ letters or digits; `github_pat_` and 22+ word characters | — |
//! | `slack_token` | `xoxa-`, `xoxb-`, `xoxp-`, `xoxo-`, `xoxr-`, `xoxs-` and 10+ letters, digits or `-` | — |
//! | `password` | the value after `password`, `passwd` or `pwd` (any case, also inside `db_password`) and `=` or `:`, optionally quoted; only the value is masked; it ends at whitespace, a quote, `\`, `&`, `;` or `,` | after a quoted (JSON) key, an unquoted value is masked only if it is a number (`"password": 123456`), and only up to its end; `true`, `false`, `null` are left alone |
//! | `email` | `local@domain.tld`: local part of letters, digits, `._%+*-`; domain labels of letters, digits, `-`; a TLD of 2+ letters. ASCII only | — |
//! | `iban` | two uppercase letters, two digits, 11 to 30 uppercase letters or digits, single spaces allowed | MOD 97 (ISO 13616); a trailing group that breaks it is dropped |
//! | `payment_card` | 13 to 19 digits, single spaces or `-` between them | Luhn, and a first digit of 2 to 6 (the major networks) |
//! | `us_ssn` | `AAA-GG-SSSS` or `AAA GG SSSS` | area not 000, 666 or 9xx; group not 00; serial not 0000 |
//! | `phone` | `+` and country code with groups (`+1 202 555 0143`, `+442079460958`); `202-555-0143` (3-3-4 with space, `.` or `-`); `(202) 555-0143`; a national number with a trunk `0` and a non-zero area code (`020 7946 0958`). Bare digit runs are never phones | 10 to 15 digits |
//! | `ipv4` | dotted quad | octets ≤ 255 without leading zeros (std parser); not part of a longer dotted number (`1.2.3.4.5`) |
//! | `ipv6` | eight hex groups, or fewer around one `::`, optional dotted IPv4 tail (so times like `10:30:00` are never candidates) | std parser; at least one hex digit; not glued to a word or to more groups |
//!
//! [`CustomDetector`]s come from the configuration: a name, a `regex`-syntax pattern (which
//! must not match the empty string) and a [`Validation`] (`none`, `luhn`, `mod97`).
//!
//! # Strategies
//!
//! [`Strategy`], as a policy decision names it:
//!
//! | strategy | whole value | span inside a text |
//! |---|---|---|
//! | `"redact"` | [`REDACTED`] (`****`) | `****` |
//! | `{"keep_last": n}` | the last n letters/digits kept, the others `*`, separators kept: `4111-1111-1111-1111` → `****-****-****-1111` | same |
//! | `"email_domain"` | `****@example.com`; `****` if the value has no plausible domain | email spans as for a value; other detectors' spans `****` |
//! | `"token"` | `tok_` + 16 hex digits of HMAC-SHA256(key, value) | same, over the span's text as it appears (JSON escapes included) |
//! | `"null"` | SQL NULL (`None`) | `****` |
//!
//! Replacements are made of letters, digits, `*`, `_`, `-`, `@` and `.`, plus the separators
//! `keep_last` keeps from the original: they never add a quote or a backslash, so JSON, CSV
//! and array text stay well-formed. Spans never start or end inside a backslash escape, and
//! `keep_last` masks escapes whole. One exception adds quotes: in a text that opens with `{`
//! or `[`, a span that is a bare number outside any string (`{"card": 4111111111111111}`) is
//! replaced by a quoted string (`{"card": "****"}`), since no replacement text is a valid
//! JSON number; a PostgreSQL array takes the quoted element just as well.
//!
//! [`Counts`] tallies masked spans per detector for the audit trail; values are never kept.
//!
//! # Column rules
//!
//! [`ColumnPattern`] names the columns a whole-value rule applies to: `schema.table.column`
//! with `*` wildcards in each part, or a bare column glob such as `*ssn*`; see its
//! documentation.
//!
//! # Layout
//! - `builtin`: built-in detector names and candidate patterns; `custom`: configured ones.
//! - `detectors`: compiling them and the one-pass search; `screen`: the literal screen in
//!   front of it; `validate`, `checksum`: the checks;
//!   `escape`: keeping spans off backslash escapes; `json`: spotting bare JSON numbers.
//! - `strategy`, `masker`, `render`, `token`: replacing; `counts`: audit tallies.
//! - `column`: column patterns. `error`: [`MaskError`].

mod builtin;
mod checksum;
mod column;
mod counts;
mod custom;
mod detectors;
mod error;
mod escape;
mod json;
mod masker;
mod render;
mod screen;
mod strategy;
mod token;
mod validate;

pub use builtin::Builtin;
pub use column::ColumnPattern;
pub use counts::Counts;
pub use custom::{CustomDetector, Validation};
pub use detectors::{DetectorId, Detectors, Found};
pub use error::MaskError;
pub use masker::Masker;
pub use strategy::{Strategy, REDACTED};
