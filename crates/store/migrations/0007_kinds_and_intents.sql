-- What a conversation is: 0 one-to-one, 1 group chat, 2 a private message
-- to an occupant of a group chat (its peer is the occupant's room JID).
ALTER TABLE conversations ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;

-- Whose archive gave a message its archive id (XEP-0359 stanza-id `by`):
-- the user's own server (the account's bare JID) or a group chat. Ids are
-- unique only within one archive.
ALTER TABLE messages ADD COLUMN archive_by TEXT;
UPDATE messages SET archive_by = account_jid WHERE archive_id IS NOT NULL;
DROP INDEX messages_archive;
CREATE UNIQUE INDEX messages_archive ON messages(account_jid, archive_by, archive_id)
    WHERE archive_id IS NOT NULL;

-- The send queue keeps what to send (an intent, JSON), not a finished
-- stanza: the stanza is built when the message's turn comes, so it can be
-- encrypted or get its upload URL then. Every queued stanza so far was a
-- chat message, fully described by its row in `messages`.
CREATE TABLE send_queue (
    message_id  INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    account_jid TEXT NOT NULL,
    intent      TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
);
INSERT INTO send_queue (message_id, account_jid, intent, created_ms)
    SELECT message_id, account_jid, '{"type":"message"}', created_ms FROM outbox;
DROP TABLE outbox;
