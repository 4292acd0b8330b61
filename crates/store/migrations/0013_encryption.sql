-- Sending encrypted (OMEMO).
-- A queued message that cannot be encrypted yet waits in the send queue;
-- `held` says why, in words the user can act on (NULL when not held).
ALTER TABLE messages ADD COLUMN held TEXT;
-- Whether a conversation is encrypted: 'omemo' or 'plain' once decided
-- (by the user, or by the first encrypted message either way); no row:
-- not decided yet (encrypted when the contact has devices). Kept apart
-- from `conversations` so that deleting a conversation's history never
-- turns its encryption off.
CREATE TABLE encryption_modes (
    account_jid TEXT NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    peer        TEXT NOT NULL,
    mode        TEXT NOT NULL,
    PRIMARY KEY (account_jid, peer)
);
-- Encrypted messages that could not be decrypted yet, with their
-- <encrypted/> element: tried again in the order they were sent, once the
-- messages before them were (an archive is read newest first, a ratchet
-- must see its messages in order), or when a later key exchange allows.
CREATE TABLE omemo_pending (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    element    TEXT NOT NULL
);
