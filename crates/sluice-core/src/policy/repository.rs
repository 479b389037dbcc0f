//! The git repository a policy directory lives in: the commit checked out, and whether the
//! directory's policy is the one that commit holds (the policy-drift signal). Read with gix so
//! that no git binary is needed where the gateway runs; `source::git_commit` reads through
//! [`discover`] too, so git is read one way.
//!
//! The policy as committed is digested exactly as the directory on disk is: the same relative
//! paths, the same filter (`.rego`, hidden entries skipped at every level), symlinks followed,
//! and [`Bundle::new`]; so an unchanged checkout gives equal digests.
//!
//! An unborn branch (a repository with no commit yet) is a state, not `None`: the directory is
//! in a repository and nothing of it is committed, which is what drift reports. Its `commit` is
//! empty, `head_digest` is `None` and `dirty` is true.

use std::collections::VecDeque;
use std::path::{Component, Path, PathBuf};

use gix::bstr::{BStr, BString, ByteSlice};
use gix::objs::tree::EntryKind;
use gix::ObjectId;
use sluice_decision::Bundle;

use super::source::{PolicySource, MAX_BUNDLE_BYTES};
use crate::CoreError;

/// The state of the git repository a policy directory lives in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RepositoryState {
    /// The work tree's root directory.
    pub root: PathBuf,
    /// HEAD's commit id (full hex); empty on an unborn branch.
    pub commit: String,
    /// The branch HEAD points to (`main`), None when detached.
    pub branch: Option<String>,
    /// The bundle digest of the policy directory's `.rego` files as committed in HEAD's tree;
    /// None when HEAD's tree has no `.rego` file under that directory (or no commit yet).
    pub head_digest: Option<String>,
    /// The bundle digest of the directory as it is on disk now.
    pub worktree_digest: String,
    /// `head_digest != Some(worktree_digest)`: uncommitted policy changes.
    pub dirty: bool,
}

/// Linux gives up resolving a path after as many links (ELOOP); a tree's links may loop too.
const MAX_LINK_HOPS: usize = 40;
/// Directories nested below the policy directory. Far past any real layout; a link to an
/// ancestor would otherwise recurse until the stack ran out (on disk it ends in ENAMETOOLONG).
const MAX_DEPTH: usize = 256;
/// Tree entries read for one state: two links to `.` in one directory double the walk at every
/// level, so depth alone does not bound it.
const MAX_ENTRIES: usize = 1 << 20;

/// The state of the git repository containing `dir`; `Ok(None)` when `dir` is not inside a git
/// repository's work tree (a bare repository has none).
pub fn repository_state(dir: &Path) -> Result<Option<RepositoryState>, CoreError> {
    // Physical paths, so that the directory's place in the work tree does not depend on the
    // links that lead to it.
    let physical = std::fs::canonicalize(dir).map_err(|e| git_error(dir, e))?;
    let Some(repo) = discover(&physical).map_err(|e| git_error(dir, e))? else {
        return Ok(None);
    };
    let Some(workdir) = repo.workdir() else {
        return Ok(None);
    };
    let root = std::fs::canonicalize(workdir).map_err(|e| git_error(workdir, e))?;
    let Ok(inside) = physical.strip_prefix(&root) else {
        // `core.worktree` elsewhere, or the directory is inside `.git` itself.
        return Ok(None);
    };
    let inside = components(inside);

    let mut head = repo.head().map_err(|e| git_error(dir, e))?;
    let branch = head
        .referent_name()
        .map(|name| match name.category_and_short_name() {
            Some((gix::refs::Category::LocalBranch, short)) => short.to_string(),
            _ => name.as_bstr().to_string(),
        });
    let (commit, head_digest) = if head.is_unborn() {
        (String::new(), None)
    } else {
        let commit = head.peel_to_commit().map_err(|e| git_error(dir, e))?;
        let tree = commit.tree_id().map_err(|e| git_error(dir, e))?.detach();
        let mut reader = TreeReader {
            repo: &repo,
            dir,
            root: components(&root),
            root_tree: tree,
            entries: 0,
            bytes: 0,
        };
        let mut files = Vec::new();
        if let Some(found) = reader.resolve(inside)? {
            if found.kind == EntryKind::Tree {
                reader.collect(found.id, &found.at, "", 0, &mut files)?;
            }
        }
        let digest = if files.is_empty() {
            None
        } else {
            let bundle = Bundle::new(files).map_err(|e| git_error(dir, e))?;
            Some(bundle.digest().to_owned())
        };
        (commit.id.to_string(), digest)
    };

    let worktree_digest = PolicySource::read(dir)?.bundle.digest().to_owned();
    let dirty = head_digest.as_deref() != Some(worktree_digest.as_str());
    Ok(Some(RepositoryState {
        root,
        commit,
        branch,
        head_digest,
        worktree_digest,
        dirty,
    }))
}

