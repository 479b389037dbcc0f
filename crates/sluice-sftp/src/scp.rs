//! The legacy scp protocol, which runs over an exec request (`scp -t` / `scp -f` on the
//! target), not over the sftp subsystem.
//!
//! Since OpenSSH 9.0 the `scp` client speaks SFTP by default (`-O` selects the legacy
//! protocol): such a copy arrives as the `sftp` subsystem and is handled by
//! [`crate::Tracker`], not here.

use sluice_decision::facts::{FileAccess, FileOperation, FileVia};

use crate::path::normalize;

/// Which way an scp exec request copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScpDirection {
    /// `scp -t`: the target is the sink, the client uploads.
    Upload,
    /// `scp -f`: the target is the source, the client downloads.
    Download,
}

/// An scp exec request, read from its argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScpRequest {
    pub direction: ScpDirection,
    /// `-r`: directories are copied with their content.
    pub recursive: bool,
    /// `-d`: the upload's destination must be a directory.
    pub target_is_dir: bool,
    /// `-p`: times and modes are kept.
    pub preserve: bool,
    /// As given: one destination for an upload, one or more sources for a download.
    pub paths: Vec<String>,
}

/// Reads the argv of an exec request (as the shell would split it) as the remote end of a
/// legacy scp copy. `None` if it is not one, or carries an option the remote scp does not
/// take from OpenSSH's client (the relay then decides on the command as it stands).
pub fn scp_from_argv(argv: &[String]) -> Option<ScpRequest> {
    let (program, args) = argv.split_first()?;
    if program.rsplit('/').next() != Some("scp") {
        return None;
    }
    let mut direction = None;
    let (mut recursive, mut target_is_dir, mut preserve) = (false, false, false);
    let mut paths = Vec::new();
    let mut options_done = false;
    for arg in args {
        if options_done || !arg.starts_with('-') || arg == "-" {
            paths.push(arg.clone());
            continue;
        }
        if arg == "--" {
            options_done = true;
            continue;
        }
        for c in arg.chars().skip(1) {
            match c {
                't' | 'f' => {
                    let d = if c == 't' {
                        ScpDirection::Upload
                    } else {
                        ScpDirection::Download
                    };
                    // Both at once is not something a client sends; do not guess.
                    if direction.is_some_and(|x| x != d) {
                        return None;
                    }
                    direction = Some(d);
                }
                'r' => recursive = true,
                'd' => target_is_dir = true,
                'p' => preserve = true,
                // Verbosity and quiet change nothing about the files.
                'v' | 'q' => {}
                _ => return None,
            }
        }
    }
    let direction = direction?;
    if paths.is_empty() || (direction == ScpDirection::Upload && paths.len() != 1) {
        return None;
    }
    Some(ScpRequest {
        direction,
        recursive,
        target_is_dir,
        preserve,
        paths,
    })
}

impl ScpRequest {
    /// The facts to decide, paths resolved against `home` (where sshd runs the command).
    /// An upload is a Create of its destination (a file, or a directory receiving files),
    /// a download a Read of each source.
    pub fn facts(&self, home: &str) -> Vec<FileAccess> {
        let operation = match self.direction {
            ScpDirection::Upload => FileOperation::Create,
            ScpDirection::Download => FileOperation::Read,
        };
        self.paths
            .iter()
            .map(|p| FileAccess {
                operation,
                path: normalize(home, p),
                target_path: None,
                via: FileVia::Scp,
            })
            .collect()
    }
}

/// What the scp stream's control lines say, as [`ScpStream`] reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScpEvent {
    /// `C`: a file of `size` bytes, at `path` (the directory entered with `D` lines joined
    /// with the name, relative to the request's path).
    File { path: String, mode: u32, size: u64 },
    /// `D`: a directory entered.
    Dir { path: String, mode: u32 },
    /// `E`: the last directory entered is left.
    EndDir,
    /// `\x01` or `\x02`: a warning or fatal error the sending side reports.
    Error { fatal: bool, message: String },
}

/// The longest control line accepted: OpenSSH's scp reads names up to about PATH_MAX.
const MAX_LINE: usize = 8192;

/// Reads the sending side's stream of a legacy scp copy (client to target for an upload,
/// target to client for a download): control lines, and the file contents after each `C`
/// line, skipped by count. The acknowledgements flow the other way and are not fed here.
#[derive(Debug, Default)]
pub struct ScpStream {
    line: Vec<u8>,
    /// File bytes still to skip, plus the status byte that follows them.
    skip: u64,
    dirs: Vec<String>,
    broken: bool,
}

