-- A file shared in a message (XEP-0363 upload, XEP-0066 and XEP-0447
-- links): JSON the engine reads and writes (name, media type, size,
-- dimensions, hash, link, the folder of the local copy, the transfer's
-- state). NULL for a text message.
ALTER TABLE messages ADD COLUMN file TEXT;
CREATE INDEX messages_files ON messages(account_jid, timestamp_ms) WHERE file IS NOT NULL;
