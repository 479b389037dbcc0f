-- Mirrors migrations/sqlite/0001_tokens.sql (same tables, columns and indexes, so every query
-- is written once for both backends); see there for why each exists.
CREATE TABLE identities (
    identity TEXT PRIMARY KEY NOT NULL,
    salt     BYTEA NOT NULL
);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    identity     TEXT NOT NULL REFERENCES identities (identity),
    stored_key   BYTEA NOT NULL,
    server_key   BYTEA NOT NULL,
    -- BIGINT although it fits INTEGER: the store binds every integer as 64 bits, and
    -- PostgreSQL (unlike SQLite) refuses to decode INTEGER columns as 64-bit values.
    iterations   BIGINT NOT NULL CHECK (iterations > 0),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT
);

CREATE INDEX tokens_identity_created_idx ON tokens (identity, created_at, id);
