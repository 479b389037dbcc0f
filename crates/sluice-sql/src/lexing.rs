//! The session settings that change how PostgreSQL reads a statement's text, so the text is
//! analysed exactly as the server will lex it.
//!
//! Of PostgreSQL's settings, three change lexing:
//! - `standard_conforming_strings`: off, a backslash in an ordinary `'...'` literal escapes the
//!   next character (`'a\''` is one literal), so the same bytes split into different
//!   statements. Followed here: the parser is run with the server's setting.
//! - `client_encoding`: the server converts the text to its own encoding before lexing; in the
//!   client-only encodings (SJIS, BIG5, GBK, ...) a multi-byte character's second byte may be
//!   `\` or `'`. The caller decodes the text as the server will before it reaches this crate.
//! - `backslash_quote`: whether `\'` may stand for a quote. It never makes the server read a
//!   text differently from the parser here, only refuse it (`off`, or `safe_encoding` under a
//!   client-only encoding): a refused text runs nothing, so it needs no tracking.
//!
//! `escape_string_warning` only adds warnings.

/// How the server will lex the text being analysed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lexing {
    /// `standard_conforming_strings = on` (PostgreSQL's default).
    Standard,
    /// `standard_conforming_strings = off`.
    BackslashEscapes,
    /// The setting may change before the server reads the text (an earlier statement still in
    /// flight may change it). A text that reads the same under both settings is analysed;
    /// one that does not is refused ([`crate::SqlError::Ambiguous`]).
    Unsettled,
}

impl Lexing {
    /// The setting as the server reports it (`ParameterStatus standard_conforming_strings`).
    pub fn from_setting(standard_conforming_strings: bool) -> Lexing {
        if standard_conforming_strings {
            Lexing::Standard
        } else {
            Lexing::BackslashEscapes
        }
    }

    /// Whether `sql` reads the same whatever the setting: without a backslash, both settings
    /// lex every byte alike.
    pub fn indifferent(sql: &str) -> bool {
        !sql.contains('\\')
    }

    /// Whether `sql` is read as PostgreSQL's default lexing reads it, so that conclusions
    /// about its shape ([`crate::normalize`], which always lexes that way) hold for it.
    pub fn reads_as_standard(self, sql: &str) -> bool {
        self == Lexing::Standard || Lexing::indifferent(sql)
    }
}

/// The parser options for a setting.
pub(crate) fn options(standard_conforming_strings: bool) -> pg_query::ParserOptions {
    if standard_conforming_strings {
        pg_query::ParserOptions::DEFAULT
    } else {
        pg_query::ParserOptions::DISABLE_STANDARD_CONFORMING_STRINGS
    }
}
