-- OMEMO 0.3 (XEP-0384, eu.siacs.conversations.axolotl) state, per account.
-- Private keys are kept as they are in Dino and Conversations: in the
-- profile's database, protected by the file's permissions.

-- This device's identity. One row per account.
CREATE TABLE omemo_identity (
    account_jid             TEXT PRIMARY KEY NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    device_id               INTEGER NOT NULL,
    registration_id         INTEGER NOT NULL,
    public_key              BLOB NOT NULL CHECK (length(public_key) = 32),
    private_key             BLOB NOT NULL CHECK (length(private_key) = 32),
    next_pre_key_id         INTEGER NOT NULL,
    next_signed_pre_key_id  INTEGER NOT NULL
);

-- Signed pre-keys still kept (the current one and those in their grace period).
CREATE TABLE omemo_signed_pre_keys (
    account_jid  TEXT NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    id           INTEGER NOT NULL,
    public_key   BLOB NOT NULL CHECK (length(public_key) = 32),
    private_key  BLOB NOT NULL CHECK (length(private_key) = 32),
    signature    BLOB NOT NULL CHECK (length(signature) = 64),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (account_jid, id)
) WITHOUT ROWID;

-- Unused one-time pre-keys.
CREATE TABLE omemo_pre_keys (
    account_jid  TEXT NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    id           INTEGER NOT NULL,
    public_key   BLOB NOT NULL CHECK (length(public_key) = 32),
    private_key  BLOB NOT NULL CHECK (length(private_key) = 32),
    PRIMARY KEY (account_jid, id)
) WITHOUT ROWID;

-- Double Ratchet sessions with peer devices (`SessionRecord::to_bytes`).
CREATE TABLE omemo_sessions (
    account_jid  TEXT NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    jid          TEXT NOT NULL,
    device_id    INTEGER NOT NULL,
    record       BLOB NOT NULL,
    PRIMARY KEY (account_jid, jid, device_id)
);

-- Peer devices: identity key once known, the user's trust in it, and whether
-- the device is in its account's latest device list.
CREATE TABLE omemo_devices (
    account_jid   TEXT NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    jid           TEXT NOT NULL,
    device_id     INTEGER NOT NULL,
    identity_key  BLOB CHECK (identity_key IS NULL OR length(identity_key) = 32),
    trust         TEXT NOT NULL,
    active        INTEGER NOT NULL,
    PRIMARY KEY (account_jid, jid, device_id)
) WITHOUT ROWID;
