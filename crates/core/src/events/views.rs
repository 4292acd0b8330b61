//! What the UI shows: messages, conversations, contacts.

use serde::Serialize;

/// Declares a string-like enum: serialized as its snake_case name, and
/// comparable with that name (`state == "read"`).
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        #[cfg_attr(feature = "specta", derive(specta::Type))]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The name it is serialized as.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value of a name (`None` for an unknown one).
            pub fn from_name(name: &str) -> Option<$name> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
    };
}

named_enum! {
    /// Where a message is: outgoing ones move forward from `queued` to
    /// `read` (or end `failed`); incoming ones are `received`, then `seen`.
    MessageState {
        /// Stored, not yet on the wire.
        Queued = "queued",
        /// Written to the stream.
        Sent = "sent",
        /// The server acknowledged it (XEP-0198).
        Acked = "acked",
        /// The recipient's client confirmed delivery (XEP-0184).
        Delivered = "delivered",
        /// The recipient read it (XEP-0333).
        Read = "read",
        /// Could not be sent.
        Failed = "failed",
        /// Incoming, not read yet.
        Received = "received",
        /// Incoming, read by the user.
        Seen = "seen",
    }
}

named_enum! {
    /// How available someone is (RFC 6121 `<show/>`; `available` without one).
    Show {
        /// Online.
        Available = "available",
        /// Free to chat.
        Chat = "chat",
        /// Away.
        Away = "away",
        /// Away for long.
        Xa = "xa",
        /// Do not disturb.
        Dnd = "dnd",
    }
}

named_enum! {
    /// Who sees whose presence (RFC 6121 roster subscription).
    Subscription {
        /// Neither.
        None = "none",
        /// The user sees the contact's.
        To = "to",
        /// The contact sees the user's.
        From = "from",
        /// Both ways.
        Both = "both",
    }
}

named_enum! {
    /// What someone is doing in a conversation (XEP-0085).
    ChatState {
        /// Taking part.
        Active = "active",
        /// Typing.
        Composing = "composing",
        /// Stopped typing.
        Paused = "paused",
        /// Not looking.
        Inactive = "inactive",
        /// Left.
        Gone = "gone",
    }
}

/// A message as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MessageView {
    /// Local id (stable; use it for actions on the message).
    pub id: i64,
    /// Account.
    pub account: String,
    /// Conversation peer.
    pub peer: String,
    /// Sent by this account (from any of the user's clients).
    pub outgoing: bool,
    /// Sender's JID.
    pub sender: String,
    /// Cross-device id (XEP-0359 origin-id or the id attribute).
    pub uid: String,
    /// Text (empty once retracted).
    pub body: String,
    /// Sent time, ms since the epoch.
    pub timestamp_ms: i64,
    /// Where it is.
    pub state: MessageState,
    /// Corrected (XEP-0308).
    pub edited: bool,
    /// Retracted by its sender (XEP-0424).
    pub retracted: bool,
    /// The message this one replies to (its uid or id), XEP-0461.
    pub reply_to: Option<String>,
    /// Reactions by sender (XEP-0444).
    pub reactions: std::collections::BTreeMap<String, Vec<String>>,
    /// A `/me` action (XEP-0245).
    pub me: bool,
    /// Why it could not be sent, when `state` is `failed`: the XMPP error
    /// condition (`service-unavailable`, `remote-server-not-found`, …), or
    /// `None` when it never reached a server.
    pub failure: Option<String>,
    /// The server's own words about the failure, if any (plain text).
    pub failure_text: Option<String>,
}

impl From<tern_store::MessageRow> for MessageView {
    fn from(m: tern_store::MessageRow) -> Self {
        use tern_store::MessageState as S;
        let state = match m.state {
            S::Queued => MessageState::Queued,
            S::Sent => MessageState::Sent,
            S::Acked => MessageState::Acked,
            S::Delivered => MessageState::Delivered,
            S::Read => MessageState::Read,
            S::Failed => MessageState::Failed,
            S::Received => MessageState::Received,
            S::Seen => MessageState::Seen,
        };
        MessageView {
            me: m.body.starts_with("/me "),
            reactions: serde_json::from_str(&m.reactions).unwrap_or_default(),
            id: m.id,
            account: m.account,
            peer: m.peer,
            outgoing: m.direction == tern_store::Direction::Outgoing,
            sender: m.sender,
            uid: m.uid,
            body: m.body,
            timestamp_ms: m.timestamp_ms,
            state,
            edited: m.edited,
            retracted: m.retracted,
            reply_to: m.reply_to,
            failure: m.failure.filter(|_| m.state == S::Failed),
            failure_text: m.failure_text.filter(|_| m.state == S::Failed),
        }
    }
}

/// What a conversation is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    /// One-to-one.
    #[default]
    Chat,
    /// A group chat (XEP-0045 room); the peer is the room.
    Groupchat,
    /// A private message to a group-chat occupant; the peer is the
    /// occupant's room JID (`room@service/nick`).
    GroupchatPm,
}

impl From<tern_store::ConversationKind> for ConversationKind {
    fn from(k: tern_store::ConversationKind) -> Self {
        match k {
            tern_store::ConversationKind::Chat => ConversationKind::Chat,
            tern_store::ConversationKind::GroupChat => ConversationKind::Groupchat,
            tern_store::ConversationKind::GroupChatPrivate => ConversationKind::GroupchatPm,
        }
    }
}

/// A conversation in the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ConversationView {
    /// Account.
    pub account: String,
    /// Peer.
    pub peer: String,
    /// One-to-one, group chat, or private message in a group chat.
    pub kind: ConversationKind,
    /// Unread incoming messages.
    pub unread: i64,
    /// Time of the newest message, ms.
    pub updated_ms: i64,
    /// Newest message.
    pub last: Option<MessageView>,
}

impl From<tern_store::Conversation> for ConversationView {
    fn from(c: tern_store::Conversation) -> Self {
        ConversationView {
            account: c.account,
            peer: c.peer,
            kind: c.kind.into(),
            unread: c.unread,
            updated_ms: c.updated_ms,
            last: c.last.map(MessageView::from),
        }
    }
}

/// One online resource of a contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ResourcePresence {
    /// Resource.
    pub resource: String,
    /// How available.
    pub show: Show,
    /// Status message.
    pub status: Option<String>,
    /// Priority.
    pub priority: i8,
    /// Name of the client software, from its entity capabilities (XEP-0115).
    pub client: Option<String>,
}

/// A contact with its presence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ContactView {
    /// Account.
    pub account: String,
    /// Contact's bare JID.
    pub jid: String,
    /// Name the user gave it.
    pub name: Option<String>,
    /// Who sees whose presence.
    pub subscription: Subscription,
    /// Our subscription request is pending.
    pub ask: bool,
    /// Groups.
    pub groups: Vec<String>,
    /// Online resources, highest priority first (empty = offline).
    pub presence: Vec<ResourcePresence>,
    /// SHA-1 of the avatar, cached as `avatars/<hash>` in the data folder.
    pub avatar: Option<String>,
    /// Nickname the contact chose (XEP-0172); `name` wins when set.
    pub nickname: Option<String>,
}
