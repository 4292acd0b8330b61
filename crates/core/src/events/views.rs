//! What the UI shows: messages, conversations, contacts.

use serde::Serialize;

/// Declares a string-like enum: serialized as its snake_case name, and
/// comparable with that name (`state == "read"`).
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
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
    /// A group-chat message that mentions the user.
    pub mention: bool,
    /// A group chat's moderator removed it (`retracted` is then set): who.
    pub moderated_by: Option<String>,
    /// The moderator's reason.
    pub moderation_reason: Option<String>,
    /// The file it shares (a photo, a document, ...), if any.
    pub file: Option<FileView>,
    /// It came, or went, end-to-end encrypted (OMEMO): `body` is the
    /// plaintext.
    pub encrypted: bool,
    /// It came encrypted and could not be decrypted: why, in words to
    /// show in place of the text.
    pub decrypt_error: Option<String>,
    /// The user's message waits in the send queue because it cannot be
    /// encrypted yet: why, and what to do, in words. It is never sent
    /// unencrypted unless the user chooses so (`send_unencrypted`).
    pub held: Option<String>,
    /// This line records a call (its `body` says it in words for search
    /// and previews).
    pub call: Option<CallRecord>,
}

/// A call as the timeline records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CallRecord {
    /// How it ended (`CallView::ended`: `hung_up`, `peer_hung_up`,
    /// `declined`, `busy`, `missed`, `cancelled`, `answered_elsewhere`,
    /// `declined_elsewhere`, `failed`), or `stranger`: someone not in the
    /// roster called, was refused and nothing rang.
    pub outcome: String,
    /// How long audio flowed, if it did (ms).
    pub duration_ms: Option<i64>,
}

named_enum! {
    /// Where a shared file is.
    FileState {
        /// The user's, waiting to be uploaded (or being uploaded: see
        /// `Transfer` events).
        Uploading = "uploading",
        /// The user's, uploaded and sent.
        Uploaded = "uploaded",
        /// Someone's: not downloaded (the user may download it).
        Remote = "remote",
        /// Someone's, being downloaded.
        Downloading = "downloading",
        /// Someone's, downloaded.
        Local = "local",
        /// The last transfer failed (`error`, `error_text`).
        Failed = "failed",
    }
}

impl Default for FileState {
    /// A new file of the user's: to upload.
    fn default() -> Self {
        FileState::Uploading
    }
}

/// A file shared in a message. Its preview and the file itself are served
/// to the window by the shell (`tern-media://localhost/file/<message id>/
/// preview` and `/full`), never sent as data in events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FileView {
    /// The file's name (plain text, safe as a file name).
    pub name: String,
    /// Media type (`image/jpeg`, ...), if known.
    pub media_type: Option<String>,
    /// Size in bytes, if known.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub size: Option<u64>,
    /// An image's width, upright.
    pub width: Option<u32>,
    /// An image's height, upright.
    pub height: Option<u32>,
    /// Where it is.
    pub state: FileState,
    /// Why the last transfer failed: a short code (`too_large`,
    /// `no_service`, `refused`, `network`, `cancelled`, `not_found`,
    /// `not_allowed`, `tls`, `corrupt`, ...).
    pub error: Option<String>,
    /// The failure in words a person can act on.
    pub error_text: Option<String>,
    /// A preview image can be shown (`/preview`).
    pub preview: bool,
    /// The file is here and is a raster image within Tern's limits: `/full`
    /// shows it. Anything else is shown as a file card.
    pub image: bool,
    /// An animated GIF or WebP.
    pub animated: bool,
    /// The file is on this computer (it can be opened, shown in its folder,
    /// saved elsewhere).
    pub local: bool,
    /// Sent encrypted (XEP-0454).
    pub encrypted: bool,
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
            mention: m.mention,
            moderated_by: m.moderated_by,
            moderation_reason: m.moderation_reason,
            file: m.file.as_deref().and_then(file_view),
            encrypted: m.encrypted,
            decrypt_error: m.decrypt_error,
            held: m.held.filter(|_| m.state == S::Queued),
            call: m.call.as_deref().and_then(|j| serde_json::from_str(j).ok()),
        }
    }
}

