//! The files a legacy scp command names. `scp -O` (and OpenSSH before 9.0) runs `scp -t PATH`
//! on the server to receive files and `scp -f PATH...` to send them; OpenSSH 9's default scp
//! speaks SFTP instead and is decided per operation like sftp.

use sluice_decision::{FileAccess, FileOperation, FileVia};

/// The file operations of an scp server command line; `None` when it is not one.
pub(crate) fn files(argv: &[String]) -> Option<Vec<FileAccess>> {
    let program = argv.first()?;
    if program.rsplit('/').next() != Some("scp") {
        return None;
    }
    let mut operation = None;
    let mut paths = Vec::new();
    let mut options_done = false;
    for arg in &argv[1..] {
        if !options_done && arg == "--" {
            options_done = true;
        } else if !options_done && arg.starts_with('-') && arg.len() > 1 {
            if arg.contains('t') {
                operation = Some(FileOperation::Create);
            }
            if arg.contains('f') {
                operation = Some(FileOperation::Read);
            }
        } else {
            paths.push(arg.as_str());
        }
    }
    let operation = operation?;
    Some(
        paths
            .into_iter()
            .map(|p| FileAccess {
                operation,
                path: normalize(p),
                target_path: None,
                via: FileVia::Scp,
            })
            .collect(),
    )
}

/// Absolute and without `.` or `..`; a relative path is relative to the login directory,
/// written `~/` so a rule can tell it apart.
fn normalize(path: &str) -> String {
    let (root, rest) = match path.strip_prefix('/') {
        Some(rest) => ("/", rest),
        None => ("~/", path.strip_prefix("~/").unwrap_or(path)),
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            // Above the login directory the path leaves `~`, which the gateway cannot
            // resolve: it stays visible to the policy as `~/..`.
            ".." if root == "~/" && parts.last().is_none_or(|p| *p == "..") => parts.push(".."),
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("{root}{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::files;
    use sluice_decision::FileOperation;

    fn argv(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn scp_server_lines_name_their_files() {
        let up = files(&argv("scp -t /srv/app/../etc/x")).unwrap_or_default();
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].operation, FileOperation::Create);
        assert_eq!(up[0].path, "/srv/etc/x");
        let down = files(&argv("scp -r -f a/./b /c")).unwrap_or_default();
        assert_eq!(
            down.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["~/a/b", "/c"]
        );
        assert!(down.iter().all(|f| f.operation == FileOperation::Read));
        let out = files(&argv("scp -f ../../etc/passwd")).unwrap_or_default();
        assert_eq!(out[0].path, "~/../../etc/passwd");
        assert!(files(&argv("ls -t /x")).is_none());
        assert!(files(&argv("scp /x")).is_none());
    }
}
