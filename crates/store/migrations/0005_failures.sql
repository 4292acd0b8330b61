-- Why an outgoing message could not be sent: the XMPP error condition the
-- recipient's (or the user's) server answered with, e.g.
-- 'service-unavailable', and its human-readable text when it gave one.
-- Cleared when the message is queued again.
ALTER TABLE messages ADD COLUMN failure TEXT;
ALTER TABLE messages ADD COLUMN failure_text TEXT;
