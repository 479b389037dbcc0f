//! The query string, decoded as Go's `url.ParseQuery` decodes it for the API server (`&`
//! between pairs, `+` for a space, a key may repeat), but strict where Go would silently drop
//! a pair (a `;`, a bad escape): a dropped pair could hide from the facts what the server
//! still reads, or the other way round.
//! Decoded values keep their control characters (a script may span lines) but not a NUL.

use crate::percent::decode;
use crate::{limits, KubeError};

const PART: &str = "query";

/// The decoded pairs, in order.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: &str) -> Result<Self, KubeError> {
        if raw.len() > limits::MAX_QUERY {
            return Err(KubeError::TooLong {
                part: PART,
                len: raw.len(),
                max: limits::MAX_QUERY,
            });
        }
        if raw.contains(';') {
            return Err(KubeError::Semicolon);
        }
        let mut pairs = Vec::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key, true, PART)?;
            let value = decode(value, true, PART)?;
            // Newlines and tabs are fair in an exec's script; a NUL is not: the container
            // runtime hands arguments to execve as C strings, which would end at it, after
            // the policy saw the rest.
            if key.contains('\0') || value.contains('\0') {
                return Err(KubeError::ControlCharacter(PART));
            }
            pairs.push((key, value));
        }
        Ok(Query { pairs })
    }

    /// Every value of `key`, in order (`command` of an exec, `dryRun`).
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a key that is a fact of its own. The API server reads the first value
    /// only; a client sending two is either broken or probing for a parser that reads the
    /// last, so two are refused.
    pub fn single(&self, key: &'static str) -> Result<Option<&str>, KubeError> {
        let mut values = self.all(key);
        let first = values.next();
        if values.next().is_some() {
            return Err(KubeError::Repeated(key));
        }
        Ok(first)
    }
}