/// A message's file as the UI shows it (without the file system: `local`
/// and `preview` say what the engine wrote, not what is on disk now).
fn file_view(json: &str) -> Option<FileView> {
    use crate::services::files::FileInfo;
    use FileState as S;
    let f = FileInfo::from_json(Some(json))?;
    let state = f.state;
    let local = f.dir.is_some() && matches!(f.state, S::Uploading | S::Uploaded | S::Local)
        || (f.state == S::Failed && f.dir.is_some() && f.url.is_none());
    Some(FileView {
        encrypted: f.encrypted(),
        preview: f.preview.is_some(),
        image: f.image && local,
        animated: f.animated,
        local,
        name: f.name,
        media_type: f.media_type,
        size: f.size,
        width: f.width,
        height: f.height,
        state,
        error: f.error,
        error_text: f.error_text,
    })
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
    /// Unread messages that mention the user (group chats).
    pub mentions: i64,
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
            mentions: c.mentions,
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
    /// Its client takes voice calls (Jingle RTP audio over ICE-UDP with
    /// DTLS-SRTP, proposed by XEP-0353), as its capabilities say.
    pub calls: bool,
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

named_enum! {
    /// What kind of group chat a room is, as users know them.
    RoomKind {
        /// Members only and non-anonymous: members see each other's
        /// addresses; can be end-to-end encrypted.
        PrivateGroup = "private_group",
        /// Open to anyone, addresses hidden from other occupants.
        PublicChannel = "public_channel",
        /// Something in between (or not known yet).
        Other = "other",
    }
}

named_enum! {
    /// Where the user is with a room.
    RoomStatus {
        /// The join request is out.
        Joining = "joining",
        /// In the room.
        Joined = "joined",
        /// Not in the room (left, disconnected, or not joined yet this
        /// session).
        Left = "left",
        /// Could not join or was removed: see `error`.
        Failed = "failed",
    }
}

named_enum! {
    /// Which messages of a room notify.
    RoomNotify {
        /// Every message.
        All = "all",
        /// Mentions of the user and replies to the user.
        Mentions = "mentions",
        /// Nothing.
        None = "none",
    }
}

/// A group chat as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RoomView {
    /// Account.
    pub account: String,
    /// The room's bare JID.
    pub jid: String,
    /// Its name.
    pub name: Option<String>,
    /// Private group, public channel, or other.
    pub kind: RoomKind,
    /// The room's subject.
    pub subject: Option<String>,
    /// The user's nickname in the room.
    pub nick: String,
    /// Joining, joined, left or failed.
    pub status: RoomStatus,
    /// Why the user is not (or no longer) in the room: `nick_conflict`,
    /// `password_required`, `banned`, `members_only`, `full`, `not_found`,
    /// `nick_reserved`, `creation_restricted`, `kicked`,
    /// `removed_affiliation`, `removed_members_only`, `destroyed`,
    /// `shutdown`, `lost`, `other`.
    pub error: Option<String>,
    /// The server's or the moderator's words about it (plain text).
    pub error_text: Option<String>,
    /// Who removed the user (a moderator's nickname), when the room says.
    pub error_by: Option<String>,
    /// The user's role: `moderator`, `participant`, `visitor`, `none`.
    pub role: String,
    /// The user's affiliation: `owner`, `admin`, `member`, `outcast`, `none`.
    pub affiliation: String,
    /// How many occupants are in the room.
    pub occupants: u32,
    /// A bookmark of it exists (synced with the user's other clients).
    pub bookmarked: bool,
    /// Joined after each sign-in.
    pub autojoin: bool,
    /// Which messages notify (private groups default to all, channels to
    /// mentions).
    pub notify: RoomNotify,
    /// Moderators can remove others' messages (XEP-0425).
    pub moderation: bool,
    /// Occupants may message each other privately.
    pub private_messages: bool,
    /// Joining needs a password.
    pub password_protected: bool,
}

/// Someone in a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct OccupantView {
    /// Nickname.
    pub nick: String,
    /// Real bare JID, when the room shows it.
    pub jid: Option<String>,
    /// `moderator`, `participant`, `visitor`.
    pub role: String,
    /// `owner`, `admin`, `member`, `none`.
    pub affiliation: String,
    /// How available.
    pub show: Show,
    /// Status message.
    pub status: Option<String>,
    /// SHA-1 of the occupant's avatar when cached (`avatars/<hash>`).
    pub avatar: Option<String>,
    /// The user.
    pub is_self: bool,
}

/// An invitation to a room, not answered yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct InvitationView {
    /// Account invited.
    pub account: String,
    /// The room.
    pub room: String,
    /// Who invites: a bare JID, or an occupant's room JID (`room/nick`)
    /// when the room passed the invitation on and hides real addresses.
    pub inviter: String,
    /// Their words.
    pub reason: Option<String>,
    /// The room's password, if the invitation carries it.
    pub password: Option<String>,
    /// The inviter is one of the user's contacts (else: a stranger's
    /// invitation, shown as a request).
    pub from_contact: bool,
    /// When it arrived, ms.
    pub received_ms: i64,
}

/// A room offered by a group-chat service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RoomListing {
    /// The room's JID.
    pub jid: String,
    /// Its name.
    pub name: Option<String>,
    /// How many are in it, when the service says.
    pub occupants: Option<u32>,
}

/// What a room says about itself (before joining).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RoomInfoView {
    /// The room's JID.
    pub jid: String,
    /// Its name.
    pub name: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Private group, public channel, or other.
    pub kind: RoomKind,
    /// How many are in it.
    pub occupants: Option<u32>,
    /// Joining needs a password.
    pub password_protected: bool,
    /// Only occupants with voice may speak.
    pub moderated: bool,
    /// Listed in the service's directory.
    pub public: bool,
    /// The room keeps an archive.
    pub archived: bool,
}

/// Someone with an affiliation with a room (owner, admin, member, or
/// banned), present or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RoomMember {
    /// Their bare JID.
    pub jid: String,
    /// `owner`, `admin`, `member` or `outcast` (banned).
    pub affiliation: String,
    /// The nickname they reserved, if any.
    pub nick: Option<String>,
}

/// A nick change in a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Renamed {
    /// The old nickname.
    pub from: String,
    /// The new one.
    pub to: String,
}
