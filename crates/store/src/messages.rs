//! Messages, conversations, the outbox and full-text search.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use sqlx::SqliteConnection;

use crate::{Result, Store};

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the peer.
    Incoming,
    /// From this account (this device or another of the user's).
    Outgoing,
}

/// Delivery state. Outgoing states only move forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MessageState {
    /// Stored, not yet on the wire.
    Queued = 0,
    /// Written to the stream.
    Sent = 1,
    /// The server acknowledged it (XEP-0198).
    Acked = 2,
    /// The recipient's client confirmed delivery (XEP-0184).
    Delivered = 3,
    /// The recipient read it (XEP-0333).
    Read = 4,
    /// Could not be sent.
    Failed = 9,
    /// Incoming, not yet read.
    Received = 10,
    /// Incoming, read by the user.
    Seen = 11,
}

impl MessageState {
    fn from_i64(v: i64) -> MessageState {
        match v {
            0 => MessageState::Queued,
            1 => MessageState::Sent,
            2 => MessageState::Acked,
            3 => MessageState::Delivered,
            4 => MessageState::Read,
            9 => MessageState::Failed,
            11 => MessageState::Seen,
            _ => MessageState::Received,
        }
    }
}

/// A message to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    /// Account (bare JID).
    pub account: String,
    /// Conversation peer (bare JID).
    pub peer: String,
    /// Direction.
    pub direction: Direction,
    /// Full or bare JID of the sender.
    pub sender: String,
    /// Stable id: XEP-0359 origin-id, else the `id` attribute.
    pub uid: String,
    /// The `id` attribute, which receipts, markers and corrections reference.
    pub msg_id: Option<String>,
    /// The id an archive gave it (XEP-0359 stanza-id / MAM result id).
    pub archive_id: Option<String>,
    /// Whose archive gave `archive_id`: the account's bare JID for the
    /// user's own server, a room's JID for a group chat's archive. `None`
    /// with an archive id means the user's own server.
    pub archive_by: Option<String>,
    /// The kind of conversation it belongs to (set when the conversation
    /// is created).
    pub kind: ConversationKind,
    /// Text.
    pub body: String,
    /// Sent time (from XEP-0203 delay when present), ms since the epoch.
    pub timestamp_ms: i64,
    /// Initial state.
    pub state: MessageState,
    /// Id of the message this one replies to (XEP-0461).
    pub reply_to: Option<String>,
    /// `timestamp_ms` is known only to the second (archive and offline
    /// stamps): such a message from the second a conversation was deleted
    /// counts as from before it.
    pub coarse_time: bool,
    /// A group-chat message that mentions the user.
    pub mention: bool,
    /// The sending occupant's stable id in a group chat (XEP-0421).
    pub occupant_id: Option<String>,
    /// The file it shares: the engine's JSON (`None` for text).
    pub file: Option<String>,
    /// It came end-to-end encrypted (OMEMO); `body` is the plaintext.
    pub encrypted: bool,
    /// It came encrypted and could not be decrypted: why, in words.
    pub decrypt_error: Option<String>,
    /// It could not be decrypted yet but may be later: its `<encrypted/>`
    /// element (XML), kept until it is (see [`Store::omemo_pending`]).
    pub omemo_retry: Option<String>,
    /// With `omemo_retry`, in a group chat: the sender's real JID (bare),
    /// whose session decrypts it.
    pub omemo_sender: Option<String>,
    /// A call's record (the engine's JSON), shown as a call line; `None`
    /// for messages.
    pub call: Option<String>,
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRow {
    /// Local id.
    pub id: i64,
    /// Account.
    pub account: String,
    /// Peer.
    pub peer: String,
    /// Direction.
    pub direction: Direction,
    /// Sender JID.
    pub sender: String,
    /// Stable id.
    pub uid: String,
    /// `id` attribute.
    pub msg_id: Option<String>,
    /// Archive id.
    pub archive_id: Option<String>,
    /// Current text (after corrections).
    pub body: String,
    /// Sent time, ms.
    pub timestamp_ms: i64,
    /// State.
    pub state: MessageState,
    /// Corrected at least once.
    pub edited: bool,
    /// Retracted by its sender.
    pub retracted: bool,
    /// Replied-to id.
    pub reply_to: Option<String>,
    /// Reactions: JSON object `{ reactor jid: [emoji, ...] }`.
    pub reactions: String,
    /// Why it could not be sent (an XMPP error condition), when it failed.
    pub failure: Option<String>,
    /// The server's words about that, when it gave any.
    pub failure_text: Option<String>,
    /// A group-chat message that mentions the user.
    pub mention: bool,
    /// The sending occupant's stable id in a group chat (XEP-0421).
    pub occupant_id: Option<String>,
    /// Who removed it from a group chat (a moderator, XEP-0425).
    pub moderated_by: Option<String>,
    /// The moderator's reason.
    pub moderation_reason: Option<String>,
    /// The file it shares: the engine's JSON (`None` for text).
    pub file: Option<String>,
    /// It came end-to-end encrypted (OMEMO); `body` is the plaintext.
    pub encrypted: bool,
    /// It came encrypted and could not be decrypted: why, in words.
    pub decrypt_error: Option<String>,
    /// A queued message that waits because it cannot be encrypted yet:
    /// why, in words the user can act on.
    pub held: Option<String>,
    /// A call's record (the engine's JSON); `None` for messages.
    pub call: Option<String>,
}

/// Outcome of [`Store::insert_message`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// New message.
    Inserted(MessageRow),
    /// Already known (seen live, by carbon or in the archive).
    Duplicate(MessageRow),
    /// From before the user deleted the conversation: not stored again.
    /// (Never for a message given with an outbox stanza.)
    Deleted,
}

/// What a conversation is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ConversationKind {
    /// One-to-one with a contact (or anyone by bare JID).
    #[default]
    Chat = 0,
    /// A group chat (XEP-0045 room); the peer is the room's bare JID.
    GroupChat = 1,
    /// A private message to an occupant of a group chat; the peer is the
    /// occupant's room JID (`room@service/nick`).
    GroupChatPrivate = 2,
}

