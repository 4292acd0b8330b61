//! What the send queue holds. An intent is stored (as JSON) beside the
//! message's row; [`prepare`] turns the two into a stanza when the
//! message's turn comes. That is where end-to-end encryption and uploads
//! will plug in: an intent may then wait (with a reason) instead of
//! becoming a stanza.

use serde::{Deserialize, Serialize};
use tern_store::MessageRow;
use xmpp_parsers::message::Message;

use crate::account::ctx::Ctx;
use crate::xep::message::Outgoing;

/// What to send for a queued message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Intent {
    /// The message's row as a chat message: its text, its id (XEP-0359
    /// origin-id too), its reply (XEP-0461), asking for a receipt and a
    /// read marker; encrypted as `encryption` says.
    Message {
        #[serde(default, skip_serializing_if = "Encryption::is_plain")]
        encryption: Encryption,
    },
    /// The message's row as a message to a group chat (`groupchat`);
    /// encrypted in a private group as `encryption` says.
    GroupMessage {
        #[serde(default, skip_serializing_if = "Encryption::is_plain")]
        encryption: Encryption,
    },
    /// The message's row as a private message to an occupant of a room.
    RoomPrivate,
    /// The file of the message's row: uploaded first (when it has no link
    /// yet), then announced like the other kinds, as `via` says.
    File {
        /// How the announcement goes.
        via: Via,
        /// Whether the file and its announcement are encrypted (one-to-one
        /// chats and private groups).
        #[serde(default, skip_serializing_if = "Encryption::is_plain")]
        encryption: Encryption,
    },
}

/// Whether a message goes end-to-end encrypted (OMEMO). Stored with the
/// intent: what the user was shown when they sent it is what happens, and
/// only their explicit choice turns an encrypted message into a plain one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Encryption {
    /// Not encrypted (the conversation is set so, or cannot be: a public
    /// channel).
    #[default]
    Plain,
    /// Encrypted, or held until it can be: never sent plain.
    Omemo,
    /// Not decided when it was sent (the contact's devices were unknown):
    /// encrypted if the contact turns out to have devices, else plain.
    Auto,
}

impl Encryption {
    fn is_plain(&self) -> bool {
        *self == Encryption::Plain
    }
}

/// How a file's message goes: like which kind of text message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Via {
    /// A chat message.
    Chat,
    /// A message to a group chat.
    Group,
    /// A private message to an occupant of a room.
    RoomPrivate,
}

impl Intent {
    /// The intent for a conversation's messages, with or without a file;
    /// `encryption` counts for one-to-one chats and group chats.
    pub(crate) fn for_kind(
        kind: tern_store::ConversationKind,
        file: bool,
        encryption: Encryption,
    ) -> Intent {
        use tern_store::ConversationKind as K;
        let plain = Encryption::Plain;
        match (kind, file) {
            (K::GroupChat, false) => Intent::GroupMessage { encryption },
            (K::GroupChatPrivate, false) => Intent::RoomPrivate,
            (K::Chat, false) => Intent::Message { encryption },
            (K::GroupChat, true) => Intent::File {
                via: Via::Group,
                encryption,
            },
            (K::GroupChatPrivate, true) => Intent::File {
                via: Via::RoomPrivate,
                encryption: plain,
            },
            (K::Chat, true) => Intent::File {
                via: Via::Chat,
                encryption,
            },
        }
    }

    /// How it is encrypted.
    pub(crate) fn encryption(&self) -> Encryption {
        match self {
            Intent::Message { encryption }
            | Intent::GroupMessage { encryption }
            | Intent::File { encryption, .. } => *encryption,
            Intent::RoomPrivate => Encryption::Plain,
        }
    }

    /// The same intent, encrypted as `encryption` says.
    pub(crate) fn with_encryption(&self, encryption: Encryption) -> Intent {
        match self {
            Intent::Message { .. } => Intent::Message { encryption },
            Intent::GroupMessage { .. } => Intent::GroupMessage { encryption },
            Intent::File { via, .. } => Intent::File {
                via: *via,
                encryption,
            },
            other => other.clone(),
        }
    }
}

impl Intent {
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"type":"message"}"#.into())
    }

    /// Reads a stored intent; `None` for one this Tern does not know (a
    /// newer Tern wrote it, or it is damaged).
    pub(crate) fn from_json(json: &str) -> Option<Intent> {
        serde_json::from_str(json).ok()
    }
}

