//! Detectors defined in the configuration.

use serde::Deserialize;

/// A detector from the configuration: a regular expression and an optional checksum.
///
/// The pattern uses the syntax of the `regex` crate. For speed, prefer ASCII classes
/// (`[0-9]`, `[A-Za-z]`) and ASCII word boundaries (`(?-u:\b)`): a Unicode `\b` makes every
/// search over non-ASCII text fall back to a slower engine, for all detectors at once.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetector {
    pub name: String,
    pub pattern: String,
    #[serde(default)]
    pub validate: Validation,
}

/// The check a custom detector's candidates must pass to count as found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Validation {
    /// Every match counts.
    #[default]
    None,
    /// The digits (other characters ignored) pass the Luhn check; at least two digits.
    Luhn,
    /// The ISO 13616 (IBAN) rule: spaces ignored, the first four characters moved to the end,
    /// letters read as 10 to 35, the number is 1 modulo 97.
    Mod97,
}
