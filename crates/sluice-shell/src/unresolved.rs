//! The reasons a line's effect cannot be known without running it. A finite set, so that a
//! policy can name each one and a new reason is a reviewed change (docs/policy.md lists them).

/// One reason; `as_str` is the token the policy sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unresolved {
    /// `alias` defines a name whose meaning later lines take.
    Alias,
    /// `$(...)` or backticks anywhere: their output becomes words of the line.
    CommandSubstitution,
    /// A decoder (base64, xxd, openssl, ...) feeding a shell or interpreter.
    DecodeToShell,
    Eval,
    /// A downloader (curl, wget, ...) feeding a shell or interpreter.
    FetchToShell,
    /// A glob or brace pattern where a program goes.
    GlobProgram,
    /// `python -c`, `perl -e`, ...: code in another language, not analysed.
    InterpreterCode,
    /// A shell or interpreter that reads its program from standard input.
    ShellFromStdin,
    /// `source FILE` or `. FILE`: the file's commands run in this shell.
    Source,
    /// Nesting beyond the analyser's limits.
    TooDeep,
    /// A line longer than the analyser reads.
    TooLong,
    /// An `sh -c` string (or `su -c`, `eval`, `watch`) that does not parse.
    UnparsedInner,
    /// A parameter expansion or command substitution where a program or its code goes.
    VariableProgram,
    /// `xargs`: the program is known, its arguments come from standard input.
    XargsInput,
}

impl Unresolved {
    pub const fn as_str(self) -> &'static str {
        match self {
            Unresolved::Alias => "alias",
            Unresolved::CommandSubstitution => "command_substitution",
            Unresolved::DecodeToShell => "decode_to_shell",
            Unresolved::Eval => "eval",
            Unresolved::FetchToShell => "fetch_to_shell",
            Unresolved::GlobProgram => "glob_program",
            Unresolved::InterpreterCode => "interpreter_code",
            Unresolved::ShellFromStdin => "shell_from_stdin",
            Unresolved::Source => "source",
            Unresolved::TooDeep => "too_deep",
            Unresolved::TooLong => "too_long",
            Unresolved::UnparsedInner => "unparsed_inner",
            Unresolved::VariableProgram => "variable_program",
            Unresolved::XargsInput => "xargs_input",
        }
    }

    /// Every token, for documentation checks and policies' tests.
    pub const ALL: [Unresolved; 14] = [
        Unresolved::Alias,
        Unresolved::CommandSubstitution,
        Unresolved::DecodeToShell,
        Unresolved::Eval,
        Unresolved::FetchToShell,
        Unresolved::GlobProgram,
        Unresolved::InterpreterCode,
        Unresolved::ShellFromStdin,
        Unresolved::Source,
        Unresolved::TooDeep,
        Unresolved::TooLong,
        Unresolved::UnparsedInner,
        Unresolved::VariableProgram,
        Unresolved::XargsInput,
    ];
}
