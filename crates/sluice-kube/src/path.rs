//! The URL path, split into decoded segments. The API server splits the *decoded* path on
//! `/`, while routers and proxies in front of it may split the raw one: any segment where the
//! two could disagree (an encoded slash, a dot segment, an empty segment) is refused.

use crate::percent::{decode, has_control};
use crate::{limits, KubeError};

const PART: &str = "path";

/// A path the classifier can trust.
#[derive(Debug)]
pub(crate) struct Segments {
    /// Decoded, none empty, none `.` or `..`, none holding `/` or `\`.
    pub parts: Vec<String>,
    /// The raw path ended in `/` (only a proxied path may; the classifier decides).
    pub trailing_slash: bool,
}

impl Segments {
    /// The decoded path, as the API server's request info records it.
    pub fn decoded(&self) -> String {
        let mut path =
            String::with_capacity(self.parts.iter().map(|p| p.len() + 1).sum::<usize>() + 1);
        for part in &self.parts {
            path.push('/');
            path.push_str(part);
        }
        if self.trailing_slash || self.parts.is_empty() {
            path.push('/');
        }
        path
    }
}

pub(crate) fn split(raw: &str) -> Result<Segments, KubeError> {
    if raw.len() > limits::MAX_PATH {
        return Err(KubeError::TooLong {
            part: PART,
            len: raw.len(),
            max: limits::MAX_PATH,
        });
    }
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(KubeError::NotAbsolute);
    };
    if rest.is_empty() {
        return Ok(Segments {
            parts: Vec::new(),
            trailing_slash: false,
        });
    }
    // A raw backslash is a separator to some proxies and to Windows-minded normalisers.
    if rest.contains('\\') {
        return Err(KubeError::SlashInSegment);
    }
    if rest.contains('#') {
        return Err(KubeError::Fragment);
    }
    if rest.chars().any(|c| c == ' ' || c.is_control()) {
        return Err(KubeError::ControlCharacter(PART));
    }
    let (rest, trailing_slash) = match rest.strip_suffix('/') {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let mut parts = Vec::new();
    for raw_part in rest.split('/') {
        if raw_part.is_empty() {
            return Err(KubeError::EmptySegment);
        }
        let part = decode(raw_part, false, PART)?;
        if part.contains('/') || part.contains('\\') {
            return Err(KubeError::SlashInSegment);
        }
        if has_control(&part) {
            return Err(KubeError::ControlCharacter(PART));
        }
        if part == "." || part == ".." {
            return Err(KubeError::DotSegment);
        }
        parts.push(part);
    }
    Ok(Segments {
        parts,
        trailing_slash,
    })
}
