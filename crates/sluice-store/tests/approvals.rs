//! Behavioural tests of reviews and grants, run against both backends through the public
//! `Store` trait.

mod common;

use common::{Db, TestResult};
use sluice_store::{
    GrantFilter, GrantRecord, ReviewFilter, ReviewRecord, ReviewerDecision, Store, StoreError,
};

fn review(requester: &str, state: &str, created_at_ms: i64) -> ReviewRecord {
    ReviewRecord {
        id: 0,
        kind: "statement".to_owned(),
        state: state.to_owned(),
        requester: requester.to_owned(),
        target: "prod".to_owned(),
        detail: r#"{"sql":"DELETE FROM users"}"#.to_owned(),
        created_at_ms,
        expires_at_ms: created_at_ms + 60_000,
        decided_at_ms: None,
        decisions: Vec::new(),
    }
}

fn decision(reviewer: &str, approve: bool, at_ms: i64) -> ReviewerDecision {
    ReviewerDecision {
        reviewer: reviewer.to_owned(),
        approve,
        comment: None,
        at_ms,
        groups: None,
    }
}

fn grant(identity: &str, target: &str, created_at_ms: i64, expires_at_ms: i64) -> GrantRecord {
    GrantRecord {
        id: 0,
        identity: identity.to_owned(),
        target: target.to_owned(),
        scope: "read".to_owned(),
        reason: "incident 42".to_owned(),
        approvers: vec!["carol".to_owned()],
        review_id: None,
        created_at_ms,
        expires_at_ms,
        revoked_at_ms: None,
        revoked_by: None,
        expiry_noted_at_ms: None,
    }
}

fn review_ids(reviews: &[ReviewRecord]) -> Vec<i64> {
    reviews.iter().map(|r| r.id).collect()
}

fn grant_ids(grants: &[GrantRecord]) -> Vec<i64> {
    grants.iter().map(|g| g.id).collect()
}

fn reviewers(review: &ReviewRecord) -> Vec<&str> {
    review
        .decisions
        .iter()
        .map(|d| d.reviewer.as_str())
        .collect()
}

async fn review_round_trip_ignores_id_and_decisions(db: Db) -> TestResult {
    let store = db.open().await?;
    let mut record = review("alice", "pending", 1_000);
    // Both are the store's to fill in and must be ignored on insert.
    record.id = 999;
    record.decisions = vec![decision("mallory", true, 1)];

    let first = store.insert_review(&record).await?;
    let second = store
        .insert_review(&review("bob", "pending", 2_000))
        .await?;
    let third = store
        .insert_review(&review("bob", "pending", 3_000))
        .await?;
    assert_ne!(first, 999);
    assert!(first < second && second < third, "{first} {second} {third}");

    let stored = store.review(first).await?.ok_or("review missing")?;
    let expected = ReviewRecord {
        id: first,
        decisions: Vec::new(),
        ..record
    };
    assert_eq!(stored, expected);
    assert_eq!(store.review(third + 1).await?, None);

    // A review inserted already settled keeps its decision time.
    let settled = ReviewRecord {
        decided_at_ms: Some(4_500),
        ..review("carol", "cancelled", 4_000)
    };
    let id = store.insert_review(&settled).await?;
    assert_eq!(
        store.review(id).await?,
        Some(ReviewRecord { id, ..settled })
    );
    Ok(())
}

