//! A bounded cache of statement decisions, so that a statement a subject has run before is
//! not evaluated again.
//!
//! # What a key must pin down
//!
//! A cached decision may only be reused when the policy would see the same input document.
//! The key therefore holds everything the document is made of, or something that determines
//! it:
//!
//! - the policy version;
//! - the [`CacheSubject`]: identity, target (with database), grants, and the session facts
//!   other than its id and start time;
//! - a clock bucket chosen by the caller (the hour since the epoch in the configured zone
//!   determines `time.hour`, `time.weekday` and `time.timezone`);
//! - the text decided and its position (`index`, `count`) in the string the client sent: a
//!   statement cut out of a string, or the whole string (index 0, count 1) when the cached
//!   value covers all its statements. The statement facts are the parser's reading of the
//!   text and the search path, which is part of the subject.
//!
//! What a key cannot hold is the caller's duty: cache only when the policy is
//! [`cacheable`](crate::Policy::cacheable) (it reads neither the clock, nor randomness, nor
//! the session's id or start), and only statement decisions made without bound parameter
//! values.
//!
//! # Exact keys
//!
//! Keys are compared in full, never by fingerprint alone: two subjects whose hashes collide
//! must not share decisions. The hash only picks the shard and slot. A slot holds one entry;
//! a colliding insert replaces it, which costs a miss, never a wrong answer. Hashes are keyed
//! per cache with random keys, so crafted statement texts cannot aim at one slot.
//!
//! # Bounds
//!
//! Sixteen shards, each a mutex around a map, so that threads rarely wait for each other. A
//! full shard evicts its oldest entry (first in, first out): O(1), and a statement that is
//! still hot is simply inserted again after its next miss.

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{GrantFacts, IdentityFacts, SessionFacts, SessionSection, TargetFacts};

const SHARDS: usize = 16;

/// The session facts that may stay in a cache key: all but the id and the start time, which
/// differ for every session and would make sharing decisions between sessions impossible.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StableSession {
    client_address: String,
    application_name: Option<String>,
    protocol: String,
    section: SessionSection,
}

impl From<&SessionFacts> for StableSession {
    fn from(s: &SessionFacts) -> Self {
        Self {
            client_address: s.client_address.clone(),
            application_name: s.application_name.clone(),
            protocol: s.protocol.clone(),
            section: s.section.clone(),
        }
    }
}

/// Who asks, where, and under which grants: the part of a cache key that is fixed for a
/// session (until its search path or grants change). Build it once per session and share it
/// in an `Arc`; keys compare the `Arc` pointer first and the facts only when it differs.
#[derive(Debug, Clone)]
pub struct CacheSubject {
    fingerprint: u64,
    identity: IdentityFacts,
    target: TargetFacts,
    session: StableSession,
    grants: Vec<GrantFacts>,
}

impl CacheSubject {
    pub fn new(
        identity: &IdentityFacts,
        target: &TargetFacts,
        session: &SessionFacts,
        grants: &[GrantFacts],
    ) -> Self {
        Self {
            fingerprint: fingerprint(identity, target, session, grants),
            identity: identity.clone(),
            target: target.clone(),
            session: StableSession::from(session),
            grants: grants.to_vec(),
        }
    }

    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

impl PartialEq for CacheSubject {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
            && self.identity == other.identity
            && self.target == other.target
            && self.session == other.session
            && self.grants == other.grants
    }
}

impl Eq for CacheSubject {}

/// A hash of the facts a [`CacheSubject`] holds (the session without its id and start time).
/// Deterministic within a build; a fingerprint alone never decides a cache hit.
pub fn fingerprint(
    identity: &IdentityFacts,
    target: &TargetFacts,
    session: &SessionFacts,
    grants: &[GrantFacts],
) -> u64 {
    let mut hasher = DefaultHasher::new();
    identity.hash(&mut hasher);
    target.hash(&mut hasher);
    session.client_address.hash(&mut hasher);
    session.application_name.hash(&mut hasher);
    session.protocol.hash(&mut hasher);
    session.section.hash(&mut hasher);
    grants.hash(&mut hasher);
    hasher.finish()
}

/// A borrowed key, for looking up without allocating and for inserting (the cache copies
/// what it keeps).
#[derive(Debug, Clone, Copy)]
pub struct CacheKey<'a> {
    /// The policy version the decision was made with.
    pub policy: &'a str,
    pub subject: &'a Arc<CacheSubject>,
    /// The caller's clock bucket, e.g. hours since the epoch in the configured zone.
    pub clock: u32,
    /// The text decided: one statement's own text, or the whole string the client sent.
    pub text: &'a str,
    /// The statement's position in the string the client sent, and how many it holds; 0 and
    /// 1 when `text` is the whole string.
    pub index: u32,
    pub count: u32,
}

struct Entry<V> {
    policy: Arc<str>,
    subject: Arc<CacheSubject>,
    clock: u32,
    index: u32,
    count: u32,
    text: Box<str>,
    value: V,
}

