//! The policy files as one versioned unit.
//!
//! The gateway records the bundle's digest with every decision, so the digest must change
//! whenever any file's path or text changes, and must not depend on the order the caller
//! happened to read the directory in.

use sha2::{Digest, Sha256};

use crate::DecisionError;

/// One `.rego` file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Relative to the policy directory, as the caller names it in messages.
    pub path: String,
    pub text: String,
}

/// The `.rego` files of a policy directory (tests included), sorted by path.
#[derive(Debug, Clone)]
pub struct Bundle {
    files: Vec<BundleFile>,
    digest: String,
}

impl Bundle {
    /// Builds a bundle from files the caller has read. Files whose path does not end in
    /// `.rego` are ignored, so the caller may pass a whole directory listing.
    pub fn new(files: Vec<(String, String)>) -> Result<Self, DecisionError> {
        let mut files: Vec<BundleFile> = files
            .into_iter()
            .filter(|(path, _)| path.ends_with(".rego"))
            .map(|(path, text)| BundleFile { path, text })
            .collect();
        if files.is_empty() {
            return Err(DecisionError::EmptyBundle);
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        if let Some(pair) = files.windows(2).find(|pair| pair[0].path == pair[1].path) {
            return Err(DecisionError::DuplicateFile {
                path: pair[0].path.clone(),
            });
        }
        let digest = digest_of(&files);
        Ok(Self { files, digest })
    }

    /// `sha256:` and the first 16 hex digits of the content digest.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The files, sorted by path.
    pub fn files(&self) -> &[BundleFile] {
        &self.files
    }
}

/// Each path and text is prefixed with its length so that moving bytes between a path and
/// its text, or between neighbouring files, always changes the digest.
fn digest_of(files: &[BundleFile]) -> String {
    let mut hasher = Sha256::new();
    for file in files {
        for part in [file.path.as_bytes(), file.text.as_bytes()] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
    }
    let full = hex::encode(hasher.finalize());
    format!("sha256:{}", full.get(..16).unwrap_or(&full))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn digest_ignores_read_order() {
        let a = Bundle::new(files(&[("a.rego", "x"), ("b.rego", "y")])).unwrap();
        let b = Bundle::new(files(&[("b.rego", "y"), ("a.rego", "x")])).unwrap();
        assert_eq!(a.digest(), b.digest());
        assert!(a.digest().starts_with("sha256:"));
        assert_eq!(a.digest().len(), "sha256:".len() + 16);
    }

    #[test]
    fn digest_changes_when_bytes_move_between_path_and_text() {
        // Both concatenate to "a.regob.rego".
        let a = Bundle::new(files(&[("a.rego", "b.rego")])).unwrap();
        let b = Bundle::new(files(&[("a.regob.rego", "")])).unwrap();
        let c = Bundle::new(files(&[("a.rego", "b.regp")])).unwrap();
        assert_ne!(a.digest(), b.digest());
        assert_ne!(a.digest(), c.digest());
    }

    #[test]
    fn digest_changes_when_bytes_move_between_files() {
        let a = Bundle::new(files(&[("a.rego", "xy"), ("b.rego", "z")])).unwrap();
        let b = Bundle::new(files(&[("a.rego", "x"), ("b.rego", "yz")])).unwrap();
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn no_rego_files_is_an_error() {
        let err = Bundle::new(files(&[("README.md", "hi")])).unwrap_err();
        assert!(matches!(err, DecisionError::EmptyBundle));
        assert!(matches!(
            Bundle::new(Vec::new()).unwrap_err(),
            DecisionError::EmptyBundle
        ));
    }

    #[test]
    fn other_files_are_ignored_and_duplicates_refused() {
        let b = Bundle::new(files(&[("a.rego", "x"), ("notes.txt", "y")])).unwrap();
        assert_eq!(b.files().len(), 1);
        let err = Bundle::new(files(&[("a.rego", "x"), ("a.rego", "y")])).unwrap_err();
        assert!(matches!(err, DecisionError::DuplicateFile { .. }));
    }
}
