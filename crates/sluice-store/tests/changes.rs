//! Change delivery (`subscribe`, `publish`), settlement, open sessions and what several
//! gateways on one PostgreSQL store need: changes crossing stores, a listener that comes back
//! after losing its connection, migrations applied once, and a password that never shows.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Backend, Db, TestResult};
use sluice_store::{
    GrantRecord, OpenSession, PostgresStore, ReviewRecord, ReviewerDecision, StoreChange,
    StoreError, StoreLocation, TokenRecord, TokenScope,
};
use sqlx::Connection;
use tokio::sync::broadcast::Receiver;

/// Long enough for any healthy delivery; only reached when a change is missing.
const PATIENCE: Duration = Duration::from_secs(10);

fn review(requester: &str) -> ReviewRecord {
    ReviewRecord {
        id: 0,
        kind: "access".to_owned(),
        state: "pending".to_owned(),
        requester: requester.to_owned(),
        target: "prod".to_owned(),
        detail: "{}".to_owned(),
        created_at_ms: 1,
        expires_at_ms: 60_000,
        decided_at_ms: None,
        decisions: Vec::new(),
    }
}

fn grant(identity: &str) -> GrantRecord {
    GrantRecord {
        id: 0,
        identity: identity.to_owned(),
        target: "prod".to_owned(),
        scope: "read".to_owned(),
        reason: "incident".to_owned(),
        approvers: vec!["carol".to_owned()],
        review_id: None,
        created_at_ms: 1,
        expires_at_ms: 10_000,
        revoked_at_ms: None,
        revoked_by: None,
        expiry_noted_at_ms: None,
    }
}

fn token(id: &str) -> TokenRecord {
    TokenRecord {
        id: id.to_owned(),
        identity: "alice".to_owned(),
        stored_key: vec![1; 32],
        server_key: vec![2; 32],
        iterations: 4096,
        created_at: 1,
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
        scope: TokenScope::default(),
    }
}

/// The next change, failing the test if none comes.
async fn next(rx: &mut Receiver<StoreChange>) -> Result<StoreChange, String> {
    match tokio::time::timeout(PATIENCE, rx.recv()).await {
        Ok(Ok(change)) => Ok(change),
        Ok(Err(e)) => Err(format!("receiving failed: {e}")),
        Err(_) => Err("no change delivered".to_owned()),
    }
}

/// Fails if a change arrives within a short while.
async fn quiet(rx: &mut Receiver<StoreChange>) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
        Err(_) => Ok(()),
        Ok(got) => Err(format!("unexpected change: {got:?}")),
    }
}

async fn writes_publish_their_changes(db: Db) -> TestResult {
    let store = db.open().await?;
    let mut rx = store.subscribe();

    let id = store.insert_review(&review("alice")).await?;
    assert_eq!(next(&mut rx).await?, StoreChange::Review(id));
    let decision = ReviewerDecision {
        reviewer: "carol".to_owned(),
        approve: true,
        comment: None,
        at_ms: 2,
        groups: None,
    };
    store.add_review_decision(id, &decision).await?;
    assert_eq!(next(&mut rx).await?, StoreChange::Review(id));
    // A refused decision changes nothing and says nothing.
    assert!(store.add_review_decision(id, &decision).await.is_err());
    quiet(&mut rx).await?;

    let settled = store
        .settle_review_granting(id, "approved", 3, Some(&grant("alice")))
        .await?;
    let Some(Some(grant_id)) = settled else {
        return Err(format!("not settled with a grant: {settled:?}").into());
    };
    assert_eq!(next(&mut rx).await?, StoreChange::Review(id));
    assert_eq!(next(&mut rx).await?, StoreChange::Grant(grant_id));
    // Losing the race writes nothing, so it announces nothing either.
    assert_eq!(
        store
            .settle_review_granting(id, "denied", 4, Some(&grant("alice")))
            .await?,
        None
    );
    quiet(&mut rx).await?;

    let other = store.insert_grant(&grant("bob")).await?;
    assert_eq!(next(&mut rx).await?, StoreChange::Grant(other));
    assert!(store.revoke_grant(other, 5, "security").await?);
    assert_eq!(next(&mut rx).await?, StoreChange::Grant(other));
    assert!(!store.revoke_grant(other, 6, "security").await?);
    assert!(store.note_grant_expired(grant_id, 10_000).await?);
    assert_eq!(next(&mut rx).await?, StoreChange::Grant(grant_id));
    assert!(!store.note_grant_expired(grant_id, 10_001).await?);
    quiet(&mut rx).await?;

    store.identity_salt("alice", b"salt").await?;
    store.insert_token(&token("t1")).await?;
    assert!(store.revoke_token("t1", 7).await?);
    assert_eq!(
        next(&mut rx).await?,
        StoreChange::TokenRevoked("t1".to_owned())
    );
    assert!(!store.revoke_token("t1", 8).await?);
    quiet(&mut rx).await?;
    Ok(())
}

