//! Programs that run another program given on their command line: peeling them off finds
//! what really runs, so that `sudo env FOO=1 nice rm -rf /` is seen as `rm -rf /`.

use crate::options::{self, Options};

/// What a program does with the words after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wrapped {
    /// Not a wrapper: the program does its own work.
    No,
    /// Runs the command that starts at this index of its arguments; `None` when no command
    /// follows (`sudo -l`, `env`), which makes the wrapper itself the command.
    Runs(Option<usize>),
    /// Runs the command at this index, with more arguments read from standard input.
    RunsWithInput(Option<usize>),
    /// Runs this text as a shell line (`su -c`, `watch`, `env -S`).
    RunsShell(String),
    /// Runs an interactive shell: what it runs is typed later, or read from standard input.
    RunsInteractiveShell,
}

const fn spec<'a>(short_with_arg: &'a str, long_with_arg: &'a [&'a str]) -> Options<'a> {
    Options {
        short_with_arg,
        long_with_arg,
        plus: false,
    }
}

/// `args` are the words after the program.
pub fn wrapped(name: &str, args: &[String]) -> Wrapped {
    match name {
        "sudo" => sudo(args),
        "doas" => {
            let (opts, at) = options::read(args, &spec("uC", &[]));
            if opts.iter().any(|o| o.is('s', "")) && at >= args.len() {
                return Wrapped::RunsInteractiveShell;
            }
            runs(args, at)
        }
        "env" => env(args),
        "nice" => plain(args, &spec("n", &["adjustment"])),
        "nohup" | "builtin" | "busybox" => {
            runs(args, usize::from(args.first().is_some_and(|a| a == "--")))
        }
        "setsid" => plain(args, &spec("", &[])),
        "stdbuf" => plain(args, &spec("ioe", &["input", "output", "error"])),
        "ionice" => {
            let (opts, at) = options::read(
                args,
                &spec("cnpPu", &["class", "classdata", "pid", "pgid", "uid"]),
            );
            if opts
                .iter()
                .any(|o| o.is('p', "pid") || o.is('P', "pgid") || o.is('u', "uid"))
            {
                return Wrapped::Runs(None);
            }
            runs(args, at)
        }
        "timeout" => {
            let (_, at) = options::read(args, &spec("sk", &["signal", "kill-after"]));
            runs(args, at + 1)
        }
        "chroot" => {
            let (_, at) = options::read(args, &spec("", &["userspec", "groups"]));
            if at >= args.len() {
                return Wrapped::Runs(None);
            }
            if at + 1 >= args.len() {
                return Wrapped::RunsInteractiveShell;
            }
            runs(args, at + 1)
        }
        "time" => plain(args, &spec("fo", &["format", "output"])),
        "command" => {
            let (opts, at) = options::read(args, &spec("", &[]));
            // `command -v` and `-V` look a program up without running it.
            if opts.iter().any(|o| o.is('v', "") || o.is('V', "")) {
                return Wrapped::Runs(None);
            }
            runs(args, at)
        }
        "exec" => plain(args, &spec("a", &[])),
        "xargs" => {
            let (_, at) = options::read(
                args,
                &spec(
                    "adEILnPs",
                    &[
                        "arg-file",
                        "delimiter",
                        "max-args",
                        "max-procs",
                        "max-chars",
                        "process-slot-var",
                    ],
                ),
            );
            Wrapped::RunsWithInput((at < args.len()).then_some(at))
        }
        "su" => su(args),
        "watch" => {
            let (opts, at) = options::read(args, &spec("nq", &["interval", "equexit"]));
            if at >= args.len() {
                return Wrapped::Runs(None);
            }
            if opts.iter().any(|o| o.is('x', "exec")) {
                return runs(args, at);
            }
            Wrapped::RunsShell(args.get(at..).unwrap_or_default().join(" "))
        }
        _ => Wrapped::No,
    }
}

fn runs(args: &[String], at: usize) -> Wrapped {
    Wrapped::Runs((at < args.len()).then_some(at))
}

fn plain(args: &[String], spec: &Options<'_>) -> Wrapped {
    let (_, at) = options::read(args, spec);
    runs(args, at)
}

fn sudo(args: &[String]) -> Wrapped {
    let (opts, mut at) = options::read(
        args,
        &spec(
            "ughpCDrtTUR",
            &[
                "user",
                "group",
                "host",
                "prompt",
                "close-from",
                "chdir",
                "role",
                "type",
                "command-timeout",
                "other-user",
                "chroot",
            ],
        ),
    );
    // Listing, validating, forgetting credentials and editing files run nothing given.
    if opts.iter().any(|o| {
        o.is('l', "list")
            || o.is('v', "validate")
            || o.is('k', "reset-timestamp")
            || o.is('K', "remove-timestamp")
            || o.is('e', "edit")
            || o.is('V', "version")
    }) {
        return Wrapped::Runs(None);
    }
    while args.get(at).is_some_and(|a| is_assignment(a)) {
        at += 1;
    }
    if at >= args.len()
        && opts
            .iter()
            .any(|o| o.is('i', "login") || o.is('s', "shell"))
    {
        return Wrapped::RunsInteractiveShell;
    }
    runs(args, at)
}

fn env(args: &[String]) -> Wrapped {
    let (opts, mut at) = options::read(args, &spec("uCS", &["unset", "chdir", "split-string"]));
    if let Some(split) = opts.iter().find(|o| o.is('S', "split-string")) {
        let mut line = split.arg().unwrap_or_default().to_owned();
        for a in args.get(at..).unwrap_or_default() {
            line.push(' ');
            line.push_str(a);
        }
        return Wrapped::RunsShell(line);
    }
    while args.get(at).is_some_and(|a| is_assignment(a) || a == "-") {
        at += 1;
    }
    runs(args, at)
}

fn su(args: &[String]) -> Wrapped {
    // su takes options after the user name too: `su - root -c 'id'`.
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        let code = if a == "-c" || a == "--command" || a == "--session-command" {
            args.get(i).cloned()
        } else if let Some(v) = a
            .strip_prefix("--command=")
            .or_else(|| a.strip_prefix("--session-command="))
        {
            Some(v.to_owned())
        } else if a.len() > 2 && a.starts_with("-c") && !a.starts_with("--") {
            a.get(2..).map(str::to_owned)
        } else {
            None
        };
        if let Some(code) = code {
            return Wrapped::RunsShell(code);
        }
    }
    Wrapped::RunsInteractiveShell
}

/// `NAME=value`, as env and sudo take before the command.
pub fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// `find ... -exec CMD ... ;`: the commands find runs, each as a range of `args`.
pub fn find_execs(args: &[String]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        if matches!(a.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
            let start = i;
            while args.get(i).is_some_and(|w| w != ";" && w != "+") {
                i += 1;
            }
            if start < i {
                ranges.push(start..i);
            }
        }
    }
    ranges
}
