-- Network-resident agents (docs/agent-connection.md). An enrollment is a one-time token an
-- operator hands to an agent; redeeming it registers the agent's own key, after which the
-- agent authenticates by that key alone (mutual TLS). Only a SHA-256 of the token's secret and
-- of the agent's certificate is kept. Times are unix milliseconds.
CREATE TABLE agent_enrollments (
    id            TEXT PRIMARY KEY NOT NULL,
    agent         TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms    BIGINT
);

-- One row per agent name; enrolling the name again replaces its key (rotation), and a
-- revoked name comes back only through a new enrollment.
CREATE TABLE agents (
    name                TEXT PRIMARY KEY NOT NULL,
    key_sha256          TEXT NOT NULL UNIQUE,
    enrolled_at_ms      BIGINT NOT NULL,
    revoked_at_ms       BIGINT,
    -- Set by the one gateway that audits the revocation.
    revocation_noted_ms BIGINT,
    last_seen_ms        BIGINT,
    gateway             TEXT
);
