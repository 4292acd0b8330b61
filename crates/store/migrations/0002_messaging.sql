-- Contacts (RFC 6121 roster), per account.
CREATE TABLE roster_items (
    account_jid   TEXT NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    jid           TEXT NOT NULL,
    name          TEXT,
    subscription  TEXT NOT NULL DEFAULT 'none',
    ask           INTEGER NOT NULL DEFAULT 0,
    groups        TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (account_jid, jid)
);

-- Per-account protocol state that must survive restarts.
CREATE TABLE account_state (
    account_jid     TEXT PRIMARY KEY NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    roster_version  TEXT,
    -- Newest archive (MAM) id seen; catch-up fetches what is newer.
    mam_newest_id   TEXT,
    -- Oldest archive id fetched; scroll-back continues before it.
    mam_oldest_id   TEXT,
    -- The archive has been read back to its beginning.
    mam_complete    INTEGER NOT NULL DEFAULT 0
);

-- Messages of 1:1 conversations. `uid` identifies a message across
-- devices and the archive: the XEP-0359 origin-id, else the id attribute.
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    account_jid     TEXT NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    peer            TEXT NOT NULL,
    outgoing        INTEGER NOT NULL,
    sender          TEXT NOT NULL,
    uid             TEXT NOT NULL,
    msg_id          TEXT,
    archive_id      TEXT,
    body            TEXT NOT NULL,
    timestamp_ms    INTEGER NOT NULL,
    -- outgoing: 0 queued, 1 sent, 2 acked by server, 3 delivered, 4 read, 9 failed
    -- incoming: 10 received, 11 read by me
    state           INTEGER NOT NULL,
    edited          INTEGER NOT NULL DEFAULT 0,
    retracted       INTEGER NOT NULL DEFAULT 0,
    reply_to        TEXT,
    reactions       TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX messages_uid ON messages(account_jid, peer, outgoing, uid);
CREATE UNIQUE INDEX messages_archive ON messages(account_jid, archive_id) WHERE archive_id IS NOT NULL;
CREATE INDEX messages_timeline ON messages(account_jid, peer, timestamp_ms, id);
CREATE INDEX messages_msg_id ON messages(account_jid, peer, msg_id);

-- Stanzas waiting for the server's acknowledgement. A message is written
-- here in the same transaction as its row in `messages`, before it is sent.
CREATE TABLE outbox (
    message_id  INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    account_jid TEXT NOT NULL,
    stanza      TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
);

CREATE TABLE conversations (
    account_jid   TEXT NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    peer          TEXT NOT NULL,
    unread        INTEGER NOT NULL DEFAULT 0,
    updated_ms    INTEGER NOT NULL,
    PRIMARY KEY (account_jid, peer)
);

-- Full-text search over message bodies.
CREATE VIRTUAL TABLE messages_fts USING fts5(body, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
CREATE TRIGGER messages_au AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
END;