impl ConversationKind {
    pub(crate) fn from_i64(v: i64) -> ConversationKind {
        match v {
            1 => ConversationKind::GroupChat,
            2 => ConversationKind::GroupChatPrivate,
            _ => ConversationKind::Chat,
        }
    }
}

/// A conversation in the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    /// Account.
    pub account: String,
    /// Peer.
    pub peer: String,
    /// What it is.
    pub kind: ConversationKind,
    /// Unread incoming messages.
    pub unread: i64,
    /// Unread messages that mention the user (group chats).
    pub mentions: i64,
    /// Time of the newest message, ms.
    pub updated_ms: i64,
    /// The newest message.
    pub last: Option<MessageRow>,
}

/// A message waiting in the send queue until the server acknowledges it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The message it carries.
    pub message_id: i64,
    /// What to send (an intent, JSON); the engine builds the stanza from
    /// it and the message's row when the message's turn comes.
    pub intent: String,
}

/// A search result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchHit {
    /// The message.
    pub message: MessageRow,
    /// Body excerpt with matches between `[` and `]`.
    pub snippet: String,
}

pub(crate) const COLUMNS: &str = "id, account_jid, peer, outgoing, sender, uid, msg_id, archive_id, body, timestamp_ms, state, edited, retracted, reply_to, reactions, failure, failure_text, mention, occupant_id, moderated_by, moderation_reason, file, encrypted, decrypt_error, held, call";

pub(crate) fn row(r: &SqliteRow) -> Result<MessageRow> {
    let outgoing: bool = r.try_get("outgoing")?;
    Ok(MessageRow {
        id: r.try_get("id")?,
        account: r.try_get("account_jid")?,
        peer: r.try_get("peer")?,
        direction: if outgoing {
            Direction::Outgoing
        } else {
            Direction::Incoming
        },
        sender: r.try_get("sender")?,
        uid: r.try_get("uid")?,
        msg_id: r.try_get("msg_id")?,
        archive_id: r.try_get("archive_id")?,
        body: r.try_get("body")?,
        timestamp_ms: r.try_get("timestamp_ms")?,
        state: MessageState::from_i64(r.try_get("state")?),
        edited: r.try_get("edited")?,
        retracted: r.try_get("retracted")?,
        reply_to: r.try_get("reply_to")?,
        reactions: r.try_get("reactions")?,
        failure: r.try_get("failure")?,
        failure_text: r.try_get("failure_text")?,
        mention: r.try_get("mention")?,
        occupant_id: r.try_get("occupant_id")?,
        moderated_by: r.try_get("moderated_by")?,
        moderation_reason: r.try_get("moderation_reason")?,
        file: r.try_get("file")?,
        encrypted: r.try_get("encrypted")?,
        decrypt_error: r.try_get("decrypt_error")?,
        held: r.try_get("held")?,
        call: r.try_get("call")?,
    })
}

/// Makes a user's search text safe for FTS5: each word becomes a quoted
/// prefix term, so punctuation cannot form query syntax.
pub fn fts_query(input: &str) -> Option<String> {
    let terms: Vec<String> = input
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("\"{w}\"*"))
        .collect();
    if terms.is_empty() {
        None
    } else {
        Some(terms.join(" "))
    }
}

/// When the user deleted the conversation (`None`: never).
async fn cleared_ms<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    account: &str,
    peer: &str,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT cleared_ms FROM cleared_history WHERE account_jid = ?1 AND peer = ?2",
    )
    .bind(account)
    .bind(peer)
    .fetch_optional(db)
    .await?)
}

/// Puts (or replaces) a message's intent in the send queue.
async fn put_in_outbox<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    m: &MessageRow,
    intent: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT OR REPLACE INTO send_queue (message_id, account_jid, intent, created_ms) VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(m.id)
    .bind(&m.account)
    .bind(intent)
    .bind(crate::now_unix() * 1000)
    .execute(db)
    .await?;
    Ok(())
}

impl Store {
    /// Stores a message unless it is already known, in one transaction with
    /// the conversation update and (for outgoing messages) the outbox entry.
    ///
    /// A message is known when the same direction and `uid` exist in the
    /// conversation, or its archive id exists. A duplicate that brings an
    /// archive id the stored copy lacks fills it in.
    pub async fn insert_message(
        &self,
        m: &NewMessage,
        outbox_intent: Option<&str>,
        count_unread: bool,
    ) -> Result<Stored> {
        match self
            .insert_message_once(m, outbox_intent, count_unread)
            .await
        {
            // Two writers raced on the same message: the second one now
            // finds the first one's row.
            Err(crate::StoreError::Database(sqlx::Error::Database(e)))
                if e.kind() == sqlx::error::ErrorKind::UniqueViolation =>
            {
                self.insert_message_once(m, outbox_intent, count_unread)
                    .await
            }
            other => other,
        }
    }

