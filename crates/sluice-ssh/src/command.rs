//! A command line to the policy's facts. The analysis itself is sluice-shell's; this is
//! where the SSH listener asks for it.

use sluice_decision::ShellCommand;

/// The facts of `text`, sent as an exec request (`interactive == false`) or typed in a shell.
pub(crate) fn facts(text: &str, interactive: bool) -> ShellCommand {
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    ShellCommand {
        text: text.to_owned(),
        programs: words.first().cloned().into_iter().collect(),
        argv: words,
        interactive,
        parsed: false,
    }
}

/// The facts of a line that could not be read as text: nothing it runs is known.
pub(crate) fn unparsed(text: &str, interactive: bool) -> ShellCommand {
    let mut facts = facts("", interactive);
    facts.text = text.to_owned();
    facts.parsed = false;
    facts
}
