-- Conversations the user deleted on this computer: messages sent up to
-- cleared_ms are not stored again when the server's archive, an offline
-- copy or another device brings them back. Newer messages start the
-- conversation anew.
CREATE TABLE cleared_history (
    account_jid  TEXT NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    peer         TEXT NOT NULL,
    cleared_ms   INTEGER NOT NULL,
    PRIMARY KEY (account_jid, peer)
);
