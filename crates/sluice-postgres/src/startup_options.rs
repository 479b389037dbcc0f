//! The server settings a client asks for at startup, read as PostgreSQL reads them: every
//! startup parameter other than `user`, `database`, `replication` and `options` is a setting,
//! and `options` (libpq's `PGOPTIONS`) holds more, as `-c name=value` or `--name=value`.
//!
//! They are decided with the session (the connect request's `session.settings`), audited in
//! its `session_started` record, and passed to the target as startup parameters. `replication`
//! is refused: it would open the replication protocol, which the gateway does not relay.

use std::collections::BTreeMap;

use crate::error::PgError;

/// Startup parameters the gateway reads itself and does not pass on.
const CONSUMED: [&str; 3] = ["user", "database", "options"];

/// The settings of a startup packet's parameters, names lower-cased, the last of a name
/// winning. PostgreSQL applies `options` first and the other parameters after, so a plain
/// parameter wins over the same setting in `options`.
pub fn startup_settings(
    params: &[(Vec<u8>, Vec<u8>)],
) -> Result<BTreeMap<String, String>, PgError> {
    let mut settings = BTreeMap::new();
    for (name, value) in params {
        if name.eq_ignore_ascii_case(b"options") {
            for (name, value) in options(&String::from_utf8_lossy(value))? {
                settings.insert(name, value);
            }
        }
    }
    for (name, value) in params {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        if CONSUMED.contains(&name.as_str()) {
            continue;
        }
        let value = String::from_utf8_lossy(value).into_owned();
        if name == "replication" {
            if matches!(value.as_str(), "false" | "off" | "0" | "no") {
                continue;
            }
            return Err(PgError::refused(
                "0A000",
                "replication connections are not supported by sluice",
            ));
        }
        settings.insert(name, value);
    }
    Ok(settings)
}

/// The settings in an `options` string.
fn options(text: &str) -> Result<Vec<(String, String)>, PgError> {
    let words = split(text);
    let mut settings = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let assignment = if word == "-c" {
            words
                .next()
                .ok_or_else(|| bad_option("-c needs name=value"))?
        } else if let Some(rest) = word.strip_prefix("--") {
            // As the server reads a long option: dashes in the name stand for underscores.
            match rest.split_once('=') {
                Some((name, value)) => format!("{}={value}", name.replace('-', "_")),
                None => return Err(bad_option(&format!("--{rest} needs a value"))),
            }
        } else if let Some(rest) = word.strip_prefix("-c") {
            rest.to_owned()
        } else {
            return Err(bad_option(&format!(
                "\"{word}\" is not a setting; sluice accepts only -c name=value and \
                 --name=value in options"
            )));
        };
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| bad_option(&format!("\"{assignment}\" is not name=value")))?;
        settings.push((name.to_ascii_lowercase(), value.to_owned()));
    }
    Ok(settings)
}

/// Splits `options` into words as the server does: at whitespace, where a backslash makes
/// the next character (a space, or a backslash) part of the word.
fn split(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            c if c.is_ascii_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn bad_option(what: &str) -> PgError {
    PgError::refused("22023", format!("invalid startup option: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        startup_settings(&params(pairs))
            .unwrap()
            .into_iter()
            .collect()
    }

    #[test]
    fn options_and_parameters_become_settings() {
        assert_eq!(
            settings(&[
                ("user", "alice"),
                ("database", "app"),
                ("options", "-c intervalstyle=postgres_verbose --client-min-messages=warning -cDateStyle=ISO"),
                ("application_name", "psql"),
            ]),
            vec![
                ("application_name".into(), "psql".into()),
                ("client_min_messages".into(), "warning".into()),
                ("datestyle".into(), "ISO".into()),
                ("intervalstyle".into(), "postgres_verbose".into()),
            ]
        );
    }

    #[test]
    fn plain_parameters_win_over_options_and_backslash_escapes_a_space() {
        assert_eq!(
            settings(&[
                ("TimeZone", "UTC"),
                ("options", "-c timezone=Europe/Berlin -c search_path=a,\\ b"),
            ]),
            vec![
                ("search_path".into(), "a, b".into()),
                ("timezone".into(), "UTC".into()),
            ]
        );
    }

    #[test]
    fn other_switches_and_replication_are_refused() {
        assert!(startup_settings(&params(&[("options", "-F")])).is_err());
        assert!(startup_settings(&params(&[("options", "-c")])).is_err());
        assert!(startup_settings(&params(&[("replication", "database")])).is_err());
        assert!(startup_settings(&params(&[("replication", "false")]))
            .unwrap()
            .is_empty());
    }
}