impl<V> Entry<V> {
    fn matches(&self, key: &CacheKey<'_>) -> bool {
        self.clock == key.clock
            && self.index == key.index
            && self.count == key.count
            && *self.text == *key.text
            && *self.policy == *key.policy
            && (Arc::ptr_eq(&self.subject, key.subject) || *self.subject == **key.subject)
    }
}

/// The map's keys are already hashes; hashing them again would only cost time.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct Shard<V> {
    entries: HashMap<u64, Entry<V>, BuildHasherDefault<PassThrough>>,
    /// Insertion order of the hashes in `entries`, oldest first.
    order: VecDeque<u64>,
}

pub struct DecisionCache<V: Clone> {
    shards: Vec<Mutex<Shard<V>>>,
    per_shard: usize,
    hasher: RandomState,
}

impl<V: Clone> DecisionCache<V> {
    /// A cache of at most about `capacity` decisions (rounded up to a multiple of the shard
    /// count). A capacity of 0 caches nothing.
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS);
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        entries: HashMap::with_capacity_and_hasher(
                            per_shard,
                            BuildHasherDefault::default(),
                        ),
                        order: VecDeque::with_capacity(per_shard),
                    })
                })
                .collect(),
            per_shard,
            hasher: RandomState::new(),
        }
    }

    pub fn get(&self, key: &CacheKey<'_>) -> Option<V> {
        let hash = self.hash(key);
        let shard = self.shard(hash)?;
        let entry = shard.entries.get(&hash)?;
        entry.matches(key).then(|| entry.value.clone())
    }

    pub fn insert(&self, key: &CacheKey<'_>, value: V) {
        if self.per_shard == 0 {
            return;
        }
        let hash = self.hash(key);
        let Some(mut shard) = self.shard(hash) else {
            return;
        };
        let entry = Entry {
            policy: Arc::from(key.policy),
            subject: Arc::clone(key.subject),
            clock: key.clock,
            index: key.index,
            count: key.count,
            text: Box::from(key.text),
            value,
        };
        // A slot already in use keeps its place in the eviction order.
        if let Some(slot) = shard.entries.get_mut(&hash) {
            *slot = entry;
            return;
        }
        if shard.entries.len() >= self.per_shard {
            match shard.order.pop_front() {
                Some(oldest) => {
                    shard.entries.remove(&oldest);
                }
                // The order lost track (only possible after a panic mid-update): start over
                // rather than grow without bound.
                None => shard.entries.clear(),
            }
        }
        shard.order.push_back(hash);
        shard.entries.insert(hash, entry);
    }

    /// Forgets everything, e.g. after the policy was replaced.
    pub fn clear(&self) {
        for shard in &self.shards {
            let mut shard = lock(shard);
            shard.entries.clear();
            shard.order.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).entries.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn hash(&self, key: &CacheKey<'_>) -> u64 {
        let mut h = self.hasher.build_hasher();
        key.policy.hash(&mut h);
        key.subject.fingerprint.hash(&mut h);
        key.clock.hash(&mut h);
        key.index.hash(&mut h);
        key.count.hash(&mut h);
        key.text.hash(&mut h);
        h.finish()
    }

    fn shard(&self, hash: u64) -> Option<MutexGuard<'_, Shard<V>>> {
        // The top bits pick the shard; the map uses the low bits, so the two stay independent.
        let at = (hash >> 60) as usize % SHARDS;
        self.shards.get(at).map(lock)
    }
}

/// A panic while a shard is held leaves at worst a stale entry or order slot, which `insert`
/// copes with; disabling the cache for the rest of the process would cost more.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<V: Clone> std::fmt::Debug for DecisionCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionCache")
            .field("capacity", &(self.per_shard * SHARDS))
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(name: &str, fingerprint: u64) -> Arc<CacheSubject> {
        Arc::new(CacheSubject {
            fingerprint,
            identity: IdentityFacts {
                name: name.into(),
                kind: "human".into(),
                groups: Vec::new(),
                attributes: Default::default(),
                claims: Default::default(),
                provider: None,
                task: None,
            },
            target: TargetFacts {
                name: "t".into(),
                kind: "postgres".into(),
                tags: Default::default(),
                database: "d".into(),
            },
            session: StableSession {
                client_address: "10.0.0.1".into(),
                application_name: None,
                protocol: "postgres".into(),
                section: SessionSection::None,
            },
            grants: Vec::new(),
        })
    }

    #[test]
    fn colliding_fingerprints_never_share_a_decision() {
        let cache = DecisionCache::new(64);
        let alice = subject("alice", 7);
        let mallory = subject("mallory", 7);
        let key = |subject| CacheKey {
            policy: "v1",
            subject,
            clock: 1,
            text: "DROP TABLE t",
            index: 0,
            count: 1,
        };
        cache.insert(&key(&alice), "allow");
        assert_eq!(cache.get(&key(&mallory)), None);
        assert_eq!(cache.get(&key(&alice)), Some("allow"));
        // The colliding insert takes the slot over; alice misses, never gets mallory's.
        cache.insert(&key(&mallory), "deny");
        assert_eq!(cache.get(&key(&alice)), None);
        assert_eq!(cache.get(&key(&mallory)), Some("deny"));
        assert_eq!(cache.len(), 1);
    }
}
