//! Lexical path normalisation, so that a policy sees one spelling of every path.

/// Resolves `path` against the absolute directory `base` and removes `.`, `..`, repeated
/// and trailing slashes. `..` at the root stays at the root, as the kernel does. The result
/// is absolute and never ends with a slash (except the root itself).
///
/// This is lexical: a `..` after a symbolic link is resolved as if the link were a
/// directory, where the server would follow the link. Rules on directories therefore hold
/// for paths spelled through them, not for what a link elsewhere reaches; a policy that
/// cares also decides who may create links (SYMLINK and hardlink are decided).
///
/// An empty `path` is `base`: sftp-server's REALPATH reads it as `.` (other operations on
/// it fail there, so the policy seeing `base` for them costs nothing).
pub fn normalize(base: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !path.starts_with('/') {
        push_components(&mut parts, base);
    }
    push_components(&mut parts, path);
    if parts.is_empty() {
        return "/".to_string();
    }
    let mut out = String::with_capacity(path.len() + base.len() + 1);
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    out
}

fn push_components<'a>(parts: &mut Vec<&'a str>, path: &'a str) {
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn table() {
        let home = "/home/alice";
        for (path, want) in [
            ("/a/../../etc/passwd", "/etc/passwd"),
            ("/etc/passwd", "/etc/passwd"),
            ("a/./b", "/home/alice/a/b"),
            ("./a", "/home/alice/a"),
            (".", "/home/alice"),
            ("", "/home/alice"),
            ("..", "/home"),
            ("../../../..", "/"),
            ("../bob/x", "/home/bob/x"),
            ("a/", "/home/alice/a"),
            ("/tmp/", "/tmp"),
            ("/tmp/.", "/tmp"),
            ("//etc//passwd", "/etc/passwd"),
            ("/", "/"),
            ("//", "/"),
            ("/..", "/"),
            ("a//b///c", "/home/alice/a/b/c"),
            ("...", "/home/alice/..."),
            ("a/..b/c", "/home/alice/a/..b/c"),
            ("/srv/data/../../etc/shadow", "/etc/shadow"),
        ] {
            assert_eq!(normalize(home, path), want, "{path:?}");
        }
    }

    #[test]
    fn base_is_normalised_too() {
        assert_eq!(normalize("/home//alice/", "x"), "/home/alice/x");
        assert_eq!(normalize("/", "x"), "/x");
        assert_eq!(normalize("/", ".."), "/");
    }
}
