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

/// A change to the [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientEvent {
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
        let (tx, _) = tokio::sync::broadcast::channel(1024);
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