/// What a queued message is ready to be.
#[derive(Debug)]
pub(crate) enum Prepared {
    /// The stanza to send now.
    Ready(Box<Message>),
    /// It cannot be sent: it is marked failed with this reason.
    Unsendable(&'static str),
    /// Its file must be uploaded first; the message comes back to the
    /// queue once it has its link.
    Upload,
    /// Keys must be fetched before it can be encrypted (the contact's
    /// device list, bundles); the message comes back to the queue after.
    Keys,
    /// It cannot be encrypted: it waits in the queue, with this reason,
    /// until something changes or the user decides.
    Held(String),
}

impl Prepared {
    /// What it is, for the log (never the message's text).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Prepared::Ready(_) => "ready",
            Prepared::Unsendable(_) => "unsendable",
            Prepared::Upload => "upload",
            Prepared::Keys => "keys",
            Prepared::Held(_) => "held",
        }
    }
}

/// Builds the stanza for a queued message, now that its turn came.
/// `keys_fetched`: what its encryption needs was fetched already (what is
/// still missing cannot be had).
pub(crate) async fn prepare(
    ctx: &Ctx,
    intent: &Intent,
    row: &MessageRow,
    keys_fetched: bool,
) -> Prepared {
    use crate::services::omemo::send;
    let mut encryption = intent.encryption();
    if encryption != Encryption::Plain {
        if !keys_fetched && send::needs_keys(ctx, &row.peer).await {
            return Prepared::Keys;
        }
        if encryption == Encryption::Auto {
            // Not decided when it was sent; the contact's devices decide.
            encryption = if send::has_devices(ctx, &row.peer).await {
                Encryption::Omemo
            } else {
                let jid: Option<tern_omemo::BareJid> = row.peer.parse().ok();
                let problem = jid.as_ref().and_then(|j| ctx.omemo.send_state().problem(j));
                match (jid, problem) {
                    // Their list could not be had: waiting beats guessing.
                    (Some(jid), Some(_)) => return Prepared::Held(send::why_not(ctx, &jid).await),
                    _ => Encryption::Plain,
                }
            };
        }
    }
    let encrypt = encryption == Encryption::Omemo;
    let stanza = match intent {
        Intent::File { via, .. } => {
            match crate::services::files::upload::announcement(ctx, *via, row, encrypt).await {
                Prepared::Ready(m) => *m,
                other => return other,
            }
        }
        Intent::Message { .. } | Intent::GroupMessage { .. } | Intent::RoomPrivate => {
            let id = row.msg_id.clone().unwrap_or_else(|| row.uid.clone());
            let stanza = Outgoing {
                to: &row.peer,
                id: &id,
                body: Some(&row.body),
                reply: row.reply_to.as_deref().map(|r| (row.peer.as_str(), r)),
                content: true,
                groupchat: matches!(intent, Intent::GroupMessage { .. }),
                room_private: *intent == Intent::RoomPrivate,
                ..Default::default()
            }
            .message();
            match stanza {
                Some(m) => m,
                None => return Prepared::Unsendable("the message could not be built"),
            }
        }
    };
    if !encrypt {
        if row.held.is_some() {
            release(ctx, row.id, false).await;
        }
        return Prepared::Ready(Box::new(stanza));
    }
    match send::seal(ctx, &row.peer, stanza).await {
        Ok(sealed) => {
            release(ctx, row.id, true).await;
            Prepared::Ready(Box::new(sealed))
        }
        Err(why) => Prepared::Held(why),
    }
}

/// A message that goes now: no longer held, marked encrypted if it is.
async fn release(ctx: &Ctx, message_id: i64, encrypted: bool) {
    let changed = if encrypted {
        ctx.store.set_sent_encrypted(message_id).await
    } else {
        ctx.store.set_held(message_id, None).await
    };
    match changed {
        Ok(Some(m)) => ctx
            .hub
            .emit(crate::events::ClientEvent::Message { message: m.into() }),
        Ok(None) => {}
        Err(e) => tracing::warn!("message state not stored: {e}"),
    }
}

/// Chat stanzas sent at once rather than queued: they are not worth
/// resending after a lost session (a later one supersedes them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// A new text for one of the user's messages (XEP-0308).
    Correction { reference: String, body: String },
    /// The user takes back one of their messages (XEP-0424).
    Retraction { reference: String },
    /// The user's reactions to a message (XEP-0444); empty removes them.
    Reactions {
        reference: String,
        emojis: Vec<String>,
    },
    /// The user read up to this message (XEP-0333).
    Displayed { reference: String },
    /// The user is typing, stopped, ... (XEP-0085).
    ChatState(String),
}

