-- What a token is for (issue 17). `purpose` says how it was issued: `operator` (the CLI with
-- the store), `login` (a person through an identity provider), `exchange` (a workload's own
-- identity provider token traded in) or `task` (a person's per-task token for an agent).
-- `targets` is a JSON array the token is limited to (NULL: any the policy allows), `task` the
-- task reference every audit record of its sessions carries, `claims` the identity
-- provider's claims (JSON object) the policy sees for sessions of this token.
ALTER TABLE tokens ADD COLUMN purpose TEXT NOT NULL DEFAULT 'operator';
ALTER TABLE tokens ADD COLUMN targets TEXT;
ALTER TABLE tokens ADD COLUMN task TEXT;
ALTER TABLE tokens ADD COLUMN provider TEXT;
ALTER TABLE tokens ADD COLUMN claims TEXT;
-- Groups the identity provider's claims mapped to (JSON array), joined to declared groups.
ALTER TABLE tokens ADD COLUMN groups TEXT;

-- Revocation is polled by every gateway so open sessions of a revoked token end.
CREATE INDEX tokens_revoked_idx ON tokens (revoked_at) WHERE revoked_at IS NOT NULL;

-- Identities created from an identity provider's claims at first sign-in (`identities =
-- "dynamic"`); declared identities stay in the configuration. Refreshed at every sign-in.
CREATE TABLE dynamic_identities (
    name        TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL,
    groups      TEXT NOT NULL,
    claims      TEXT NOT NULL,
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
