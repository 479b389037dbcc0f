-- Mirrors migrations/sqlite/0005_sessions.sql; see there for why each part exists.
CREATE TABLE gateways (
    name         TEXT PRIMARY KEY NOT NULL,
    last_seen_ms BIGINT NOT NULL
);

CREATE TABLE open_sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    gateway       TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL
);

CREATE INDEX open_sessions_gateway_idx ON open_sessions (gateway);
