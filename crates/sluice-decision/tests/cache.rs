//! The decision cache never answers for a different key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::Facts;
use sluice_decision::{fingerprint, CacheKey, CacheSubject, DecisionCache};

fn subject(f: &Facts) -> Arc<CacheSubject> {
    Arc::new(CacheSubject::new(
        &f.identity,
        &f.target,
        &f.session,
        &f.grants,
    ))
}

fn key<'a>(policy: &'a str, subject: &'a Arc<CacheSubject>, text: &'a str) -> CacheKey<'a> {
    CacheKey {
        policy,
        subject,
        clock: 475_000,
        text,
        index: 0,
        count: 1,
    }
}

#[test]
fn hits_only_the_exact_key() {
    let cache = DecisionCache::new(64);
    let alice = Facts::new("alice", "human", &["analysts"]);
    let subject_a = subject(&alice);
    cache.insert(&key("v1", &subject_a, "SELECT 1"), "allow");
    assert_eq!(cache.get(&key("v1", &subject_a, "SELECT 1")), Some("allow"));

    // Another session of the same subject (a different Arc, equal facts) shares it,
    // whatever its id and start time.
    let mut later = Facts::new("alice", "human", &["analysts"]);
    later.session.id = "s-2".into();
    later.session.started_at = "2024-05-02T00:00:00Z".into();
    assert_eq!(
        cache.get(&key("v1", &subject(&later), "SELECT 1")),
        Some("allow")
    );

    // Anything else misses.
    assert_eq!(cache.get(&key("v2", &subject_a, "SELECT 1")), None);
    assert_eq!(cache.get(&key("v1", &subject_a, "SELECT 2")), None);
    let bob = subject(&Facts::new("bob", "human", &["analysts"]));
    assert_eq!(cache.get(&key("v1", &bob, "SELECT 1")), None);
    let other_groups = Facts::new("alice", "human", &["analysts", "dba"]);
    assert_eq!(
        cache.get(&key("v1", &subject(&other_groups), "SELECT 1")),
        None
    );
    let mut moved = Facts::new("alice", "human", &["analysts"]);
    moved.session.postgres_mut().unwrap().search_path = vec!["evil".into(), "public".into()];
    assert_eq!(cache.get(&key("v1", &subject(&moved), "SELECT 1")), None);
    let mut elsewhere = Facts::new("alice", "human", &["analysts"]);
    elsewhere.target.database = "other".into();
    assert_eq!(
        cache.get(&key("v1", &subject(&elsewhere), "SELECT 1")),
        None
    );
    let k = key("v1", &subject_a, "SELECT 1");
    assert_eq!(
        cache.get(&CacheKey {
            clock: 475_001,
            ..k
        }),
        None
    );
    assert_eq!(
        cache.get(&CacheKey {
            index: 1,
            count: 2,
            ..k
        }),
        None
    );
}

#[test]
fn fingerprint_ignores_session_id_and_start() {
    let a = Facts::new("a", "human", &[]);
    let mut b = Facts::new("a", "human", &[]);
    b.session.id = "other".into();
    b.session.started_at = "2030-01-01T00:00:00Z".into();
    assert_eq!(
        fingerprint(&a.identity, &a.target, &a.session, &a.grants),
        fingerprint(&b.identity, &b.target, &b.session, &b.grants)
    );
    b.session.client_address = "10.9.9.9".into();
    assert_ne!(
        fingerprint(&a.identity, &a.target, &a.session, &a.grants),
        fingerprint(&b.identity, &b.target, &b.session, &b.grants)
    );
}

#[test]
fn stays_bounded_and_clears() {
    let cache = DecisionCache::new(32);
    let s = subject(&Facts::new("alice", "human", &[]));
    let texts: Vec<String> = (0..1000).map(|i| format!("SELECT {i}")).collect();
    for t in &texts {
        cache.insert(&key("v1", &s, t), t.clone());
    }
    assert!(cache.len() <= 32, "{}", cache.len());
    assert!(!cache.is_empty());
    // The newest entries survive first-in-first-out eviction.
    assert_eq!(
        cache.get(&key("v1", &s, &texts[999])),
        Some(texts[999].clone())
    );
    cache.clear();
    assert!(cache.is_empty());
    assert_eq!(cache.get(&key("v1", &s, &texts[999])), None);

    let off = DecisionCache::new(0);
    off.insert(&key("v1", &s, "SELECT 1"), 1);
    assert_eq!(off.get(&key("v1", &s, "SELECT 1")), None);
}

#[test]
fn shared_between_threads() {
    // Large enough that no entry is evicted between its insert and its lookup.
    let cache = Arc::new(DecisionCache::new(1 << 20));
    let s = subject(&Facts::new("alice", "human", &[]));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let cache = Arc::clone(&cache);
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for i in 0..500 {
                    let text = format!("SELECT {t}, {i}");
                    cache.insert(&key("v1", &s, &text), (t, i));
                    assert_eq!(cache.get(&key("v1", &s, &text)), Some((t, i)));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