async fn published_messages_reach_every_subscriber(db: Db) -> TestResult {
    let store = db.open().await?;
    let (mut one, mut two) = (store.subscribe(), store.subscribe());
    let body = "x".repeat(7 * 1024);
    store.publish("approvals", &body).await?;
    let expected = StoreChange::Message {
        topic: "approvals".to_owned(),
        body,
    };
    assert_eq!(next(&mut one).await?, expected);
    assert_eq!(next(&mut two).await?, expected);
    // Lines and separators in the body survive the payload encoding.
    let body = "line one\nline: two\n".to_owned();
    store.publish("t:opic", &body).await?;
    let expected = StoreChange::Message {
        topic: "t:opic".to_owned(),
        body,
    };
    assert_eq!(next(&mut one).await?, expected);
    assert_eq!(next(&mut two).await?, expected);

    for (topic, body) in [("", "x"), ("two\nlines", "x"), ("big", &"x".repeat(7_995))] {
        assert!(
            matches!(
                store.publish(topic, body).await,
                Err(StoreError::InvalidArgument(_))
            ),
            "{topic:?} accepted"
        );
    }
    quiet(&mut two).await?;
    Ok(())
}

async fn backend_facts(db: Db) -> TestResult {
    let store = db.open().await?;
    let postgres = db.backend == Backend::Postgres;
    assert_eq!(
        store.backend(),
        if postgres { "postgres" } else { "sqlite" }
    );
    assert_eq!(store.notifies_across_processes(), postgres);
    assert!(store.listening());
    store.ping().await?;
    Ok(())
}

async fn open_sessions_of_live_gateways(db: Db) -> TestResult {
    let one = db.open().await?;
    let two = db.open().await?;
    let session = |id: &str, gateway: &str, started_at_ms| OpenSession {
        id: id.to_owned(),
        gateway: gateway.to_owned(),
        started_at_ms,
    };
    one.gateway_heartbeat("gw-a", 1_000, "sha256:a").await?;
    two.gateway_heartbeat("gw-b", 500, "sha256:b").await?;
    // A heartbeat never moves back, nor does the policy it carried.
    two.gateway_heartbeat("gw-b", 400, "sha256:old").await?;
    let seen: Vec<(String, i64, Option<String>)> = one
        .gateways()
        .await?
        .into_iter()
        .map(|g| (g.name, g.last_seen_ms, g.policy))
        .collect();
    assert_eq!(
        seen,
        [
            ("gw-a".to_owned(), 1_000, Some("sha256:a".to_owned())),
            ("gw-b".to_owned(), 500, Some("sha256:b".to_owned()))
        ]
    );

    one.session_opened(&session("s1", "gw-a", 10)).await?;
    one.session_opened(&session("s3", "gw-a", 30)).await?;
    two.session_opened(&session("s2", "gw-b", 20)).await?;
    // Recording a session again replaces it.
    two.session_opened(&session("s2", "gw-b", 25)).await?;
    // Each gateway sees the others' sessions.
    assert_eq!(
        two.open_sessions(0).await?,
        [
            session("s1", "gw-a", 10),
            session("s2", "gw-b", 25),
            session("s3", "gw-a", 30)
        ]
    );
    // gw-b has not been seen since 500: its sessions are presumed over.
    assert_eq!(
        one.open_sessions(800).await?,
        [session("s1", "gw-a", 10), session("s3", "gw-a", 30)]
    );

    one.session_closed("s1").await?;
    one.session_closed("never-opened").await?;
    assert_eq!(
        two.open_sessions(0).await?,
        [session("s2", "gw-b", 25), session("s3", "gw-a", 30)]
    );
    // gw-a restarts: what it had open before is over.
    assert_eq!(one.sessions_of_gateway_ended("gw-a").await?, 1);
    assert_eq!(one.sessions_of_gateway_ended("gw-a").await?, 0);
    assert_eq!(two.open_sessions(0).await?, [session("s2", "gw-b", 25)]);
    Ok(())
}