    async fn insert_message_once(
        &self,
        m: &NewMessage,
        outbox_intent: Option<&str>,
        count_unread: bool,
    ) -> Result<Stored> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let stored = insert_in(&mut tx, m, outbox_intent, count_unread).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Imports many messages in one transaction (history import, tests and
    /// benchmarks). No de-duplication beyond the unique indexes: a message
    /// already known is skipped.
    pub async fn import_messages(&self, messages: &[NewMessage]) -> Result<u64> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let mut n = 0;
        for m in messages {
            let done = sqlx::query(
                "INSERT OR IGNORE INTO messages (account_jid, peer, outgoing, sender, uid, msg_id, archive_id, archive_by, body, timestamp_ms, state, reply_to)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, CASE WHEN ?7 IS NULL THEN NULL ELSE COALESCE(?8, ?1) END, ?9, ?10, ?11, ?12)",
            )
            .bind(&m.account)
            .bind(&m.peer)
            .bind(m.direction == Direction::Outgoing)
            .bind(&m.sender)
            .bind(&m.uid)
            .bind(&m.msg_id)
            .bind(&m.archive_id)
            .bind(&m.archive_by)
            .bind(&m.body)
            .bind(m.timestamp_ms)
            .bind(m.state as i64)
            .bind(&m.reply_to)
            .execute(&mut *tx)
            .await?;
            n += done.rows_affected();
            sqlx::query(
                "INSERT INTO conversations (account_jid, peer, unread, updated_ms, kind) VALUES (?1, ?2, 0, ?3, ?4)
                 ON CONFLICT(account_jid, peer) DO UPDATE SET updated_ms = MAX(updated_ms, ?3)",
            )
            .bind(&m.account)
            .bind(&m.peer)
            .bind(m.timestamp_ms)
            .bind(m.kind as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// The stored message a copy is of: the same conversation, direction
    /// and uid, or the same id from the same archive.
    pub async fn known_message(
        &self,
        account: &str,
        peer: &str,
        direction: Direction,
        uid: &str,
        archive: Option<(&str, &str)>,
    ) -> Result<Option<MessageRow>> {
        let (by, id) = archive.unzip();
        let r = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM messages
             WHERE account_jid = ?1 AND ((peer = ?2 AND outgoing = ?3 AND uid = ?4)
                OR (?5 IS NOT NULL AND archive_by = ?5 AND archive_id = ?6))
             LIMIT 1"
        ))
        .bind(account)
        .bind(peer)
        .bind(direction == Direction::Outgoing)
        .bind(uid)
        .bind(by)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(row).transpose()
    }

    /// A message by local id.
    pub async fn message(&self, id: i64) -> Result<Option<MessageRow>> {
        let mut conn = self.pool().acquire().await?;
        message_in(&mut conn, id).await
    }

    /// Finds a message of a conversation by the id another stanza references
    /// (its `id` attribute or origin-id), optionally of one direction.
    pub async fn find_message(
        &self,
        account: &str,
        peer: &str,
        reference: &str,
        direction: Option<Direction>,
    ) -> Result<Option<MessageRow>> {
        let mut conn = self.pool().acquire().await?;
        find_in(&mut conn, account, peer, reference, direction).await
    }

    /// Replaces the text of a message (XEP-0308).
    pub async fn correct_message(&self, id: i64, body: &str) -> Result<Option<MessageRow>> {
        let mut conn = self.pool().acquire().await?;
        correct_in(&mut conn, id, body).await
    }

    /// Marks a message retracted and drops its text (XEP-0424).
    pub async fn retract_message(&self, id: i64) -> Result<Option<MessageRow>> {
        let mut conn = self.pool().acquire().await?;
        retract_in(&mut conn, id).await
    }

    /// Moves an outgoing message's state forward (never back). A failed one
    /// moves only on proof the recipient got it (a receipt or read marker):
    /// the server's ack of a stanza it then bounced changes nothing.
    pub async fn advance_state(&self, id: i64, state: MessageState) -> Result<Option<MessageRow>> {
        let mut conn = self.pool().acquire().await?;
        advance_in(&mut conn, id, state).await
    }

    /// Deletes a conversation on this computer: its messages (and their
    /// outbox entries and search index) and its place in the list. Messages
    /// sent up to `now_ms` are not stored again when the archive or another
    /// device brings them; newer ones start it anew. Returns how many
    /// messages were deleted.
    pub async fn delete_conversation(&self, account: &str, peer: &str, now_ms: i64) -> Result<u64> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let gone = sqlx::query("DELETE FROM messages WHERE account_jid = ?1 AND peer = ?2")
            .bind(account)
            .bind(peer)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM conversations WHERE account_jid = ?1 AND peer = ?2")
            .bind(account)
            .bind(peer)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO cleared_history (account_jid, peer, cleared_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(account_jid, peer) DO UPDATE SET cleared_ms = MAX(cleared_ms, ?3)",
        )
        .bind(account)
        .bind(peer)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// When the user last deleted a conversation (`None`: never).
    pub async fn cleared_at(&self, account: &str, peer: &str) -> Result<Option<i64>> {
        cleared_ms(self.pool(), account, peer).await
    }

    /// Marks an outgoing message failed, with the error condition and text
    /// the server gave (`None` when the stanza never left).
    pub async fn fail_message(
        &self,
        id: i64,
        condition: Option<&str>,
        text: Option<&str>,
    ) -> Result<Option<MessageRow>> {
        let mut conn = self.pool().acquire().await?;
        fail_in(&mut conn, id, condition, text).await
    }

    /// Puts a failed outgoing message back in the send queue with `intent`, as
    /// queued, in one transaction. `None` when it is not a failed outgoing
    /// message (sent meanwhile, retracted, someone else's, unknown).
    pub async fn requeue_message(&self, id: i64, intent: &str) -> Result<Option<MessageRow>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let r = sqlx::query(&format!(
            "UPDATE messages SET state = ?2, failure = NULL, failure_text = NULL
             WHERE id = ?1 AND outgoing = 1 AND state = ?3 AND retracted = 0
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(MessageState::Queued as i64)
        .bind(MessageState::Failed as i64)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(r) = r else {
            return Ok(None);
        };
        let requeued = row(&r)?;
        put_in_outbox(&mut *tx, &requeued, intent).await?;
        tx.commit().await?;
        Ok(Some(requeued))
    }

    /// Holds a queued outgoing message with the reason it cannot be sent
    /// yet (it stays in the send queue), or, with `None`, clears the
    /// reason. `None` when it is not a queued outgoing message.
    pub async fn set_held(&self, id: i64, reason: Option<&str>) -> Result<Option<MessageRow>> {
        let r = sqlx::query(&format!(
            "UPDATE messages SET held = ?2
             WHERE id = ?1 AND outgoing = 1 AND state = ?3 AND held IS NOT ?2
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(reason)
        .bind(MessageState::Queued as i64)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(row).transpose()
    }

    /// Records that an outgoing message goes end-to-end encrypted (and is
    /// no longer held).
    pub async fn set_sent_encrypted(&self, id: i64) -> Result<Option<MessageRow>> {
        let r = sqlx::query(&format!(
            "UPDATE messages SET encrypted = 1, held = NULL
             WHERE id = ?1 AND outgoing = 1 AND (encrypted = 0 OR held IS NOT NULL)
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(row).transpose()
    }

    /// Replaces the intent of a message in the send queue (the user chose
    /// how it goes). Returns whether it was there.
    pub async fn set_outbox_intent(&self, message_id: i64, intent: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE send_queue SET intent = ?2 WHERE message_id = ?1")
            .bind(message_id)
            .bind(intent)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// How a conversation is encrypted, once decided (`"omemo"`, `"plain"`).
    pub async fn encryption_mode(&self, account: &str, peer: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT mode FROM encryption_modes WHERE account_jid = ?1 AND peer = ?2",
        )
        .bind(account)
        .bind(peer)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Decides how a conversation is encrypted (`None`: undecided again).
    /// With `only_if_undecided`, an earlier decision stays. Returns whether
    /// the mode changed.
    pub async fn set_encryption_mode(
        &self,
        account: &str,
        peer: &str,
        mode: Option<&str>,
        only_if_undecided: bool,
    ) -> Result<bool> {
        let r = match mode {
            None => {
                sqlx::query("DELETE FROM encryption_modes WHERE account_jid = ?1 AND peer = ?2")
                    .bind(account)
                    .bind(peer)
                    .execute(self.pool())
                    .await?
            }
            Some(mode) => {
                let sql = if only_if_undecided {
                    "INSERT INTO encryption_modes (account_jid, peer, mode) VALUES (?1, ?2, ?3)
                     ON CONFLICT (account_jid, peer) DO NOTHING"
                } else {
                    "INSERT INTO encryption_modes (account_jid, peer, mode) VALUES (?1, ?2, ?3)
                     ON CONFLICT (account_jid, peer) DO UPDATE SET mode = excluded.mode
                     WHERE mode IS NOT excluded.mode"
                };
                sqlx::query(sql)
                    .bind(account)
                    .bind(peer)
                    .bind(mode)
                    .execute(self.pool())
                    .await?
            }
        };
        Ok(r.rows_affected() > 0)
    }

    /// An account's messages waiting to be decrypted again, oldest first
    /// (the order a ratchet needs), with their `<encrypted/>` elements and,
    /// in a group chat, their senders' real JIDs.
    pub async fn omemo_pending(
        &self,
        account: &str,
    ) -> Result<Vec<(MessageRow, String, Option<String>)>> {
        self.omemo_pending_page(account, None, i64::MAX).await
    }

    /// [`Store::omemo_pending`], at most `limit` of them, from after the
    /// message `after` (its time and id, as the last of the previous page
    /// had them).
    pub async fn omemo_pending_page(
        &self,
        account: &str,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<(MessageRow, String, Option<String>)>> {
        let (after_ms, after_id) = after.unwrap_or((i64::MIN, i64::MIN));
        let rows = sqlx::query(&format!(
            "SELECT {}, p.element AS element, p.sender AS pending_sender FROM omemo_pending p JOIN messages m ON m.id = p.message_id
             WHERE m.account_jid = ?1 AND (m.timestamp_ms, m.id) > (?2, ?3)
             ORDER BY m.timestamp_ms, m.id LIMIT ?4",
            COLUMNS
                .split(", ")
                .map(|c| format!("m.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(account)
        .bind(after_ms)
        .bind(after_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((row(r)?, r.try_get("element")?, r.try_get("pending_sender")?)))
            .collect()
    }

    /// [`Store::omemo_retried`] for several messages, in one transaction:
    /// the rows that changed, in order (`None` where nothing did).
    pub async fn omemo_retried_many(
        &self,
        outcomes: &[(i64, std::result::Result<&str, &str>, bool)],
    ) -> Result<Vec<Option<MessageRow>>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let mut out = Vec::with_capacity(outcomes.len());
        for (id, outcome, keep) in outcomes {
            out.push(omemo_retried_in(&mut tx, *id, *outcome, *keep).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// A message waiting to be decrypted again was: with `Ok`, its text is
    /// now the plaintext; with `Err`, it keeps its fallback text and shows
    /// this reason, and waits on only if `keep` (a later key exchange may
    /// still allow it).
    pub async fn omemo_retried(
        &self,
        id: i64,
        outcome: std::result::Result<&str, &str>,
        keep: bool,
    ) -> Result<Option<MessageRow>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let r = omemo_retried_in(&mut tx, id, outcome, keep).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// Sets the reactions JSON of a message.
    pub async fn set_reactions(&self, id: i64, reactions_json: &str) -> Result<Option<MessageRow>> {
        let mut conn = self.pool().acquire().await?;
        set_reactions_in(&mut conn, id, reactions_json).await
    }

    /// Replaces the file JSON of a message (a transfer moved on); with
    /// `body`, its text too (the link, once an upload has one).
    pub async fn set_file(
        &self,
        id: i64,
        file_json: &str,
        body: Option<&str>,
    ) -> Result<Option<MessageRow>> {
        let r = sqlx::query(&format!(
            "UPDATE messages SET file = ?2, body = COALESCE(?3, body) WHERE id = ?1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(file_json)
        .bind(body)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(row).transpose()
    }

    /// Records when a message's file was last shown (`used_ms` in its JSON).
    pub async fn touch_file(&self, id: i64, now_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE messages SET file = json_set(file, '$.used_ms', ?2) WHERE id = ?1 AND file IS NOT NULL",
        )
        .bind(id)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The messages of an account that share a file, newest first: the
    /// `limit` ones before `before` (a `(timestamp_ms, id)` position).
    pub async fn files(
        &self,
        account: &str,
        before: Option<(i64, i64)>,
        limit: u32,
    ) -> Result<Vec<MessageRow>> {
        let (t, id) = before.unwrap_or((i64::MAX, i64::MAX));
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM messages
             WHERE account_jid = ?1 AND file IS NOT NULL
               AND (timestamp_ms < ?2 OR (timestamp_ms = ?2 AND id < ?3))
             ORDER BY timestamp_ms DESC, id DESC LIMIT ?4"
        ))
        .bind(account)
        .bind(t)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }

    /// The file JSON of every message of a conversation that shares one
    /// (to delete the local copies with the conversation).
    pub async fn conversation_files(&self, account: &str, peer: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT file FROM messages WHERE account_jid = ?1 AND peer = ?2 AND file IS NOT NULL",
        )
        .bind(account)
        .bind(peer)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("file").map_err(Into::into))
            .collect()
    }

    /// Every message with a file whose JSON says `key` is `value`, any
    /// account (the cache's clean-up and the start-up sweep read them).
    pub async fn files_where(&self, key: &str, value: &str) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM messages
             WHERE file IS NOT NULL AND json_extract(file, '$.' || ?1) = ?2
             ORDER BY id"
        ))
        .bind(key)
        .bind(value)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }

    /// Messages of a conversation, oldest first: the `limit` newest ones
    /// before `before` (a `(timestamp_ms, id)` position), or the newest.
    pub async fn timeline(
        &self,
        account: &str,
        peer: &str,
        before: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let (ts, id) = before.unwrap_or((i64::MAX, i64::MAX));
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM messages
             WHERE account_jid = ?1 AND peer = ?2 AND (timestamp_ms, id) < (?3, ?4)
             ORDER BY timestamp_ms DESC, id DESC LIMIT ?5"
        ))
        .bind(account)
        .bind(peer)
        .bind(ts)
        .bind(id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut out = rows.iter().map(row).collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// Up to `limit` messages after position `(timestamp_ms, id)`, oldest
    /// first: the way back down after scrolling far up (the UI keeps only a
    /// window of the history loaded).
    pub async fn timeline_after(
        &self,
        account: &str,
        peer: &str,
        after: (i64, i64),
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM messages
             WHERE account_jid = ?1 AND peer = ?2 AND (timestamp_ms, id) > (?3, ?4)
             ORDER BY timestamp_ms ASC, id ASC LIMIT ?5"
        ))
        .bind(account)
        .bind(peer)
        .bind(after.0)
        .bind(after.1)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }

    /// Number of messages stored for an account and peer.
    pub async fn message_count(&self, account: &str, peer: &str) -> Result<i64> {
        let r = sqlx::query("SELECT COUNT(*) FROM messages WHERE account_jid = ?1 AND peer = ?2")
            .bind(account)
            .bind(peer)
            .fetch_one(self.pool())
            .await?;
        Ok(r.try_get(0)?)
    }

    /// One conversation.
    pub async fn conversation(&self, account: &str, peer: &str) -> Result<Option<Conversation>> {
        let r = sqlx::query(
            "SELECT unread, mentions, updated_ms, kind FROM conversations WHERE account_jid = ?1 AND peer = ?2",
        )
        .bind(account)
        .bind(peer)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = r else {
            return Ok(None);
        };
        let last = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM messages WHERE account_jid = ?1 AND peer = ?2
             ORDER BY timestamp_ms DESC, id DESC LIMIT 1"
        ))
        .bind(account)
        .bind(peer)
        .fetch_optional(self.pool())
        .await?;
        Ok(Some(Conversation {
            account: account.to_string(),
            peer: peer.to_string(),
            kind: ConversationKind::from_i64(r.try_get("kind")?),
            unread: r.try_get("unread")?,
            mentions: r.try_get("mentions")?,
            updated_ms: r.try_get("updated_ms")?,
            last: last.as_ref().map(row).transpose()?,
        }))
    }

    /// Conversations, most recent first (of one account, or all).
    pub async fn conversations(&self, account: Option<&str>) -> Result<Vec<Conversation>> {
        let rows = sqlx::query(
            "SELECT c.account_jid, c.peer, c.unread, c.mentions, c.updated_ms, c.kind,
                    (SELECT m.id FROM messages m WHERE m.account_jid = c.account_jid AND m.peer = c.peer
                     ORDER BY m.timestamp_ms DESC, m.id DESC LIMIT 1) AS last_id
             FROM conversations c
             WHERE ?1 IS NULL OR c.account_jid = ?1
             ORDER BY c.updated_ms DESC",
        )
        .bind(account)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let last_id: Option<i64> = r.try_get("last_id")?;
            let last = match last_id {
                Some(id) => self.message(id).await?,
                None => None,
            };
            out.push(Conversation {
                account: r.try_get("account_jid")?,
                peer: r.try_get("peer")?,
                kind: ConversationKind::from_i64(r.try_get("kind")?),
                unread: r.try_get("unread")?,
                mentions: r.try_get("mentions")?,
                updated_ms: r.try_get("updated_ms")?,
                last,
            });
        }
        Ok(out)
    }

    /// Puts a conversation in the list (a group chat just joined, before
    /// its first message); one already there keeps its place. Returns
    /// whether it is new.
    pub async fn ensure_conversation(
        &self,
        account: &str,
        peer: &str,
        kind: ConversationKind,
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO conversations (account_jid, peer, unread, updated_ms, kind) VALUES (?1, ?2, 0, ?3, ?4)
             ON CONFLICT(account_jid, peer) DO NOTHING",
        )
        .bind(account)
        .bind(peer)
        .bind(now_ms)
        .bind(kind as i64)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Marks every incoming message of a conversation read.
    pub async fn mark_read(&self, account: &str, peer: &str) -> Result<()> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        mark_read_in(&mut tx, account, peer).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Messages of an account in the send queue (not yet acknowledged by
    /// the server), oldest first.
    pub async fn outbox(&self, account: &str) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(
            "SELECT message_id, intent FROM send_queue WHERE account_jid = ?1 ORDER BY message_id",
        )
        .bind(account)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxEntry {
                    message_id: r.try_get("message_id")?,
                    intent: r.try_get("intent")?,
                })
            })
            .collect()
    }

    /// The intent of a message in the send queue, if it is there.
    pub async fn outbox_intent(&self, message_id: i64) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT intent FROM send_queue WHERE message_id = ?1")
                .bind(message_id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Removes a message from the send queue (the server has it).
    pub async fn outbox_done(&self, message_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM send_queue WHERE message_id = ?1")
            .bind(message_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Full-text search over message bodies, most recently stored first.
    pub async fn search(
        &self,
        query: &str,
        account: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SearchHit>> {
        let Some(q) = fts_query(query) else {
            return Ok(Vec::new());
        };
        // FTS5 walks its index in rowid order and stops at the limit, so
        // the newest-stored matches come back without sorting every match
        // (common words match hundreds of thousands of messages).
        let rows = sqlx::query(&format!(
            "SELECT {}, snippet(messages_fts, 0, '[', ']', '…', 12) AS snip
             FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
             WHERE messages_fts MATCH ?1 AND (?2 IS NULL OR m.account_jid = ?2) AND m.retracted = 0
             ORDER BY messages_fts.rowid DESC LIMIT ?3",
            COLUMNS
                .split(", ")
                .map(|c| format!("m.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(q)
        .bind(account)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SearchHit {
                    message: row(r)?,
                    snippet: r.try_get("snip")?,
                })
            })
            .collect()
    }

    /// Roster version and archive positions of an account.
    pub async fn account_sync_state(
        &self,
        account: &str,
    ) -> Result<(Option<String>, Option<String>, Option<String>, bool)> {
        let r = sqlx::query(
            "SELECT roster_version, mam_newest_id, mam_oldest_id, mam_complete FROM account_state WHERE account_jid = ?1",
        )
        .bind(account)
        .fetch_optional(self.pool())
        .await?;
        match r {
            Some(r) => Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)),
            None => Ok((None, None, None, false)),
        }
    }

    /// Records the roster version.
    pub async fn set_roster_version(&self, account: &str, version: Option<&str>) -> Result<()> {
        sqlx::query(
            "INSERT INTO account_state (account_jid, roster_version) VALUES (?1, ?2)
             ON CONFLICT(account_jid) DO UPDATE SET roster_version = ?2",
        )
        .bind(account)
        .bind(version)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records archive positions (`None` leaves a value unchanged).
    pub async fn set_mam_state(
        &self,
        account: &str,
        newest: Option<&str>,
        oldest: Option<&str>,
        complete: Option<bool>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO account_state (account_jid, mam_newest_id, mam_oldest_id, mam_complete)
             VALUES (?1, ?2, ?3, COALESCE(?4, 0))
             ON CONFLICT(account_jid) DO UPDATE SET
                mam_newest_id = COALESCE(?2, mam_newest_id),
                mam_oldest_id = COALESCE(?3, mam_oldest_id),
                mam_complete = COALESCE(?4, mam_complete)",
        )
        .bind(account)
        .bind(newest)
        .bind(oldest)
        .bind(complete)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

impl Store {
    /// Time of the oldest message stored for a conversation.
    pub async fn oldest_timestamp(&self, account: &str, peer: &str) -> Result<Option<i64>> {
        let r = sqlx::query(
            "SELECT MIN(timestamp_ms) FROM messages WHERE account_jid = ?1 AND peer = ?2",
        )
        .bind(account)
        .bind(peer)
        .fetch_one(self.pool())
        .await?;
        Ok(r.try_get(0)?)
    }

    /// The oldest archive id stored for a conversation (scroll-back continues before it).
    pub async fn oldest_archive_id(&self, account: &str, peer: &str) -> Result<Option<String>> {
        let r = sqlx::query(
            "SELECT archive_id FROM messages WHERE account_jid = ?1 AND peer = ?2 AND archive_id IS NOT NULL
             ORDER BY timestamp_ms ASC, id ASC LIMIT 1",
        )
        .bind(account)
        .bind(peer)
        .fetch_optional(self.pool())
        .await?;
        Ok(match r {
            Some(r) => r.try_get(0)?,
            None => None,
        })
    }
}

/// Stores a message unless it is known (see [`Store::insert_message`]),
/// inside the caller's transaction.
pub(crate) async fn insert_in(
    conn: &mut SqliteConnection,
    m: &NewMessage,
    outbox_intent: Option<&str>,
    count_unread: bool,
) -> Result<Stored> {
    let outgoing = m.direction == Direction::Outgoing;
    let cleared = cleared_ms(&mut *conn, &m.account, &m.peer).await?;
    let sent = if m.coarse_time {
        m.timestamp_ms - m.timestamp_ms.rem_euclid(1000)
    } else {
        m.timestamp_ms
    };
    // A message going to the outbox is one the user writes now: never
    // from before their deletion, even in its millisecond or after the
    // clock went back. Copies (archive, carbons, offline) are checked.
    if outbox_intent.is_none() && cleared.is_some_and(|c| sent <= c) {
        return Ok(Stored::Deleted);
    }
    let existing = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM messages
         WHERE account_jid = ?1 AND ((peer = ?2 AND outgoing = ?3 AND uid = ?4)
            OR (?5 IS NOT NULL AND archive_by = COALESCE(?6, ?1) AND archive_id = ?5))
         LIMIT 1"
    ))
    .bind(&m.account)
    .bind(&m.peer)
    .bind(outgoing)
    .bind(&m.uid)
    .bind(&m.archive_id)
    .bind(&m.archive_by)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = existing {
        let mut found = row(&r)?;
        if found.archive_id.is_none() && m.archive_id.is_some() {
            sqlx::query(
                "UPDATE messages SET archive_id = ?2, archive_by = COALESCE(?3, account_jid) WHERE id = ?1",
            )
            .bind(found.id)
            .bind(&m.archive_id)
            .bind(&m.archive_by)
                .execute(&mut *conn)
                .await?;
            found.archive_id = m.archive_id.clone();
        }
        return Ok(Stored::Duplicate(found));
    }
    // A reply whose sender quoted the replied message without marking the
    // quote (XEP-0428): the quote goes, the replied message is shown.
    let mut body = std::borrow::Cow::Borrowed(m.body.as_str());
    if let (Some(reference), true) = (&m.reply_to, m.body.starts_with('>')) {
        if let Some(replied) = find_in(&mut *conn, &m.account, &m.peer, reference, None).await? {
            if let Some(stripped) = strip_reply_quote(&m.body, &replied.body) {
                body = std::borrow::Cow::Owned(stripped);
            }
        }
    }
    let r = sqlx::query(&format!(
        "INSERT INTO messages (account_jid, peer, outgoing, sender, uid, msg_id, archive_id, archive_by, body, timestamp_ms, state, reply_to, mention, occupant_id, file, encrypted, decrypt_error, call)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, CASE WHEN ?7 IS NULL THEN NULL ELSE COALESCE(?8, ?1) END, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         RETURNING {COLUMNS}"
    ))
    .bind(&m.account)
    .bind(&m.peer)
    .bind(outgoing)
    .bind(&m.sender)
    .bind(&m.uid)
    .bind(&m.msg_id)
    .bind(&m.archive_id)
    .bind(&m.archive_by)
    .bind(body.as_ref())
    .bind(m.timestamp_ms)
    .bind(m.state as i64)
    .bind(&m.reply_to)
    .bind(m.mention)
    .bind(&m.occupant_id)
    .bind(&m.file)
    .bind(m.encrypted)
    .bind(&m.decrypt_error)
    .bind(&m.call)
    .fetch_one(&mut *conn)
    .await?;
    let inserted = row(&r)?;
    if let Some(element) = &m.omemo_retry {
        sqlx::query("INSERT INTO omemo_pending (message_id, element, sender) VALUES (?1, ?2, ?3)")
            .bind(inserted.id)
            .bind(element)
            .bind(&m.omemo_sender)
            .execute(&mut *conn)
            .await?;
    }
    let unread = i64::from(!outgoing && count_unread);
    let mentions = unread * i64::from(m.mention);
    sqlx::query(
        "INSERT INTO conversations (account_jid, peer, unread, updated_ms, kind, mentions) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(account_jid, peer) DO UPDATE SET
            unread = unread + ?3, updated_ms = MAX(updated_ms, ?4), mentions = mentions + ?6",
    )
    .bind(&m.account)
    .bind(&m.peer)
    .bind(unread)
    .bind(m.timestamp_ms)
    .bind(m.kind as i64)
    .bind(mentions)
    .execute(&mut *conn)
    .await?;
    if let Some(intent) = outbox_intent {
        put_in_outbox(&mut *conn, &inserted, intent).await?;
    }
    Ok(Stored::Inserted(inserted))
}

/// A message by local id, inside the caller's transaction.
pub(crate) async fn message_in(conn: &mut SqliteConnection, id: i64) -> Result<Option<MessageRow>> {
    let r = sqlx::query(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    r.as_ref().map(row).transpose()
}

/// See [`Store::find_message`].
pub(crate) async fn find_in(
    conn: &mut SqliteConnection,
    account: &str,
    peer: &str,
    reference: &str,
    direction: Option<Direction>,
) -> Result<Option<MessageRow>> {
    let outgoing = direction.map(|d| d == Direction::Outgoing);
    let r = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM messages
         WHERE account_jid = ?1 AND peer = ?2 AND (uid = ?3 OR msg_id = ?3 OR archive_id = ?3)
           AND (?4 IS NULL OR outgoing = ?4)
         ORDER BY id DESC LIMIT 1"
    ))
    .bind(account)
    .bind(peer)
    .bind(reference)
    .bind(outgoing)
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(row).transpose()
}

/// See [`Store::correct_message`].
pub(crate) async fn correct_in(
    conn: &mut SqliteConnection,
    id: i64,
    body: &str,
) -> Result<Option<MessageRow>> {
    sqlx::query("UPDATE messages SET body = ?2, edited = 1 WHERE id = ?1 AND retracted = 0")
        .bind(id)
        .bind(body)
        .execute(&mut *conn)
        .await?;
    message_in(conn, id).await
}

/// See [`Store::retract_message`].
pub(crate) async fn retract_in(conn: &mut SqliteConnection, id: i64) -> Result<Option<MessageRow>> {
    sqlx::query("UPDATE messages SET body = '', retracted = 1, reactions = '{}' WHERE id = ?1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    message_in(conn, id).await
}

/// See [`Store::advance_state`].
pub(crate) async fn advance_in(
    conn: &mut SqliteConnection,
    id: i64,
    state: MessageState,
) -> Result<Option<MessageRow>> {
    let done = sqlx::query(
        "UPDATE messages SET state = ?2 WHERE id = ?1 AND outgoing = 1
         AND (state < ?2 OR (state = 9 AND ?2 >= 3))",
    )
    .bind(id)
    .bind(state as i64)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    message_in(conn, id).await
}

/// See [`Store::fail_message`].
pub(crate) async fn fail_in(
    conn: &mut SqliteConnection,
    id: i64,
    condition: Option<&str>,
    text: Option<&str>,
) -> Result<Option<MessageRow>> {
    let done = sqlx::query(
        "UPDATE messages SET state = ?2, failure = ?3, failure_text = ?4, held = NULL WHERE id = ?1 AND outgoing = 1",
    )
    .bind(id)
    .bind(MessageState::Failed as i64)
    .bind(condition)
    .bind(text)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    message_in(conn, id).await
}

/// See [`Store::set_reactions`].
pub(crate) async fn set_reactions_in(
    conn: &mut SqliteConnection,
    id: i64,
    reactions_json: &str,
) -> Result<Option<MessageRow>> {
    sqlx::query("UPDATE messages SET reactions = ?2 WHERE id = ?1")
        .bind(id)
        .bind(reactions_json)
        .execute(&mut *conn)
        .await?;
    message_in(conn, id).await
}

/// See [`Store::mark_read`].
pub(crate) async fn mark_read_in(
    conn: &mut SqliteConnection,
    account: &str,
    peer: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE conversations SET unread = 0, mentions = 0 WHERE account_jid = ?1 AND peer = ?2",
    )
    .bind(account)
    .bind(peer)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE messages SET state = 11 WHERE account_jid = ?1 AND peer = ?2 AND outgoing = 0 AND state = 10",
    )
    .bind(account)
    .bind(peer)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// See [`crate::Change::SettleUnread`]. Returns whether the unread count
/// changed.
pub(crate) async fn settle_unread_in(
    conn: &mut SqliteConnection,
    account: &str,
    peer: &str,
) -> Result<bool> {
    // The read point: the user's own latest message, or the message their
    // newest displayed marker names, whichever is later.
    let read_point: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(t) FROM (
            SELECT MAX(timestamp_ms) AS t FROM messages
             WHERE account_jid = ?1 AND peer = ?2 AND outgoing = 1
            UNION ALL
            SELECT MAX(m.timestamp_ms) AS t FROM read_markers r
              JOIN messages m ON m.account_jid = r.account_jid AND m.peer = r.peer
                 AND m.outgoing = 0 AND (m.uid = r.reference OR m.msg_id = r.reference)
             WHERE r.account_jid = ?1 AND r.peer = ?2)",
    )
    .bind(account)
    .bind(peer)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(rp) = read_point {
        sqlx::query(
            "UPDATE messages SET state = 11
             WHERE account_jid = ?1 AND peer = ?2 AND outgoing = 0 AND state = 10 AND timestamp_ms <= ?3",
        )
        .bind(account)
        .bind(peer)
        .bind(rp)
        .execute(&mut *conn)
        .await?;
    }
    let changed = sqlx::query(
        "UPDATE conversations SET unread = (
            SELECT COUNT(*) FROM messages
             WHERE account_jid = ?1 AND peer = ?2 AND outgoing = 0 AND state = 10),
           mentions = (
            SELECT COUNT(*) FROM messages
             WHERE account_jid = ?1 AND peer = ?2 AND outgoing = 0 AND state = 10 AND mention = 1)
         WHERE account_jid = ?1 AND peer = ?2 AND unread != (
            SELECT COUNT(*) FROM messages
             WHERE account_jid = ?1 AND peer = ?2 AND outgoing = 0 AND state = 10)",
    )
    .bind(account)
    .bind(peer)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(changed > 0)
}

/// A reply's body without a leading quote of the replied message, for
/// senders that quote it without marking the quote as a fallback: the
/// lines starting with `>` at the start of `body` go when the text they
/// quote (after an optional "… wrote:" line) begins `replied`'s text.
pub fn strip_reply_quote(body: &str, replied: &str) -> Option<String> {
    let lines: Vec<&str> = body.lines().collect();
    let quoted = lines.iter().take_while(|l| l.starts_with('>')).count();
    if quoted == 0 || quoted == lines.len() {
        return None;
    }
    let text: Vec<&str> = lines[..quoted]
        .iter()
        .map(|l| l.trim_start_matches('>').trim())
        .filter(|l| !l.is_empty())
        .collect();
    let text: Vec<&str> = match text.first() {
        Some(first) if first.ends_with("wrote:") => text[1..].to_vec(),
        _ => text,
    };
    let replied: String = replied.split_whitespace().collect::<Vec<_>>().join(" ");
    let quote: String = text
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if quote.is_empty() || !replied.starts_with(quote.trim_end_matches('…')) {
        return None;
    }
    let rest = lines[quoted..].join("\n");
    Some(rest.trim_start_matches('\n').to_string())
}

/// [`Store::omemo_retried`] inside a transaction.
async fn omemo_retried_in(
    conn: &mut SqliteConnection,
    id: i64,
    outcome: std::result::Result<&str, &str>,
    keep: bool,
) -> Result<Option<MessageRow>> {
    if outcome.is_ok() || !keep {
        sqlx::query("DELETE FROM omemo_pending WHERE message_id = ?1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    let (sql, text) = match outcome {
        Ok(body) => (
            format!(
                "UPDATE messages SET body = ?2, encrypted = 1, decrypt_error = NULL
                 WHERE id = ?1 RETURNING {COLUMNS}"
            ),
            body,
        ),
        Err(reason) => (
            format!(
                "UPDATE messages SET decrypt_error = ?2
                 WHERE id = ?1 AND decrypt_error IS NOT ?2 RETURNING {COLUMNS}"
            ),
            reason,
        ),
    };
    let r = sqlx::query(&sql)
        .bind(id)
        .bind(text)
        .fetch_optional(&mut *conn)
        .await?;
    r.as_ref().map(row).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmarked_quote_of_the_replied_message_goes() {
        assert_eq!(
            strip_reply_quote(
                "> We should bake a cake\nGreat idea!",
                "We should bake a cake"
            )
            .as_deref(),
            Some("Great idea!")
        );
        assert_eq!(
            strip_reply_quote(
                "> Anna wrote:\n> We should bake\n> a cake\n\nGreat idea!",
                "We should bake a cake"
            )
            .as_deref(),
            Some("Great idea!")
        );
        // A quote of something else, or only a quote, stays.
        assert_eq!(
            strip_reply_quote("> To be or not\nno", "We should bake a cake"),
            None
        );
        assert_eq!(
            strip_reply_quote("> We should bake a cake", "We should bake a cake"),
            None
        );
        assert_eq!(
            strip_reply_quote("Great idea!", "We should bake a cake"),
            None
        );
    }
}
