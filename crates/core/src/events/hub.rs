//! The event hub: publishes events and keeps the snapshot they apply to.

use super::{ClientEvent, Snapshot};

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

    /// Emits events in order, under one lock (a batch).
    pub(crate) fn emit_all(&self, events: Vec<ClientEvent>) {
        for ev in events {
            self.emit(ev);
        }
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
