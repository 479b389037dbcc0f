-- Reviews (requests for human approval), reviewers' decisions on them, and the
-- time-bound access grants they lead to. Timestamps here are unix milliseconds
-- (unlike the token tables) so approval latency can be measured from stored rows.

-- AUTOINCREMENT so an id is never handed out twice, even after the newest row is
-- gone: ids appear in audit records and notifications, and must keep meaning one
-- review forever.
CREATE TABLE reviews (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,
    state         TEXT NOT NULL
                  CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
    requester     TEXT NOT NULL,
    target        TEXT NOT NULL,
    -- The caller's JSON document; the store never looks inside it.
    detail        TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    decided_at_ms INTEGER
);

-- Serve the listing filters; each also covers the time-range part of the filter.
CREATE INDEX reviews_state_created_idx ON reviews (state, created_at_ms);
CREATE INDEX reviews_requester_created_idx ON reviews (requester, created_at_ms);
CREATE INDEX reviews_created_idx ON reviews (created_at_ms);

CREATE TABLE review_decisions (
    -- Only orders decisions recorded in the same millisecond by insertion, with
    -- a column PostgreSQL can mirror instead of SQLite's implicit rowid.
    id        INTEGER PRIMARY KEY,
    review_id INTEGER NOT NULL REFERENCES reviews (id),
    reviewer  TEXT NOT NULL,
    approve   INTEGER NOT NULL CHECK (approve IN (0, 1)),
    comment   TEXT,
    at_ms     INTEGER NOT NULL,
    -- A reviewer decides a review at most once; concurrent duplicate decisions
    -- are settled here rather than by a read-then-write in the application. Its
    -- index (leading on review_id) also serves fetching a review's decisions.
    UNIQUE (review_id, reviewer)
);

CREATE TABLE grants (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    identity           TEXT NOT NULL,
    target             TEXT NOT NULL,
    scope              TEXT NOT NULL,
    reason             TEXT NOT NULL,
    -- JSON array of reviewer names; nothing filters on it.
    approvers          TEXT NOT NULL,
    -- NULL when a policy granted access without a review.
    review_id          INTEGER REFERENCES reviews (id),
    created_at_ms      INTEGER NOT NULL,
    expires_at_ms      INTEGER NOT NULL,
    revoked_at_ms      INTEGER,
    revoked_by         TEXT,
    expiry_noted_at_ms INTEGER
);

-- Serves "live grants of this identity (for this target)", checked on connect.
CREATE INDEX grants_identity_target_idx ON grants (identity, target, expires_at_ms);
-- Serves listing the grants on one target.
CREATE INDEX grants_target_idx ON grants (target, expires_at_ms);
-- Serves the expiry sweep, which every gateway runs periodically; partial so it
-- stays as small as the set of grants still waiting to be announced.
CREATE INDEX grants_unnoted_expiry_idx ON grants (expires_at_ms)
    WHERE revoked_at_ms IS NULL AND expiry_noted_at_ms IS NULL;
CREATE INDEX grants_created_idx ON grants (created_at_ms);