/// The stream does not read as scp: the relay should stop attributing and end the copy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed scp control line: {0}")]
pub struct ScpError(pub &'static str);

impl ScpStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes in the order sent; the events of every control line they complete.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<ScpEvent>, ScpError> {
        let mut events = Vec::new();
        if self.broken {
            return Err(ScpError("stream already malformed"));
        }
        while !data.is_empty() {
            if self.skip > 0 {
                let n = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                self.skip -= n as u64;
                data = &data[n..];
                continue;
            }
            let end = data.iter().position(|&b| b == b'\n');
            let take = end.map_or(data.len(), |i| i + 1);
            self.line.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.line.len() > MAX_LINE {
                self.broken = true;
                return Err(ScpError("line too long"));
            }
            if end.is_none() {
                continue;
            }
            let line = std::mem::take(&mut self.line);
            match self.control(&line[..line.len() - 1]) {
                Ok(Some(e)) => events.push(e),
                Ok(None) => {}
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
        }
        Ok(events)
    }

    fn control(&mut self, line: &[u8]) -> Result<Option<ScpEvent>, ScpError> {
        let Some((&kind, rest)) = line.split_first() else {
            return Err(ScpError("empty line"));
        };
        let text = String::from_utf8_lossy(rest);
        match kind {
            b'T' => Ok(None),
            b'E' => {
                self.dirs.pop();
                Ok(Some(ScpEvent::EndDir))
            }
            1 | 2 => Ok(Some(ScpEvent::Error {
                fatal: kind == 2,
                message: text.into_owned(),
            })),
            b'C' | b'D' => {
                let mut parts = text.splitn(3, ' ');
                let mode = parts
                    .next()
                    .and_then(|m| u32::from_str_radix(m, 8).ok())
                    .ok_or(ScpError("mode"))?;
                let size: u64 = parts
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or(ScpError("size"))?;
                let name = parts.next().ok_or(ScpError("name"))?;
                // The sink refuses these too: a name must stay in its directory.
                if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                    return Err(ScpError("name leaves its directory"));
                }
                let mut path = self.dirs.join("/");
                if !path.is_empty() {
                    path.push('/');
                }
                path.push_str(name);
                if kind == b'D' {
                    self.dirs.push(name.to_string());
                    Ok(Some(ScpEvent::Dir { path, mode }))
                } else {
                    // The contents, then the sender's status byte.
                    self.skip = size.saturating_add(1);
                    Ok(Some(ScpEvent::File { path, mode, size }))
                }
            }
            _ => Err(ScpError("unknown control line")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn argv_forms() {
        let up = scp_from_argv(&argv("scp -t -- /srv/in")).unwrap();
        assert_eq!(up.direction, ScpDirection::Upload);
        assert_eq!(up.paths, ["/srv/in"]);
        let up = scp_from_argv(&argv("/usr/bin/scp -r -d -p -t dir")).unwrap();
        assert!(up.recursive && up.target_is_dir && up.preserve);
        let f = up.facts("/home/a");
        assert_eq!(f[0].path, "/home/a/dir");
        assert_eq!(f[0].operation, FileOperation::Create);
        assert_eq!(f[0].via, FileVia::Scp);
        let down = scp_from_argv(&argv("scp -v -rf a ../b")).unwrap();
        assert_eq!(down.direction, ScpDirection::Download);
        let f = down.facts("/home/a");
        assert_eq!(
            f.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["/home/a/a", "/home/b"]
        );
        assert!(f.iter().all(|f| f.operation == FileOperation::Read));
    }

    #[test]
    fn argv_refused() {
        for s in [
            "scp -t",
            "scp a b",
            "scp -x -t a",
            "scp -t -f a",
            "scp -t a b",
            "ls -t a",
            "",
        ] {
            assert_eq!(scp_from_argv(&argv(s)), None, "{s}");
        }
        assert_eq!(scp_from_argv(&[]), None);
    }

    #[test]
    fn stream_any_chunking() {
        let stream: &[u8] =
            b"D0755 0 dir\nT1 0 1 0\nC0644 5 a.txt\nhello\0C0600 0 b\n\0E\nC0644 3 top\nabc\0";
        let want = vec![
            ScpEvent::Dir {
                path: "dir".into(),
                mode: 0o755,
            },
            ScpEvent::File {
                path: "dir/a.txt".into(),
                mode: 0o644,
                size: 5,
            },
            ScpEvent::File {
                path: "dir/b".into(),
                mode: 0o600,
                size: 0,
            },
            ScpEvent::EndDir,
            ScpEvent::File {
                path: "top".into(),
                mode: 0o644,
                size: 3,
            },
        ];
        for chunk in 1..=stream.len() {
            let mut s = ScpStream::new();
            let mut got = Vec::new();
            for c in stream.chunks(chunk) {
                got.extend(s.push(c).unwrap());
            }
            assert_eq!(got, want, "chunk {chunk}");
        }
    }

    #[test]
    fn stream_errors() {
        let mut s = ScpStream::new();
        assert_eq!(
            s.push(b"\x01scp: no such file\n").unwrap(),
            [ScpEvent::Error {
                fatal: false,
                message: "scp: no such file".into()
            }]
        );
        for bad in [
            &b"C0644 1 ../x\n"[..],
            b"C0644 1 a/b\n",
            b"Cxyz 1 a\n",
            b"C0644 -1 a\n",
            b"C0644 1\n",
            b"X\n",
            b"\n",
        ] {
            assert!(ScpStream::new().push(bad).is_err(), "{bad:?}");
        }
        let mut s = ScpStream::new();
        assert!(s.push(&[b'a'; MAX_LINE + 1]).is_err());
        assert!(s.push(b"E\n").is_err());
    }
}