/// The fallback body of a retraction, for clients that do not know them.
const RETRACTION_FALLBACK: &str =
    "This person attempted to retract a previous message, but it's unsupported by your client.";

/// Builds the stanza of a signal to `peer`. Like [`prepare`], the one
/// place an outgoing chat stanza is made.
pub(crate) fn signal(peer: &str, groupchat: bool, signal: &Signal) -> Option<Message> {
    let id = crate::xep::message::new_id();
    let base = Outgoing {
        to: peer,
        id: &id,
        groupchat,
        ..Default::default()
    };
    match signal {
        Signal::Correction { reference, body } => Outgoing {
            body: Some(body),
            replace: Some(reference),
            content: true,
            ..base
        },
        Signal::Retraction { reference } => Outgoing {
            body: Some(RETRACTION_FALLBACK),
            retract: Some(reference),
            ..base
        },
        Signal::Reactions { reference, emojis } => Outgoing {
            reactions: Some((reference, emojis)),
            ..base
        },
        Signal::Displayed { reference } => Outgoing {
            displayed_for: Some(reference),
            ..base
        },
        Signal::ChatState(state) => Outgoing {
            chat_state: Some(state),
            ..base
        },
    }
    .message()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_store::{Direction, MessageState};

    fn row() -> MessageRow {
        MessageRow {
            id: 1,
            account: "juliet@capulet.lit".into(),
            peer: "romeo@montague.lit".into(),
            direction: Direction::Outgoing,
            sender: "juliet@capulet.lit".into(),
            uid: "u1".into(),
            msg_id: Some("u1".into()),
            archive_id: None,
            body: "Parting is such <sweet> sorrow".into(),
            timestamp_ms: 1,
            state: MessageState::Queued,
            edited: false,
            retracted: false,
            reply_to: Some("m0".into()),
            reactions: "{}".into(),
            failure: None,
            failure_text: None,
            mention: false,
            occupant_id: None,
            moderated_by: None,
            moderation_reason: None,
            file: None,
            encrypted: false,
            decrypt_error: None,
            held: None,
            call: None,
        }
    }

    #[test]
    fn intents_are_stored_as_tagged_json() {
        let plain = Intent::Message {
            encryption: Encryption::Plain,
        };
        assert_eq!(plain.to_json(), r#"{"type":"message"}"#);
        assert_eq!(Intent::from_json(r#"{"type":"message"}"#), Some(plain));
        let omemo = Intent::Message {
            encryption: Encryption::Omemo,
        };
        assert_eq!(
            omemo.to_json(),
            r#"{"type":"message","encryption":"omemo"}"#
        );
        assert_eq!(Intent::from_json(&omemo.to_json()), Some(omemo));
        assert_eq!(
            Intent::from_json(r#"{"type":"file","via":"chat"}"#),
            Some(Intent::File {
                via: Via::Chat,
                encryption: Encryption::Plain
            }),
            "stored before encryption existed"
        );
        assert_eq!(Intent::from_json(r#"{"type":"teleport"}"#), None);
        assert_eq!(Intent::from_json("<message/>"), None);
    }

    #[tokio::test]
    async fn a_message_intent_becomes_the_chat_message_of_its_row() {
        let (_d, ctx) = crate::account::ctx::tests::ctx_with(&[]).await;
        let intent = Intent::Message {
            encryption: Encryption::Plain,
        };
        let Prepared::Ready(m) = prepare(&ctx, &intent, &row(), false).await else {
            panic!()
        };
        assert_eq!(m.to.as_ref().unwrap().to_string(), "romeo@montague.lit");
        assert_eq!(m.id.as_ref().map(|i| i.0.as_str()), Some("u1"));
        assert_eq!(
            m.bodies.values().next().map(String::as_str),
            Some("Parting is such <sweet> sorrow")
        );
        let has = |name: &str, ns: &str| m.payloads.iter().find(|p| p.is(name, ns)).cloned();
        assert_eq!(
            has("origin-id", "urn:xmpp:sid:0")
                .and_then(|e| e.attr("id").map(str::to_string))
                .as_deref(),
            Some("u1")
        );
        assert!(has("request", "urn:xmpp:receipts").is_some());
        assert!(has("markable", "urn:xmpp:chat-markers:0").is_some());
        let reply = has("reply", "urn:xmpp:reply:0").expect("reply");
        assert_eq!(
            (reply.attr("to"), reply.attr("id")),
            (Some("romeo@montague.lit"), Some("m0"))
        );
    }
}