async fn insert_review_rejects_unknown_state(db: Db) -> TestResult {
    let store = db.open().await?;
    assert!(matches!(
        store.insert_review(&review("alice", "maybe", 1)).await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(store
        .list_reviews(&ReviewFilter::default())
        .await?
        .is_empty());
    Ok(())
}

async fn list_reviews_applies_every_filter(db: Db) -> TestResult {
    let store = db.open().await?;
    let a = store
        .insert_review(&review("alice", "pending", 100))
        .await?;
    let b = store.insert_review(&review("bob", "pending", 200)).await?;
    let c = store.insert_review(&review("alice", "denied", 300)).await?;
    // Created earlier than `c` but inserted later: listing is by id, not by time.
    let d = store
        .insert_review(&review("alice", "pending", 250))
        .await?;

    let list = |filter: ReviewFilter| {
        let store = &store;
        async move { store.list_reviews(&filter).await.map(|r| review_ids(&r)) }
    };
    assert_eq!(list(ReviewFilter::default()).await?, [a, b, c, d]);
    assert_eq!(
        list(ReviewFilter {
            state: Some("pending".to_owned()),
            ..ReviewFilter::default()
        })
        .await?,
        [a, b, d]
    );
    assert_eq!(
        list(ReviewFilter {
            requester: Some("alice".to_owned()),
            ..ReviewFilter::default()
        })
        .await?,
        [a, c, d]
    );
    // `since_ms` is inclusive, `until_ms` exclusive.
    assert_eq!(
        list(ReviewFilter {
            since_ms: Some(200),
            ..ReviewFilter::default()
        })
        .await?,
        [b, c, d]
    );
    assert_eq!(
        list(ReviewFilter {
            until_ms: Some(250),
            ..ReviewFilter::default()
        })
        .await?,
        [a, b]
    );
    assert_eq!(
        list(ReviewFilter {
            state: Some("pending".to_owned()),
            requester: Some("alice".to_owned()),
            since_ms: Some(200),
            until_ms: Some(300),
        })
        .await?,
        [d]
    );
    assert!(list(ReviewFilter {
        requester: Some("nobody".to_owned()),
        ..ReviewFilter::default()
    })
    .await?
    .is_empty());
    Ok(())
}

async fn decisions_are_ordered_by_time_then_insertion(db: Db) -> TestResult {
    let store = db.open().await?;
    let first = store.insert_review(&review("alice", "pending", 1)).await?;
    let undecided = store.insert_review(&review("alice", "pending", 2)).await?;
    let last = store.insert_review(&review("bob", "pending", 3)).await?;

    let commented = ReviewerDecision {
        comment: Some("looks fine".to_owned()),
        groups: Some(vec!["dba".to_owned(), "ops".to_owned()]),
        ..decision("zed", true, 30)
    };
    store.add_review_decision(first, &commented).await?;
    store
        .add_review_decision(first, &decision("yan", false, 10))
        .await?;
    // Same time as `yan` but recorded later, so it comes after despite sorting first
    // by name.
    store
        .add_review_decision(first, &decision("abe", true, 10))
        .await?;
    store
        .add_review_decision(last, &decision("carol", true, 5))
        .await?;

    let stored = store.review(first).await?.ok_or("review missing")?;
    assert_eq!(reviewers(&stored), ["yan", "abe", "zed"]);
    assert_eq!(
        stored.decisions[2], commented,
        "round trip keeps every field"
    );
    assert!(!stored.decisions[0].approve);

    // The listing attaches each decision to its own review, including around a
    // review without any.
    let listed = store.list_reviews(&ReviewFilter::default()).await?;
    assert_eq!(review_ids(&listed), [first, undecided, last]);
    assert_eq!(listed[0], stored);
    assert!(listed[1].decisions.is_empty());
    assert_eq!(reviewers(&listed[2]), ["carol"]);

    // Filters narrow the reviews, never the decisions of a matching review.
    let bobs = store
        .list_reviews(&ReviewFilter {
            requester: Some("bob".to_owned()),
            ..ReviewFilter::default()
        })
        .await?;
    assert_eq!(review_ids(&bobs), [last]);
    assert_eq!(reviewers(&bobs[0]), ["carol"]);
    Ok(())
}

async fn a_reviewer_decides_once(db: Db) -> TestResult {
    let store = db.open().await?;
    let id = store.insert_review(&review("alice", "pending", 1)).await?;
    store
        .add_review_decision(id, &decision("carol", true, 10))
        .await?;

    let again = store
        .add_review_decision(id, &decision("carol", false, 20))
        .await;
    assert!(
        matches!(&again, Err(StoreError::DuplicateDecision { id: got, reviewer })
            if *got == id && reviewer == "carol"),
        "{again:?}"
    );
    // Another reviewer still can, and the same reviewer can decide another review.
    store
        .add_review_decision(id, &decision("dave", true, 30))
        .await?;
    let other = store.insert_review(&review("alice", "pending", 2)).await?;
    store
        .add_review_decision(other, &decision("carol", true, 40))
        .await?;

    let stored = store.review(id).await?.ok_or("review missing")?;
    assert_eq!(reviewers(&stored), ["carol", "dave"]);
    assert!(stored.decisions[0].approve, "the first decision stands");
    Ok(())
}

async fn decisions_need_an_existing_pending_review(db: Db) -> TestResult {
    let store = db.open().await?;
    let id = store.insert_review(&review("alice", "pending", 1)).await?;
    store
        .add_review_decision(id, &decision("carol", true, 10))
        .await?;
    assert!(store
        .settle_review_granting(id, "approved", 20, None)
        .await?
        .is_some());

    let late = store
        .add_review_decision(id, &decision("dave", false, 30))
        .await;
    assert!(
        matches!(late, Err(StoreError::ReviewSettled(got)) if got == id),
        "{late:?}"
    );
    // A reviewer who already decided gets the same answer once it is settled.
    let repeat = store
        .add_review_decision(id, &decision("carol", true, 30))
        .await;
    assert!(
        matches!(repeat, Err(StoreError::ReviewSettled(got)) if got == id),
        "{repeat:?}"
    );
    assert_eq!(
        reviewers(&store.review(id).await?.ok_or("review missing")?),
        ["carol"]
    );

    let missing = store
        .add_review_decision(id + 1, &decision("dave", true, 30))
        .await;
    assert!(
        matches!(missing, Err(StoreError::ReviewNotFound(got)) if got == id + 1),
        "{missing:?}"
    );
    Ok(())
}

/// Settles without a grant; whether this call settled it.
async fn settle(store: &dyn Store, id: i64, state: &str, at_ms: i64) -> Result<bool, StoreError> {
    Ok(store
        .settle_review_granting(id, state, at_ms, None)
        .await?
        .is_some())
}

async fn a_review_settles_once(db: Db) -> TestResult {
    let store = db.open().await?;
    let id = store.insert_review(&review("alice", "pending", 1)).await?;

    for bad in ["pending", "bogus", ""] {
        assert!(
            matches!(
                settle(&*store, id, bad, 5).await,
                Err(StoreError::InvalidArgument(_))
            ),
            "{bad:?} accepted"
        );
    }
    assert!(settle(&*store, id, "denied", 10).await?);
    assert!(!settle(&*store, id, "approved", 20).await?);
    assert!(!settle(&*store, id, "denied", 30).await?);
    assert!(!settle(&*store, id + 1, "denied", 30).await?);

    let stored = store.review(id).await?.ok_or("review missing")?;
    assert_eq!(stored.state, "denied");
    assert_eq!(stored.decided_at_ms, Some(10));

    for state in ["approved", "expired", "cancelled"] {
        let id = store.insert_review(&review("alice", "pending", 2)).await?;
        assert!(settle(&*store, id, state, 40).await?);
        assert_eq!(
            store.review(id).await?.ok_or("review missing")?.state,
            state
        );
    }
    Ok(())
}

async fn settling_with_a_grant_stores_it_with_the_review(db: Db) -> TestResult {
    let store = db.open().await?;
    let id = store.insert_review(&review("alice", "pending", 1)).await?;
    // The grant's own `id` and `review_id` are the store's to set.
    let proposed = GrantRecord {
        id: 999,
        review_id: Some(12345),
        ..grant("alice", "prod", 100, 5_000)
    };
    let settled = store
        .settle_review_granting(id, "approved", 100, Some(&proposed))
        .await?;
    let Some(Some(grant_id)) = settled else {
        return Err(format!("not settled with a grant: {settled:?}").into());
    };
    assert_eq!(
        store.grant(grant_id).await?,
        Some(GrantRecord {
            id: grant_id,
            review_id: Some(id),
            ..proposed.clone()
        })
    );
    let stored = store.review(id).await?.ok_or("review missing")?;
    assert_eq!(
        (stored.state.as_str(), stored.decided_at_ms),
        ("approved", Some(100))
    );

    // Settled already: nothing is written, in particular no second grant.
    assert_eq!(
        store
            .settle_review_granting(id, "approved", 200, Some(&proposed))
            .await?,
        None
    );
    // A review that does not exist grants nothing either.
    assert_eq!(
        store
            .settle_review_granting(id + 1, "approved", 200, Some(&proposed))
            .await?,
        None
    );
    // Nor does a refused state.
    let other = store.insert_review(&review("bob", "pending", 2)).await?;
    assert!(matches!(
        store
            .settle_review_granting(other, "pending", 200, Some(&proposed))
            .await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert_eq!(
        grant_ids(&store.list_grants(&GrantFilter::default()).await?),
        [grant_id]
    );

    // Without a grant, the review settles and no grant appears.
    assert_eq!(
        store
            .settle_review_granting(other, "denied", 300, None)
            .await?,
        Some(None)
    );
    assert_eq!(store.list_grants(&GrantFilter::default()).await?.len(), 1);
    Ok(())
}

async fn concurrent_settlements_have_one_winner(db: Db) -> TestResult {
    // Several stores stand for several gateways sharing the database; every one of them
    // tries to settle each review, approving ones with a grant.
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(db.open().await?);
    }
    for round in 0..10 {
        let id = stores[0]
            .insert_review(&review("alice", "pending", round))
            .await?;
        let mut settlers = Vec::new();
        for (n, store) in stores.iter().cycle().take(8).enumerate() {
            let store = std::sync::Arc::clone(store);
            let n = i64::try_from(n)?;
            settlers.push(tokio::spawn(async move {
                let (state, granted) = if n % 2 == 0 {
                    ("approved", Some(grant("alice", "prod", n, 10_000)))
                } else {
                    ("expired", None)
                };
                let settled = store
                    .settle_review_granting(id, state, n, granted.as_ref())
                    .await?;
                Ok::<_, StoreError>(settled.map(|grant_id| (n, grant_id)))
            }));
        }
        let mut winners = Vec::new();
        for settler in settlers {
            if let Some(won) = settler.await?? {
                winners.push(won);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let (n, grant_id) = winners[0];

        let stored = stores[1].review(id).await?.ok_or("review missing")?;
        let expected_state = if n % 2 == 0 { "approved" } else { "expired" };
        assert_eq!(stored.state, expected_state, "round {round}");
        assert_eq!(stored.decided_at_ms, Some(n), "round {round}");
        let grants = stores[2]
            .list_grants(&GrantFilter {
                review_id: Some(id),
                ..GrantFilter::default()
            })
            .await?;
        assert_eq!(
            grant_ids(&grants),
            grant_id.into_iter().collect::<Vec<_>>(),
            "round {round}"
        );
        assert_eq!(grant_id.is_some(), n % 2 == 0, "round {round}");
    }
    Ok(())
}

async fn grant_round_trip_and_ids(db: Db) -> TestResult {
    let store = db.open().await?;
    let review_id = store.insert_review(&review("alice", "approved", 1)).await?;
    let full = GrantRecord {
        id: 999,
        // Names that need JSON escaping survive the array encoding.
        approvers: vec![
            "carol".to_owned(),
            "d\"ave, \\ the second".to_owned(),
            "émile".to_owned(),
        ],
        review_id: Some(review_id),
        revoked_at_ms: Some(1_500),
        revoked_by: Some("security".to_owned()),
        expiry_noted_at_ms: Some(1_600),
        ..grant("alice", "prod", 1_000, 2_000)
    };
    let first = store.insert_grant(&full).await?;
    let empty = GrantRecord {
        approvers: Vec::new(),
        ..grant("bob", "prod", 1_000, 2_000)
    };
    let second = store.insert_grant(&empty).await?;
    assert_ne!(first, 999);
    assert!(first < second);

    assert_eq!(
        store.grant(first).await?,
        Some(GrantRecord { id: first, ..full })
    );
    assert_eq!(
        store.grant(second).await?,
        Some(GrantRecord {
            id: second,
            ..empty
        })
    );
    assert_eq!(store.grant(second + 1).await?, None);

    // A grant may only point at a review that exists.
    let dangling = GrantRecord {
        review_id: Some(review_id + 100),
        ..grant("alice", "prod", 1_000, 2_000)
    };
    let result = store.insert_grant(&dangling).await;
    assert!(
        matches!(result, Err(StoreError::ReviewNotFound(got)) if got == review_id + 100),
        "{result:?}"
    );
    Ok(())
}

async fn list_grants_applies_every_filter(db: Db) -> TestResult {
    let store = db.open().await?;
    let now = 10_000;
    let live = store
        .insert_grant(&grant("alice", "prod", 1_000, now + 1))
        .await?;
    // Expiry is exclusive: a grant is no longer live at its expiry time.
    let at_now = store
        .insert_grant(&grant("alice", "prod", 2_000, now))
        .await?;
    let expired = store
        .insert_grant(&grant("alice", "staging", 3_000, now - 1))
        .await?;
    let revoked = store
        .insert_grant(&GrantRecord {
            revoked_at_ms: Some(5_000),
            revoked_by: Some("security".to_owned()),
            ..grant("alice", "prod", 4_000, now + 1_000)
        })
        .await?;
    let noted = store
        .insert_grant(&GrantRecord {
            expiry_noted_at_ms: Some(now - 500),
            ..grant("bob", "prod", 5_000, now - 1_000)
        })
        .await?;
    let bobs_live = store
        .insert_grant(&grant("bob", "staging", 6_000, now + 5_000))
        .await?;

    let list = |filter: GrantFilter| {
        let store = &store;
        async move { store.list_grants(&filter).await.map(|g| grant_ids(&g)) }
    };
    assert_eq!(
        list(GrantFilter::default()).await?,
        [live, at_now, expired, revoked, noted, bobs_live]
    );
    assert_eq!(
        list(GrantFilter {
            identity: Some("bob".to_owned()),
            ..GrantFilter::default()
        })
        .await?,
        [noted, bobs_live]
    );
    assert_eq!(
        list(GrantFilter {
            target: Some("staging".to_owned()),
            ..GrantFilter::default()
        })
        .await?,
        [expired, bobs_live]
    );
    assert_eq!(
        list(GrantFilter {
            live_at_ms: Some(now),
            ..GrantFilter::default()
        })
        .await?,
        [live, bobs_live]
    );
    assert_eq!(
        list(GrantFilter {
            identity: Some("alice".to_owned()),
            target: Some("prod".to_owned()),
            live_at_ms: Some(now),
            ..GrantFilter::default()
        })
        .await?,
        [live]
    );
    // The expiry bound is inclusive; revoked grants and already noted ones are left out.
    assert_eq!(
        list(GrantFilter {
            unnoted_expiry_by_ms: Some(now),
            ..GrantFilter::default()
        })
        .await?,
        [at_now, expired]
    );
    assert_eq!(
        list(GrantFilter {
            unnoted_expiry_by_ms: Some(now - 1),
            ..GrantFilter::default()
        })
        .await?,
        [expired]
    );
    assert_eq!(
        list(GrantFilter {
            since_ms: Some(4_000),
            ..GrantFilter::default()
        })
        .await?,
        [revoked, noted, bobs_live]
    );
    assert_eq!(
        list(GrantFilter {
            since_ms: Some(2_000),
            live_at_ms: Some(now),
            ..GrantFilter::default()
        })
        .await?,
        [bobs_live]
    );
    assert!(list(GrantFilter {
        identity: Some("nobody".to_owned()),
        ..GrantFilter::default()
    })
    .await?
    .is_empty());
    Ok(())
}

async fn revoke_grant_only_while_live(db: Db) -> TestResult {
    let store = db.open().await?;
    let id = store
        .insert_grant(&grant("alice", "prod", 1_000, 5_000))
        .await?;

    assert!(store.revoke_grant(id, 2_000, "security").await?);
    assert!(!store.revoke_grant(id, 3_000, "someone else").await?);
    let stored = store.grant(id).await?.ok_or("grant missing")?;
    assert_eq!(stored.revoked_at_ms, Some(2_000), "first revocation kept");
    assert_eq!(stored.revoked_by.as_deref(), Some("security"));
    assert!(store
        .list_grants(&GrantFilter {
            live_at_ms: Some(2_500),
            ..GrantFilter::default()
        })
        .await?
        .is_empty());

    // An expired grant cannot be revoked, including exactly at its expiry.
    let expired = store
        .insert_grant(&grant("alice", "prod", 1_000, 5_000))
        .await?;
    assert!(!store.revoke_grant(expired, 5_000, "security").await?);
    assert!(!store.revoke_grant(expired, 6_000, "security").await?);
    let stored = store.grant(expired).await?.ok_or("grant missing")?;
    assert_eq!((stored.revoked_at_ms, stored.revoked_by), (None, None));

    assert!(!store.revoke_grant(expired + 1, 2_000, "security").await?);
    Ok(())
}

async fn grant_expiry_is_noted_once(db: Db) -> TestResult {
    let one = db.open().await?;
    let two = db.open().await?;
    let id = one
        .insert_grant(&grant("alice", "prod", 1_000, 5_000))
        .await?;
    let sweep = GrantFilter {
        unnoted_expiry_by_ms: Some(6_000),
        ..GrantFilter::default()
    };
    assert_eq!(grant_ids(&two.list_grants(&sweep).await?), [id]);

    // Two gateways sweeping at once: only the first announces it.
    assert!(two.note_grant_expired(id, 6_000).await?);
    assert!(!one.note_grant_expired(id, 6_100).await?);
    assert_eq!(
        one.grant(id)
            .await?
            .ok_or("grant missing")?
            .expiry_noted_at_ms,
        Some(6_000)
    );
    assert!(one.list_grants(&sweep).await?.is_empty());
    assert!(!one.note_grant_expired(id + 1, 6_000).await?);
    Ok(())
}

async fn data_survives_reopening(db: Db) -> TestResult {
    let store = db.open().await?;
    let review_id = store.insert_review(&review("alice", "pending", 1)).await?;
    store
        .add_review_decision(review_id, &decision("carol", true, 2))
        .await?;
    let grant_id = store
        .insert_grant(&GrantRecord {
            review_id: Some(review_id),
            ..grant("alice", "prod", 3, 4)
        })
        .await?;
    drop(store);

    let reopened = db.open().await?;
    let stored = reopened.review(review_id).await?.ok_or("review missing")?;
    assert_eq!(reviewers(&stored), ["carol"]);
    let stored = reopened.grant(grant_id).await?.ok_or("grant missing")?;
    assert_eq!(stored.review_id, Some(review_id));
    // Ids keep increasing across reopening.
    assert!(reopened.insert_review(&review("bob", "pending", 5)).await? > review_id);
    assert!(reopened.insert_grant(&grant("bob", "prod", 5, 6)).await? > grant_id);
    Ok(())
}

backend_tests!(
    review_round_trip_ignores_id_and_decisions,
    insert_review_rejects_unknown_state,
    list_reviews_applies_every_filter,
    decisions_are_ordered_by_time_then_insertion,
    a_reviewer_decides_once,
    decisions_need_an_existing_pending_review,
    a_review_settles_once,
    settling_with_a_grant_stores_it_with_the_review,
    concurrent_settlements_have_one_winner,
    grant_round_trip_and_ids,
    list_grants_applies_every_filter,
    revoke_grant_only_while_live,
    grant_expiry_is_noted_once,
    data_survives_reopening,
);
