//! Skipping a program's options to find its operands, the way getopt reads them.

/// What a program's options look like.
pub struct Options<'a> {
    /// Short options that take an argument (attached, `-uroot`, or next, `-u root`).
    pub short_with_arg: &'a str,
    /// Long options (without `--`) that take an argument as the next word when not given
    /// with `=`.
    pub long_with_arg: &'a [&'a str],
    /// Whether a word starting with `+` is an option too (shells' `+o`).
    pub plus: bool,
}

/// One option as read: its letters (short) or name (long), and where its argument is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opt<'w> {
    /// Letters of one cluster with the argument of its last letter, if it takes one.
    Short(&'w str, Option<&'w str>),
    Long(&'w str, Option<&'w str>),
}

/// Reads options from the start of `words`; returns them and the index of the first
/// operand (after a `--`, which is consumed).
pub fn read<'w>(words: &'w [String], spec: &Options<'_>) -> (Vec<Opt<'w>>, usize) {
    let mut opts = Vec::new();
    let mut i = 0;
    while let Some(w) = words.get(i) {
        if w == "--" {
            return (opts, i + 1);
        }
        if let Some(long) = w.strip_prefix("--") {
            i += 1;
            match long.split_once('=') {
                Some((name, value)) => opts.push(Opt::Long(name, Some(value))),
                None if spec.long_with_arg.contains(&long) => {
                    opts.push(Opt::Long(long, words.get(i).map(String::as_str)));
                    i += 1;
                }
                None => opts.push(Opt::Long(long, None)),
            }
            continue;
        }
        let cluster = match w.strip_prefix('-') {
            Some(c) if !c.is_empty() => c,
            _ => match w.strip_prefix('+') {
                Some(c) if spec.plus && !c.is_empty() => c,
                _ => return (opts, i),
            },
        };
        i += 1;
        let mut arg = None;
        let mut letters = cluster;
        for (at, c) in cluster.char_indices() {
            if spec.short_with_arg.contains(c) {
                let rest = cluster.get(at + c.len_utf8()..).unwrap_or("");
                letters = cluster.get(..at + c.len_utf8()).unwrap_or(cluster);
                if rest.is_empty() {
                    arg = words.get(i).map(String::as_str);
                    i += 1;
                } else {
                    arg = Some(rest);
                }
                break;
            }
        }
        opts.push(Opt::Short(letters, arg));
    }
    (opts, words.len())
}

impl Opt<'_> {
    /// Whether this option is the short letter `c` or the long name `long`.
    pub fn is(&self, c: char, long: &str) -> bool {
        match self {
            Opt::Short(letters, _) => letters.contains(c),
            Opt::Long(name, _) => *name == long,
        }
    }

    pub fn arg(&self) -> Option<&str> {
        match self {
            Opt::Short(_, a) | Opt::Long(_, a) => *a,
        }
    }
}
