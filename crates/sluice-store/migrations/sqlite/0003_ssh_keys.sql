-- SSH public keys registered to identities (`sluice identity add-key`), besides those in the
-- configuration. Only public halves are kept; the key is `ALGORITHM BASE64` without comment.
CREATE TABLE ssh_keys (
    identity    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (identity, fingerprint)
);

-- Targets' host keys trusted on first use: the first key seen is kept, and every later
-- connection must be offered the same one.
CREATE TABLE ssh_host_keys (
    target      TEXT PRIMARY KEY NOT NULL,
    public_key  TEXT NOT NULL,
    first_seen  INTEGER NOT NULL
);
