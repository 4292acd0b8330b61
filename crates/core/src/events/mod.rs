//! The typed event API: [`crate::Client::subscribe`] returns a [`Snapshot`]
//! of the current state plus a stream of [`ClientEvent`]s that change it.
//! Applying the events in order to the snapshot always gives the current
//! state; the UI never polls.

use serde::Serialize;

use crate::error::ConnectError;

/// Connection state of one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
pub struct AccountView {
    /// Bare JID.
    pub jid: String,
    /// Whether the user enabled it.
    pub enabled: bool,
    /// Connection state.
    pub state: AccountState,
}

/// Everything the UI needs to draw, at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Accounts, in the order they were added.
    pub accounts: Vec<AccountView>,
}

/// A message as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
    /// `queued`, `sent`, `acked`, `delivered`, `read`, `failed`, `received`, `seen`.
    pub state: String,
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
            S::Queued => "queued",
            S::Sent => "sent",
            S::Acked => "acked",
            S::Delivered => "delivered",
            S::Read => "read",
            S::Failed => "failed",
            S::Received => "received",
            S::Seen => "seen",
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
            state: state.to_string(),
            edited: m.edited,
            retracted: m.retracted,
            reply_to: m.reply_to,
            failure: m.failure.filter(|_| m.state == S::Failed),
            failure_text: m.failure_text.filter(|_| m.state == S::Failed),
        }
    }
}

/// A conversation in the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConversationView {
    /// Account.
    pub account: String,
    /// Peer.
    pub peer: String,
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
            unread: c.unread,
            updated_ms: c.updated_ms,
            last: c.last.map(MessageView::from),
        }
    }
}

/// One online resource of a contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResourcePresence {
    /// Resource.
    pub resource: String,
    /// `available`, `chat`, `away`, `xa` or `dnd`.
    pub show: String,
    /// Status message.
    pub status: Option<String>,
    /// Priority.
    pub priority: i8,
    /// Name of the client software, from its entity capabilities (XEP-0115).
    pub client: Option<String>,
}

/// A contact with its presence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContactView {
    /// Account.
    pub account: String,
    /// Contact's bare JID.
    pub jid: String,
    /// Name the user gave it.
    pub name: Option<String>,
    /// `none`, `to`, `from`, `both`.
    pub subscription: String,
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

/// A change to the [`Snapshot`] (accounts) or to one of the lists the UI
/// subscribes to (contacts, conversations, timelines).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientEvent {
    /// A message was added or changed (upsert by `id`).
    Message {
        /// The message.
        message: MessageView,
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
        /// `active`, `composing`, `paused`, `inactive`, `gone`.
        state: String,
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
    /// History catch-up progress.
    HistorySync {
        /// Account.
        account: String,
        /// Messages fetched so far in this catch-up.
        fetched: u64,
        /// Catch-up finished.
        done: bool,
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

impl Snapshot {
    /// Applies one event (the same logic the UI uses).
    pub fn apply(&mut self, ev: &ClientEvent) {
        match ev {
            ClientEvent::AccountAdded { account } => {
                self.accounts.retain(|a| a.jid != account.jid);
                self.accounts.push(account.clone());
            }
            ClientEvent::AccountRemoved { jid } => self.accounts.retain(|a| &a.jid != jid),
            ClientEvent::AccountEnabled { jid, enabled } => {
                if let Some(a) = self.accounts.iter_mut().find(|a| &a.jid == jid) {
                    a.enabled = *enabled;
                }
            }
            ClientEvent::AccountState { jid, state } => {
                if let Some(a) = self.accounts.iter_mut().find(|a| &a.jid == jid) {
                    a.state = state.clone();
                }
            }
            _ => {}
        }
    }

    /// The view of one account.
    pub fn account(&self, jid: &str) -> Option<&AccountView> {
        self.accounts.iter().find(|a| a.jid == jid)
    }
}

/// Publishes events and keeps the snapshot they apply to, under one lock so
/// that a subscriber never misses or double-applies a change.
#[derive(Debug)]
pub(crate) struct EventHub {
    state: std::sync::Mutex<Snapshot>,
    tx: tokio::sync::broadcast::Sender<ClientEvent>,
}

impl EventHub {
    pub(crate) fn new() -> Self {
        let (tx, _) = tokio::sync::broadcast::channel(8192);
        EventHub {
            state: std::sync::Mutex::new(Snapshot::default()),
            tx,
        }
    }

    pub(crate) fn emit(&self, ev: ClientEvent) {
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Drop no-op state changes so listeners see transitions only.
        if let ClientEvent::AccountState { jid, state: new } = &ev {
            if state.account(jid).map(|a| &a.state) == Some(new) {
                return;
            }
        }
        state.apply(&ev);
        let _ = self.tx.send(ev);
    }

    pub(crate) fn subscribe(&self) -> (Snapshot, tokio::sync::broadcast::Receiver<ClientEvent>) {
        let state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        (state.clone(), self.tx.subscribe())
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        self.subscribe().0
    }
}
