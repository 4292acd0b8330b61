//! XEP-0191 Blocking Command: the server drops everything from blocked
//! addresses; the list is the server's, changes arrive as pushes.

use xmpp_parsers::blocking::{Block, Unblock};

use crate::events::ClientEvent;

/// A push from the user's server: returns the event for the UI, if valid.
pub(crate) fn on_push(
    account: &str,
    payload: &xmpp_parsers::minidom::Element,
) -> Option<ClientEvent> {
    if let Ok(b) = Block::try_from(payload.clone()) {
        return Some(ClientEvent::Blocklist {
            account: account.to_string(),
            blocked: b.items.iter().map(|j| j.to_string()).collect(),
            unblocked: Vec::new(),
            unblocked_all: false,
        });
    }
    if let Ok(u) = Unblock::try_from(payload.clone()) {
        return Some(ClientEvent::Blocklist {
            account: account.to_string(),
            blocked: Vec::new(),
            unblocked_all: u.items.is_empty(),
            unblocked: u.items.iter().map(|j| j.to_string()).collect(),
        });
    }
    None
}
