//! Handshake-era sessions (`initialize` → `Mcp-Session-Id`): the version settled and the
//! client's name, bound to the credential that opened the session so that an id seen by
//! someone else is worth nothing. In memory, bounded, dropped when idle; a client whose
//! session is gone gets 404 and initializes again, as the transport says.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::Digest;

#[derive(Clone)]
pub(crate) struct Opened {
    pub version: String,
    pub client_name: Option<String>,
}

struct Entry {
    opened: Opened,
    bearer: [u8; 32],
    used: Instant,
}

pub(crate) struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
    idle: Duration,
    max: usize,
}

impl Sessions {
    pub(crate) fn new(idle: Duration, max: usize) -> Sessions {
        Sessions {
            entries: Mutex::new(HashMap::new()),
            idle,
            max,
        }
    }

    pub(crate) fn open(&self, bearer: &str, opened: Opened) -> String {
        let id = hex::encode(sluice_core::token::random_bytes::<16>());
        let mut entries = sluice_core::sync::lock(&self.entries);
        if entries.len() >= self.max {
            let idle = self.idle;
            entries.retain(|_, e| e.used.elapsed() < idle);
            if entries.len() >= self.max {
                // The least recently used goes first.
                if let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.used)
                    .map(|(k, _)| k.clone())
                {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(
            id.clone(),
            Entry {
                opened,
                bearer: digest(bearer),
                used: Instant::now(),
            },
        );
        id
    }

    /// The session `id` names, if it is live and `bearer` opened it.
    pub(crate) fn get(&self, id: &str, bearer: &str) -> Option<Opened> {
        let mut entries = sluice_core::sync::lock(&self.entries);
        let entry = entries.get_mut(id)?;
        if entry.used.elapsed() >= self.idle {
            entries.remove(id);
            return None;
        }
        if entry.bearer != digest(bearer) {
            return None;
        }
        entry.used = Instant::now();
        Some(entry.opened.clone())
    }

    pub(crate) fn close(&self, id: &str, bearer: &str) -> bool {
        let mut entries = sluice_core::sync::lock(&self.entries);
        if entries.get(id).is_some_and(|e| e.bearer == digest(bearer)) {
            entries.remove(id);
            return true;
        }
        false
    }
}

fn digest(bearer: &str) -> [u8; 32] {
    sha2::Sha256::digest(bearer.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened() -> Opened {
        Opened {
            version: "2025-11-25".into(),
            client_name: None,
        }
    }

    #[test]
    fn a_session_is_its_opener_s_and_ends_when_idle_or_closed() {
        let sessions = Sessions::new(Duration::from_secs(60), 2);
        let id = sessions.open("tok-a", opened());
        assert!(sessions.get(&id, "tok-a").is_some());
        assert!(sessions.get(&id, "tok-b").is_none());
        assert!(!sessions.close(&id, "tok-b"));
        assert!(sessions.close(&id, "tok-a"));
        assert!(sessions.get(&id, "tok-a").is_none());
        let a = sessions.open("t", opened());
        let _b = sessions.open("t", opened());
        let _c = sessions.open("t", opened());
        assert!(sessions.get(&a, "t").is_none(), "the oldest went when full");
        let short = Sessions::new(Duration::ZERO, 8);
        let id = short.open("t", opened());
        assert!(short.get(&id, "t").is_none());
    }
}
