//! Sign-ins started and not yet finished, by login id, for the CLI's sign-in API and the
//! console. The id is 256 random bits, so only the client that started a sign-in can finish
//! it. Kept in this gateway's memory: a sign-in finishes on the gateway it started on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Sign-ins in flight kept at most; beyond it the oldest are dropped, so a flood of started
/// sign-ins costs bounded memory and ends only the flood's own.
const MAX_PENDING: usize = 10_000;

/// A sign-in that must finish before a deadline.
pub(crate) trait Expiring {
    fn expires(&self) -> Instant;
}

pub(crate) struct PendingLogins<T> {
    logins: Mutex<HashMap<String, T>>,
}

impl<T> Default for PendingLogins<T> {
    fn default() -> Self {
        PendingLogins {
            logins: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Expiring> PendingLogins<T> {
    /// Keeps `login` until it is taken or expires, and returns its new id.
    pub(crate) fn insert(&self, login: T) -> String {
        let id = sluice_identity::random_token();
        let mut logins = sluice_core::sync::lock(&self.logins);
        let now = Instant::now();
        logins.retain(|_, l| l.expires() > now);
        if logins.len() >= MAX_PENDING {
            if let Some(oldest) = logins
                .iter()
                .min_by_key(|(_, l)| l.expires())
                .map(|(k, _)| k.clone())
            {
                logins.remove(&oldest);
            }
        }
        logins.insert(id.clone(), login);
        id
    }

    /// Removes and returns a sign-in that has not expired.
    pub(crate) fn take(&self, id: &str) -> Option<T> {
        let login = sluice_core::sync::lock(&self.logins).remove(id)?;
        (login.expires() > Instant::now()).then_some(login)
    }

    /// Puts a sign-in back under its id (a device poll that must come again).
    pub(crate) fn put_back(&self, id: String, login: T) {
        sluice_core::sync::lock(&self.logins).insert(id, login);
    }
}
