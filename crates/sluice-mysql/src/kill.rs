//! Connection ids and KILL. The gateway hands each client its own connection id and keeps
//! which target connection it stands for, so `KILL [QUERY|CONNECTION] n` from a client
//! reaches only connections of the same identity on the same target (through the killer's
//! own target connection, with the target's id), and a KILL QUERY of a statement held for
//! review cancels the hold.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// How a KILL QUERY reaches a statement held for review.
#[derive(Default)]
pub struct HoldCancel {
    pub cancelled: Notify,
    pub holding: AtomicBool,
}

struct Entry {
    identity: String,
    target: String,
    upstream_thread: Option<u32>,
    hold: Arc<HoldCancel>,
}

/// The bit every gateway-issued connection id has.
const GATEWAY_IDS: u32 = 1 << 30;

#[derive(Default)]
pub struct Registry {
    next: AtomicU32,
    live: Mutex<HashMap<u32, Entry>>,
}

/// A live connection's entry; removed when dropped.
pub struct Registered {
    registry: Arc<Registry>,
    pub id: u32,
    pub hold: Arc<HoldCancel>,
}

/// What a KILL may reach.
pub struct Victim {
    pub upstream_thread: Option<u32>,
    pub hold: Arc<HoldCancel>,
}

impl Registry {
    pub fn register(self: &Arc<Self>) -> Registered {
        // Far above the small ids targets hand out, so a KILL by the gateway's id and one by
        // the target's (which `SELECT CONNECTION_ID()` shows) do not name different
        // connections.
        let id = GATEWAY_IDS | self.next.fetch_add(1, Ordering::Relaxed) & !GATEWAY_IDS;
        let hold = Arc::new(HoldCancel::default());
        lock(&self.live).insert(
            id,
            Entry {
                identity: String::new(),
                target: String::new(),
                upstream_thread: None,
                hold: hold.clone(),
            },
        );
        Registered {
            registry: self.clone(),
            id,
            hold,
        }
    }

    /// The connection a client of `identity` on `target` may kill by `id`: the gateway's id
    /// or the target's (`SELECT CONNECTION_ID()` shows the target's).
    pub fn find(&self, identity: &str, target: &str, id: u32) -> Option<Victim> {
        let live = lock(&self.live);
        let mine = |e: &&Entry| e.identity == identity && e.target == target;
        live.get(&id)
            .filter(mine)
            .or_else(|| {
                live.values()
                    .filter(mine)
                    .find(|e| e.upstream_thread == Some(id))
            })
            .map(|e| Victim {
                upstream_thread: e.upstream_thread,
                hold: e.hold.clone(),
            })
    }
}

impl Registered {
    /// Names whose connection this is, once its session is open and connected.
    pub fn connected(&self, identity: &str, target: &str, upstream_thread: u32) {
        if let Some(e) = lock(&self.registry.live).get_mut(&self.id) {
            e.identity = identity.to_owned();
            e.target = target.to_owned();
            e.upstream_thread = Some(upstream_thread);
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.registry.live).remove(&self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `KILL [QUERY | CONNECTION] n` read from a statement's text; `None` for any other text.
/// Returns (query only, n).
pub fn parse_kill(text: &str) -> Option<(bool, u32)> {
    let mut words = text.trim().trim_end_matches(';').split_ascii_whitespace();
    if !words.next()?.eq_ignore_ascii_case("kill") {
        return None;
    }
    let mut word = words.next()?;
    let mut query = false;
    if word.eq_ignore_ascii_case("query") {
        query = true;
        word = words.next()?;
    } else if word.eq_ignore_ascii_case("connection") {
        word = words.next()?;
    }
    let id = word.parse().ok()?;
    words.next().is_none().then_some((query, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_statements_are_read_and_others_are_not() {
        assert_eq!(parse_kill("KILL QUERY 12"), Some((true, 12)));
        assert_eq!(parse_kill(" kill connection 3; "), Some((false, 3)));
        assert_eq!(parse_kill("KILL 7"), Some((false, 7)));
        assert_eq!(parse_kill("KILL QUERY ID 7"), None);
        assert_eq!(parse_kill("KILL 7 8"), None);
        assert_eq!(parse_kill("SELECT 1"), None);
    }

    #[test]
    fn a_connection_is_found_only_for_its_identity_and_target() {
        let registry = Arc::new(Registry::default());
        let a = registry.register();
        a.connected("alice", "shop", 900);
        assert!(registry.find("alice", "shop", a.id).is_some());
        assert!(registry.find("alice", "shop", 900).is_some());
        assert!(registry.find("bob", "shop", a.id).is_none());
        assert!(registry.find("alice", "other", a.id).is_none());
        let id = a.id;
        drop(a);
        assert!(registry.find("alice", "shop", id).is_none());
    }
}
