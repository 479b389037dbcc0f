//! The target's settings that change how it reads a request's text, as it reports them
//! (ParameterStatus), so each request is analysed as the target will read it: see
//! `sluice_sql::Lexing` for why `standard_conforming_strings` matters and
//! `sluice_pgwire::encoding` for `client_encoding`.
//!
//! The target reports a change of either before the ReadyForQuery of the request that made it
//! (also when a rolled-back transaction undoes a `SET`), so what it reported is certain once
//! every earlier request has been answered. Until then an earlier request may still change
//! them: the client half reads a request as "unsettled" and analyses it under both
//! `standard_conforming_strings` values, and refuses text beyond ASCII while a request that
//! may change `client_encoding` is in flight.

use sluice_pgwire::backend as be;
use sluice_pgwire::encoding::{Encoding, Encodings};
use sluice_pgwire::frame;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSettings {
    pub standard_conforming_strings: bool,
    pub encodings: Encodings,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            standard_conforming_strings: true,
            encodings: Encodings::default(),
        }
    }
}

impl ServerSettings {
    /// The settings the target announced after login (its ParameterStatus messages).
    pub fn from_announcements(announcements: &[u8]) -> ServerSettings {
        let mut settings = ServerSettings::default();
        let mut rest = announcements;
        while let Ok(Some(f)) = frame::peek(rest, usize::MAX) {
            if f.len > rest.len() {
                break;
            }
            if f.tag == be::PARAMETER_STATUS {
                settings.report(f.body(rest));
            }
            rest = &rest[f.len..];
        }
        settings
    }

    /// Follows one ParameterStatus body.
    pub fn report(&mut self, body: &[u8]) {
        let Ok((name, value)) = be::parameter_status(body) else {
            return;
        };
        let value = String::from_utf8_lossy(value);
        match name {
            b"standard_conforming_strings" => {
                self.standard_conforming_strings = value.eq_ignore_ascii_case("on");
            }
            b"client_encoding" => self.encodings.client = encoding(&value),
            b"server_encoding" => self.encodings.server = encoding(&value),
            _ => {}
        }
    }
}

/// A name the target reported: always one it knows. Should it ever be one this gateway does
/// not, text beyond ASCII is refused rather than read as UTF-8.
fn encoding(name: &str) -> Encoding {
    Encoding::from_name(name).unwrap_or(Encoding::UNKNOWN)
}

/// Whether a request that changes (or may change, `set_config`) these settings may change
/// the client encoding of the requests after it.
pub fn changes_encoding(settings: &[String]) -> bool {
    settings
        .iter()
        .any(|s| matches!(s.as_str(), "client_encoding" | "all" | "set_config"))
}
