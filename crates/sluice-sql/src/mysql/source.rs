//! The text MySQL's server lexer executes, before any parser sees it: comments taken out,
//! executable comments (`/*! ... */`, `/*!50000 ... */`) replaced by their contents, which the
//! server runs, and the string split into statements at the semicolons outside quotes.
//!
//! The parser library has its own comment handling, but what it treats as a comment must be
//! exactly what the server treats as one (`--x` is `- -x` to MySQL, a comment elsewhere), so
//! the parser is handed text with no comments left at all.
//!
//! A versioned comment runs only on servers at least that version. The gateway does not know
//! the server's version, so for each version written in a text above [`ALWAYS_RUN`] the text
//! is read once per range of server versions ([`Source::readings`]); the caller requires the
//! readings to agree.

use crate::{ParseError, SqlError};

/// Versioned comments up to MySQL 5.7.0 run on every server the gateway fronts (5.7 and later,
/// and MariaDB, which reports 10.x and later).
const ALWAYS_RUN: u32 = 50700;

/// More versions than this in one text is refused: each adds a reading.
const MAX_VERSIONS: usize = 8;

/// A piece of the text: plain SQL (comments already out) or an executable comment's contents.
#[derive(Debug)]
enum Piece {
    Plain(String),
    Executable { version: u32, contents: String },
}

/// A text split into plain SQL and executable comments.
#[derive(Debug)]
pub struct Source {
    pieces: Vec<Piece>,
}

impl Source {
    /// Reads `sql` as MySQL's lexer does with backslash escapes on (the caller refuses text
    /// with a backslash under any other lexing). Unterminated quotes and comments, nested
    /// comments inside an executable one and version numbers that are not 5 digits (servers
    /// differ on them) reject the text.
    pub fn read(sql: &str) -> Result<Source, SqlError> {
        Lexer::new(sql).run()
    }

    /// The texts the server may execute, one per range of server versions, each split into
    /// statements (empty statements left out).
    pub fn readings(&self) -> Result<Vec<Vec<String>>, SqlError> {
        let mut versions: Vec<u32> = self
            .pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Executable { version, .. } if *version > ALWAYS_RUN => Some(*version),
                _ => None,
            })
            .collect();
        versions.sort_unstable();
        versions.dedup();
        if versions.len() > MAX_VERSIONS {
            return Err(rejected(
                "too many different versions in executable comments".to_owned(),
            ));
        }
        // A server older than every written version, then one at each version.
        let mut servers = vec![ALWAYS_RUN];
        servers.extend(versions);
        Ok(servers.into_iter().map(|s| self.statements(s)).collect())
    }

    /// The statements a server of version `server` executes.
    fn statements(&self, server: u32) -> Vec<String> {
        let mut text = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Plain(s) => text.push_str(s),
                Piece::Executable { version, contents } if *version <= server => {
                    // Spaces keep the contents from joining the tokens around them, as the
                    // server's lexer keeps them apart.
                    text.push(' ');
                    text.push_str(contents);
                    text.push(' ');
                }
                Piece::Executable { .. } => text.push(' '),
            }
        }
        split(&text)
    }
}

fn rejected(message: String) -> SqlError {
    SqlError::Rejected(ParseError {
        message,
        position: None,
    })
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    pieces: Vec<Piece>,
    plain: String,
}

impl<'a> Lexer<'a> {
    fn new(sql: &'a str) -> Self {
        Lexer {
            chars: sql.chars().peekable(),
            pieces: Vec::new(),
            plain: String::new(),
        }
    }

    fn run(mut self) -> Result<Source, SqlError> {
        while let Some(c) = self.chars.next() {
            match c {
                '\'' | '"' | '`' => self.quoted(c)?,
                '#' => self.line_comment(),
                '-' if self.chars.peek() == Some(&'-') => {
                    self.chars.next();
                    // MySQL starts a comment at `--` only before a space or control
                    // character; otherwise the two dashes are two minus signs.
                    match self.chars.peek() {
                        None => {}
                        Some(&n) if n.is_whitespace() || n.is_control() => self.line_comment(),
                        Some(_) => self.plain.push_str("- -"),
                    }
                }
                '/' if self.chars.peek() == Some(&'*') => {
                    self.chars.next();
                    self.block_comment()?;
                }
                _ => self.plain.push(c),
            }
        }
        let plain = std::mem::take(&mut self.plain);
        self.pieces.push(Piece::Plain(plain));
        Ok(Source {
            pieces: self.pieces,
        })
    }

    /// A string (`'` or `"`, backslash escapes and doubled quotes) or a backtick name
    /// (doubled backticks only), copied whole.
    fn quoted(&mut self, quote: char) -> Result<(), SqlError> {
        self.plain.push(quote);
        while let Some(c) = self.chars.next() {
            self.plain.push(c);
            if c == '\\' && quote != '`' {
                match self.chars.next() {
                    Some(n) => self.plain.push(n),
                    None => break,
                }
            } else if c == quote {
                if self.chars.peek() == Some(&quote) {
                    self.chars.next();
                    self.plain.push(quote);
                } else {
                    return Ok(());
                }
            }
        }
        Err(rejected(format!("unterminated {quote}-quoted text")))
    }

    fn line_comment(&mut self) {
        for c in self.chars.by_ref() {
            if c == '\n' {
                break;
            }
        }
        self.plain.push('\n');
    }

