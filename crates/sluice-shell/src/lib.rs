//! Turns an SSH command line into the facts a policy decides on (`ShellCommand`): every
//! simple command it would run, wherever it hides, and why the rest cannot be known.
//!
//! The parser is `brush-parser`, the parser of the brush shell: it is maintained, pure Rust
//! without unsafe code of its own on our path, and reads bash's grammar, which is what the
//! login shells of the targets run. `conch-parser` has not been maintained since 2017, and
//! `yash-syntax` reads POSIX sh only (bash lines such as `[[ ]]`, `$'...'` or `<(...)`
//! would be unparseable) and needs a newer compiler than the workspace's.
//!
//! Pure: no I/O, no environment. Bounded: input length, nesting and recursion into `sh -c`
//! strings all have limits, past which the facts say so instead of the analysis going on.

mod options;
mod parse;
mod programs;
mod unresolved;
mod walk;
mod words;
mod wrappers;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use sluice_decision::ShellCommand;

pub use unresolved::Unresolved;

/// The bounds of the analysis.
pub mod limits {
    /// Longest line analysed, in bytes; a longer one is `too_long` and not parsed.
    pub const MAX_TEXT: usize = 64 * 1024;
    /// Most characters and keywords that can open a nesting level (brackets, backticks,
    /// `if`, `do`, ...) in one line: the parser recurses once per level. 128 levels fit a
    /// 2 MiB thread stack in a debug build with room to spare (tests.rs checks it); 256
    /// did not.
    pub const MAX_OPENERS: usize = 128;
    /// Deepest nesting of parentheses (subshells, arithmetic, process substitution) in one
    /// script: the parser's time doubles per level when the innermost part is invalid, and 22
    /// levels took a second.
    pub const MAX_PARENS: usize = 12;
    /// Deepest `sh -c` string inside `sh -c` strings that is analysed.
    pub const MAX_SHELL_DEPTH: u32 = 8;
    /// Deepest nesting of scripts in each other (substitutions and shell strings together).
    pub const MAX_NESTING: u32 = 32;
}

/// Analyses one command line: the command of an exec request, or a line typed in an
/// interactive shell (`interactive`). Never fails: a line that cannot be parsed gives
/// `parsed: false` and no commands.
pub fn analyze(text: &str, interactive: bool) -> ShellCommand {
    let mut facts = ShellCommand {
        text: text.to_owned(),
        programs: Vec::new(),
        argv: Vec::new(),
        commands: Vec::new(),
        unresolved: Vec::new(),
        interactive,
        parsed: false,
    };
    if text.len() > limits::MAX_TEXT {
        facts
            .unresolved
            .push(Unresolved::TooLong.as_str().to_owned());
        return facts;
    }
    if text.contains('\0') {
        return facts;
    }
    let mut analysis = walk::Analysis::default();
    match analysis.line(text) {
        Ok(()) => {}
        Err(parse::Refused::Invalid) => return facts,
        Err(parse::Refused::TooDeep) => {
            facts
                .unresolved
                .push(Unresolved::TooDeep.as_str().to_owned());
            return facts;
        }
    }
    let mut unresolved: Vec<String> = analysis
        .unresolved
        .iter()
        .map(|u| u.as_str().to_owned())
        .collect();
    unresolved.sort();
    unresolved.dedup();
    facts.programs = analysis.programs;
    facts.argv = analysis.argv.unwrap_or_default();
    facts.commands = analysis.commands;
    facts.unresolved = unresolved;
    facts.parsed = true;
    facts
}
