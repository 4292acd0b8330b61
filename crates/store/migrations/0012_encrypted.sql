-- End-to-end encryption (OMEMO): whether a message came encrypted, and,
-- for one that could not be decrypted, why (shown in place of its text).
-- What is stored is always the plaintext.
ALTER TABLE messages ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN decrypt_error TEXT;
