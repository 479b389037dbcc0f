//! Failed authentications, counted per client address and per identity in a fixed window, so
//! that guessing tokens costs the guesser time while everyone else is served. Counting per
//! identity too stops a guesser that spreads over many addresses; its limit is higher than
//! the per-address one, because reaching it locks the identity out for the rest of the window
//! (the price of the protection, docs/identity.md).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys kept at most; beyond it the oldest windows are dropped (a flood of addresses cannot
/// grow memory without bound).
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    Identity(String),
}

struct Window {
    started: Instant,
    failures: u32,
}

pub struct AuthLimiter {
    per_address: u32,
    per_identity: u32,
    window: Duration,
    windows: Mutex<HashMap<Key, Window>>,
}

/// Why an attempt is refused before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    /// `address` or `identity`.
    pub by: &'static str,
    pub retry_after: Duration,
}

impl AuthLimiter {
    pub fn new(per_address: u32, per_identity: u32, window: Duration) -> AuthLimiter {
        AuthLimiter {
            per_address,
            per_identity,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether an attempt from `addr` for `identity` may be checked now.
    pub fn check(&self, addr: Option<IpAddr>, identity: &str) -> Result<(), Throttled> {
        let now = Instant::now();
        let windows = crate::sync::lock(&self.windows);
        let over = |key: &Key, limit: u32| {
            windows.get(key).and_then(|w| {
                let left = self.window.checked_sub(now.duration_since(w.started))?;
                (w.failures >= limit).then_some(left)
            })
        };
        if let Some(addr) = addr {
            if let Some(left) = over(&Key::Address(addr), self.per_address) {
                return Err(Throttled {
                    by: "address",
                    retry_after: left,
                });
            }
        }
        // An attempt that names no identity (an unknown bearer token, a workload's JWT) is
        // limited by its address only: one shared key would let anyone lock everyone out.
        if identity.is_empty() {
            return Ok(());
        }
        if let Some(left) = over(&Key::Identity(identity.to_owned()), self.per_identity) {
            return Err(Throttled {
                by: "identity",
                retry_after: left,
            });
        }
        Ok(())
    }

    /// Counts a failed attempt against both keys.
    pub fn failed(&self, addr: Option<IpAddr>, identity: &str) {
        let now = Instant::now();
        let mut windows = crate::sync::lock(&self.windows);
        if windows.len() >= MAX_KEYS {
            windows.retain(|_, w| now.duration_since(w.started) < self.window);
            if windows.len() >= MAX_KEYS {
                windows.clear();
            }
        }
        let keys = addr
            .map(Key::Address)
            .into_iter()
            .chain((!identity.is_empty()).then(|| Key::Identity(identity.to_owned())));
        for key in keys {
            let w = windows.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.duration_since(w.started) >= self.window {
                *w = Window {
                    started: now,
                    failures: 0,
                };
            }
            w.failures = w.failures.saturating_add(1);
        }
    }
}

/// The address part of a client address as protocols report it (`ip:port`).
pub fn client_ip(client_addr: &str) -> Option<IpAddr> {
    client_addr
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip())
        .ok()
        .or_else(|| client_addr.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_limit_then_identity_limit() {
        let l = AuthLimiter::new(2, 3, Duration::from_secs(60));
        let a = client_ip("127.0.0.1:5000");
        let b = client_ip("127.0.0.2:5000");
        assert!(l.check(a, "alice").is_ok());
        l.failed(a, "alice");
        l.failed(a, "alice");
        assert_eq!(l.check(a, "bob").map_err(|t| t.by), Err("address"));
        // Another address may still try alice, until alice's own limit.
        assert!(l.check(b, "alice").is_ok());
        l.failed(b, "alice");
        assert_eq!(l.check(b, "alice").map_err(|t| t.by), Err("identity"));
        assert!(l.check(b, "bob").is_ok());
    }

    #[test]
    fn attempts_naming_no_identity_share_no_key() {
        let l = AuthLimiter::new(100, 1, Duration::from_secs(60));
        l.failed(client_ip("10.0.0.1:1"), "");
        l.failed(client_ip("10.0.0.2:1"), "");
        assert!(l.check(client_ip("10.0.0.3:1"), "").is_ok());
    }

    #[test]
    fn windows_pass() {
        let l = AuthLimiter::new(1, 10, Duration::from_millis(30));
        let a = client_ip("10.0.0.1:1");
        l.failed(a, "x");
        let t = l.check(a, "y").unwrap_err();
        assert!(t.retry_after <= Duration::from_millis(30));
        std::thread::sleep(Duration::from_millis(40));
        assert!(l.check(a, "y").is_ok());
    }
}
