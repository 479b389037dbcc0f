-- Identities own the SCRAM salt. The salt lives here rather than on each token
-- because the SCRAM server-first message (which carries the salt) is sent before
-- the gateway knows which of the identity's tokens the client holds.
CREATE TABLE identities (
    identity TEXT PRIMARY KEY NOT NULL,
    salt     BLOB NOT NULL
);

-- Gateway-issued access tokens. The secret itself is never stored, only the
-- SCRAM-SHA-256 verifier derived from it with the identity's salt.
-- Timestamps are unix seconds so the same columns map onto BIGINT in PostgreSQL.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    -- The foreign key makes it impossible to store a verifier whose salt is unknown,
    -- which would be a token nobody could ever authenticate with.
    identity     TEXT NOT NULL REFERENCES identities (identity),
    stored_key   BLOB NOT NULL,
    server_key   BLOB NOT NULL,
    iterations   INTEGER NOT NULL CHECK (iterations > 0),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
);

-- Serves both the per-identity lookup on every login and the ordered listing.
CREATE INDEX tokens_identity_created_idx ON tokens (identity, created_at, id);
