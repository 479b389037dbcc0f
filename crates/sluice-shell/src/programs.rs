//! Programs that take code: shells and script interpreters, and what feeds them.

use crate::options::{self, Options};

/// Where a shell or interpreter takes its program from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// A string on the command line (`sh -c STR`): the index of `STR` in the arguments.
    Inline(usize),
    /// A file: the index of its name in the arguments.
    Script(usize),
    /// Standard input (no program given, `-s`, or `-`).
    Stdin,
}

pub fn is_shell(name: &str) -> bool {
    matches!(
        name,
        "sh" | "bash"
            | "dash"
            | "zsh"
            | "ksh"
            | "mksh"
            | "pdksh"
            | "ash"
            | "yash"
            | "rbash"
            | "fish"
            | "csh"
            | "tcsh"
            | "posh"
            | "oksh"
            | "loksh"
    )
}

pub fn shell_code(args: &[String]) -> Code {
    let (opts, at) = options::read(
        args,
        &Options {
            short_with_arg: "oO",
            long_with_arg: &["rcfile", "init-file"],
            plus: true,
        },
    );
    let inline = opts
        .iter()
        .any(|o| matches!(o, options::Opt::Short(l, _) if l.contains('c')));
    let stdin = opts
        .iter()
        .any(|o| matches!(o, options::Opt::Short(l, _) if l.contains('s')));
    // `bash --version` prints and exits: it reads no program at all.
    if opts
        .iter()
        .any(|o| o.is('\0', "version") || o.is('\0', "help"))
    {
        return Code::Script(at);
    }
    if inline {
        return if at < args.len() {
            Code::Inline(at)
        } else {
            Code::Stdin
        };
    }
    match args.get(at) {
        Some(a) if !stdin && a != "-" => Code::Script(at),
        _ => Code::Stdin,
    }
}

/// Interpreters of other languages: the letter of their inline-code option.
fn interpreter_inline(name: &str) -> Option<(&'static str, &'static [&'static str])> {
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    Some(match base {
        "python" | "pypy" => ("c", &[]),
        "perl" => ("eE", &[]),
        "ruby" | "irb" | "lua" | "luajit" => ("e", &[]),
        "node" | "nodejs" | "deno" | "bun" => ("ep", &["eval", "print"]),
        "php" => ("rBRFE", &[]),
        "tclsh" | "wish" | "expect" => ("c", &[]),
        _ => return None,
    })
}

/// How an interpreter is invoked; `None` for other programs.
pub fn interpreter_code(name: &str, args: &[String]) -> Option<Code> {
    let (letters, long) = interpreter_inline(name)?;
    // Option arguments are read loosely: an interpreter that takes code is flagged whatever
    // else is on the line, so a misread argument only risks a spurious flag.
    for (i, a) in args.iter().enumerate() {
        if matches!(a.as_str(), "--version" | "-V" | "--help" | "-h" | "-v") {
            return Some(Code::Script(i));
        }
        if a == "-" || a == "--" {
            return Some(if a == "-" {
                Code::Stdin
            } else if i + 1 < args.len() {
                Code::Script(i + 1)
            } else {
                Code::Stdin
            });
        }
        if let Some(l) = a.strip_prefix("--") {
            let l = l.split('=').next().unwrap_or(l);
            if long.contains(&l) {
                return Some(Code::Inline(i));
            }
            continue;
        }
        if let Some(cluster) = a.strip_prefix('-') {
            if cluster.contains(|c: char| letters.contains(c)) {
                return Some(Code::Inline(i));
            }
            // `python -m module` runs an installed module, as a script would.
            if cluster.starts_with('m') && (name.starts_with("python") || name.starts_with("pypy"))
            {
                return Some(Code::Script(i));
            }
            continue;
        }
        return Some(Code::Script(i));
    }
    Some(Code::Stdin)
}

/// Downloaders: their output piped into a shell runs code from elsewhere.
pub fn is_fetcher(name: &str) -> bool {
    matches!(
        name,
        "curl"
            | "wget"
            | "fetch"
            | "aria2c"
            | "http"
            | "https"
            | "lwp-request"
            | "GET"
            | "nc"
            | "ncat"
            | "netcat"
            | "socat"
            | "ftp"
            | "tftp"
            | "scp"
            | "sftp"
            | "rsync"
    )
}

/// Decoders: their output piped into a shell is code that was hidden in the line.
pub fn is_decoder(name: &str) -> bool {
    matches!(
        name,
        "base64"
            | "base32"
            | "basenc"
            | "xxd"
            | "openssl"
            | "uudecode"
            | "gunzip"
            | "zcat"
            | "gzip"
            | "bzip2"
            | "bzcat"
            | "xz"
            | "xzcat"
            | "unxz"
            | "zstd"
            | "zstdcat"
            | "rev"
            | "tr"
    )
}
