-- Mirrors migrations/sqlite/0004_identity.sql; see there for why each part exists.
ALTER TABLE tokens ADD COLUMN purpose TEXT NOT NULL DEFAULT 'operator';
ALTER TABLE tokens ADD COLUMN targets TEXT;
ALTER TABLE tokens ADD COLUMN task TEXT;
ALTER TABLE tokens ADD COLUMN provider TEXT;
ALTER TABLE tokens ADD COLUMN claims TEXT;
ALTER TABLE tokens ADD COLUMN groups TEXT;

CREATE INDEX tokens_revoked_idx ON tokens (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE dynamic_identities (
    name        TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL,
    groups      TEXT NOT NULL,
    claims      TEXT NOT NULL,
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
