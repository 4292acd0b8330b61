-- What Tern remembers about each account's server between connections, so
-- that a different certificate or a weaker sign-in is noticed, and what the
-- user decided about them.

-- One pinned certificate per account: of earlier pins, the newest stays.
-- A pin names what the user accepted about that certificate, as shown when
-- it was refused (comma separated: untrusted, name, expired, revoked,
-- purpose); older pins were made for an untrusted issuer.
DELETE FROM pinned_certificates
 WHERE rowid NOT IN (SELECT MAX(rowid) FROM pinned_certificates GROUP BY account_jid);
CREATE UNIQUE INDEX pinned_certificates_one_per_account ON pinned_certificates (account_jid);
ALTER TABLE pinned_certificates ADD COLUMN accepts TEXT NOT NULL DEFAULT 'untrusted';

CREATE TABLE server_security (
    account_jid              TEXT PRIMARY KEY NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    -- SHA-256 of the end-entity certificate (DER) of the last sign-in.
    known_certificate        BLOB CHECK (known_certificate IS NULL OR length(known_certificate) = 32),
    -- The certificate refused last and what was wrong with it: the only
    -- one the user can pin.
    refused_certificate      BLOB CHECK (refused_certificate IS NULL OR length(refused_certificate) = 32),
    refused_problems         TEXT,
    -- The strongest sign-in that worked: SASL mechanism (SCRAM-SHA-256,
    -- SCRAM-SHA-1, PLAIN) and whether tls-exporter channel binding was used.
    sasl_mechanism           TEXT,
    channel_binding          INTEGER NOT NULL DEFAULT 0,
    -- The server signed its mechanism list (XEP-0474) in a sign-in.
    sasl_ssdp                INTEGER NOT NULL DEFAULT 0,
    -- The weaker sign-in refused last: the one the user can accept.
    refused_sasl_mechanism   TEXT,
    refused_channel_binding  INTEGER NOT NULL DEFAULT 0,
    updated_at               INTEGER NOT NULL
);
