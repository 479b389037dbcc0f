-- Mirrors migrations/sqlite/0002_approvals.sql; see there for why each part exists.

-- BIGSERIAL takes ids from a sequence, which never hands an id out twice (like SQLite's
-- AUTOINCREMENT), even across rolled back inserts and deleted rows.
CREATE TABLE reviews (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT NOT NULL,
    state         TEXT NOT NULL
                  CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
    requester     TEXT NOT NULL,
    target        TEXT NOT NULL,
    detail        TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    decided_at_ms BIGINT
);

CREATE INDEX reviews_state_created_idx ON reviews (state, created_at_ms);
CREATE INDEX reviews_requester_created_idx ON reviews (requester, created_at_ms);
CREATE INDEX reviews_created_idx ON reviews (created_at_ms);

CREATE TABLE review_decisions (
    id        BIGSERIAL PRIMARY KEY,
    review_id BIGINT NOT NULL REFERENCES reviews (id),
    reviewer  TEXT NOT NULL,
    -- BOOLEAN where SQLite has an INTEGER 0/1: both decode as the same Rust bool.
    approve   BOOLEAN NOT NULL,
    comment   TEXT,
    at_ms     BIGINT NOT NULL,
    UNIQUE (review_id, reviewer)
);

CREATE TABLE grants (
    id                 BIGSERIAL PRIMARY KEY,
    identity           TEXT NOT NULL,
    target             TEXT NOT NULL,
    scope              TEXT NOT NULL,
    reason             TEXT NOT NULL,
    approvers          TEXT NOT NULL,
    review_id          BIGINT REFERENCES reviews (id),
    created_at_ms      BIGINT NOT NULL,
    expires_at_ms      BIGINT NOT NULL,
    revoked_at_ms      BIGINT,
    revoked_by         TEXT,
    expiry_noted_at_ms BIGINT
);

CREATE INDEX grants_identity_target_idx ON grants (identity, target, expires_at_ms);
CREATE INDEX grants_target_idx ON grants (target, expires_at_ms);
CREATE INDEX grants_unnoted_expiry_idx ON grants (expires_at_ms)
    WHERE revoked_at_ms IS NULL AND expiry_noted_at_ms IS NULL;
CREATE INDEX grants_created_idx ON grants (created_at_ms);
-- Not in the SQLite schema: PostgreSQL does not index the referencing side of a foreign key,
-- and listing a review's grants (GrantFilter::review_id) would otherwise scan every grant.
CREATE INDEX grants_review_idx ON grants (review_id) WHERE review_id IS NOT NULL;
