//! Changes to messages, applied together in one transaction.
//!
//! The engine's inbound stages describe what a stanza changes as a list of
//! [`Change`]s; [`Store::commit`] applies a whole list (one live message, or
//! a whole archive page) in one transaction, resolving the messages a change
//! refers to (by their `id` attribute or origin-id) inside it. So a page is
//! all stored or not at all, its search rows included, and a correction
//! finds a message stored earlier in the same list.

use std::collections::BTreeMap;

use crate::messages::{
    advance_in, correct_in, fail_in, find_in, insert_in, mark_read_in, message_in, retract_in,
    set_reactions_in, settle_unread_in,
};
use crate::{Direction, MessageRow, MessageState, NewMessage, Result, Store, Stored};

/// Who sent a group-chat message, to check a correction or retraction
/// comes from the same occupant: by the room's stable occupant id
/// (XEP-0421) when both messages carry one, else by room JID (nick).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occupant {
    /// The occupant's room JID (`room@service/nick`).
    pub sender: String,
    /// Its occupant id, when the room gives them.
    pub occupant_id: Option<String>,
}

impl Occupant {
    /// Whether the stored message `m` was sent by this occupant.
    pub fn sent(&self, m: &crate::MessageRow) -> bool {
        match (&self.occupant_id, &m.occupant_id) {
            (Some(a), Some(b)) => a == b,
            _ => self.sender == m.sender,
        }
    }
}

/// One change to the stored history.
// Inserts are by far the most common change: boxing their message would
// cost an allocation per message for the sake of the rare small ones.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A new message, stored unless known (see [`Store::insert_message`]).
    Insert {
        /// The message.
        message: NewMessage,
        /// Count it as unread (incoming only).
        count_unread: bool,
    },
    /// An outgoing message bounced (XMPP error with its id).
    Fail {
        /// Account.
        account: String,
        /// Conversation.
        peer: String,
        /// The bounced stanza's id.
        reference: String,
        /// Error condition.
        condition: Option<String>,
        /// Error text.
        text: Option<String>,
    },
    /// Its sender retracted a message (XEP-0424).
    Retract {
        /// Account.
        account: String,
        /// Conversation.
        peer: String,
        /// The retracted message's id.
        reference: String,
        /// Only a message of this direction (its sender's side) counts.
        direction: Direction,
        /// In a group chat, only a message of this occupant counts.
        occupant: Option<Occupant>,
    },
    /// The link to a file shared earlier without one (XEP-0447 sources
    /// attached later, as Dino sends them): set when the message has a
    /// file without a link.
    AttachFile {
        /// Account.
        account: String,
        /// Conversation.
        peer: String,
        /// The sharing message's id.
        reference: String,
        /// Only a message of this direction (its sender's side) counts.
        direction: Direction,
        /// In a group chat, only a message of this occupant counts.
        occupant: Option<Occupant>,
        /// The file's link.
        url: String,
    },
    /// A group chat's subject changed.
    RoomSubject {
        /// Account.
        account: String,
        /// The room.
        room: String,
        /// The new subject (empty: none).
        subject: String,
    },
    /// A group chat's moderator removed a message (XEP-0425).
    Moderate {
        /// Account.
        account: String,
        /// The room.
        peer: String,
        /// The removed message's id in the room's archive (stanza-id).
        stanza_id: String,
        /// Who removed it.
        by: Option<String>,
        /// Why.
        reason: Option<String>,
    },
    /// Its sender corrected a message (XEP-0308).
    Correct {
        /// Account.
        account: String,
        /// Conversation.
        peer: String,
        /// The corrected message's id.
        reference: String,
        /// Only a message of this direction (its sender's side) counts.
        direction: Direction,
        /// In a group chat, only a message of this occupant counts.
        occupant: Option<Occupant>,
        /// The new text.
        body: String,
    },
    /// Someone's reactions to a message (XEP-0444); empty removes theirs.
    React {
        /// Account.
        account: String,
        /// Conversation.
        peer: String,
        /// The message reacted to.
        reference: String,
        /// Who reacts.
        reactor: String,
        /// Their reactions, sorted, no repeats.
        emojis: Vec<String>,
    },
    /// An outgoing message moved on: delivered, read (XEP-0184, XEP-0333).
    Advance {
        /// Account.
        account: String,
        /// Conversation.
        peer: String,
        /// The message's id.
        reference: String,
        /// The new state.
        state: MessageState,
    },
    /// A stored message's archive id, learnt from a later copy of it.
    NoteArchiveId {
        /// The stored message.
        id: i64,
        /// The archive's id for it.
        archive_id: String,
        /// Whose archive.
        archive_by: String,
    },
    /// The user's displayed marker (XEP-0333) from another device: kept if
    /// it is the newest seen in the conversation (see [`Change::SettleUnread`]).
    ReadMarker {
        /// Account.
        account: String,
        /// Conversation.
        peer: String,
        /// The id of the message it marks.
        reference: String,
        /// When the marker was sent.
        at_ms: i64,
    },
    /// On a device's first catch-up: incoming messages the user has
    /// answered (up to their own latest message) or marked displayed (up to
    /// the message of their newest marker) are read; only later ones count
    /// as unread.
    SettleUnread {
        /// Account.
        account: String,
        /// Conversation.
        peer: String,
    },
    /// The user read the conversation (here or on another device).
    MarkRead {
        /// Account.
        account: String,
        /// Conversation.
        peer: String,
    },
}

