//! The session a request arrives on: what every protocol knows about a connection, plus the
//! one section of the protocol it speaks.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// The connection the request arrives on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionFacts {
    pub id: String,
    /// The client's IP address, without the port.
    pub client_address: String,
    pub application_name: Option<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub protocol: String,
    /// What only the session's protocol knows.
    pub section: SessionSection,
}

/// The protocol section of a session, serialised under the protocol's name
/// (`session.postgres`). An enum, so a session can never carry two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum SessionSection {
    /// A session whose protocol has nothing of its own to tell.
    #[default]
    None,
    Postgres(PostgresSession),
}

/// What a PostgreSQL session adds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PostgresSession {
    /// The schemas unqualified names resolve against, as the session last set them
    /// (PostgreSQL's default `"$user", public` until a `SET search_path` ran).
    pub search_path: Vec<String>,
    /// The server settings the client asked for when it connected (PostgreSQL's startup
    /// parameters and `options`), names lower-cased: `{"datestyle": "ISO", ...}`.
    pub settings: BTreeMap<String, String>,
}

impl SessionFacts {
    /// The PostgreSQL section, when the session has one.
    pub fn postgres(&self) -> Option<&PostgresSession> {
        match &self.section {
            SessionSection::Postgres(section) => Some(section),
            SessionSection::None => None,
        }
    }

    pub fn postgres_mut(&mut self) -> Option<&mut PostgresSession> {
        match &mut self.section {
            SessionSection::Postgres(section) => Some(section),
            SessionSection::None => None,
        }
    }
}

// By hand because the section is keyed by the protocol's name, and because schema version 1
// had the PostgreSQL fields at the top of `session`: they stay there as aliases of the
// section's values, so that policies written for version 1 read the same facts.
impl Serialize for SessionFacts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("client_address", &self.client_address)?;
        map.serialize_entry("application_name", &self.application_name)?;
        map.serialize_entry("started_at", &self.started_at)?;
        map.serialize_entry("protocol", &self.protocol)?;
        match &self.section {
            SessionSection::None => {}
            SessionSection::Postgres(postgres) => {
                map.serialize_entry("postgres", postgres)?;
                map.serialize_entry("search_path", &postgres.search_path)?;
                map.serialize_entry("settings", &postgres.settings)?;
            }
        }
        map.end()
    }
}
