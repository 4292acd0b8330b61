-- Group chats (XEP-0045 rooms) the user is in or was in, per account:
-- what Tern needs to rejoin them after a restart and to catch up their
-- archives. Bookmarks (XEP-0402) are the user's server-side list; this
-- table mirrors them and also holds rooms joined without a bookmark.
CREATE TABLE rooms (
    account_jid     TEXT NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    jid             TEXT NOT NULL,
    name            TEXT,
    -- The nickname the user chose for this room (NULL: the account's).
    nick            TEXT,
    password        TEXT,
    -- Join after each new session.
    autojoin        INTEGER NOT NULL DEFAULT 1,
    -- A bookmark exists for it on the server.
    bookmarked      INTEGER NOT NULL DEFAULT 0,
    -- 0 unknown, 1 private group, 2 public channel.
    kind            INTEGER NOT NULL DEFAULT 0,
    subject         TEXT,
    -- 0 the kind's default, 1 all messages, 2 mentions only, 3 nothing.
    notify          INTEGER NOT NULL DEFAULT 0,
    -- The room's archive (XEP-0313 on the room): the newest id seen,
    -- the oldest id fetched, and whether it was read to its beginning.
    mam_newest_id   TEXT,
    mam_oldest_id   TEXT,
    mam_complete    INTEGER NOT NULL DEFAULT 0,
    -- What the room's disco#info said (JSON), for offline use.
    features        TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_jid, jid)
);

-- Invitations to rooms not answered yet (XEP-0249 and XEP-0045 §7.8).
CREATE TABLE room_invitations (
    account_jid   TEXT NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    room          TEXT NOT NULL,
    inviter       TEXT NOT NULL,
    reason        TEXT,
    password      TEXT,
    received_ms   INTEGER NOT NULL,
    PRIMARY KEY (account_jid, room)
);

-- Group-chat messages: whether one mentions the user, which occupant sent
-- it (XEP-0421, stable across nick changes), and who removed it (XEP-0425).
ALTER TABLE messages ADD COLUMN mention INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN occupant_id TEXT;
ALTER TABLE messages ADD COLUMN moderated_by TEXT;
ALTER TABLE messages ADD COLUMN moderation_reason TEXT;
-- Unread messages that mention the user.
ALTER TABLE conversations ADD COLUMN mentions INTEGER NOT NULL DEFAULT 0;
