//! Behavioural tests of the SQLite backend through the public `Store` trait.

use std::error::Error;

use sluice_store::{SqliteStore, Store, StoreError, TokenRecord};

type TestResult = Result<(), Box<dyn Error>>;

fn token(id: &str, identity: &str, created_at: i64) -> TokenRecord {
    TokenRecord {
        id: id.to_owned(),
        identity: identity.to_owned(),
        stored_key: vec![0xAA; 32],
        server_key: vec![0xBB; 32],
        iterations: 4096,
        created_at,
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
        scope: sluice_store::TokenScope {
            purpose: "operator".into(),
            ..Default::default()
        },
    }
}

fn ids(tokens: &[TokenRecord]) -> Vec<&str> {
    tokens.iter().map(|t| t.id.as_str()).collect()
}

#[tokio::test]
async fn salt_is_created_once_and_reused() -> TestResult {
    let store = SqliteStore::open_in_memory().await?;
    assert_eq!(store.find_identity_salt("alice").await?, None);

    let first = store.identity_salt("alice", b"salt-one").await?;
    assert_eq!(first, b"salt-one");
    // A later candidate must not replace the stored salt, or every existing
    // verifier of the identity would stop matching.
    let second = store.identity_salt("alice", b"salt-two").await?;
    assert_eq!(second, b"salt-one");
    assert_eq!(
        store.find_identity_salt("alice").await?,
        Some(b"salt-one".to_vec())
    );

    // Salts are per identity.
    assert_eq!(store.identity_salt("bob", b"bob-salt").await?, b"bob-salt");
    Ok(())
}

#[tokio::test]
async fn empty_salt_or_identity_is_rejected() -> TestResult {
    let store = SqliteStore::open_in_memory().await?;
    assert!(matches!(
        store.identity_salt("alice", b"").await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        store.identity_salt("", b"salt").await,
        Err(StoreError::InvalidArgument(_))
    ));
    Ok(())
}

