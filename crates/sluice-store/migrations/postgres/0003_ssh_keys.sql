-- Mirrors migrations/sqlite/0003_ssh_keys.sql; see there for why each part exists.
CREATE TABLE ssh_keys (
    identity    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    added_at    BIGINT NOT NULL,
    PRIMARY KEY (identity, fingerprint)
);

CREATE TABLE ssh_host_keys (
    target      TEXT PRIMARY KEY NOT NULL,
    public_key  TEXT NOT NULL,
    first_seen  BIGINT NOT NULL
);
