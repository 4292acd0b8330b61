-- Accounts the user has added. Passwords are NOT stored here: they live in
-- the operating system's keychain.
CREATE TABLE accounts (
    jid            TEXT PRIMARY KEY NOT NULL,
    enabled        INTEGER NOT NULL DEFAULT 1,
    resource       TEXT,
    host_override  TEXT,
    port_override  INTEGER,
    direct_tls     INTEGER NOT NULL DEFAULT 0,
    position       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL
);

-- Server certificates the user chose to trust for one account although they
-- failed verification (self-signed, unknown CA). Keyed by SHA-256 of the
-- end-entity certificate (DER).
CREATE TABLE pinned_certificates (
    account_jid  TEXT NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    sha256       BLOB NOT NULL CHECK (length(sha256) = 32),
    pinned_at    INTEGER NOT NULL,
    PRIMARY KEY (account_jid, sha256)
);