backend_tests!(
    writes_publish_their_changes,
    published_messages_reach_every_subscriber,
    backend_facts,
    open_sessions_of_live_gateways,
);

/// A write through one PostgreSQL store reaches another store's subscribers within 50 ms
/// of the write returning (the notification is sent at commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_changes_cross_stores_promptly() -> TestResult {
    let db = Db::new(Backend::Postgres).await?;
    let writer = db.open().await?;
    let reader = db.open().await?;
    let (mut theirs, mut ours) = (reader.subscribe(), writer.subscribe());
    writer.identity_salt("alice", b"salt").await?;
    writer.insert_token(&token("t1")).await?;
    // The first round also warms connections and statement caches.
    for round in 0..5 {
        let id = writer.insert_review(&review("alice")).await?;
        let written = Instant::now();
        assert_eq!(next(&mut theirs).await?, StoreChange::Review(id));
        let latency = written.elapsed();
        assert!(
            round == 0 || latency < Duration::from_millis(50),
            "round {round}: {latency:?}"
        );
        // The writer's own subscribers hear of it too, once.
        assert_eq!(next(&mut ours).await?, StoreChange::Review(id));
    }
    let revoked = Instant::now();
    writer.revoke_token("t1", 5).await?;
    assert_eq!(
        next(&mut theirs).await?,
        StoreChange::TokenRevoked("t1".to_owned())
    );
    assert!(revoked.elapsed() < Duration::from_millis(50));
    assert_eq!(
        next(&mut ours).await?,
        StoreChange::TokenRevoked("t1".to_owned())
    );
    // Readable once delivered: the notification is sent at commit.
    assert_eq!(
        reader.token("t1").await?.ok_or("missing")?.revoked_at,
        Some(5)
    );

    reader.publish("hello", "from the reader").await?;
    let expected = StoreChange::Message {
        topic: "hello".to_owned(),
        body: "from the reader".to_owned(),
    };
    assert_eq!(next(&mut ours).await?, expected);
    assert_eq!(next(&mut theirs).await?, expected);
    Ok(())
}

