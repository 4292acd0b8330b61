//! The typed event API: [`crate::Client::subscribe`] returns a [`Snapshot`]
//! of the current state plus a stream of [`ClientEvent`]s that change it.
//! Applying the events in order to the snapshot always gives the current
//! state; the UI never polls.

use serde::Serialize;

use crate::error::ConnectError;

mod hub;
mod snapshot;
mod views;

pub(crate) use hub::EventHub;
pub use snapshot::{Snapshot, SubscriptionRequest};
pub use views::{
    CallRecord, ChatState, ContactView, ConversationKind, ConversationView, FileState, FileView,
    InvitationView, MessageState, MessageView, OccupantView, Renamed, ResourcePresence,
    RoomInfoView, RoomKind, RoomListing, RoomMember, RoomNotify, RoomStatus, RoomView, Show,
    Subscription,
};

/// Connection state of one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AccountState {
    /// The user disabled the account; Tern does not connect it.
    Disabled,
    /// A connection attempt is under way.
    Connecting {
        /// 1 for the first attempt after a (re)start, then counting.
        attempt: u32,
    },
    /// Signed in and usable.
    Connected {
        /// The full JID the server bound.
        bound_jid: String,
        /// True when an interrupted session was resumed (XEP-0198): nothing
        /// was lost and no new session was started.
        resumed: bool,
    },
    /// The last attempt failed for a reason time can fix; Tern tries again.
    Reconnecting {
        /// The attempt that failed.
        attempt: u32,
        /// Milliseconds until the next attempt.
        retry_in_ms: u64,
        /// Why the last attempt failed.
        error: ConnectError,
    },
    /// Tern stopped trying: the user must act (password, certificate, ...).
    Failed {
        /// What went wrong.
        error: ConnectError,
    },
}

/// What the UI shows for one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AccountView {
    /// Bare JID.
    pub jid: String,
    /// Whether the user enabled it.
    pub enabled: bool,
    /// Connection state.
    pub state: AccountState,
}

/// A change to the [`Snapshot`] (accounts) or to one of the lists the UI
/// subscribes to (contacts, conversations, timelines).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientEvent {
    /// A message was added or changed (upsert by `id`).
    Message {
        /// The message.
        message: MessageView,
    },
    /// A file is on its way up or down: how far (a few times a second at
    /// most; the message's own event tells when it is done).
    Transfer {
        /// Account.
        account: String,
        /// The message that shares the file.
        message_id: i64,
        /// Bytes moved so far.
        #[cfg_attr(feature = "specta", specta(type = f64))]
        done: u64,
        /// Bytes in all, if known.
        #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
        total: Option<u64>,
    },
    /// A conversation was added or changed (upsert by account + peer).
    Conversation {
        /// The conversation.
        conversation: ConversationView,
    },
    /// The user deleted a conversation (its messages are gone here).
    ConversationDeleted {
        /// Account.
        account: String,
        /// Peer.
        peer: String,
    },
    /// The peer is typing, paused, ... (XEP-0085).
    ChatState {
        /// Account.
        account: String,
        /// Peer.
        peer: String,
        /// What they do.
        state: ChatState,
    },
    /// A contact was added or changed, presence included (upsert).
    Contact {
        /// The contact.
        contact: ContactView,
    },
    /// A contact was removed.
    ContactRemoved {
        /// Account.
        account: String,
        /// Contact.
        jid: String,
    },
    /// Someone asks to see this account's presence.
    SubscriptionRequest {
        /// Account.
        account: String,
        /// Who asks.
        from: String,
        /// The nickname they gave with the request (XEP-0172).
        nick: Option<String>,
    },
    /// What someone shows of themselves changed: avatar or nickname. Comes
    /// for the user's own account too (`jid` = the account).
    Profile {
        /// Account.
        account: String,
        /// Whose profile.
        jid: String,
        /// Avatar and nickname.
        profile: crate::services::profile::ProfileView,
    },
    /// The OMEMO devices of `jid` (a contact, or the account itself)
    /// changed: a device came or left, its key became known, or the user
    /// decided on its trust. Read them again (`encryption_devices`).
    EncryptionDevices {
        /// Account.
        account: String,
        /// Whose devices.
        jid: String,
    },
    /// A call started, changed or ended (upsert by `id`).
    Call {
        /// The call.
        call: crate::services::calls::CallView,
    },
    /// A subscription request was answered (by the user, here or on
    /// another device) or is no longer needed: it leaves the list.
    SubscriptionRequestRemoved {
        /// Account.
        account: String,
        /// Who had asked.
        from: String,
    },
    /// The server's blocklist changed (XEP-0191), from this or another client.
    /// Apply `unblocked_all` first, then `unblocked`, then `blocked`; the
    /// full list at session start comes as `unblocked_all` plus `blocked`.
    Blocklist {
        /// Account.
        account: String,
        /// Newly blocked addresses.
        blocked: Vec<String>,
        /// Newly unblocked addresses.
        unblocked: Vec<String>,
        /// Everyone was unblocked.
        unblocked_all: bool,
    },
    /// History catch-up progress: after each page, then once with `done`
    /// when the history is in (or the run stopped).
    HistorySync {
        /// Account.
        account: String,
        /// Messages fetched so far in this catch-up.
        fetched: u64,
        /// The time of the oldest message reached so far (ms).
        oldest_ms: Option<i64>,
        /// Catch-up finished.
        done: bool,
    },
    /// A group chat was added or changed (upsert by account + jid).
    Room {
        /// The room.
        room: RoomView,
    },
    /// The user left and forgot a room.
    RoomRemoved {
        /// Account.
        account: String,
        /// The room.
        jid: String,
    },
    /// Who is in a room changed (coalesced; `reset`: what the UI had is
    /// replaced by `upserted`).
    Occupants {
        /// Account.
        account: String,
        /// The room.
        room: String,
        /// How many are in the room now.
        count: u32,
        /// Replace the list.
        reset: bool,
        /// Occupants added or changed.
        upserted: Vec<OccupantView>,
        /// Nicknames that left.
        removed: Vec<String>,
    },
    /// Joins, leaves and nick changes in a room since the last such event,
    /// once the user is in (for a quiet line in the timeline).
    RoomActivity {
        /// Account.
        account: String,
        /// The room.
        room: String,
        /// Who joined.
        joined: Vec<String>,
        /// Who left.
        left: Vec<String>,
        /// Who changed nickname.
        renamed: Vec<Renamed>,
        /// Who was removed by a moderator (kicked or banned).
        removed: Vec<String>,
        /// When, ms.
        at_ms: i64,
    },
    /// An invitation to a room arrived (upsert by account + room).
    Invitation {
        /// The invitation.
        invitation: InvitationView,
    },
    /// An invitation was answered or withdrawn.
    InvitationRemoved {
        /// Account.
        account: String,
        /// The room.
        room: String,
    },
    /// An account was added.
    AccountAdded {
        /// The new account.
        account: AccountView,
    },
    /// An account was removed.
    AccountRemoved {
        /// Its JID.
        jid: String,
    },
    /// An account was enabled or disabled.
    AccountEnabled {
        /// Its JID.
        jid: String,
        /// New value.
        enabled: bool,
    },
    /// An account's connection state changed.
    AccountState {
        /// Its JID.
        jid: String,
        /// New state.
        state: AccountState,
    },
}
