-- Service discovery results (XEP-0030) keyed by what identifies them: an
-- entity-caps hash (XEP-0115) the result was verified against, shared by
-- every account ("caps:<algo>:<ver>"), or an address ("jid:<account> <jid>").
CREATE TABLE disco_cache (
    key         TEXT PRIMARY KEY NOT NULL,
    -- The disco#info <query/> element as XML.
    info        TEXT NOT NULL,
    fetched_at  INTEGER NOT NULL
);

-- What contacts (and the user) show of themselves: avatar (XEP-0084, or the
-- vCard photo of XEP-0153) and nickname (XEP-0172).
CREATE TABLE profiles (
    account_jid    TEXT NOT NULL REFERENCES accounts(jid) ON DELETE CASCADE,
    jid            TEXT NOT NULL,
    -- SHA-1 (hex) of the image; the file is avatars/<hash> in the data dir.
    avatar         TEXT,
    -- 'pep' or 'vcard': a PEP avatar wins over a vCard photo.
    avatar_source  TEXT,
    nickname       TEXT,
    PRIMARY KEY (account_jid, jid)
);
