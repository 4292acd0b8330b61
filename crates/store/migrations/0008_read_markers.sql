-- The newest displayed marker (XEP-0333) the user sent in a conversation
-- from any device, as the archive or a carbon showed it: the id of the
-- message it marks and when it was sent. On a device's first catch-up,
-- messages up to it (and up to the user's own latest message) are read.
CREATE TABLE read_markers (
    account_jid  TEXT NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    peer         TEXT NOT NULL,
    reference    TEXT NOT NULL,
    at_ms        INTEGER NOT NULL,
    PRIMARY KEY (account_jid, peer)
);
