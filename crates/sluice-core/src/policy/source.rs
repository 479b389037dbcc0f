//! Reading a policy directory: the bundle's files and the git commit it was checked out at.
//! The only place policy files are read, so the gateway, the reload and the CLI agree on what
//! a directory contains.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use sluice_decision::Bundle;

use crate::CoreError;

/// The most a bundle may hold; policies are code, not data.
pub(super) const MAX_BUNDLE_BYTES: u64 = 16 * 1024 * 1024;

/// A policy directory as read from disk.
pub struct PolicySource {
    pub dir: PathBuf,
    pub bundle: Bundle,
    /// Each file's path relative to the directory and the SHA-256 of its content, sorted.
    pub files: Vec<(String, String)>,
    pub git_commit: Option<String>,
}

impl PolicySource {
    pub fn read(dir: &Path) -> Result<PolicySource, CoreError> {
        let mut found = Vec::new();
        collect(dir, dir, &mut found)?;
        found.sort();
        let total: u64 = found.iter().map(|(_, t)| t.len() as u64).sum();
        if total > MAX_BUNDLE_BYTES {
            return Err(policy_error(dir, "the .rego files exceed 16 MiB"));
        }
        let files = found
            .iter()
            .map(|(p, t)| (p.clone(), hex::encode(Sha256::digest(t.as_bytes()))))
            .collect();
        let bundle = Bundle::new(found).map_err(|e| policy_error(dir, &e.to_string()))?;
        Ok(PolicySource {
            dir: dir.to_owned(),
            bundle,
            files,
            git_commit: git_commit(dir),
        })
    }

    /// Cheap change detection for the watcher: every file's path, size and modification time.
    pub fn stamp(dir: &Path) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
        let mut out = Vec::new();
        stamp_into(dir, &mut out);
        out.sort();
        out
    }
}

fn policy_error(dir: &Path, message: &str) -> CoreError {
    CoreError::Policy(format!("{}: {message}", dir.display()))
}

/// Every `.rego` file under `dir`, skipping hidden entries (`.git`, editor swap files).
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), CoreError> {
    let entries = std::fs::read_dir(dir).map_err(|e| policy_error(dir, &e.to_string()))?;
    for entry in entries {
        let entry = entry.map_err(|e| policy_error(dir, &e.to_string()))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // Followed, so symlinked files and directories (a Kubernetes ConfigMap) count.
        let kind = std::fs::metadata(&path).map_err(|e| policy_error(&path, &e.to_string()))?;
        if kind.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "rego") {
            let text =
                std::fs::read_to_string(&path).map_err(|e| policy_error(&path, &e.to_string()))?;
            let relative = path.strip_prefix(root).unwrap_or(&path);
            out.push((relative.to_string_lossy().into_owned(), text));
        }
    }
    Ok(())
}

fn stamp_into(dir: &Path, out: &mut Vec<(PathBuf, u64, Option<std::time::SystemTime>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Followed: a ConfigMap update swaps the target of a symlink, not the link itself.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            stamp_into(&path, out);
        } else if path.extension().is_some_and(|e| e == "rego") {
            out.push((path, meta.len(), meta.modified().ok()));
        }
    }
}

/// The commit checked out in the git repository containing `dir`, read with gix (no git
/// binary needed): the id HEAD names, loose or packed, through a worktree's or submodule's
/// `.git` file; `None` outside a repository, on an unborn branch or when it cannot be read.
pub fn git_commit(dir: &Path) -> Option<String> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let repo = super::repository::discover(&dir).ok()??;
    // The id as the ref holds it, not peeled: naming the commit needs no object read.
    let id = repo.head().ok()?.id()?;
    Some(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_commit_is_read_from_loose_and_packed_refs() {
        let repo = tempfile::tempdir().unwrap();
        let git = repo.path().join(".git");
        std::fs::create_dir_all(git.join("refs/heads")).unwrap();
        // Without it, git and gix alike say this is no repository.
        std::fs::create_dir_all(git.join("objects")).unwrap();
        std::fs::create_dir_all(repo.path().join("policies")).unwrap();
        let hash = "0123456789abcdef0123456789abcdef01234567";
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        // The header git writes; a bare `# pack-refs` is refused by git and gix as corrupt.
        std::fs::write(
            git.join("packed-refs"),
            format!("# pack-refs with: peeled fully-peeled sorted \n{hash} refs/heads/main\n"),
        )
        .unwrap();
        assert_eq!(
            git_commit(&repo.path().join("policies")).as_deref(),
            Some(hash)
        );
        let newer = "89abcdef0123456789abcdef0123456789abcdef";
        std::fs::write(git.join("refs/heads/main"), format!("{newer}\n")).unwrap();
        assert_eq!(git_commit(repo.path()).as_deref(), Some(newer));
    }

    #[test]
    fn a_swapped_symlink_target_is_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("p.rego"), "package sluice\n").unwrap();
        std::fs::write(b.join("p.rego"), "package sluice\n\n# changed\n").unwrap();
        let policies = dir.path().join("policies");
        std::fs::create_dir_all(&policies).unwrap();
        // The ConfigMap layout: a file linking into a directory that is swapped whole.
        std::os::unix::fs::symlink(&a, policies.join("data")).unwrap();
        let before = PolicySource::stamp(&policies);
        assert_eq!(before.len(), 1);
        assert_eq!(PolicySource::read(&policies).unwrap().files.len(), 1);
        std::fs::remove_file(policies.join("data")).unwrap();
        std::os::unix::fs::symlink(&b, policies.join("data")).unwrap();
        assert_ne!(PolicySource::stamp(&policies), before);
    }

    #[test]
    fn no_git_no_commit() {
        let dir = tempfile::tempdir().unwrap();
        // The temp dir may itself sit inside a checkout on a developer machine; only assert
        // when it does not.
        if !dir.path().ancestors().any(|d| d.join(".git").exists()) {
            assert_eq!(git_commit(dir.path()), None);
        }
    }
}
