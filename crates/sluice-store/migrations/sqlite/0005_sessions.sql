-- Several gateways on one store (issue: several gateways on one PostgreSQL store): each notes
-- it is alive and which sessions it has open, so recording retention on any gateway keeps the
-- recordings of every gateway's open sessions. Times are unix milliseconds.
CREATE TABLE gateways (
    name         TEXT PRIMARY KEY NOT NULL,
    last_seen_ms INTEGER NOT NULL
);

-- No foreign key to `gateways`: a session may be recorded before its gateway's first
-- heartbeat lands, and forgetting a gateway must not depend on its sessions.
CREATE TABLE open_sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    gateway       TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL
);

-- Serves forgetting a gateway's sessions at its start and joining them to heartbeats.
CREATE INDEX open_sessions_gateway_idx ON open_sessions (gateway);
