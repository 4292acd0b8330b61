-- A call's record in the timeline (JSON written by the engine: whether it
-- was outgoing, how it ended, how long it lasted). NULL for messages.
ALTER TABLE messages ADD COLUMN call TEXT;