/// Backends of this database's listener connections.
async fn listener_backends(url: &str) -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE application_name = 'sluice-listener' AND datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    Ok(count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_listener_reconnects_and_asks_for_a_resync() -> TestResult {
    let db = Db::new(Backend::Postgres).await?;
    let url = db.url().ok_or("no url")?.to_owned();
    let store = db.open().await?;
    let mut rx = store.subscribe();
    assert!(store.listening());

    let mut admin = sqlx::PgConnection::connect(&url).await?;
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = 'sluice-listener' AND datname = current_database()",
    )
    .fetch_one(&mut admin)
    .await?;
    assert_eq!(killed, 1);
    assert_eq!(next(&mut rx).await?, StoreChange::Resync);
    assert!(store.listening());

    // Listening again for real: a write elsewhere is delivered.
    let other = db.open().await?;
    let id = other.insert_review(&review("alice")).await?;
    assert_eq!(next(&mut rx).await?, StoreChange::Review(id));
    admin.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dropping_the_store_ends_its_listener() -> TestResult {
    let db = Db::new(Backend::Postgres).await?;
    let url = db.url().ok_or("no url")?.to_owned();
    let store = db.open().await?;
    let clone = Arc::clone(&store);
    assert_eq!(listener_backends(&url).await?, 1);
    drop(store);
    // Clones keep it alive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(listener_backends(&url).await?, 1);
    drop(clone);
    let deadline = Instant::now() + PATIENCE;
    while listener_backends(&url).await? != 0 {
        assert!(Instant::now() < deadline, "the listener outlived its store");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_opens_migrate_once() -> TestResult {
    let db = Arc::new(Db::new(Backend::Postgres).await?);
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let db = Arc::clone(&db);
            tokio::spawn(async move { db.open().await })
        })
        .collect();
    for open in opens {
        open.await??;
    }
    let url = db.url().ok_or("no url")?;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let (applied, failed): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE NOT success) FROM _sqlx_migrations",
    )
    .fetch_one(&mut conn)
    .await?;
    let files =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))?.count();
    assert_eq!((applied, failed), (i64::try_from(files)?, 0));
    conn.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_password_never_shows() -> TestResult {
    let db = Db::new(Backend::Postgres).await?;
    let url = db.url().ok_or("no url")?.to_owned();
    let store = PostgresStore::open(&url).await?;
    let shown = [
        format!("{store:?}"),
        format!("{:?}", db.location),
        db.location.to_string(),
    ];
    for text in &shown {
        assert!(!text.contains(common::PASSWORD), "{text}");
        assert!(text.contains("127.0.0.1"), "{text}");
    }
    let in_query = StoreLocation::parse(&format!(
        "postgresql://127.0.0.1/db?user=u&password={}&sslmode=disable",
        common::PASSWORD
    ));
    assert!(matches!(in_query, StoreLocation::Postgres(_)));
    assert!(!in_query.to_string().contains(common::PASSWORD));

    // Nothing listens on this port: the error comes quickly and without the password.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let started = Instant::now();
    let unreachable = PostgresStore::open(&common::url(closed, "db")).await;
    assert!(started.elapsed() < Duration::from_secs(15));
    let err = unreachable.err().ok_or("opened a store nobody serves")?;
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(common::PASSWORD), "{text}");
    }

    let malformed = PostgresStore::open(&format!(
        "postgres://u:{}@127.0.0.1:notaport/db",
        common::PASSWORD
    ))
    .await;
    let err = malformed.err().ok_or("opened a malformed URL")?;
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(common::PASSWORD), "{text}");
    }
    Ok(())
}

/// A store that accepts connections but never answers (a hung server, a black hole on the
/// path) yields an error after the connect timeout instead of hanging its caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_silent_store_fails_within_the_timeout() -> TestResult {
    // Connections complete in the kernel's backlog; nobody ever reads or answers them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = silent.local_addr()?.port();
    let started = Instant::now();
    let opened = tokio::time::timeout(
        Duration::from_secs(30),
        PostgresStore::open(&common::url(port, "db")),
    )
    .await?;
    let elapsed = started.elapsed();
    let err = opened.err().ok_or("opened a store that never answered")?;
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert!(!err.to_string().contains(common::PASSWORD), "{err}");
    drop(silent);
    Ok(())
}

#[test]
fn locations_pick_their_backend() {
    for url in [
        "postgres://h/db",
        "postgresql://u:p@h:5432/db",
        "POSTGRES://h/db",
    ] {
        assert!(
            matches!(StoreLocation::parse(url), StoreLocation::Postgres(_)),
            "{url}"
        );
    }
    for path in ["/var/lib/sluice/sluice.db", "sluice.db", "postgres.db"] {
        assert!(
            matches!(StoreLocation::parse(path), StoreLocation::Sqlite(_)),
            "{path}"
        );
    }
}
