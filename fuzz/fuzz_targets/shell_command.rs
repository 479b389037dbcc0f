//! A command line as an SSH client sends it (an exec request, or a line typed in a shell),
//! analysed the way the gateway will: `sluice_shell::analyze` on the text. Bytes that are not
//! UTF-8 are converted lossily, as the listener converts them; byte 0's low bit says whether
//! the line is interactive and is also part of the text.
//!
//! Beyond not panicking (and not overflowing the stack, which aborts), the facts must hold
//! together: an unparsed line lists nothing, every command's `argv[0]` is its program and its
//! name is the program's last path component, depths stay within the limit, and `unresolved`
//! is sorted, deduplicated and made of known tokens.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use sluice_shell::{analyze, limits, Unresolved};

static HOOK: Once = Once::new();

/// sluice-shell catches panics inside brush-parser (its tokenizer has one) and counts the line
/// as unparsed; those may unwind to it. Any other panic aborts, as libFuzzer's hook would, and
/// is reported as a crash.
fn panics_outside_the_parser_abort() {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let in_parser = info
                .location()
                .is_some_and(|l| l.file().contains("brush-parser"));
            if !in_parser {
                eprintln!("{info}");
                std::process::abort();
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    panics_outside_the_parser_abort();
    let text = String::from_utf8_lossy(data);
    let interactive = data.first().is_some_and(|b| b & 1 == 1);
    let facts = analyze(&text, interactive);
    assert_eq!(facts.text, text);
    assert_eq!(facts.interactive, interactive);
    if !facts.parsed {
        assert!(facts.commands.is_empty() && facts.programs.is_empty() && facts.argv.is_empty());
    }
    for c in &facts.commands {
        assert_eq!(c.argv.first(), Some(&c.program));
        assert_eq!(c.program.rsplit('/').next(), Some(c.name.as_str()));
        assert!(c.shell_depth <= limits::MAX_SHELL_DEPTH);
    }
    let known: Vec<&str> = Unresolved::ALL.iter().map(|u| u.as_str()).collect();
    for pair in facts.unresolved.windows(2) {
        assert!(pair[0] < pair[1], "{:?}", facts.unresolved);
    }
    for token in &facts.unresolved {
        assert!(known.contains(&token.as_str()), "{token}");
    }
});