/// The repository whose work tree or git directory contains `dir`, or `None` when there is
/// none up to the file system's root.
pub(super) fn discover(dir: &Path) -> Result<Option<gix::Repository>, gix::Error> {
    let search = gix::discover::upwards::Options {
        // A policy directory mounted from another file system still belongs to the checkout
        // above it, as it always has here.
        cross_fs: true,
        ..Default::default()
    };
    // Isolated: the gateway's state must not depend on the account's ~/.gitconfig, the system's
    // /etc/gitconfig or GIT_* variables, only on the repository. (Configuration is read
    // leniently by default, so a value gix cannot read does not hide the commit.)
    let found = gix::ThreadSafeRepository::discover_opts(dir, search, |_, _| {
        gix::open::Options::isolated()
    });
    match found {
        Ok(repo) => Ok(Some(repo.to_thread_local())),
        Err(e) => {
            use gix::discover::upwards::Error as Upwards;
            match e.downcast_any_ref::<Upwards>() {
                Some(
                    Upwards::NoGitRepository { .. }
                    | Upwards::NoGitRepositoryWithinCeiling { .. }
                    | Upwards::NoGitRepositoryWithinFs { .. },
                ) => Ok(None),
                _ => Err(e),
            }
        }
    }
}

/// Where a path leads in HEAD's tree once its links are followed.
struct Resolved {
    kind: EntryKind,
    id: ObjectId,
    /// Its link-free path from the repository's root: relative links below it start here.
    at: Vec<BString>,
}

/// Reads the policy as committed, bounded as `PolicySource::read` is.
struct TreeReader<'r> {
    repo: &'r gix::Repository,
    /// The policy directory, as the caller named it, for messages.
    dir: &'r Path,
    /// The work tree's physical path: an absolute link target below it is inside the tree.
    root: Vec<BString>,
    root_tree: ObjectId,
    entries: usize,
    bytes: u64,
}

