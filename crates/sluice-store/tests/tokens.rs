//! Behavioural tests of tokens, identities and SSH keys, run against both backends through the
//! public `Store` trait.

mod common;

use common::{Db, TestResult};
use sluice_store::{SqliteStore, Store, StoreError, TokenRecord};

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

async fn salt_is_created_once_and_reused(db: Db) -> TestResult {
    let store = db.open().await?;
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

async fn empty_salt_or_identity_is_rejected(db: Db) -> TestResult {
    let store = db.open().await?;
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

async fn insert_list_and_active_filtering(db: Db) -> TestResult {
    let store = db.open().await?;
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

async fn insert_errors_are_specific(db: Db) -> TestResult {
    let store = db.open().await?;
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

async fn revoke_returns_true_then_false_and_keeps_first_time(db: Db) -> TestResult {
    let store = db.open().await?;
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

async fn mark_used_only_moves_forward(db: Db) -> TestResult {
    let store = db.open().await?;
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

async fn two_stores_on_one_database_see_each_others_writes(db: Db) -> TestResult {
    let gateway = db.open().await?;
    let cli = db.open().await?;

    // The CLI creates the salt and a token; the gateway must see both.
    let salt = cli.identity_salt("alice", b"cli-salt").await?;
    assert_eq!(gateway.identity_salt("alice", b"gateway-salt").await?, salt);
    cli.insert_token(&token("t1", "alice", 1)).await?;
    assert_eq!(ids(&gateway.active_tokens("alice", 10).await?), ["t1"]);

    // And the other direction: a revocation by the gateway reaches the CLI.
    assert!(gateway.revoke_token("t1", 20).await?);
    assert!(!cli.revoke_token("t1", 30).await?);
    assert!(cli.active_tokens("alice", 25).await?.is_empty());

    // Reopening after both are gone keeps the data (it is in the database, not in a pool).
    drop(gateway);
    drop(cli);
    let reopened = db.open().await?;
    assert_eq!(reopened.list_tokens(None).await?[0].revoked_at, Some(20));
    Ok(())
}

async fn concurrent_opens_of_a_fresh_database_succeed(db: Db) -> TestResult {
    // Separate tasks on a multi-threaded runtime so the opens really overlap, as they would
    // for separate gateways; all race to create the schema (SQLite: also the file and WAL
    // mode; PostgreSQL: under the migration lock), and none may fail.
    let db = std::sync::Arc::new(db);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let db = std::sync::Arc::clone(&db);
            tokio::spawn(async move { db.open().await })
        })
        .collect();
    let mut stores = Vec::new();
    for handle in handles {
        stores.push(handle.await??);
    }
    let (a, b) = (&stores[0], &stores[7]);
    a.identity_salt("alice", b"salt").await?;
    assert_eq!(b.find_identity_salt("alice").await?, Some(b"salt".to_vec()));
    // Every migration was applied exactly once, whoever applied it.
    assert_eq!(a.list_tokens(None).await?.len(), 0);
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

async fn token_scope_round_trips_and_revocations_are_listed(db: Db) -> TestResult {
    use sluice_store::TokenScope;
    let store = db.open().await?;
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

async fn dynamic_identities_stay_with_their_subject(db: Db) -> TestResult {
    use sluice_store::DynamicIdentity;
    let store = db.open().await?;
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

async fn ssh_keys_and_host_keys(db: Db) -> TestResult {
    use sluice_store::SshKeyRecord;
    let store = db.open().await?;
    let key = |identity: &str, fingerprint: &str, added_at| SshKeyRecord {
        identity: identity.to_owned(),
        fingerprint: fingerprint.to_owned(),
        public_key: format!("ssh-ed25519 AAAA{fingerprint}"),
        comment: "laptop".to_owned(),
        added_at,
    };
    assert!(store.add_ssh_key(&key("bob", "SHA256:b1", 5)).await?);
    assert!(store.add_ssh_key(&key("alice", "SHA256:a2", 20)).await?);
    assert!(store.add_ssh_key(&key("alice", "SHA256:a1", 10)).await?);
    // Registering the same key again changes nothing, not even the time it was added.
    assert!(!store.add_ssh_key(&key("alice", "SHA256:a1", 30)).await?);

    let alice = store.ssh_keys(Some("alice")).await?;
    assert_eq!(
        alice,
        [key("alice", "SHA256:a1", 10), key("alice", "SHA256:a2", 20)]
    );
    let all = store.ssh_keys(None).await?;
    let owners: Vec<_> = all.iter().map(|k| k.identity.as_str()).collect();
    assert_eq!(owners, ["alice", "alice", "bob"]);

    assert!(store.remove_ssh_key("alice", "SHA256:a1").await?);
    assert!(!store.remove_ssh_key("alice", "SHA256:a1").await?);
    assert!(!store.remove_ssh_key("bob", "SHA256:a2").await?);
    assert_eq!(store.ssh_keys(Some("alice")).await?.len(), 1);

    // Trust on first use: the first key stays, a later different one is reported back.
    assert_eq!(
        store
            .trust_ssh_host_key("db1", "ssh-ed25519 AAAAfirst", 1)
            .await?,
        ("ssh-ed25519 AAAAfirst".to_owned(), true)
    );
    assert_eq!(
        store
            .trust_ssh_host_key("db1", "ssh-ed25519 AAAAother", 2)
            .await?,
        ("ssh-ed25519 AAAAfirst".to_owned(), false)
    );
    assert_eq!(
        store
            .trust_ssh_host_key("db2", "ssh-ed25519 AAAAother", 3)
            .await?,
        ("ssh-ed25519 AAAAother".to_owned(), true)
    );
    Ok(())
}

backend_tests!(
    salt_is_created_once_and_reused,
    empty_salt_or_identity_is_rejected,
    insert_list_and_active_filtering,
    insert_errors_are_specific,
    revoke_returns_true_then_false_and_keeps_first_time,
    mark_used_only_moves_forward,
    two_stores_on_one_database_see_each_others_writes,
    concurrent_opens_of_a_fresh_database_succeed,
    token_scope_round_trips_and_revocations_are_listed,
    dynamic_identities_stay_with_their_subject,
    ssh_keys_and_host_keys,
);
