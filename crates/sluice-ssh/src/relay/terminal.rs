//! A terminal's two directions as the gateway sees them: output masked by the content
//! detectors the decision names (line by line, so a value is never split between two
//! checks) and recorded as the client saw it; input followed keystroke by keystroke to find
//! the command lines a person types.
//!
//! Typed lines are an audit aid, not a boundary: the gateway sees keystrokes, not what the
//! shell finally runs (aliases, functions, history expansion, tab completion, line editing
//! with arrow keys, scripts run from files). A line whose editing the gateway cannot follow,
//! typed without echo (a password prompt), or typed in a full-screen program is not decided.

use sluice_core::{MaskPlan, MaskTally};

/// Output held back while masking: at most this much of a line without its newline.
const HOLD_LIMIT: usize = 4096;

/// Masks output a line at a time when a mask plan applies.
#[derive(Default)]
pub(crate) struct OutputMasker {
    pending: Vec<u8>,
}

impl OutputMasker {
    /// What may go to the client now of `data` (appended to what was held back). Only the
    /// end of the output that could be the start of a value a detector looks for is held: a
    /// run of digits (cards, national ids, IBANs) or a long token (keys, JWTs); the rest of a
    /// line goes at once, so a shell's echo is not delayed.
    pub fn feed(&mut self, plan: &MaskPlan, tally: &mut MaskTally, data: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(data);
        let cut = if self.pending.len() > HOLD_LIMIT {
            self.pending.len()
        } else {
            let line_end = self
                .pending
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            line_end + held_from(&self.pending[line_end..])
        };
        if cut == 0 {
            return Vec::new();
        }
        let ready: Vec<u8> = self.pending.drain(..cut).collect();
        mask(plan, tally, &ready)
    }

    /// Everything held back, masked: at the end of output, or when the output paused.
    pub fn flush(&mut self, plan: &MaskPlan, tally: &mut MaskTally) -> Vec<u8> {
        let ready = std::mem::take(&mut self.pending);
        mask(plan, tally, &ready)
    }

    pub fn holding(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// Where the part of an unfinished line that may be the start of a sensitive value begins
/// (`tail.len()` when there is none).
fn held_from(tail: &[u8]) -> usize {
    // Digits with the separators cards and ids are written with.
    let digits = tail
        .iter()
        .rposition(|b| !(b.is_ascii_digit() || *b == b' ' || *b == b'-'))
        .map_or(0, |i| i + 1);
    let digits = if tail[digits..].iter().any(u8::is_ascii_digit) {
        digits
    } else {
        tail.len()
    };
    // Keys and tokens: long runs of their alphabets.
    let token = tail
        .iter()
        .rposition(|b| !(b.is_ascii_alphanumeric() || b"_-+/=.".contains(b)))
        .map_or(0, |i| i + 1);
    let token = if tail.len() - token >= TOKEN_MIN {
        token
    } else {
        tail.len()
    };
    digits.min(token)
}

/// A run of token characters at least this long may be the start of a key.
const TOKEN_MIN: usize = 8;

/// Masks the text in `data`; bytes that are not UTF-8 pass through as they are.
pub(crate) fn mask(plan: &MaskPlan, tally: &mut MaskTally, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.utf8_chunks() {
        let text = chunk.valid();
        match plan.mask_content(text, tally) {
            Some(masked) => out.extend_from_slice(masked.as_bytes()),
            None => out.extend_from_slice(text.as_bytes()),
        }
        out.extend_from_slice(chunk.invalid());
    }
    out
}

/// What a keystroke did to the line being typed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Typed {
    /// Nothing to decide; forward the keystrokes.
    Editing,
    /// Enter ended a line that can be decided; the bytes before Enter are in the first
    /// part, Enter and what follows in the second.
    Line { text: String, at: usize },
}

/// Follows the line being typed in a shell.
#[derive(Default)]
pub(crate) struct LineTracker {
    line: String,
    /// Editing the tracker cannot follow happened on this line (arrows, completion, history).
    lost: bool,
    /// Output bytes seen since the line began: none while typing means no echo.
    echoed: usize,
    /// A full-screen program holds the terminal (the alternate screen is on).
    full_screen: bool,
}

impl LineTracker {
    pub fn output(&mut self, data: &[u8]) {
        self.echoed += data.len();
        if contains(data, b"\x1b[?1049h") || contains(data, b"\x1b[?47h") {
            self.full_screen = true;
        }
        if contains(data, b"\x1b[?1049l") || contains(data, b"\x1b[?47l") {
            self.full_screen = false;
        }
    }

    /// Takes keystrokes; reports a line ended by Enter that should be decided.
    pub fn input(&mut self, data: &[u8]) -> Typed {
        for (i, &b) in data.iter().enumerate() {
            match b {
                b'\r' | b'\n' => {
                    let line = std::mem::take(&mut self.line);
                    let decidable = !self.lost
                        && !self.full_screen
                        && self.echoed > 0
                        && !line.trim().is_empty();
                    self.lost = false;
                    self.echoed = 0;
                    if decidable {
                        return Typed::Line { text: line, at: i };
                    }
                }
                0x7f | 0x08 => {
                    self.line.pop();
                }
                // Ctrl-U and Ctrl-C drop the line.
                0x15 | 0x03 => {
                    self.line.clear();
                    self.lost = false;
                }
                0x20..=0x7e => self.line.push(char::from(b)),
                // Escape sequences, Tab, Ctrl-R and the like change the line in ways only
                // the shell knows.
                _ => self.lost = true,
            }
        }
        Typed::Editing
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::{LineTracker, Typed};

    #[test]
    fn typed_lines_are_found_unless_the_terminal_hides_them() {
        let mut t = LineTracker::default();
        assert_eq!(t.input(b"ls -l"), Typed::Editing);
        t.output(b"ls -l");
        assert_eq!(
            t.input(b"x\x7f\r"),
            Typed::Line {
                text: "ls -l".into(),
                at: 2
            }
        );
        // No echo: a password.
        assert_eq!(t.input(b"hunter2\r"), Typed::Editing);
        // History recall: unknown line.
        t.output(b"$ ");
        assert_eq!(t.input(b"\x1b[A\r"), Typed::Editing);
        // In a full-screen editor.
        t.output(b"\x1b[?1049h");
        assert_eq!(t.input(b":wq\r"), Typed::Editing);
        t.output(b"\x1b[?1049l$ ");
        assert_eq!(
            t.input(b"id\r"),
            Typed::Line {
                text: "id".into(),
                at: 2
            }
        );
    }

    #[test]
    fn only_what_may_start_a_sensitive_value_is_held() {
        use super::held_from;
        assert_eq!(held_from(b"$ l"), 3);
        assert_eq!(held_from(b"card 4111 1111"), 4);
        assert_eq!(held_from(b"x AKIAIOSFODNN7"), 2);
        assert_eq!(held_from(b"ab-cd"), 5);
        assert_eq!(held_from(b""), 0);
    }
}