impl TreeReader<'_> {
    /// Every `.rego` file below the tree `id` (found at `at`), named relative to the policy
    /// directory as `source::collect` names the files on disk.
    fn collect(
        &mut self,
        id: ObjectId,
        at: &[BString],
        prefix: &str,
        depth: usize,
        out: &mut Vec<(String, String)>,
    ) -> Result<(), CoreError> {
        if depth > MAX_DEPTH {
            return Err(self.refuse(&format!(
                "HEAD's tree nests directories deeper than {MAX_DEPTH} (a symlink loop?)"
            )));
        }
        for (name, kind, id) in self.entries(id)? {
            if name.starts_with(b".") {
                continue;
            }
            let relative = match prefix {
                "" => name.to_str_lossy().into_owned(),
                _ => format!("{prefix}/{}", name.to_str_lossy()),
            };
            let mut path = at.to_vec();
            path.push(name);
            let found = if kind == EntryKind::Link {
                // Followed, as on disk; a link leading nowhere in the tree (dangling, or out of
                // the repository) has no committed content, so the digests then differ.
                match self.resolve(path)? {
                    Some(found) => found,
                    None => continue,
                }
            } else {
                Resolved { kind, id, at: path }
            };
            match found.kind {
                EntryKind::Tree => self.collect(found.id, &found.at, &relative, depth + 1, out)?,
                EntryKind::Blob | EntryKind::BlobExecutable
                    if Path::new(&relative)
                        .extension()
                        .is_some_and(|e| e == "rego") =>
                {
                    let text = self.text(found.id, &relative)?;
                    out.push((relative, text));
                }
                // A submodule's commit: its files are another repository's.
                _ => {}
            }
        }
        Ok(())
    }

    /// Follows `path` from the root tree as the kernel follows a path: component by
    /// component, each link replaced by its target where it is met. `None` where the path
    /// leads nowhere in the tree.
    fn resolve(&mut self, path: Vec<BString>) -> Result<Option<Resolved>, CoreError> {
        let mut pending: VecDeque<BString> = path.into();
        // The entries walked through from the root, none of them a link.
        let mut walked: Vec<(BString, EntryKind, ObjectId)> = Vec::new();
        let mut hops = 0;
        while let Some(name) = pending.pop_front() {
            if name.is_empty() {
                continue;
            }
            let dir = match walked.last() {
                None => self.root_tree,
                Some((_, EntryKind::Tree, id)) => *id,
                // Below a file or a submodule: ENOTDIR.
                Some(_) => return Ok(None),
            };
            if name == "." {
                continue;
            }
            if name == ".." {
                if walked.pop().is_none() {
                    // Out of the repository: what is there is not committed.
                    return Ok(None);
                }
                continue;
            }
            let Some((kind, id)) = self.find(dir, name.as_ref())? else {
                return Ok(None);
            };
            if kind != EntryKind::Link {
                walked.push((name, kind, id));
                continue;
            }
            hops += 1;
            if hops > MAX_LINK_HOPS {
                return Ok(None);
            }
            let target = self.blob(id)?;
            let mut spliced = split(target.as_bstr());
            if target.starts_with(b"/") {
                let Some(below) = spliced.strip_prefix(self.root.as_slice()) else {
                    return Ok(None);
                };
                spliced = below.to_vec();
                walked.clear();
            }
            for component in spliced.into_iter().rev() {
                pending.push_front(component);
            }
        }
        Ok(Some(match walked.last() {
            None => Resolved {
                kind: EntryKind::Tree,
                id: self.root_tree,
                at: Vec::new(),
            },
            Some((_, kind, id)) => Resolved {
                kind: *kind,
                id: *id,
                at: walked.iter().map(|(name, _, _)| name.clone()).collect(),
            },
        }))
    }

    fn entries(
        &mut self,
        tree: ObjectId,
    ) -> Result<Vec<(BString, EntryKind, ObjectId)>, CoreError> {
        let tree = self.repo.find_tree(tree).map_err(|e| self.error(e))?;
        let decoded = tree.decode().map_err(|e| self.error(e))?;
        self.entries += decoded.entries.len();
        if self.entries > MAX_ENTRIES {
            return Err(self.refuse(&format!(
                "HEAD's tree below the policy directory has more than {MAX_ENTRIES} entries"
            )));
        }
        Ok(decoded
            .entries
            .iter()
            .map(|e| (e.filename.to_owned(), e.mode.kind(), e.oid.to_owned()))
            .collect())
    }

    fn find(
        &mut self,
        tree: ObjectId,
        name: &BStr,
    ) -> Result<Option<(EntryKind, ObjectId)>, CoreError> {
        let tree = self.repo.find_tree(tree).map_err(|e| self.error(e))?;
        Ok(tree
            .find_entry(name.to_owned())
            .map(|e| (e.mode().kind(), e.oid().to_owned())))
    }

    /// A `.rego` file's text, refused past the bundle's bound before it is inflated.
    fn text(&mut self, id: ObjectId, relative: &str) -> Result<String, CoreError> {
        let header = self.repo.find_header(id).map_err(|e| self.error(e))?;
        self.bytes = self.bytes.saturating_add(header.size());
        if self.bytes > MAX_BUNDLE_BYTES {
            return Err(self.refuse("the .rego files committed in HEAD exceed 16 MiB"));
        }
        String::from_utf8(self.blob(id)?)
            .map_err(|_| self.refuse(&format!("{relative} in HEAD is not UTF-8")))
    }

    fn blob(&mut self, id: ObjectId) -> Result<Vec<u8>, CoreError> {
        let mut blob = self.repo.find_blob(id).map_err(|e| self.error(e))?;
        Ok(blob.take_data())
    }

    fn error(&self, e: impl std::fmt::Display) -> CoreError {
        git_error(self.dir, e)
    }

    fn refuse(&self, message: &str) -> CoreError {
        git_error(self.dir, message)
    }
}

fn git_error(path: &Path, e: impl std::fmt::Display) -> CoreError {
    CoreError::Git(format!("{}: {e}", path.display()))
}

/// A relative path's names as tree entries spell them.
fn components(path: &Path) -> Vec<BString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(BString::from(name.as_encoded_bytes())),
            _ => None,
        })
        .collect()
}