#[tokio::test]
async fn insert_list_and_active_filtering() -> TestResult {
    let store = SqliteStore::open_in_memory().await?;
    store.identity_salt("alice", b"salt-a").await?;
    store.identity_salt("bob", b"salt-b").await?;

    let now = 1_000;
    let plain = token("t-plain", "alice", 10);
    let future = TokenRecord {
        expires_at: Some(now + 1),
        ..token("t-future", "alice", 20)
    };
    let expired = TokenRecord {
        expires_at: Some(now - 1),
        ..token("t-expired", "alice", 30)
    };
    // Expiry is exclusive: a token is no longer valid at its expiry second.
    let at_now = TokenRecord {
        expires_at: Some(now),
        ..token("t-at-now", "alice", 40)
    };
    let revoked = TokenRecord {
        revoked_at: Some(now - 5),
        ..token("t-revoked", "alice", 50)
    };
    let bobs = token("t-bob", "bob", 5);
    // Same created_at as `t-plain` to exercise the id tie-breaker.
    let tie = token("t-a-tie", "alice", 10);
    for t in [&plain, &future, &expired, &at_now, &revoked, &bobs, &tie] {
        store.insert_token(t).await?;
    }

    let active = store.active_tokens("alice", now).await?;
    assert_eq!(ids(&active), ["t-a-tie", "t-plain", "t-future"]);
    assert_eq!(active[2], future, "round trip preserves every field");

    let alice = store.list_tokens(Some("alice")).await?;
    assert_eq!(
        ids(&alice),
        [
            "t-a-tie",
            "t-plain",
            "t-future",
            "t-expired",
            "t-at-now",
            "t-revoked"
        ]
    );
    let all = store.list_tokens(None).await?;
    assert_eq!(all.len(), 7);
    assert_eq!(all[0], bobs, "ordered by created_at across identities");
    assert!(store.list_tokens(Some("carol")).await?.is_empty());
    assert!(store.active_tokens("carol", now).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn insert_errors_are_specific() -> TestResult {
    let store = SqliteStore::open_in_memory().await?;
    assert!(matches!(
        store.insert_token(&token("t1", "nobody", 1)).await,
        Err(StoreError::UnknownIdentity(identity)) if identity == "nobody"
    ));

    store.identity_salt("alice", b"salt").await?;
    store.insert_token(&token("t1", "alice", 1)).await?;
    assert!(matches!(
        store.insert_token(&token("t1", "alice", 2)).await,
        Err(StoreError::DuplicateToken(id)) if id == "t1"
    ));

    let zero = TokenRecord {
        iterations: 0,
        ..token("t2", "alice", 3)
    };
    assert!(matches!(
        store.insert_token(&zero).await,
        Err(StoreError::InvalidArgument(_))
    ));
    Ok(())
}

#[tokio::test]
async fn revoke_returns_true_then_false_and_keeps_first_time() -> TestResult {
    let store = SqliteStore::open_in_memory().await?;
    store.identity_salt("alice", b"salt").await?;
    store.insert_token(&token("t1", "alice", 1)).await?;

    assert!(store.revoke_token("t1", 100).await?);
    assert!(!store.revoke_token("t1", 200).await?);
    assert!(!store.revoke_token("missing", 100).await?);

    let listed = store.list_tokens(None).await?;
    assert_eq!(listed[0].revoked_at, Some(100));
    assert!(store.active_tokens("alice", 150).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn mark_used_only_moves_forward() -> TestResult {
    let store = SqliteStore::open_in_memory().await?;
    store.identity_salt("alice", b"salt").await?;
    store.insert_token(&token("t1", "alice", 1)).await?;

    store.mark_token_used("t1", 50).await?;
    store.mark_token_used("t1", 40).await?;
    assert_eq!(store.list_tokens(None).await?[0].last_used_at, Some(50));
    store.mark_token_used("t1", 60).await?;
    assert_eq!(store.list_tokens(None).await?[0].last_used_at, Some(60));

    assert!(matches!(
        store.mark_token_used("missing", 1).await,
        Err(StoreError::TokenNotFound(id)) if id == "missing"
    ));
    Ok(())
}

#[tokio::test]
async fn two_stores_on_one_file_see_each_others_writes() -> TestResult {
    let dir = tempfile::tempdir()?;
    // A nested, not yet existing directory checks that `open` creates it.
    let path = dir.path().join("state").join("sluice.db");
    let gateway = SqliteStore::open(&path).await?;
    let cli = SqliteStore::open(&path).await?;

    // The CLI creates the salt and a token; the gateway must see both.
    let salt = cli.identity_salt("alice", b"cli-salt").await?;
    assert_eq!(gateway.identity_salt("alice", b"gateway-salt").await?, salt);
    cli.insert_token(&token("t1", "alice", 1)).await?;
    assert_eq!(ids(&gateway.active_tokens("alice", 10).await?), ["t1"]);

    // And the other direction: a revocation by the gateway reaches the CLI.
    assert!(gateway.revoke_token("t1", 20).await?);
    assert!(!cli.revoke_token("t1", 30).await?);
    assert!(cli.active_tokens("alice", 25).await?.is_empty());

    // Reopening after both are gone keeps the data (it is on disk, not in a pool).
    drop(gateway);
    drop(cli);
    let reopened = SqliteStore::open(&path).await?;
    assert_eq!(reopened.list_tokens(None).await?[0].revoked_at, Some(20));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_open_of_fresh_file_succeeds() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("fresh.db");
    // Separate tasks on a multi-threaded runtime so the opens really overlap, as
    // they would for separate processes; all race to create the file, switch it to
    // WAL and apply the initial migration, and none may fail.
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            tokio::spawn(async move { SqliteStore::open(&path).await })
        })
        .collect();
    let mut stores = Vec::new();
    for handle in handles {
        stores.push(handle.await??);
    }
    let (a, b) = (&stores[0], &stores[7]);
    a.identity_salt("alice", b"salt").await?;
    assert_eq!(b.find_identity_salt("alice").await?, Some(b"salt".to_vec()));
    Ok(())
}

#[tokio::test]
async fn in_memory_stores_are_independent() -> TestResult {
    let one = SqliteStore::open_in_memory().await?;
    let two = SqliteStore::open_in_memory().await?;
    one.identity_salt("alice", b"salt").await?;
    assert_eq!(two.find_identity_salt("alice").await?, None);
    Ok(())
}

#[test]
fn debug_redacts_keys() {
    let t = TokenRecord {
        stored_key: vec![0xDE, 0xAD, 0xBE, 0xEF],
        server_key: vec![0xCA, 0xFE, 0xBA, 0xBE],
        ..token("t1", "alice", 1)
    };
    let debug = format!("{t:?}");
    let pretty = format!("{t:#?}");
    for out in [&debug, &pretty] {
        assert!(out.contains("<redacted>"), "{out}");
        assert!(out.contains("t1") && out.contains("alice"), "{out}");
        // Neither decimal (Vec<u8> Debug) nor hex renderings of the key bytes may appear.
        for needle in ["222", "173", "202", "254", "dead", "DEAD", "cafe", "CAFE"] {
            assert!(!out.contains(needle), "{needle} leaked in {out}");
        }
    }
}

#[tokio::test]
async fn token_scope_round_trips_and_revocations_are_listed() -> TestResult {
    use sluice_store::TokenScope;
    let store = SqliteStore::open_in_memory().await?;
    store.identity_salt("ci", b"salt").await?;
    let scoped = TokenRecord {
        scope: TokenScope {
            purpose: "exchange".into(),
            targets: Some(vec!["app".into(), "reports".into()]),
            task: Some("run 42".into()),
            provider: Some("github".into()),
            claims: Some(r#"{"repository":"org/app"}"#.into()),
            groups: Some(vec!["ci".into()]),
        },
        ..token("t1", "ci", 1)
    };
    store.insert_token(&scoped).await?;
    store.insert_token(&token("t2", "ci", 2)).await?;
    let read = store.token("t1").await?.ok_or("missing")?;
    assert_eq!(read.scope, scoped.scope);
    let plain = store.token("t2").await?.ok_or("missing")?;
    assert_eq!(plain.scope.purpose, "operator");
    assert_eq!(plain.scope.targets, None);
    assert!(store.token("nope").await?.is_none());

    assert!(store.revoked_since(0).await?.is_empty());
    store.revoke_token("t2", 50).await?;
    assert_eq!(store.revoked_since(50).await?, vec!["t2".to_owned()]);
    assert!(store.revoked_since(51).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn dynamic_identities_stay_with_their_subject() -> TestResult {
    use sluice_store::DynamicIdentity;
    let store = SqliteStore::open_in_memory().await?;
    let alice = DynamicIdentity {
        name: "alice@corp.example".into(),
        kind: "human".into(),
        groups: vec!["developers".into()],
        claims: r#"{"email":"alice@corp.example"}"#.into(),
        provider: "corp".into(),
        subject: "sub-1".into(),
        created_at: 10,
        last_seen_at: 10,
    };
    store.upsert_dynamic_identity(&alice).await?;
    let refreshed = DynamicIdentity {
        groups: vec!["developers".into(), "oncall".into()],
        last_seen_at: 20,
        created_at: 20,
        ..alice.clone()
    };
    store.upsert_dynamic_identity(&refreshed).await?;
    let read = store
        .dynamic_identity("alice@corp.example")
        .await?
        .ok_or("missing")?;
    assert_eq!(read.groups, refreshed.groups);
    assert_eq!((read.created_at, read.last_seen_at), (10, 20));

    let impostor = DynamicIdentity {
        subject: "sub-2".into(),
        ..alice.clone()
    };
    assert!(matches!(
        store.upsert_dynamic_identity(&impostor).await,
        Err(StoreError::InvalidArgument(_))
    ));
    Ok(())
}
