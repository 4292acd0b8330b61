-- Encrypted group-chat messages waiting to be decrypted again: their
-- sender's real JID (bare), whose session decrypts them (the message's own
-- sender is the occupant's room JID). NULL for one-to-one messages.
ALTER TABLE omemo_pending ADD COLUMN sender TEXT;
