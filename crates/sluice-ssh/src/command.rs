//! A command line to the policy's facts. The analysis itself is sluice-shell's; this is
//! where the SSH listener asks for it.

use sluice_decision::ShellCommand;

/// The facts of `text`, sent as an exec request (`interactive == false`) or typed in a shell.
pub(crate) fn facts(text: &str, interactive: bool) -> ShellCommand {
    sluice_shell::analyze(text, interactive)
}

/// The facts of a line that could not be read as text: nothing it runs is known.
pub(crate) fn unparsed(text: &str, interactive: bool) -> ShellCommand {
    let mut facts = sluice_shell::analyze("", interactive);
    facts.text = text.to_owned();
    facts.parsed = false;
    facts.commands.clear();
    facts.programs.clear();
    facts.argv.clear();
    facts
}
