//! MySQL statements the parser library does not read, recognised from their tokens so that
//! each still gets facts instead of a refusal, or a refusal with a reason:
//! - `PREPARE s FROM ...`: dynamic SQL whose text may be in a variable, so `procedural`;
//! - `HANDLER t OPEN | READ | CLOSE`: a read of `t` (a handler alias reads as a table of
//!   that name, which no allow-list holds);
//! - `LOAD DATA | XML [LOCAL] INFILE ... INTO TABLE t`: a write of `t`; without LOCAL the
//!   server reads a file of its own disk, so the statement is `procedural` (with `t` still
//!   listed as written);
//! - `... INTO OUTFILE | DUMPFILE ...`: the server writes a file on its own disk, so
//!   `procedural`; the tables it reads are not listed;
//! - `START TRANSACTION WITH CONSISTENT SNAPSHOT` (mysqldump's), with or without
//!   `READ ONLY | READ WRITE`: a `transaction`. Any other word after START TRANSACTION
//!   leaves it to the parser.

use sqlparser::tokenizer::Token;

use super::names;
use crate::{ParseError, SqlError, StatementKind};

/// The facts of a statement read from its tokens.
pub struct Special {
    pub kind: StatementKind,
    pub command: &'static str,
    pub read: Vec<String>,
    pub written: Vec<String>,
}

/// The facts of `tokens` if they are one of the statements above.
pub fn read(tokens: &[Token], database: Option<&str>) -> Result<Option<Special>, SqlError> {
    let words: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let special = |kind, command, read, written| {
        Ok(Some(Special {
            kind,
            command,
            read,
            written,
        }))
    };
    if keyword(words.first(), "START") && keyword(words.get(1), "TRANSACTION") {
        const CHARACTERISTICS: [&str; 6] =
            ["WITH", "CONSISTENT", "SNAPSHOT", "READ", "ONLY", "WRITE"];
        let only_characteristics = words[2..].iter().all(|w| {
            matches!(w, Token::Comma | Token::SemiColon)
                || CHARACTERISTICS.iter().any(|c| keyword(Some(w), c))
        });
        if words.len() > 2 && only_characteristics {
            return special(StatementKind::Transaction, "START", vec![], vec![]);
        }
    }
    if keyword(words.first(), "PREPARE") {
        return special(StatementKind::Procedural, "PREPARE", vec![], vec![]);
    }
    if keyword(words.first(), "HANDLER") {
        let table = name(&words[1..], database)?;
        return special(StatementKind::Read, "HANDLER", vec![table], vec![]);
    }
    if keyword(words.first(), "LOAD")
        && (keyword(words.get(1), "DATA") || keyword(words.get(1), "XML"))
    {
        let infile = words
            .iter()
            .position(|w| keyword(Some(w), "INFILE"))
            .ok_or_else(|| refused("LOAD without INFILE"))?;
        let local = words[..infile].iter().any(|w| keyword(Some(w), "LOCAL"));
        let into = words
            .windows(2)
            .position(|w| keyword(w.first(), "INTO") && keyword(w.get(1), "TABLE"))
            .ok_or_else(|| refused("LOAD without INTO TABLE"))?;
        let table = name(&words[into + 2..], database)?;
        let kind = if local {
            StatementKind::Write
        } else {
            StatementKind::Procedural
        };
        return special(kind, "LOAD DATA", vec![], vec![table]);
    }
    let writes_file = words.windows(2).any(|w| {
        keyword(w.first(), "INTO")
            && (keyword(w.get(1), "OUTFILE") || keyword(w.get(1), "DUMPFILE"))
    });
    if writes_file {
        return special(
            StatementKind::Procedural,
            "SELECT INTO OUTFILE",
            vec![],
            vec![],
        );
    }
    Ok(None)
}

/// Whether `token` is the unquoted keyword `word`.
fn keyword(token: Option<&&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// The table name `a` or `a.b` at the start of `words`.
fn name(words: &[&Token], database: Option<&str>) -> Result<String, SqlError> {
    let part = |i: usize| match words.get(i) {
        Some(Token::Word(w)) => Some(names::word(w)),
        _ => None,
    };
    let first = part(0).ok_or_else(|| refused("a table name was expected"))?;
    match (words.get(1), part(2)) {
        (Some(Token::Period), Some(second)) => Ok(names::qualified(&[first, second], database)),
        (Some(Token::Period), None) => Err(refused("a table name was expected")),
        _ => Ok(names::qualified(&[first], database)),
    }
}

fn refused(message: &str) -> SqlError {
    SqlError::Rejected(ParseError {
        message: message.to_owned(),
        position: None,
    })
}