    /// After `/*`: an ordinary comment becomes a space; an executable one becomes a piece.
    fn block_comment(&mut self) -> Result<(), SqlError> {
        let executable = self.chars.peek() == Some(&'!');
        if executable {
            self.chars.next();
        }
        let mut body = String::new();
        let mut closed = false;
        while let Some(c) = self.chars.next() {
            if c == '*' && self.chars.peek() == Some(&'/') {
                self.chars.next();
                closed = true;
                break;
            }
            body.push(c);
        }
        if !closed {
            return Err(rejected("unterminated comment".to_owned()));
        }
        // MariaDB runs `/*M! ... */` as MySQL runs `/*! ... */`; MySQL ignores it. Which
        // server is behind the gateway is not known here, so neither reading is safe.
        if body.starts_with("M!") {
            return Err(rejected(
                "a MariaDB executable comment (/*M!): its contents run on MariaDB only".to_owned(),
            ));
        }
        if !executable {
            self.plain.push(' ');
            return Ok(());
        }
        plain_contents(&body)?;
        let digits = body.chars().take_while(char::is_ascii_digit).count();
        let version = match digits {
            0 => 0,
            5 => body[..5]
                .parse()
                .map_err(|_| rejected("unreadable comment version".to_owned()))?,
            _ => {
                return Err(rejected(
                    "an executable comment version that is not 5 digits".to_owned(),
                ))
            }
        };
        let plain = std::mem::take(&mut self.plain);
        self.pieces.push(Piece::Plain(plain));
        self.pieces.push(Piece::Executable {
            version,
            contents: body[digits..].to_owned(),
        });
        Ok(())
    }
}

/// Checks that an executable comment's contents, copied raw up to the first `*/`, hold
/// neither a comment nor an unterminated quote: the server lexes the contents as SQL, so a
/// quote or comment there could run past that `*/` in the server and not here.
fn plain_contents(body: &str) -> Result<(), SqlError> {
    let mut quote: Option<char> = None;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == '\\' && q != '`' => {
                chars.next();
            }
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, '\'' | '"' | '`') => quote = Some(c),
            None if c == '#'
                || (c == '-' && chars.peek() == Some(&'-'))
                || (c == '/' && chars.peek() == Some(&'*')) =>
            {
                return Err(rejected(
                    "a comment inside an executable comment".to_owned(),
                ));
            }
            None => {}
        }
    }
    match quote {
        Some(_) => Err(rejected(
            "a quote left open at the end of an executable comment".to_owned(),
        )),
        None => Ok(()),
    }
}

/// `text` (no comments left) split at the semicolons outside quotes; blank statements dropped.
fn split(text: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                current.push(c);
                if c == '\\' && q != '`' {
                    if let Some(n) = chars.next() {
                        current.push(n);
                    }
                } else if c == q {
                    // A doubled quote closes and reopens: same result.
                    quote = None;
                }
            }
            None if c == ';' => statements.push(std::mem::take(&mut current)),
            None => {
                if matches!(c, '\'' | '"' | '`') {
                    quote = Some(c);
                }
                current.push(c);
            }
        }
    }
    statements.push(current);
    statements
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Vec<String> {
        let readings = Source::read(sql).unwrap().readings().unwrap();
        assert_eq!(readings.len(), 1, "{readings:?}");
        readings.into_iter().next().unwrap()
    }

    #[test]
    fn comments_go_and_executable_ones_run() {
        assert_eq!(
            one("SELECT 1 /*!50000 ; DROP TABLE t */"),
            ["SELECT 1", "DROP TABLE t"]
        );
        assert_eq!(
            one("SELECT 1 /*! ; DROP TABLE t */"),
            ["SELECT 1", "DROP TABLE t"]
        );
        assert_eq!(
            one("SELECT 1 # ; DROP\n; SELECT 2"),
            ["SELECT 1", "SELECT 2"]
        );
        assert_eq!(one("SELECT 1 -- ; DROP\n"), ["SELECT 1"]);
        assert_eq!(one("SELECT 1 --1"), ["SELECT 1 - -1"]);
        assert_eq!(
            one("SELECT ';' , `a;b`, 'it\\'s;'"),
            ["SELECT ';' , `a;b`, 'it\\'s;'"]
        );
        assert_eq!(one("SELECT '/*!'"), ["SELECT '/*!'"]);
    }

    #[test]
    fn versions_above_every_server_give_readings() {
        let readings = Source::read("DELETE FROM t /*!99999 WHERE id = 1 */")
            .unwrap()
            .readings()
            .unwrap();
        assert_eq!(readings.len(), 2);
    }

    #[test]
    fn unreadable_comments_reject() {
        for sql in [
            "SELECT 1 /*! DROP",
            "SELECT 'a",
            "SELECT /*!5000 1 */",
            "SELECT /*!500001 1 */",
            "SELECT /*! /* */",
            "SELECT 1 /*! # */, (SELECT s FROM x)",
            "SELECT 1 /*! -- */",
            "SELECT 1 /*! ' */ ; DROP TABLE t; -- '",
            "SELECT 1 /*M! ; DROP TABLE t */",
        ] {
            assert!(Source::read(sql).is_err(), "{sql}");
        }
    }
}