/// What a committed list changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// Messages added or changed, in the order of the changes (a message
    /// changed twice appears twice).
    pub messages: Vec<MessageRow>,
    /// Conversations whose list entry changed (account, peer), once each,
    /// in order of first change.
    pub conversations: Vec<(String, String)>,
    /// New messages stored.
    pub inserted: u64,
    /// Messages already known (not stored again).
    pub duplicates: u64,
    /// Messages from before the user deleted their conversation.
    pub deleted: u64,
}

impl Committed {
    fn touch(&mut self, account: &str, peer: &str) {
        if !self
            .conversations
            .iter()
            .any(|(a, p)| a == account && p == peer)
        {
            self.conversations
                .push((account.to_string(), peer.to_string()));
        }
    }
}

impl Store {
    /// Applies `changes` in order, in one transaction. A change whose
    /// message is unknown (or retracted, for corrections and reactions)
    /// changes nothing.
    pub async fn commit(&self, changes: &[Change]) -> Result<Committed> {
        let mut out = Committed::default();
        if changes.is_empty() {
            return Ok(out);
        }
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        for change in changes {
            match change {
                Change::Insert {
                    message,
                    count_unread,
                } => match insert_in(&mut tx, message, None, *count_unread).await? {
                    Stored::Inserted(row) => {
                        out.inserted += 1;
                        out.touch(&row.account, &row.peer);
                        out.messages.push(row);
                    }
                    Stored::Duplicate(_) => out.duplicates += 1,
                    Stored::Deleted => out.deleted += 1,
                },
                Change::Fail {
                    account,
                    peer,
                    reference,
                    condition,
                    text,
                } => {
                    let found =
                        find_in(&mut tx, account, peer, reference, Some(Direction::Outgoing))
                            .await?;
                    if let Some(m) = found {
                        if let Some(m) =
                            fail_in(&mut tx, m.id, condition.as_deref(), text.as_deref()).await?
                        {
                            // The list shows when its last message was not sent.
                            out.touch(account, peer);
                            out.messages.push(m);
                        }
                    }
                }
                Change::Retract {
                    account,
                    peer,
                    reference,
                    direction,
                    occupant,
                } => {
                    let found =
                        find_in(&mut tx, account, peer, reference, Some(*direction)).await?;
                    let found = found.filter(|m| occupant.as_ref().is_none_or(|o| o.sent(m)));
                    if let Some(m) = found {
                        if let Some(m) = retract_in(&mut tx, m.id).await? {
                            out.touch(account, peer);
                            out.messages.push(m);
                        }
                    } else {
                        tracing::info!(%peer, reference, "retraction of an unknown message ignored");
                    }
                }
                Change::Correct {
                    account,
                    peer,
                    reference,
                    direction,
                    occupant,
                    body,
                } => match find_in(&mut tx, account, peer, reference, Some(*direction)).await? {
                    Some(m) if !m.retracted && occupant.as_ref().is_none_or(|o| o.sent(&m)) => {
                        if let Some(m) = correct_in(&mut tx, m.id, body).await? {
                            out.touch(account, peer);
                            out.messages.push(m);
                        }
                    }
                    _ => tracing::info!(
                        %peer,
                        reference,
                        "correction of an unknown or foreign message ignored"
                    ),
                },
                Change::AttachFile {
                    account,
                    peer,
                    reference,
                    direction,
                    occupant,
                    url,
                } => match find_in(&mut tx, account, peer, reference, Some(*direction)).await? {
                    Some(m) if occupant.as_ref().is_none_or(|o| o.sent(&m)) => {
                        let r = sqlx::query(&format!(
                            "UPDATE messages SET file = json_set(file, '$.url', ?2)
                             WHERE id = ?1 AND file IS NOT NULL AND json_extract(file, '$.url') IS NULL
                             RETURNING {}",
                            crate::messages::COLUMNS
                        ))
                        .bind(m.id)
                        .bind(url)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if let Some(r) = r {
                            out.touch(account, peer);
                            out.messages.push(crate::messages::row(&r)?);
                        }
                    }
                    _ => tracing::info!(%peer, reference, "sources for an unknown file ignored"),
                },
                Change::RoomSubject {
                    account,
                    room,
                    subject,
                } => {
                    sqlx::query(
                        "UPDATE rooms SET subject = ?3 WHERE account_jid = ?1 AND jid = ?2",
                    )
                    .bind(account)
                    .bind(room)
                    .bind(subject)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::Moderate {
                    account,
                    peer,
                    stanza_id,
                    by,
                    reason,
                } => {
                    let r = sqlx::query(
                        "UPDATE messages SET body = '', retracted = 1, reactions = '{}',
                            moderated_by = ?4, moderation_reason = ?5
                         WHERE account_jid = ?1 AND peer = ?2 AND archive_by = ?2 AND archive_id = ?3
                         RETURNING id",
                    )
                    .bind(account)
                    .bind(peer)
                    .bind(stanza_id)
                    .bind(by)
                    .bind(reason)
                    .fetch_optional(&mut *tx)
                    .await?;
                    match r {
                        Some(r) => {
                            let id: i64 = sqlx::Row::try_get(&r, 0)?;
                            if let Some(m) = message_in(&mut tx, id).await? {
                                out.touch(account, peer);
                                out.messages.push(m);
                            }
                        }
                        None => {
                            tracing::info!(%peer, stanza_id, "moderation of an unknown message ignored")
                        }
                    }
                }
                Change::React {
                    account,
                    peer,
                    reference,
                    reactor,
                    emojis,
                } => match find_in(&mut tx, account, peer, reference, None).await? {
                    Some(m) if !m.retracted => {
                        let json = merge_reactions(&m.reactions, reactor, emojis);
                        if let Some(m) = set_reactions_in(&mut tx, m.id, &json).await? {
                            out.messages.push(m);
                        }
                    }
                    _ => tracing::info!(%peer, reference, "reaction to an unknown message ignored"),
                },
                Change::Advance {
                    account,
                    peer,
                    reference,
                    state,
                } => {
                    let found =
                        find_in(&mut tx, account, peer, reference, Some(Direction::Outgoing))
                            .await?;
                    if let Some(m) = found {
                        if let Some(m) = advance_in(&mut tx, m.id, *state).await? {
                            out.messages.push(m);
                        }
                    }
                }
                Change::NoteArchiveId {
                    id,
                    archive_id,
                    archive_by,
                } => {
                    sqlx::query(
                        "UPDATE messages SET archive_id = ?2, archive_by = ?3
                         WHERE id = ?1 AND archive_id IS NULL",
                    )
                    .bind(id)
                    .bind(archive_id)
                    .bind(archive_by)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::ReadMarker {
                    account,
                    peer,
                    reference,
                    at_ms,
                } => {
                    sqlx::query(
                        "INSERT INTO read_markers (account_jid, peer, reference, at_ms) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(account_jid, peer) DO UPDATE SET reference = ?3, at_ms = ?4
                         WHERE ?4 > at_ms",
                    )
                    .bind(account)
                    .bind(peer)
                    .bind(reference)
                    .bind(at_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::SettleUnread { account, peer } => {
                    if settle_unread_in(&mut tx, account, peer).await? {
                        out.touch(account, peer);
                    }
                }
                Change::MarkRead { account, peer } => {
                    mark_read_in(&mut tx, account, peer).await?;
                    out.touch(account, peer);
                }
            }
        }
        tx.commit().await?;
        Ok(out)
    }
}

/// Replaces `reactor`'s set in a reactions JSON object (`{jid: [emoji]}`);
/// an empty set removes them. Damaged JSON starts afresh.
pub fn merge_reactions(json: &str, reactor: &str, emojis: &[String]) -> String {
    let mut map: BTreeMap<String, Vec<String>> = serde_json::from_str(json).unwrap_or_default();
    if emojis.is_empty() {
        map.remove(reactor);
    } else {
        map.insert(reactor.to_string(), emojis.to_vec());
    }
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reactions_merge_per_reactor() {
        let j = merge_reactions("{}", "a@x", &["👍".into()]);
        let j = merge_reactions(&j, "b@x", &["🎉".into(), "👍".into()]);
        assert_eq!(j, r#"{"a@x":["👍"],"b@x":["🎉","👍"]}"#);
        let j = merge_reactions(&j, "a@x", &[]);
        assert_eq!(j, r#"{"b@x":["🎉","👍"]}"#);
        assert_eq!(
            merge_reactions("not json", "a@x", &["x".into()]),
            r#"{"a@x":["x"]}"#
        );
    }
}