/// A link target's components; an absolute one's start after the root.
fn split(target: &BStr) -> Vec<BString> {
    target
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty())
        .map(BString::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gix::refs::transaction::{PreviousValue, RefEdit};

    fn signature() -> gix::actor::SignatureRef<'static> {
        gix::actor::SignatureRef {
            name: "sluice".into(),
            email: "sluice@example.invalid".into(),
            time: "1700000000 +0000",
        }
    }

    /// A repository made by gix, so these tests need no git binary.
    struct Repo {
        _dir: tempfile::TempDir,
        root: PathBuf,
        repo: gix::Repository,
    }

    impl Repo {
        fn new() -> Repo {
            let dir = tempfile::tempdir().unwrap();
            let root = std::fs::canonicalize(dir.path()).unwrap().join("checkout");
            let repo = gix::init(&root).unwrap();
            Repo {
                _dir: dir,
                root,
                repo,
            }
        }

        /// Writes `files` (paths from the root) to the work tree.
        fn write(&self, files: &[(&str, &str)]) {
            for (path, text) in files {
                let path = self.root.join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
        }

        /// Commits `files` and `links` (path, target) as HEAD's whole tree.
        fn commit_tree(&self, files: &[(&str, &str)], links: &[(&str, &str)]) -> String {
            let empty = ObjectId::empty_tree(gix::hash::Kind::Sha1);
            let mut tree = self.repo.edit_tree(empty).unwrap();
            for (path, text) in files {
                let blob = self.repo.write_blob(text.as_bytes()).unwrap();
                tree.upsert(*path, EntryKind::Blob, blob).unwrap();
            }
            for (path, target) in links {
                let blob = self.repo.write_blob(target.as_bytes()).unwrap();
                tree.upsert(*path, EntryKind::Link, blob).unwrap();
            }
            let tree = tree.write().unwrap().detach();
            let parent = self.repo.head_id().ok().map(|id| id.detach());
            let commit = self
                .repo
                .commit_as(signature(), signature(), "HEAD", "policy", tree, parent)
                .unwrap();
            commit.to_string()
        }

        /// Writes and commits `files`.
        fn commit(&self, files: &[(&str, &str)]) -> String {
            self.write(files);
            self.commit_tree(files, &[])
        }

        fn state(&self, dir: &str) -> RepositoryState {
            repository_state(&self.root.join(dir)).unwrap().unwrap()
        }
    }

    const POLICY: &[(&str, &str)] = &[
        ("policies/main.rego", "package sluice\n"),
        ("policies/lib/util.rego", "package sluice.util\n"),
        ("policies/README.md", "not policy\n"),
        ("policies/.draft.rego", "package hidden\n"),
        ("policies/.hidden/x.rego", "package hidden\n"),
        ("elsewhere.rego", "package elsewhere\n"),
    ];

    #[test]
    fn a_clean_checkout_digests_as_the_directory_on_disk() {
        let repo = Repo::new();
        let commit = repo.commit(POLICY);
        let state = repo.state("policies");
        assert_eq!(state.root, repo.root);
        assert_eq!(state.commit, commit);
        assert_eq!(state.branch.as_deref(), Some("main"));
        let disk = PolicySource::read(&repo.root.join("policies")).unwrap();
        assert_eq!(state.worktree_digest, disk.bundle.digest());
        assert_eq!(state.head_digest.as_deref(), Some(disk.bundle.digest()));
        assert!(!state.dirty);
        assert_eq!(disk.git_commit.as_deref(), Some(commit.as_str()));
    }

    #[test]
    fn an_uncommitted_edit_is_dirty_and_a_commit_moves_the_head_digest() {
        let repo = Repo::new();
        let first = repo.commit(POLICY);
        let clean = repo.state("policies");

        repo.write(&[("policies/main.rego", "package sluice\n\n# edited\n")]);
        let edited = repo.state("policies");
        assert!(edited.dirty);
        assert_eq!(edited.head_digest, clean.head_digest);
        assert_ne!(edited.worktree_digest, clean.worktree_digest);
        assert_eq!(edited.commit, first);

        // Hidden and non-.rego files are no policy, on disk or in HEAD.
        repo.write(&[("policies/main.rego", "package sluice\n")]);
        repo.write(&[("policies/.swap.rego", "x"), ("policies/notes.txt", "y")]);
        assert!(!repo.state("policies").dirty);

        let mut files = POLICY.to_vec();
        files.push(("policies/main.rego", "package sluice\n\n# edited\n"));
        let second = repo.commit(&files);
        let committed = repo.state("policies");
        assert_ne!(second, first);
        assert_eq!(committed.commit, second);
        assert_ne!(committed.head_digest, clean.head_digest);
        assert_eq!(
            committed.head_digest.as_deref(),
            Some(committed.worktree_digest.as_str())
        );
        assert!(!committed.dirty);
    }

    #[test]
    fn a_subdirectory_and_the_root_are_digested_from_their_own_files() {
        let repo = Repo::new();
        repo.commit(POLICY);
        let lib = repo.state("policies/lib");
        assert_eq!(lib.root, repo.root);
        assert!(!lib.dirty);
        assert_ne!(lib.head_digest, repo.state("policies").head_digest);
        // At the root, `.git` is one more hidden entry and every .rego counts.
        let root = repo.state("");
        assert!(!root.dirty);
        let expected = Bundle::new(vec![
            (
                "elsewhere.rego".to_owned(),
                "package elsewhere\n".to_owned(),
            ),
            (
                "policies/lib/util.rego".to_owned(),
                "package sluice.util\n".to_owned(),
            ),
            (
                "policies/main.rego".to_owned(),
                "package sluice\n".to_owned(),
            ),
        ])
        .unwrap();
        assert_eq!(root.head_digest.as_deref(), Some(expected.digest()));
    }

    #[test]
    fn a_detached_head_has_no_branch() {
        let repo = Repo::new();
        let first = repo.commit(POLICY);
        let mut files = POLICY.to_vec();
        files.push(("policies/new.rego", "package sluice.new\n"));
        repo.commit(&files);
        let id = ObjectId::from_hex(first.as_bytes()).unwrap();
        repo.repo
            .edit_reference(
                RefEdit::update(
                    "HEAD".try_into().unwrap(),
                    gix::refs::Target::Object(id),
                    PreviousValue::Any,
                    "checkout",
                )
                .with_deref(false),
            )
            .unwrap();
        let state = repo.state("policies");
        assert_eq!(state.branch, None);
        assert_eq!(state.commit, first);
        // The work tree still has the second commit's file.
        assert!(state.dirty);
        std::fs::remove_file(repo.root.join("policies/new.rego")).unwrap();
        assert!(!repo.state("policies").dirty);
        assert_eq!(
            crate::policy::source::git_commit(&repo.root.join("policies")),
            Some(first)
        );
    }

    #[test]
    fn an_unborn_branch_is_all_uncommitted() {
        let repo = Repo::new();
        repo.write(POLICY);
        let state = repo.state("policies");
        assert_eq!(state.commit, "");
        assert_eq!(state.branch.as_deref(), Some("main"));
        assert_eq!(state.head_digest, None);
        assert!(state.dirty);
        assert_eq!(
            crate::policy::source::git_commit(&repo.root.join("policies")),
            None
        );
    }

    #[test]
    fn a_directory_missing_from_head_is_dirty() {
        let repo = Repo::new();
        repo.commit(&[("README.md", "no policy yet\n")]);
        repo.write(&[("policies/main.rego", "package sluice\n")]);
        let state = repo.state("policies");
        assert_eq!(state.head_digest, None);
        assert!(state.dirty);
    }

    #[test]
    fn outside_a_repository_there_is_no_state() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.rego"), "package sluice\n").unwrap();
        // The temp dir may itself sit inside a checkout on a developer machine; only assert
        // when it does not.
        if !dir.path().ancestors().any(|d| d.join(".git").exists()) {
            assert_eq!(repository_state(dir.path()).unwrap(), None);
        }
    }

    #[test]
    fn symlinks_are_followed_in_head_as_on_disk() {
        let repo = Repo::new();
        let files = [
            ("shared/common.rego", "package shared\n"),
            ("shared/deep/more.rego", "package shared.more\n"),
            ("policies/main.rego", "package sluice\n"),
            ("lib/one.rego", "package one\n"),
        ];
        // A directory link, a file link, and a link through a link.
        let links = [
            ("policies/shared", "../shared"),
            ("policies/one.rego", "../lib/one.rego"),
            ("policies/again", "shared/deep"),
        ];
        repo.write(&files);
        for (path, target) in links {
            std::os::unix::fs::symlink(target, repo.root.join(path)).unwrap();
        }
        repo.commit_tree(&files, &links);
        let state = repo.state("policies");
        assert!(!state.dirty, "{state:?}");
        let disk = PolicySource::read(&repo.root.join("policies")).unwrap();
        assert_eq!(disk.files.len(), 5);

        // A link out of the repository: its content is not committed, so it is drift.
        let outside = tempfile::tempdir().unwrap();
        let elsewhere = outside.path().join("elsewhere.rego");
        std::fs::write(&elsewhere, "package elsewhere\n").unwrap();
        let target = elsewhere.to_str().unwrap();
        std::os::unix::fs::symlink(target, repo.root.join("policies/elsewhere.rego")).unwrap();
        let mut links = links.to_vec();
        links.push(("policies/elsewhere.rego", target));
        repo.commit_tree(&files, &links);
        assert!(repo.state("policies").dirty);
    }

    #[test]
    fn a_link_loop_in_head_is_refused_not_followed_forever() {
        let repo = Repo::new();
        repo.write(&[("policies/main.rego", "package sluice\n")]);
        repo.commit_tree(
            &[("policies/main.rego", "package sluice\n")],
            &[("policies/a", "."), ("policies/b", ".")],
        );
        let e = repository_state(&repo.root.join("policies")).unwrap_err();
        assert!(matches!(e, CoreError::Git(_)), "{e}");
    }

    #[test]
    fn more_than_16_mib_committed_is_refused() {
        let repo = Repo::new();
        repo.write(&[("policies/main.rego", "package sluice\n")]);
        let big = "#".repeat(17 * 1024 * 1024);
        repo.commit_tree(&[("policies/main.rego", big.as_str())], &[]);
        let e = repository_state(&repo.root.join("policies")).unwrap_err();
        assert!(e.to_string().contains("16 MiB"), "{e}");
    }

    /// Runs the git binary, isolated from the machine's configuration.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("/usr/bin/git")
            .current_dir(dir)
            .args([
                "-c",
                "user.name=sluice",
                "-c",
                "user.email=s@example.invalid",
            ])
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "protocol.file.allow=always",
            ])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    #[test]
    fn git_made_packs_worktrees_and_submodules_are_read() {
        let top = tempfile::tempdir().unwrap();
        let top = std::fs::canonicalize(top.path()).unwrap();
        let main = top.join("main");
        std::fs::create_dir_all(main.join("policies/lib")).unwrap();
        std::fs::write(main.join("policies/main.rego"), "package sluice\n").unwrap();
        std::fs::write(main.join("policies/lib/u.rego"), "package u\n").unwrap();
        git(&main, &["init", "-q"]);
        git(&main, &["add", "."]);
        git(&main, &["commit", "-q", "-m", "policy"]);
        git(&main, &["gc", "-q"]);
        // Objects and refs now live in a pack and packed-refs only.
        assert!(!main.join(".git/refs/heads/main").exists());
        let head = git(&main, &["rev-parse", "HEAD"]);
        let state = repository_state(&main.join("policies")).unwrap().unwrap();
        assert_eq!(state.commit, head);
        assert_eq!(state.branch.as_deref(), Some("main"));
        assert!(!state.dirty);

        // A linked worktree: `.git` is a file, refs are in the common directory.
        git(
            &main,
            &["worktree", "add", "-q", "-b", "other", "../linked"],
        );
        let linked = top.join("linked");
        let state = repository_state(&linked.join("policies")).unwrap().unwrap();
        assert_eq!(state.root, linked);
        assert_eq!(state.branch.as_deref(), Some("other"));
        assert_eq!(state.commit, head);
        assert!(!state.dirty);
        assert_eq!(
            crate::policy::source::git_commit(&linked.join("policies")),
            Some(head.clone())
        );

        // A submodule: its own repository, under the superproject's `.git/modules`.
        let outer = top.join("outer");
        std::fs::create_dir_all(&outer).unwrap();
        std::fs::write(outer.join("top.rego"), "package top\n").unwrap();
        git(&outer, &["init", "-q"]);
        git(
            &outer,
            &["submodule", "add", "-q", main.to_str().unwrap(), "sub"],
        );
        git(&outer, &["add", "."]);
        git(&outer, &["commit", "-q", "-m", "with sub"]);
        let sub = outer.join("sub");
        let state = repository_state(&sub.join("policies")).unwrap().unwrap();
        assert_eq!(state.root, sub);
        assert_eq!(state.commit, head);
        assert!(!state.dirty);
        // From the superproject the submodule is a commit, not files: drift, not a guess.
        let state = repository_state(&outer).unwrap().unwrap();
        assert_eq!(state.commit, git(&outer, &["rev-parse", "HEAD"]));
        assert!(state.dirty);
    }
}
